-- wrk: a flash-sale rush. Every buyer (a member with its own token) tries placeRedemption once.
-- Environment: BENCH_BUYERS (file: "member_id token" a line), BENCH_ITEM (item id),
-- BENCH_RUN (idempotency-key prefix), BENCH_DONE (folder: each thread keeps its progress in a
-- file "<tid>", so bench/flash_sale.py knows when the rush is over).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local QUERY = "mutation($input: PlaceRedemptionInput!) { placeRedemption(input: $input) {"
  .. " __typename ... on RedemptionPayload { redemption { id } }"
  .. " ... on MutationError { code } } }"

local mine = {}
local sent, answered = 0, 0
local running = false
sold, out_of_stock, other = 0, 0, 0

function init(args)
  local all = read_lines(os.getenv("BENCH_BUYERS"))
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  for i = tid, #all, threads do
    local member, token = all[i]:match("^(%S+) (%S+)$")
    table.insert(mine, { member = member, token = token })
  end
  item = assert(os.getenv("BENCH_ITEM"), "BENCH_ITEM")
  prefix = (os.getenv("BENCH_RUN") or "run") .. ":"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

-- Defined only so that wrk calls it before every real request (a zero wait): the call that
-- comes without one is wrk's own check of the script (script_verify_request in wrk.c calls
-- request() once on the first thread's state before the thread starts, and sends nothing),
-- which must not use up a buyer.
function delay()
  running = true
  return 0
end

function request()
  if not running then
    return wrk.format("GET", "/healthz", {}, nil)
  end
  if sent >= #mine then
    -- Out of buyers: keep the connection busy with a health check until every buyer has its
    -- answer (stopping now would drop the answers still on their way).
    return wrk.format("GET", "/healthz", {}, nil)
  end
  sent = sent + 1
  local buyer = mine[sent]
  local body = string.format(
    '{"query":"%s","variables":{"input":{"memberId":"%s","itemId":"%s","idempotencyKey":"%s%s"}}}',
    QUERY, buyer.member, item, prefix, buyer.member)
  local headers = { ["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer " .. buyer.token }
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 200 and not body:find("placeRedemption", 1, true) then
    return -- the health check sent after a thread ran out of buyers
  end
  answered = answered + 1
  if status ~= 200 then
    other = other + 1
    if other <= 3 then io.stderr:write("unexpected status: " .. status .. " " .. body .. "\n") end
  elseif body:find("RedemptionPayload", 1, true) then
    sold = sold + 1
  elseif body:find("OUT_OF_STOCK", 1, true) then
    out_of_stock = out_of_stock + 1
  else
    other = other + 1
    if other <= 3 then io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n") end
  end
  if answered == #mine or answered % 250 == 0 or sent >= #mine then
    -- Progress for bench/flash_sale.py: "answered sent sold out_of_stock other".
    local path = os.getenv("BENCH_DONE") .. "/" .. tid
    local marker = io.open(path .. ".tmp", "w")
    marker:write(string.format("%d %d %d %d %d\n", answered, sent, sold, out_of_stock, other))
    marker:close()
    os.rename(path .. ".tmp", path)
  end
  if answered == #mine then
    wrk.thread:stop()
  end
end
