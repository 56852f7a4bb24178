//! The two allocation algorithms, each one Lua script that Redis runs atomically, so every
//! replica sharing the server shares one limit. Time is Redis's own clock (`TIME`), in
//! milliseconds, so replicas whose clocks disagree still agree on the window; a test may pass
//! the time instead (the last argument, empty in service). Numbers are written back with
//! `%d`: Lua's default formatting would round a 13-digit timestamp.
//!
//! Both answer `{granted, valid_ms, from_dedup}`. A grant made under a deduplication id is
//! remembered (a hash next to the counter) for as long as it counts, and a retry with the
//! same id gets it back without allocating again; a denial is not remembered (it allocated
//! nothing, so asking again cannot count twice).
//!
//! * **FIXED_WINDOW** (`KEYS[1]` counter hash, `KEYS[2]` dedup hash if any; `ARGV`: max,
//!   window ms, amount, best effort 0/1, now ms or ""): windows aligned to multiples of the
//!   window length since the Unix epoch; the hash holds the window's start and its count and
//!   expires with the window. Up to 2 × max can pass around a boundary (spec §7).
//! * **ROLLING_WINDOW** (`KEYS[1]` state hash, `KEYS[2]` sorted set of closed buckets,
//!   `KEYS[3]` dedup hash if any; `ARGV`: max, window ms, bucket ms, amount, best effort 0/1,
//!   now ms or ""): grants are summed per bucket (aligned to multiples of the bucket length);
//!   the open bucket lives in the hash, closed ones in the sorted set as `end:amount` scored
//!   by their end. A bucket's amount counts until one window after the bucket *ends*, so no
//!   window of the configured length ever holds more than max (a grant may be held up to one
//!   bucket longer than the window).

use super::client::Script;

pub static FIXED_WINDOW: Script = Script::new(
    r#"-- mixer redisquota FIXED_WINDOW v1
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local best_effort = ARGV[4] == '1'
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function s(n) return string.format('%d', n) end
local start = now - (now % window)
local left = start + window - now
local dedup = KEYS[2]
if dedup then
  local seen = redis.call('HMGET', dedup, 'granted', 'until')
  local granted, until_ = tonumber(seen[1]), tonumber(seen[2])
  if granted and until_ and now < until_ then
    return {granted, until_ - now, 1}
  end
end
local state = redis.call('HMGET', KEYS[1], 'start', 'used')
local used = 0
if tonumber(state[1]) == start then
  used = tonumber(state[2]) or 0
end
local free = math.max(max - used, 0)
local granted = 0
if amount <= free then
  granted = amount
elseif best_effort then
  granted = free
end
if granted <= 0 then
  return {0, 0, 0}
end
redis.call('HSET', KEYS[1], 'start', s(start), 'used', s(used + granted))
redis.call('PEXPIRE', KEYS[1], s(left))
if dedup then
  redis.call('HSET', dedup, 'granted', s(granted), 'until', s(start + window))
  redis.call('PEXPIRE', dedup, s(left))
end
return {granted, left, 0}
"#,
);

pub static ROLLING_WINDOW: Script = Script::new(
    r#"-- mixer redisquota ROLLING_WINDOW v1
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local bucket = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local best_effort = ARGV[5] == '1'
local now = tonumber(ARGV[6])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function s(n) return string.format('%d', n) end
local dedup = KEYS[3]
if dedup then
  local seen = redis.call('HMGET', dedup, 'granted', 'until')
  local granted, until_ = tonumber(seen[1]), tonumber(seen[2])
  if granted and until_ and now < until_ then
    return {granted, until_ - now, 1}
  end
end
-- buckets ending at or before the horizon have left the window
local horizon = now - window
local open_end = now - (now % bucket) + bucket
local state = redis.call('HMGET', KEYS[1], 'used', 'open', 'open_used')
local used = tonumber(state[1]) or 0
local open = tonumber(state[2])
local open_used = tonumber(state[3]) or 0
if open ~= open_end then
  if open and open_used > 0 then
    if open > horizon then
      redis.call('ZADD', KEYS[2], s(open), s(open) .. ':' .. s(open_used))
    else
      used = used - open_used
    end
  end
  open_used = 0
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', s(horizon))
for _, member in ipairs(gone) do
  used = used - (tonumber(string.match(member, ':(%d+)$')) or 0)
end
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', s(horizon))
end
used = math.max(used, 0)
local free = math.max(max - used, 0)
local granted = 0
if amount <= free then
  granted = amount
elseif best_effort then
  granted = free
end
used = used + granted
open_used = open_used + granted
redis.call('HSET', KEYS[1], 'used', s(used), 'open', s(open_end), 'open_used', s(open_used))
local keep = s(window + bucket)
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
if granted <= 0 then
  return {0, 0, 0}
end
if dedup then
  redis.call('HSET', dedup, 'granted', s(granted), 'until', s(now + window))
  redis.call('PEXPIRE', dedup, s(window))
end
return {granted, window, 0}
"#,
);
