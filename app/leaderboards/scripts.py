"""The Lua scripts that change and read boards atomically (Redis runs each one alone).

Every key a script touches carries the board's hash tag, so in Redis Cluster a script stays on
one node. Numbers: scores are whole point totals (exact in a double up to 2**53); event ids are
compared as numbers; tie-break elements are fixed-width strings, compared as strings.
"""

# KEYS[1] cursor, KEYS[2] markers, then a (sorted set, member index) pair per period set.
# ARGV[1] lo: the cursor this batch was read after; ARGV[2] upto: the batch covers (lo, upto];
# ARGV[3] n: how many period sets; ARGV[4 .. 3+n] their marker fields; ARGV[4+n] the changes,
# one JSON array of 6 values per change: event id, period set number (1-based), member (a
# string: a hash field), delta, element, ttl. One argument, not six a change: redis-py packs each
# argument in Python, and that was half the projector's CPU (docs/PERFORMANCE.md).
# Returns {status, cursor, applied}: status 1 applied, 0 nothing new, -1 stale (the cursor is
# behind lo: a rebuild moved it; read it again).
APPLY = """
local cursor = tonumber(redis.call('GET', KEYS[1]) or '0')
local lo = tonumber(ARGV[1])
local upto = tonumber(ARGV[2])
if cursor < lo then return {-1, cursor, 0} end
if cursor >= upto then return {0, cursor, 0} end
local n = tonumber(ARGV[3])
local marker = {}
for s = 1, n do
  marker[s] = tonumber(redis.call('HGET', KEYS[2], ARGV[3 + s]) or '0')
end
local changes = cjson.decode(ARGV[4 + n])
local applied = 0
local i = 1
while i <= #changes do
  local id = changes[i]
  local s = changes[i + 1]
  if id > cursor and id > marker[s] then
    local z = KEYS[1 + 2 * s]
    local h = KEYS[2 + 2 * s]
    local member = changes[i + 2]
    local element = changes[i + 4]
    local score = 0
    local old = redis.call('HGET', h, member)
    if old then
      score = tonumber(redis.call('ZSCORE', z, old) or '0')
      redis.call('ZREM', z, old)
      -- reached-at only moves forward: keep the element of the later instant (smaller string)
      if old < element then element = old end
    end
    score = score + changes[i + 3]
    redis.call('HSET', h, member, element)
    if score > 0 then redis.call('ZADD', z, score, element) end
    local ttl = changes[i + 5]
    if ttl > 0 then
      redis.call('EXPIRE', z, ttl)
      redis.call('EXPIRE', h, ttl)
    end
    applied = applied + 1
  end
  i = i + 6
end
redis.call('SET', KEYS[1], upto)
local markers = redis.call('HGETALL', KEYS[2])
for j = 1, #markers, 2 do
  if tonumber(markers[j + 1]) <= upto then redis.call('HDEL', KEYS[2], markers[j]) end
end
return {1, upto, applied}
"""

# Install rebuilt sets. KEYS[1] cursor, KEYS[2] markers, then 4 keys per period set: live sorted
# set, live index, temporary sorted set, temporary index. ARGV[1] horizon (the event id the
# rebuild is complete up to), ARGV[2] the cursor the temporary sets were caught up to ('' when
# there was no cursor), then per period set: marker field, ttl (0: none).
# Returns {1} when installed, {0, cursor} when the cursor moved meanwhile (catch up, try again).
INSTALL = """
local cursor = redis.call('GET', KEYS[1])
if (cursor or '') ~= ARGV[2] then return {0, cursor or ''} end
local horizon = tonumber(ARGV[1])
local n = (#KEYS - 2) / 4
for t = 0, n - 1 do
  local z, h, tz, th = KEYS[3 + 4 * t], KEYS[4 + 4 * t], KEYS[5 + 4 * t], KEYS[6 + 4 * t]
  local field = ARGV[3 + 2 * t]
  local ttl = tonumber(ARGV[4 + 2 * t])
  -- the old sets are freed off the main thread: a million members take Redis ~1 s to free
  redis.call('UNLINK', z, h)
  if redis.call('EXISTS', tz) == 1 then redis.call('RENAME', tz, z) end
  if redis.call('EXISTS', th) == 1 then redis.call('RENAME', th, h) end
  if ttl > 0 then
    redis.call('EXPIRE', z, ttl)
    redis.call('EXPIRE', h, ttl)
  end
  if cursor and tonumber(cursor) < horizon then
    -- the projector is behind: this set already holds events up to the horizon
    redis.call('HSET', KEYS[2], field, horizon)
  else
    redis.call('HDEL', KEYS[2], field)
  end
end
if not cursor then redis.call('SET', KEYS[1], horizon) end
return {1}
"""

# KEYS[1] sorted set, KEYS[2] member index; ARGV[1] member id, ARGV[2] k.
# Returns {} when the member is not on the board, else {rank0, first, element, score, ...}: the
# member's 0-based rank, the rank of the first element returned, then the elements with their
# scores from rank0 - k to rank0 + k, all read at one instant.
STANDING = """
local element = redis.call('HGET', KEYS[2], ARGV[1])
if not element then return {} end
local rank = redis.call('ZREVRANK', KEYS[1], element)
if not rank then return {} end
local k = tonumber(ARGV[2])
local first = rank - k
if first < 0 then first = 0 end
local around = redis.call('ZREVRANGE', KEYS[1], first, rank + k, 'WITHSCORES')
local out = {rank, first}
for j = 1, #around do out[#out + 1] = around[j] end
return out
"""
