-- wrk: `{ __typename }`, the stack's floor (HTTP, authentication, rate limit, GraphQL, no
-- database), with a random member's token like bench/balance.lua.
-- Environment: BENCH_TOKENS (file, one member JWT a line).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local BODY = '{"query":"{ __typename }"}'
local tokens

function init(args)
  tokens = read_lines(os.getenv("BENCH_TOKENS"))
  math.randomseed(os.time() * 1000 + tid * 7919)
end

function request()
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
  }
  return wrk.format("POST", nil, headers, BODY)
end

function response(status, headers, body)
  count_response(status, body, '"Query"')
end
