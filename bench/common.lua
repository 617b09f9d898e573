-- Shared by the wrk scripts of bench/ledger.py: per-thread counters and the summary line.
--
-- wrk runs one Lua state per thread plus one for setup()/done(). setup() numbers the threads
-- (the number goes into idempotency keys, so keys never collide across threads); response()
-- counts non-200 answers and GraphQL-level errors; done() adds the threads' counters and prints
-- one "BENCH key=value ..." line that bench/ledger.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- For a script that replaces done() (bench/signin.lua).
function bench_threads()
  return threads
end

function read_lines(path)
  local lines = {}
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    if line ~= "" then
      table.insert(lines, line)
    end
  end
  file:close()
  assert(#lines > 0, "no lines in " .. path)
  return lines
end

non200 = 0
gql_errors = 0

-- `ok_marker` is a string a good answer contains; anything else counts as a GraphQL error.
function count_response(status, body, ok_marker)
  if status ~= 200 then
    non200 = non200 + 1
  elseif body:find('"errors"', 1, true) or body:find("MutationError", 1, true)
      or not body:find(ok_marker, 1, true) then
    gql_errors = gql_errors + 1
  end
end

function done(summary, latency, requests)
  local bad_status, bad_graphql = 0, 0
  for _, thread in ipairs(threads) do
    bad_status = bad_status + (thread:get("non200") or 0)
    bad_graphql = bad_graphql + (thread:get("gql_errors") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f"
      .. " non200=%d gql_errors=%d socket_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, bad_status, bad_graphql, e.connect + e.read + e.write, e.timeout))
end

-- A script that posts one GraphQL query with a random member's token (BENCH_TOKENS: a file, one
-- member JWT a line) and counts an answer as good when it contains ok_marker.
function member_query(body, ok_marker)
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
    return wrk.format("POST", nil, headers, body)
  end

  function response(status, headers, answer)
    count_response(status, answer, ok_marker)
  end
end
