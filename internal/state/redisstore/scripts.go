package redisstore

import (
	"sync"

	"github.com/redis/go-redis/v9"
)

// Amounts travel to Redis as non-negative integers counting 10^-scale units,
// written in decimal; Lua (doubles only) adds, subtracts and compares them as
// digit strings, so totals stay exact at any size.
const luaDecimal = `
local function strip(s)
  s = string.gsub(s, "^0+", "")
  if s == "" then return "0" end
  return s
end
local function cmp(a, b)
  if #a ~= #b then if #a < #b then return -1 end return 1 end
  if a == b then return 0 end
  if a < b then return -1 end
  return 1
end
local function join(out)
  local r = {}
  for k = #out, 1, -1 do r[#r + 1] = out[k] end
  return strip(table.concat(r))
end
-- split factors out the trailing zeros a and b share (amounts at scale 18
-- have many), keeping at least one digit of each.
local function split(a, b)
  local z = math.min(#string.match(a, "0*$"), #string.match(b, "0*$"), #a - 1, #b - 1)
  return string.sub(a, 1, #a - z), string.sub(b, 1, #b - z), z
end
-- Below 10^15 doubles are exact integers: the fast path.
local function native(x)
  if x == 0 then return "0" end
  return string.format("%.0f", x)
end
-- Z16 ends every amount with at most two decimal places (cents, whole
-- units): adding or subtracting such numbers up to 10^15 units of 10^-2
-- needs no splitting.
local Z16 = "0000000000000000"
local function short(a, b)
  local la, lb = #a, #b
  return la > 16 and lb > 16 and la <= 31 and lb <= 31 and string.sub(a, -16) == Z16 and string.sub(b, -16) == Z16
end
local function add(a, b)
  if b == "0" then return a end
  if a == "0" then return b end
  if short(a, b) then
    return native(tonumber(string.sub(a, 1, -17)) + tonumber(string.sub(b, 1, -17))) .. Z16
  end
  local aa, bb, z = split(a, b)
  if #aa <= 15 and #bb <= 15 then
    local r = native(tonumber(aa) + tonumber(bb))
    if r == "0" then return r end
    return r .. string.rep("0", z)
  end
  local out, carry, i, j = {}, 0, #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local x = (i > 0) and tonumber(string.sub(a, math.max(1, i - 6), i)) or 0
    local y = (j > 0) and tonumber(string.sub(b, math.max(1, j - 6), j)) or 0
    local s = x + y + carry
    if s >= 10000000 then carry = 1; s = s - 10000000 else carry = 0 end
    out[#out + 1] = string.format("%07d", s)
    i = i - 7; j = j - 7
  end
  return join(out)
end
-- sub returns max(a - b, 0).
local function sub(a, b)
  if cmp(a, b) <= 0 then return "0" end
  if b == "0" then return a end
  if short(a, b) then
    return native(tonumber(string.sub(a, 1, -17)) - tonumber(string.sub(b, 1, -17))) .. Z16
  end
  local aa, bb, z = split(a, b)
  if #aa <= 15 and #bb <= 15 then
    return native(tonumber(aa) - tonumber(bb)) .. string.rep("0", z)
  end
  local out, borrow, i, j = {}, 0, #a, #b
  while i > 0 do
    local x = tonumber(string.sub(a, math.max(1, i - 6), i))
    local y = (j > 0) and tonumber(string.sub(b, math.max(1, j - 6), j)) or 0
    local s = x - y - borrow
    if s < 0 then s = s + 10000000; borrow = 1 else borrow = 0 end
    out[#out + 1] = string.format("%07d", s)
    i = i - 7; j = j - 7
  end
  return join(out)
end
local function fits(used, amount, limit, strict)
  local c = cmp(add(used, amount), limit)
  return c < 0 or (c == 0 and not strict)
end
-- A sliding event is a sorted-set member "<res>:<idx>:<amount>" scored by
-- its time in microseconds.
local function amountOf(m) return string.match(m, ":(%d+)$") end
`

// reserveArgs is how many ARGV entries reserveScript takes per charge.
const reserveArgs = 9

// reserveScript applies one Reserve atomically.
//
// KEYS: per charge i, KEYS[2i-1] is the sorted set of a sliding counter (or
// the total of a calendar window) and KEYS[2i] the sliding counter's total
// (or the calendar window's charge count, which only Usage reads).
// ARGV: now (µs), charge count, then per charge (reserveArgs of them): kind
// ("s" or "c"), window (µs), cutoff (µs: events at or before it have left),
// amount, limit, strict ("1"), key TTL (ms), window end (µs, calendar), and
// the sorted-set member (sliding: "<reservation>:<i>:<amount>", built by the
// client, which needs it for a refund anyway).
// Returns {admitted, denied index, retry after (µs), totals...}.
//
// An admitted sliding charge costs GET and ZRANGEBYSCORE (finding nothing
// left, usually), then ZADD, PEXPIRE and SET; a calendar charge GET, SET and
// INCR, its count's TTL set when INCR creates it (the window's end does not
// move). A sliding counter's total key never outlives its set: both get the
// same TTL when a charge is added, and a total rewritten after trimming
// keeps its TTL. Nothing records the reservation: what a refund needs
// travels in its id (see Store.Reserve).
//
// The keys and the values in them are those every earlier version wrote and
// reads: only ARGV changed, and it is private to one version's client and
// script (each its own SHA), so old and new processes can share counters.
var reserveScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(luaDecimal + `
local now, n = ARGV[1], tonumber(ARGV[2])
local tot, cur, trimmed = {}, {}, {}
for i = 1, n do
  local a, z = 2 + (i - 1) * 9, KEYS[2 * i - 1]
  if not tot[z] then
    local total
    if ARGV[a + 1] == "c" then
      total = redis.call("GET", z) or "0"
    else
      local t, cutoff = KEYS[2 * i], ARGV[a + 3]
      total = redis.call("GET", t)
      if not total then
        -- A new counter, or its total was lost: count what the set holds.
        total = "0"
        if redis.call("EXISTS", z) == 1 then
          redis.call("ZREMRANGEBYSCORE", z, "-inf", cutoff)
          for _, m in ipairs(redis.call("ZRANGE", z, 0, -1)) do total = add(total, amountOf(m)) end
          trimmed[z] = "rebuilt"
        end
      else
        local old = redis.call("ZRANGEBYSCORE", z, "-inf", cutoff)
        if #old > 0 then
          redis.call("ZREMRANGEBYSCORE", z, "-inf", cutoff)
          for _, m in ipairs(old) do total = sub(total, amountOf(m)) end
          trimmed[z] = "trimmed"
        end
      end
    end
    -- cur is each counter's total with this call's earlier charges added,
    -- so that every charge costs one addition.
    tot[z], cur[z] = total, total
  end
end
for i = 1, n do
  local a, z = 2 + (i - 1) * 9, KEYS[2 * i - 1]
  local amount, limit, strict = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6] == "1"
  local after = add(cur[z], amount)
  local c = cmp(after, limit)
  if c > 0 or (c == 0 and strict) then
    -- Denied: keep what trimming found, then work out the wait.
    for k = 1, n do
      local zk, tk = KEYS[2 * k - 1], KEYS[2 * k]
      if trimmed[zk] == "trimmed" then
        redis.call("SET", tk, tot[zk], "KEEPTTL")
      elseif trimmed[zk] == "rebuilt" then
        redis.call("SET", tk, tot[zk], "PX", math.max(redis.call("PTTL", zk), 1))
      end
      trimmed[zk] = nil
    end
    local ex = sub(cur[z], tot[z])
    local retry = 0
    if fits(ex, amount, limit, strict) then
      if ARGV[a + 1] == "c" then
        retry = tonumber(ARGV[a + 8]) - tonumber(now)
      else
        local left = tot[z]
        local items = redis.call("ZRANGEBYSCORE", z, "(" .. ARGV[a + 3], "+inf", "WITHSCORES")
        for k = 1, #items, 2 do
          left = sub(left, amountOf(items[k]))
          if fits(add(left, ex), amount, limit, strict) then
            retry = tonumber(items[k + 1]) + tonumber(ARGV[a + 2]) - tonumber(now)
            break
          end
        end
      end
    end
    local out = {0, i - 1, retry}
    for k = 1, n do out[#out + 1] = tot[KEYS[2 * k - 1]] end
    return out
  end
  cur[z] = after
end
local done = {}
for i = 1, n do
  local a, z, t = 2 + (i - 1) * 9, KEYS[2 * i - 1], KEYS[2 * i]
  local ttl = ARGV[a + 7]
  if ARGV[a + 1] == "c" then
    if not done[z] then redis.call("SET", z, cur[z], "PX", ttl) end
    if t ~= z and redis.call("INCR", t) == 1 then redis.call("PEXPIRE", t, ttl) end
  else
    redis.call("ZADD", z, now, ARGV[a + 9])
    if not done[z] then
      redis.call("PEXPIRE", z, ttl)
      redis.call("SET", t, cur[z], "PX", ttl)
    end
  end
  done[z] = true
end
local out = {1, 0, 0}
for k = 1, n do out[#out + 1] = cur[KEYS[2 * k - 1]] end
return out
`)
})

// refundScript takes charges off their counters, once: KEYS[1] is the
// reservation's refund marker, then per charge its two keys (a calendar
// window's total and charge count; versions before the count pass the
// total twice); ARGV per charge:
// kind, then the sorted-set member (sliding) or the amount (calendar). The
// marker lives as long as the longest-lived of the keys, so a second refund
// (from any process) finds it and does nothing; keys already gone have
// nothing left to give back.
var refundScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(luaDecimal + `
local ttl = 0
for j = 1, #ARGV / 2 do ttl = math.max(ttl, redis.call("PTTL", KEYS[2 * j])) end
if ttl <= 0 then return 0 end
if not redis.call("SET", KEYS[1], "1", "NX", "PX", ttl) then return 0 end
for j = 1, #ARGV / 2 do
  local z, t, v = KEYS[2 * j], KEYS[2 * j + 1], ARGV[2 * j]
  if ARGV[2 * j - 1] == "s" then
    if redis.call("ZREM", z, v) == 1 then
      local total = redis.call("GET", t)
      if total then redis.call("SET", t, sub(total, amountOf(v)), "KEEPTTL") end
    end
  else
    local total = redis.call("GET", z)
    if total then
      redis.call("SET", z, sub(total, v), "KEEPTTL")
      local n = (t ~= z) and redis.call("GET", t)
      if n and tonumber(n) > 0 then redis.call("DECR", t) end
    end
  end
end
return 1
`)
})

// peekScript reads a counter's total without changing it.
// KEYS: sorted set (or calendar total), sliding total. ARGV: kind, cutoff.
var peekScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(luaDecimal + `
local z, t = KEYS[1], KEYS[2]
if ARGV[1] == "c" then return redis.call("GET", z) or "0" end
if redis.call("EXISTS", z) == 0 then return "0" end
local total = redis.call("GET", t)
if not total then
  total = "0"
  for _, m in ipairs(redis.call("ZRANGEBYSCORE", z, "(" .. ARGV[2], "+inf")) do total = add(total, amountOf(m)) end
  return total
end
for _, m in ipairs(redis.call("ZRANGEBYSCORE", z, "-inf", ARGV[2])) do total = sub(total, amountOf(m)) end
return total
`)
})
