package redisstore

import "github.com/redis/go-redis/v9"

// Room stream scripts. Publish and History run on a room's stream keys
// (KEYS = streamKeys: meta, hist), the cursor scripts on a session's keys
// (KEYS = sessionKeys). Times are Redis's (TIME), so every server ages
// history by one clock; Redis 7 replicates a script's effects, so TIME
// before a write is allowed.

// histLua: now is Redis's clock in ms; hsize is the payload size of a
// history entry ("<ms> " + type byte + payload); trim drops the oldest
// entries of the history at KEYS[2] while any bound is exceeded (maxm < 0:
// keep none; a bound of 0 is none) and returns the bytes left.
const histLua = `
local function fmt(n) return string.format('%d', n) end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function hsize(e)
  return #e - string.find(e, ' ', 1, true) - 1
end
local function trim(maxm, maxb, maxa, t, bytes)
  local n = redis.call('LLEN', KEYS[2])
  while n > 0 do
    local drop = maxm < 0 or (maxm > 0 and n > maxm) or (maxb > 0 and bytes > maxb)
    if not drop and maxa > 0 then
      local e = redis.call('LINDEX', KEYS[2], 0)
      drop = t - tonumber(string.sub(e, 1, string.find(e, ' ', 1, true) - 1)) >= maxa
    end
    if not drop then break end
    bytes = bytes - hsize(redis.call('LPOP', KEYS[2]))
    n = n - 1
  end
  return bytes
end
`

func streamScript(body string) *redis.Script { return redis.NewScript(histLua + body) }

// scPublish: ARGV epoch (for a stream created here), max messages, max
// bytes, max age (ms), ttl (ms), entry (type byte + payload). It gives
// the message the stream's next offset, keeps it within the limits and
// returns {epoch, offset}, followed by the room's members when KEYS[3],
// the room's member set (same slot), is given. A stream whose meta is gone starts again at
// offset 1 under the new epoch, with whatever history was left dropped.
var scPublish = streamScript(`
local t = now()
local m = redis.call('HMGET', KEYS[1], 'epoch', 'last', 'bytes')
local epoch, last, bytes = m[1], tonumber(m[2]), tonumber(m[3])
if not epoch then
  epoch, last, bytes = ARGV[1], 0, 0
  redis.call('DEL', KEYS[2])
end
last = last + 1
local maxm = tonumber(ARGV[2])
if maxm >= 0 then
  redis.call('RPUSH', KEYS[2], fmt(t) .. ' ' .. ARGV[6])
  bytes = bytes + #ARGV[6] - 1
end
bytes = trim(maxm, tonumber(ARGV[3]), tonumber(ARGV[4]), t, bytes)
redis.call('HSET', KEYS[1], 'epoch', epoch, 'last', fmt(last), 'bytes', fmt(bytes),
  'mm', ARGV[2], 'mb', ARGV[3], 'ma', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if KEYS[3] then
  local res = {epoch, fmt(last)}
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do res[#res + 1] = id end
  return res
end
return {epoch, fmt(last)}
`)

// scHistory: ARGV after, max[, epoch, ttl]. It drops what aged beyond the
// last publish's age bound, then returns {epoch, first, last,
// entries...}: at most max entries, with offsets after+1 on (the oldest
// kept if after is below it). A room without a stream returns {}, or,
// given an epoch (OpenRoom), gets an empty stream of that epoch, expiring
// after ttl ms as if a publish had created it.
var scHistory = streamScript(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'last', 'bytes', 'ma')
if not m[1] then
  if not ARGV[3] then return {} end
  m = {ARGV[3], '0', '0', '0'}
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', m[1], 'last', '0', 'bytes', '0')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local last, ma = tonumber(m[2]), tonumber(m[4] or '0')
if ma > 0 then
  local bytes = tonumber(m[3])
  local left = trim(0, 0, ma, now(), bytes)
  if left ~= bytes then redis.call('HSET', KEYS[1], 'bytes', fmt(left)) end
end
local n = redis.call('LLEN', KEYS[2])
local first = last + 1 - n
local res = {m[1], fmt(first), fmt(last)}
local after, max = tonumber(ARGV[1]), tonumber(ARGV[2])
if max <= 0 or after >= last or n == 0 then return res end
local i = 0
if after >= first then i = after + 1 - first end
local ents = redis.call('LRANGE', KEYS[2], fmt(i), fmt(math.min(i + max, n) - 1))
for _, e in ipairs(ents) do res[#res + 1] = e end
return res
`)

// The cursor of a session in a room is its field in the cursors hash,
// "offset epoch"; a room given to Create has none until its first
// AppendRoom. A session has a cursor only in rooms it is in (LeaveRoom
// and Close delete it), so a cursor proves membership.

// scAppendRoom: ARGV node, channel prefix, session ID, ttl, wake limit
// (see push), room, epoch, offset of the first entry, entries... (of
// consecutive offsets). Entries at or below the cursor are skipped; the
// rest must follow it, in its epoch (an epoch of "" takes any), or it
// returns {-9, cursor offset, cursor epoch}, appending nothing. It
// returns what scAppend does, with the number of entries appended.
var scAppendRoom = script(appendRoomLua)

// scAppendRoomMany is scAppendRoom for several sessions in one call (see
// many), what a broadcast to a room needs on a single Redis node.
var scAppendRoomMany = many(appendRoomLua)

const appendRoomLua = `
local h = redis.call('HMGET', KEYS[1], 'out', 'acked', 'maxm', 'maxb', 'bytes', 'tb', 'owner')
if not h[1] then return -1 end
local first, n, skip = tonumber(ARGV[8]), #ARGV - 8, 0
local c = redis.call('HGET', KEYS[6], ARGV[6])
if not c and not redis.call('LPOS', KEYS[4], ARGV[6]) then return -8 end
if c then
  local sp = string.find(c, ' ', 1, true)
  local coff, cep = tonumber(string.sub(c, 1, sp - 1)), string.sub(c, sp + 1)
  if cep ~= '' and cep ~= ARGV[7] then return {-9, fmt(coff), cep} end
  if n == 0 then return tonumber(h[1]) end
  if coff >= first then skip = coff - first + 1 end
  if skip >= n then return tonumber(h[1]) end
  if first + skip ~= coff + 1 then return {-9, fmt(coff), cep} end
elseif n == 0 then
  return tonumber(h[1])
end
local out, mine, maxm = push(h, 9 + skip, #ARGV)
if out < 0 then return out end
redis.call('HSET', KEYS[6], ARGV[6], fmt(first + n - 1) .. ' ' .. ARGV[7])
if not c then redis.call('PEXPIRE', KEYS[6], ARGV[4]) end
return {out, mine, maxm, n - skip}
`

// scJoin: ARGV node, channel prefix, session ID, ttl, wake limit (see
// push), room, max rooms, cursor ("offset epoch")[, event entry]. It adds
// the room with the cursor and appends the event, or changes nothing:
// {1, out, mine, maxm, appended} joined, {0, out} already in, or an error.
var scJoin = script(`
local h = redis.call('HMGET', KEYS[1], 'out', 'acked', 'maxm', 'maxb', 'bytes', 'tb', 'owner')
if not h[1] then return -1 end
if redis.call('LPOS', KEYS[4], ARGV[6]) then return {0, tonumber(h[1])} end
local max = tonumber(ARGV[7])
if max > 0 and redis.call('LLEN', KEYS[4]) >= max then return -6 end
local out, mine, maxm, n = tonumber(h[1]), 0, 0, 0
if #ARGV >= 9 then
  out, mine, maxm = push(h, 9, 9)
  if out < 0 then return out end
  n = 1
end
redis.call('RPUSH', KEYS[4], ARGV[6])
redis.call('HSET', KEYS[6], ARGV[6], ARGV[8])
touch(ARGV[4])
return {1, out, mine, maxm, n}
`)

// scLeave: ARGV node, channel prefix, session ID, ttl, wake limit (see
// push), room[, event entry]. It removes the room and the cursor and
// appends the event, or changes nothing: replies as scJoin's.
var scLeave = script(`
local h = redis.call('HMGET', KEYS[1], 'out', 'acked', 'maxm', 'maxb', 'bytes', 'tb', 'owner')
if not h[1] then return -1 end
if not redis.call('LPOS', KEYS[4], ARGV[6]) then return {0, tonumber(h[1])} end
local out, mine, maxm, n = tonumber(h[1]), 0, 0, 0
if #ARGV >= 7 then
  out, mine, maxm = push(h, 7, 7)
  if out < 0 then return out end
  n = 1
end
redis.call('LREM', KEYS[4], 1, ARGV[6])
redis.call('HDEL', KEYS[6], ARGV[6])
return {1, out, mine, maxm, n}
`)
