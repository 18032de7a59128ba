package redisstore

import (
	"errors"

	"github.com/redis/go-redis/v9"
	"github.com/tether-ws/tether"
)

// Every change to a session is one Lua script over the session's own keys
// (KEYS = sessionKeys: hash, log, sizes, rooms, tombstone, cursors), so it is
// atomic and costs one round trip. Scripts report failures as negative
// integers (below) rather than Redis errors, which stay for real faults.
// Counters are formatted with %d: Redis would print a large Lua number in
// exponent notation.

// Script results that mean an error.
const (
	rNotFound = -1
	rFenced   = -2
	rOverflow = -3
	rAckRange = -4
	rGap      = -5
	rTooMany  = -6
	rExists   = -7
	rNotMem   = -8
	rRoomGap  = -9 // replied as {-9, cursor offset, cursor epoch}: see gapOf
)

// errOf maps a script's negative result to the store error it means.
func errOf(code int64) error {
	switch code {
	case rNotFound:
		return tether.ErrNotFound
	case rFenced:
		return tether.ErrFenced
	case rOverflow:
		return tether.ErrOverflow
	case rAckRange:
		return tether.ErrAckRange
	case rGap:
		return tether.ErrGap
	case rTooMany:
		return tether.ErrTooManyRooms
	case rExists:
		return tether.ErrExists
	case rNotMem:
		return tether.ErrNotMember
	}
	return errors.New("redisstore: unexpected script result")
}

// prelude is shared by the scripts. touch renews the safety-net expiry of
// every key of the session that exists. psize is the payload size of a
// log entry (see log.go). push appends to the log.
const prelude = `
local function touch(ttl)
  for _, i in ipairs({1, 2, 3, 4, 6}) do redis.call('PEXPIRE', KEYS[i], ttl) end
end
local function fmt(n) return string.format('%d', n) end
local function psize(e)
  if string.byte(e, 1) ~= 0 then return #e - 1 end
  return #e - 4 - string.byte(e, 3) * 256 - string.byte(e, 4)
end
` + pushLua

// pushLua appends the entries ARGV[i..j] to the session's log, given h,
// the HMGET of out, acked, maxm, maxb, bytes, tb and owner; ARGV[1..5]
// are node, channel prefix, session ID, ttl and wake limit. The bounds
// are checked before anything is written: it returns -3 (overflow),
// writing nothing, or out, mine (1 if the calling node owns the
// session), maxm. The sizes list holds, for each entry, the payload bytes
// appended up to and including it, so Ack learns the bytes it frees from
// one LINDEX. The owner, if another node, is woken here: no second round
// trip. The wake carries the entries (if they total at most the wake
// limit) so that the owner can cache them instead of reading them back:
// "maxm\n" then, for each entry, its length, a space and the entry (see
// decodeWake).
const pushLua = `
local function push(h, i, j)
  local out = tonumber(h[1])
  local n = j - i + 1
  local acked, maxm, maxb = tonumber(h[2]), tonumber(h[3]), tonumber(h[4])
  if maxm > 0 and out - acked + n > maxm then return -3 end
  local sz, add, raw = {}, 0, 0
  for k = i, j do
    local e = ARGV[k]
    local p = psize(e)
    sz[#sz + 1] = p
    add = add + p
    raw = raw + #e
  end
  local bytes = tonumber(h[5]) + add
  if maxb > 0 and bytes > maxb then return -3 end
  for k = i, j, 256 do
    redis.call('RPUSH', KEYS[2], unpack(ARGV, k, math.min(k + 255, j)))
  end
  out = out + n
  if maxb > 0 then
    local cum = tonumber(h[6])
    for k = 1, n do
      cum = cum + sz[k]
      sz[k] = fmt(cum)
    end
    for k = 1, n, 256 do
      redis.call('RPUSH', KEYS[3], unpack(sz, k, math.min(k + 255, n)))
    end
    redis.call('HSET', KEYS[1], 'out', fmt(out), 'tb', fmt(cum), 'bytes', fmt(bytes))
  else
    redis.call('HSET', KEYS[1], 'out', fmt(out))
  end
  if out - n == acked then
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
    redis.call('PEXPIRE', KEYS[3], ARGV[4])
  end
  local owner = h[7] or ''
  if owner ~= '' and owner ~= ARGV[1] then
    local ents = ''
    if raw <= tonumber(ARGV[5]) then
      local parts = {h[3], '\n'}
      for k = i, j do
        parts[#parts + 1] = #ARGV[k] .. ' '
        parts[#parts + 1] = ARGV[k]
      end
      ents = table.concat(parts)
    end
    redis.call('PUBLISH', ARGV[2] .. owner,
      '1 ' .. fmt(out) .. ' ' .. #ARGV[3] .. ' ' .. #ARGV[1] .. ' ' .. #ents .. '\n' .. ARGV[3] .. ARGV[1] .. ents)
  end
  local mine = 0
  if owner == ARGV[1] then mine = 1 end
  return out, mine, maxm
end
`

func script(body string) *redis.Script { return redis.NewScript(prelude + body) }

// many makes of a session's script one that runs it for several sessions
// in one call, on a single Redis node (there a script may touch keys of
// any slot): one script call for a broadcast's members instead of one
// each, and the entry sent once. KEYS: each session's sessionKeys in
// turn; ARGV: the number of sessions n, their IDs, then the script's own
// ARGV with the session ID (ARGV[3]) left out. It returns the script's
// reply for each session, in order. A Redis error in one session's part
// ends the call with the parts before it done, as in a pipeline.
func many(body string) *redis.Script {
	// KEYS and ARGV are made locals that the prelude's functions and the
	// body close over, and are pointed at each session's in turn.
	return redis.NewScript(`
local keys, argv = KEYS, ARGV
local KEYS, ARGV = {}, {}
` + prelude + `
local function one()
` + body + `
end
local n = tonumber(argv[1])
ARGV = {argv[n + 2], argv[n + 3], '', argv[n + 4], argv[n + 5]}
for i = n + 6, #argv do ARGV[#ARGV + 1] = argv[i] end
local res = {}
for i = 1, n do
  ARGV[3] = argv[1 + i]
  for k = 1, 6 do KEYS[k] = keys[6 * (i - 1) + k] end
  res[i] = one()
end
return res
`)
}

// scLoad returns {HGETALL, rooms}.
var scLoad = script(`
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return -1 end
return {h, redis.call('LRANGE', KEYS[4], 0, -1)}
`)

// scCreate: ARGV ttl, room count r, r rooms, then the hash's field/value
// pairs. Leftovers of an expired namesake are deleted first.
var scCreate = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return -7 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[6])
local r = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3 + r))
for i = 3, 2 + r, 256 do
  redis.call('RPUSH', KEYS[4], unpack(ARGV, i, math.min(i + 255, 2 + r)))
end
touch(ARGV[1])
return 1
`)

// scSave: ARGV ttl, lease, tok, prev, meta, in, detached.
var scSave = script(`
local l = redis.call('HGET', KEYS[1], 'lease')
if not l then return -1 end
if l ~= ARGV[2] then return -2 end
redis.call('HSET', KEYS[1], 'tok', ARGV[3], 'prev', ARGV[4], 'meta', ARGV[5], 'in', ARGV[6], 'detached', ARGV[7], 'att', ARGV[8])
touch(ARGV[1])
return 1
`)

// scSaveIn: ARGV ttl, lease, in.
var scSaveIn = script(`
local l = redis.call('HGET', KEYS[1], 'lease')
if not l then return -1 end
if l ~= ARGV[2] then return -2 end
redis.call('HSET', KEYS[1], 'in', ARGV[3])
touch(ARGV[1])
return 1
`)

// scClaim: ARGV ttl, node[, expected owner]. With an expected owner it
// claims only a session still owned by it, or by nobody (a
// compare-and-swap: Adopt's, and ClaimFrom's), and otherwise returns {0,
// owner}. A claim returns {1, previous owner, HGETALL, rooms}.
var scClaim = script(`
local h = redis.call('HMGET', KEYS[1], 'owner', 'lease')
if not h[2] then return -1 end
local prev = h[1] or ''
if ARGV[3] and prev ~= ARGV[3] and prev ~= '' then return {0, prev} end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'lease', 1)
touch(ARGV[1])
return {1, prev, redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[4], 0, -1)}
`)

// scRelease: ARGV lease. Returns {previous owner, 1 if now an orphan}.
var scRelease = script(`
local h = redis.call('HMGET', KEYS[1], 'lease', 'owner', 'detached')
if not h[1] then return -1 end
if h[1] ~= ARGV[1] then return -2 end
redis.call('HSET', KEYS[1], 'owner', '')
local orphan = 0
if h[3] and h[3] ~= '' then orphan = 1 end
return {h[2] or '', orphan}
`)

// scAppend: ARGV node, channel prefix, session ID, ttl, wake limit,
// entries... (see push). It returns {out, mine, maxm, n}, or out alone
// for an empty append.
var scAppend = script(appendLua)

// scAppendMany is scAppend for several sessions in one call (see many).
var scAppendMany = many(appendLua)

const appendLua = `
local h = redis.call('HMGET', KEYS[1], 'out', 'acked', 'maxm', 'maxb', 'bytes', 'tb', 'owner')
if not h[1] then return -1 end
if #ARGV == 5 then return tonumber(h[1]) end
local out, mine, maxm = push(h, 6, #ARGV)
if out < 0 then return out end
return {out, mine, maxm, #ARGV - 5}
`

// scRead: ARGV after, maxBytes. Returns the entries after 'after': the
// longest run whose payloads fit maxBytes, at least one. The log holds
// seqs acked+1..out, so seq s sits at index s-acked-1. It reads in
// growing chunks so that a small maxBytes costs little.
var scRead = script(`
local h = redis.call('HMGET', KEYS[1], 'out', 'acked')
if not h[1] then return -1 end
local after, out, acked = tonumber(ARGV[1]), tonumber(h[1]), tonumber(h[2])
if after >= out then return {} end
if after < acked then return -5 end
local max = tonumber(ARGV[2])
local res, total, i, step = {}, 0, after - acked, 16
while true do
  local chunk = redis.call('LRANGE', KEYS[2], i, i + step - 1)
  for _, e in ipairs(chunk) do
    local size = psize(e)
    if #res > 0 and total + size > max then return res end
    total = total + size
    res[#res + 1] = e
  end
  if #chunk < step then return res end
  i = i + step
  if step < 1024 then step = step * 2 end
end
`)

// scAck: ARGV seq. Trims the log (and sizes) up to seq.
var scAck = script(`
local h = redis.call('HMGET', KEYS[1], 'out', 'acked', 'maxb', 'tb')
if not h[1] then return -1 end
local seq, out, acked = tonumber(ARGV[1]), tonumber(h[1]), tonumber(h[2])
if seq > out then return -4 end
if seq <= acked then return 0 end
local k = seq - acked
redis.call('LTRIM', KEYS[2], k, -1)
if tonumber(h[3]) > 0 then
  local cum = redis.call('LINDEX', KEYS[3], k - 1)
  redis.call('LTRIM', KEYS[3], k, -1)
  if cum then redis.call('HSET', KEYS[1], 'bytes', fmt(tonumber(h[4]) - tonumber(cum))) end
end
redis.call('HSET', KEYS[1], 'acked', fmt(seq))
return 1
`)

// scClose: ARGV lease (0: any), tombstone TTL[, tombstone]. The tombstone
// is written before the session goes, in the same script, so a reader
// sees one or the other. Returns {user, owner, rooms} for the indexes.
var scClose = script(`
local h = redis.call('HMGET', KEYS[1], 'lease', 'user', 'owner')
if not h[1] then return -1 end
if ARGV[1] ~= '0' and h[1] ~= ARGV[1] then return -2 end
local rooms = redis.call('LRANGE', KEYS[4], 0, -1)
if ARGV[3] then redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[2]) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6])
return {h[2] or '', h[3] or '', rooms}
`)

// scTouch: ARGV ttl, node. Renews the expiry of a session the node owns;
// returns {user, owner, rooms} so the caller can renew the indexes too.
var scTouch = script(`
local h = redis.call('HMGET', KEYS[1], 'user', 'owner')
if not h[1] then return -1 end
if h[2] ~= ARGV[2] then return 0 end
touch(ARGV[1])
return {h[1], h[2], redis.call('LRANGE', KEYS[4], 0, -1)}
`)

// scDisown: ARGV node. Clears the owner if it is still that (dead) node,
// which makes the session an orphan anyone may adopt.
var scDisown = script(`
local o = redis.call('HGET', KEYS[1], 'owner')
if o and o == ARGV[1] then
  redis.call('HSET', KEYS[1], 'owner', '')
  return 1
end
return 0
`)

var allScripts = []*redis.Script{
	scLoad, scCreate, scSave, scSaveIn, scClaim, scRelease, scAppend,
	scRead, scAck, scJoin, scLeave, scClose, scTouch, scDisown,
	scPublish, scHistory, scAppendRoom, scAppendMany, scAppendRoomMany,
}
