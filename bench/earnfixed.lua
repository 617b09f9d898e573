-- wrk: earnPoints with a fixed amount (bench/earning.py: the points the purchase basket earns),
-- a staff token, a random member and a fresh idempotency key per request.
-- Environment: BENCH_TOKEN (staff JWT), BENCH_MEMBERS (file, one member id a line),
-- BENCH_RUN (key prefix, unique per run and phase), BENCH_AMOUNT (points).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local QUERY = "mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename"
  .. " ... on PointsPosted { entry { id balanceAfter } balance { available } }"
  .. " ... on MutationError { code message field } } }"

local counter = 0
local members, prefix, amount

function init(args)
  members = read_lines(os.getenv("BENCH_MEMBERS"))
  prefix = (os.getenv("BENCH_RUN") or "run") .. ":t" .. tid .. ":"
  amount = tonumber((assert(os.getenv("BENCH_AMOUNT"), "BENCH_AMOUNT")))
  math.randomseed(os.time() * 1000 + tid * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN")
end

function request()
  counter = counter + 1
  local key = prefix .. counter
  local body = string.format(
    '{"query":"%s","variables":{"input":{"memberId":"%s","amount":%d,'
      .. '"reason":"bench order","reference":"%s","idempotencyKey":"%s"}}}',
    QUERY, members[math.random(#members)], amount, key, key)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  count_response(status, body, "PointsPosted")
end
