-- wrk: earnPoints mutations, a staff token, a random member and a fresh idempotency key each.
-- Environment: BENCH_TOKEN (staff JWT), BENCH_MEMBERS (file, one member id a line),
-- BENCH_RUN (key prefix, unique per run and phase).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local QUERY = "mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename"
  .. " ... on PointsPosted { entry { id balanceAfter } balance { available } }"
  .. " ... on MutationError { code message field } } }"

local counter = 0
local members, prefix

function init(args)
  members = read_lines(os.getenv("BENCH_MEMBERS"))
  prefix = (os.getenv("BENCH_RUN") or "run") .. ":t" .. tid .. ":"
  math.randomseed(os.time() * 1000 + tid * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"query":"%s","variables":{"input":{"memberId":"%s","amount":%d,'
      .. '"reason":"bench earn","idempotencyKey":"%s%d"}}}',
    QUERY, members[math.random(#members)], math.random(1, 100), prefix, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  count_response(status, body, "PointsPosted")
end
