-- wrk: `me { balance { available } }` queries, each with a random member's token.
-- Environment: BENCH_TOKENS (file, one member JWT a line).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

member_query('{"query":"{ me { balance { available } } }"}', '"available"')
