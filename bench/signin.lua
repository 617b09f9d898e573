-- wrk: the sign-in storm. Every member checks in exactly once, with its own token.
--
-- Environment: BENCH_TOKENS (file: "memberId token" a line), BENCH_THREADS, BENCH_DONE (a file
-- prefix), BENCH_LATENCIES (a file), BENCH_TIMEOUT_MS.
--
-- Thread t of n takes lines t, t+n, t+2n, ... Each check-in's latency is measured here, not
-- taken from wrk's histogram: request() notes the member's send time (CLOCK_MONOTONIC, through
-- LuaJIT's FFI), and response() finds the member in the answer (`entry { memberId }`) and
-- records now - sent. wrk's own histogram would also hold the GET /healthz requests below.
--
-- A check-in still unanswered after BENCH_TIMEOUT_MS is counted as timed out: wrk itself never
-- gives up on a request (its --timeout only counts), and a request lost with its connection (a
-- server that closes it is not even a socket error in wrk) would leave its thread waiting for
-- ever. A thread is done when every check-in it sent has an answer or timed out: it writes
-- BENCH_DONE<t> and stops (the bench interrupts wrk once every thread is done). Connections
-- with nothing left to send idle: every IDLE_MS they ask GET /healthz (wrk always sends
-- something), and those answers keep the time-out check ticking.
--
-- wrk also calls request() once before it starts, to check the script; that call must not use
-- up a member (it did: the check-in "lost" in the second full run, see request()).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local QUERY = "mutation($m: ID!) { checkIn(input: {memberId: $m}) { __typename"
  .. " ... on CheckedIn { signIn { streak points } entry { memberId } }"
  .. " ... on MutationError { code message } } }"
local IDLE_MS = 200

local mine = {}
local next_member = 1
local inflight = {}      -- member -> send time (us), while unanswered
local expired = {}       -- members whose check-in was counted as timed out
local unmatched = 0      -- answers that name no member (an error page, a refusal): see expire()
local timeout_us = 10000000
local finished = false
local running = false    -- set by the first delay(): see request()

-- Read by done() in common.lua's state through thread:get (globals of this thread's state).
latencies = {}   -- us, one per check-in answered in time and identified by its member
answered = 0     -- answers to check-ins (identified or not)
timeouts = 0     -- check-ins without an answer after BENCH_TIMEOUT_MS
late = 0         -- answers that came after their check-in had been counted as timed out
extra = 0        -- GET /healthz answers (idle connections)
started_us = 0   -- first check-in sent
finished_us = 0  -- every check-in answered or timed out

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  timeout_us = tonumber(os.getenv("BENCH_TIMEOUT_MS") or "10000") * 1000
  local all = read_lines(os.getenv("BENCH_TOKENS"))
  for i = tid, #all, nthreads do
    local member, token = all[i]:match("^(%d+) (.+)$")
    table.insert(mine, {member = member, token = token})
  end
end

local function finish_if_done(now)
  if finished or answered + timeouts < #mine then
    return
  end
  finished, finished_us = true, now
  local marker = assert(io.open(os.getenv("BENCH_DONE") .. tid, "w"))
  marker:write(answered .. " " .. timeouts .. "\n")
  marker:close()
  wrk.thread:stop()
end

-- Check-ins older than the time-out. An unmatched answer (it names no member) belongs to one
-- of the unanswered ones; it settles the oldest first, so each check-in is counted once:
-- answered, or timed out.
local function expire(now)
  for member, sent in pairs(inflight) do
    if now - sent > timeout_us then
      inflight[member] = nil
      expired[member] = true
      if unmatched > 0 then
        unmatched = unmatched - 1
      else
        timeouts = timeouts + 1
      end
    end
  end
  finish_if_done(now)
end

function delay()
  running = true
  if mine[next_member] == nil then
    return IDLE_MS
  end
  return 0
end

function request()
  if not running then
    -- wrk's own check of the script (script_verify_request in wrk.c: it calls request() once
    -- on the first thread's state, before the thread starts, to count pipelined requests).
    -- Every real request comes after a delay() call; this one must not use up a member.
    return wrk.format("GET", "/healthz")
  end
  local me = mine[next_member]
  if me == nil then
    expire(now_us())
    return wrk.format("GET", "/healthz")
  end
  next_member = next_member + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. me.token}
  local body = string.format('{"query":"%s","variables":{"m":"%s"}}', QUERY, me.member)
  local now = now_us()
  if started_us == 0 then
    started_us = now
  end
  inflight[me.member] = now
  return wrk.format("POST", "/graphql", headers, body)
end

function response(status, headers, body)
  local now = now_us()
  if status == 200 and body:find('"status":"ok"', 1, true) then
    extra = extra + 1
    expire(now)
    return
  end
  local member = body:match('"memberId":"(%d+)"')
  local sent = member and inflight[member]
  if sent and now - sent > timeout_us then -- too late, though not yet expired
    inflight[member] = nil
    expired[member] = true
    timeouts = timeouts + 1
  end
  if member and expired[member] then
    late = late + 1 -- counted as timed out
  else
    answered = answered + 1
    count_response(status, body, "CheckedIn")
    if sent then
      inflight[member] = nil
      latencies[#latencies + 1] = now - sent
    else
      unmatched = unmatched + 1
    end
  end
  expire(now)
end

-- Replaces common.lua's done(): the check-ins' own latencies go to BENCH_LATENCIES (us, one a
-- line) for the bench to take percentiles of; one BENCH line carries the counts.
function done(summary, latency, requests)
  local totals = {answered = 0, timeouts = 0, late = 0, extra = 0, non200 = 0, gql_errors = 0}
  local first, last, all_finished, recorded = nil, 0, true, 0
  local out = assert(io.open(os.getenv("BENCH_LATENCIES"), "w"))
  for _, thread in ipairs(bench_threads()) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    for _, us in ipairs(thread:get("latencies") or {}) do
      out:write(us, "\n")
      recorded = recorded + 1
    end
    local started, finished = thread:get("started_us") or 0, thread:get("finished_us") or 0
    if started > 0 and (first == nil or started < first) then
      first = started
    end
    last = math.max(last, finished)
    all_finished = all_finished and finished > 0
  end
  out:close()
  local e = summary.errors
  io.write(string.format(
    "BENCH answered=%d recorded=%d timeouts=%d late=%d non200=%d gql_errors=%d healthz=%d"
      .. " socket_errors=%d connect_errors=%d read_errors=%d write_errors=%d span_us=%d\n",
    totals.answered, recorded, totals.timeouts, totals.late, totals.non200, totals.gql_errors,
    totals.extra, e.connect + e.read + e.write, e.connect, e.read, e.write,
    -- A thread that never finished (wrk stopped by --duration) leaves the span unknown (0).
    (first and all_finished) and (last - first) or 0))
end
