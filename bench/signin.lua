-- wrk: the sign-in storm. Every member checks in exactly once, with its own token.
-- Environment: BENCH_TOKENS (file: "memberId token" a line), BENCH_THREADS, BENCH_DONE (a file
-- prefix). Thread t of n takes lines t, t+n, t+2n, ... and, once each of its members has an
-- answer, stops and writes BENCH_DONE<t> (wrk itself runs for its whole --duration: the bench
-- interrupts it when every thread is done). A connection that asks after its thread's list is
-- exhausted asks GET /healthz instead (counted apart, never a check-in).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local QUERY = "mutation($m: ID!) { checkIn(input: {memberId: $m}) { __typename"
  .. " ... on CheckedIn { signIn { streak points } }"
  .. " ... on MutationError { code message } } }"

local mine = {}
local sent, answered = 0, 0
extra = 0
local nthreads = 1

function init(args)
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local all = read_lines(os.getenv("BENCH_TOKENS"))
  for i = tid, #all, nthreads do
    local member, token = all[i]:match("^(%d+) (.+)$")
    table.insert(mine, {member = member, token = token})
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local me = mine[sent]
  if me == nil then
    return wrk.format("GET", "/healthz")
  end
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. me.token}
  local body = string.format('{"query":"%s","variables":{"m":"%s"}}', QUERY, me.member)
  return wrk.format(nil, nil, headers, body)
end

function response(status, headers, body)
  if body:find('"status":"ok"', 1, true) then
    extra = extra + 1
    return
  end
  answered = answered + 1
  count_response(status, body, "CheckedIn")
  if answered == #mine then
    local marker = assert(io.open(os.getenv("BENCH_DONE") .. tid, "w"))
    marker:write(answered .. "\n")
    marker:close()
    wrk.thread:stop()
  end
end
