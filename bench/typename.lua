-- wrk: `{ __typename }`, the stack's floor (HTTP, authentication, rate limit, GraphQL, no
-- database), with a random member's token like bench/balance.lua.
-- Environment: BENCH_TOKENS (file, one member JWT a line).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

member_query('{"query":"{ __typename }"}', '"Query"')
