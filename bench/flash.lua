-- wrk: a flash-sale rush. Every buyer (a member with its own token) tries placeRedemption once.
-- Environment: BENCH_BUYERS (file: "member_id token" a line), BENCH_ITEM (item id),
-- BENCH_RUN (idempotency-key prefix), BENCH_DONE (folder: a thread writes "<tid>" when all its
-- buyers have their answer, so bench/flash_sale.py knows when the rush is over).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local QUERY = "mutation($input: PlaceRedemptionInput!) { placeRedemption(input: $input) {"
  .. " __typename ... on RedemptionPayload { redemption { id } }"
  .. " ... on MutationError { code } } }"

local mine = {}
local sent, answered = 0, 0
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

function request()
  if sent >= #mine then
    wrk.thread:stop()
    return wrk.format("GET", "/healthz", {}, nil)
  end
  sent = sent + 1
  local buyer = mine[sent]
  local body = string.format(
    '{"query":"%s","variables":{"input":{"memberId":"%s","itemId":"%s","idempotencyKey":"%s%s"}}}',
    QUERY, buyer.member, item, prefix, buyer.member)
  return wrk.format("POST", nil, { ["Authorization"] = "Bearer " .. buyer.token }, body)
end

function response(status, headers, body)
  if not body:find("placeRedemption", 1, true) then
    return -- the health check sent after a thread ran out of buyers
  end
  answered = answered + 1
  if body:find("RedemptionPayload", 1, true) then
    sold = sold + 1
  elseif body:find("OUT_OF_STOCK", 1, true) then
    out_of_stock = out_of_stock + 1
  else
    other = other + 1
    if other <= 3 then io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n") end
  end
  if answered == #mine then
    local marker = io.open(os.getenv("BENCH_DONE") .. "/" .. tid, "w")
    marker:write(string.format("%d %d %d\n", sold, out_of_stock, other))
    marker:close()
    wrk.thread:stop()
  end
end
