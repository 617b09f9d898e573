-- wrk: recordPurchase mutations (bench/earning.py): a staff token, a random member, the same
-- 5-line basket and a fresh order id (run prefix + thread id + counter) per request.
-- Environment: BENCH_TOKEN (staff JWT), BENCH_MEMBERS (file, one member id a line),
-- BENCH_RUN (order id prefix, unique per run and phase), BENCH_CHANNEL, BENCH_LINES (the
-- basket's lines as a JSON array).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local QUERY = "mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) {"
  .. " __typename ... on PurchaseRecorded { purchase { id points } balance { available } }"
  .. " ... on MutationError { code message field } } }"

local counter = 0
local members, prefix, channel, lines

function init(args)
  members = read_lines(os.getenv("BENCH_MEMBERS"))
  prefix = (os.getenv("BENCH_RUN") or "run") .. ":t" .. tid .. ":"
  channel = assert(os.getenv("BENCH_CHANNEL"), "BENCH_CHANNEL")
  lines = assert(os.getenv("BENCH_LINES"), "BENCH_LINES")
  math.randomseed(os.time() * 1000 + tid * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"query":"%s","variables":{"input":{"memberId":"%s","channel":"%s",'
      .. '"orderId":"%s%d","lines":%s}}}',
    QUERY, members[math.random(#members)], channel, prefix, counter, lines)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  count_response(status, body, "PurchaseRecorded")
end
