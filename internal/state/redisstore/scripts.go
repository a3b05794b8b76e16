package redisstore

import "github.com/redis/go-redis/v9"

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
local function add(a, b)
  if b == "0" then return a end
  if a == "0" then return b end
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

// reserveScript applies one Reserve atomically.
//
// KEYS: per charge i, KEYS[2i-1] is the sorted set of a sliding counter (or
// the total of a calendar window) and KEYS[2i] the sliding counter's total;
// the last key is the reservation record.
// ARGV: now (µs), reservation id, charge count, record TTL (ms), then per
// charge: kind ("s" or "c"), window (µs), cutoff (µs: events at or before it
// have left), amount, limit, strict ("1"), key TTL (ms), window end (µs,
// calendar), keep on refund ("1"). The record lists only the charges a refund
// gives back, and is not written when there are none.
// Returns {admitted, denied index, retry after (µs), totals...}.
var reserveScript = redis.NewScript(luaDecimal + `
local now, res, n, recttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local tot = {}
local function arg(i, k) return ARGV[4 + (i - 1) * 9 + k] end
for i = 1, n do
  local z, t = KEYS[2 * i - 1], KEYS[2 * i]
  if not tot[z] then
    if arg(i, 1) == "c" then
      tot[z] = redis.call("GET", z) or "0"
    elseif redis.call("EXISTS", z) == 0 then
      tot[z] = "0"
    else
      local cutoff = arg(i, 3)
      local old = redis.call("ZRANGEBYSCORE", z, "-inf", cutoff)
      local total = redis.call("GET", t)
      if #old > 0 then redis.call("ZREMRANGEBYSCORE", z, "-inf", cutoff) end
      if not total then
        total = "0"
        for _, m in ipairs(redis.call("ZRANGE", z, 0, -1)) do total = add(total, amountOf(m)) end
        redis.call("SET", t, total, "PX", arg(i, 7))
      elseif #old > 0 then
        for _, m in ipairs(old) do total = sub(total, amountOf(m)) end
        redis.call("SET", t, total, "PX", arg(i, 7))
      end
      tot[z] = total
    end
  end
end
-- cur is each counter's total with this call's earlier charges added, so
-- that every charge costs one addition.
local cur = {}
for z, t in pairs(tot) do cur[z] = t end
for i = 1, n do
  local z = KEYS[2 * i - 1]
  local amount, limit, strict = arg(i, 4), arg(i, 5), arg(i, 6) == "1"
  local after = add(cur[z], amount)
  local c = cmp(after, limit)
  if c > 0 or (c == 0 and strict) then
    local ex = sub(cur[z], tot[z])
    local retry = 0
    if fits(ex, amount, limit, strict) then
      if arg(i, 1) == "c" then
        retry = tonumber(arg(i, 8)) - now
      else
        local left = tot[z]
        local items = redis.call("ZRANGEBYSCORE", z, "(" .. arg(i, 3), "+inf", "WITHSCORES")
        for k = 1, #items, 2 do
          left = sub(left, amountOf(items[k]))
          if fits(add(left, ex), amount, limit, strict) then
            retry = tonumber(items[k + 1]) + tonumber(arg(i, 2)) - now
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
local rec = {}
for i = 1, n do
  local z, t = KEYS[2 * i - 1], KEYS[2 * i]
  local amount, ttl = arg(i, 4), arg(i, 7)
  local e
  if arg(i, 1) == "c" then
    redis.call("SET", z, cur[z], "PX", ttl)
    e = {"c", z, t, amount}
  else
    local m = res .. ":" .. i .. ":" .. amount
    redis.call("ZADD", z, ARGV[1], m)
    redis.call("PEXPIRE", z, ttl)
    redis.call("SET", t, cur[z], "PX", ttl)
    e = {"s", z, t, m}
  end
  if arg(i, 9) ~= "1" then rec[#rec + 1] = e end
end
if #rec > 0 then redis.call("SET", KEYS[2 * n + 1], cjson.encode(rec), "PX", recttl) end
local out = {1, 0, 0}
for k = 1, n do out[#out + 1] = cur[KEYS[2 * k - 1]] end
return out
`)

// refundScript takes a reservation's charges off their counters and deletes
// its record. KEYS: the record, then per entry its two keys (as read from
// the record). A missing record (committed, refunded or expired) is a no-op.
var refundScript = redis.NewScript(luaDecimal + `
local rec = redis.call("GET", KEYS[1])
if not rec then return 0 end
for j, e in ipairs(cjson.decode(rec)) do
  local z, t = KEYS[2 * j], KEYS[2 * j + 1]
  if e[1] == "s" then
    if redis.call("ZREM", z, e[4]) == 1 then
      local total = redis.call("GET", t)
      if total then redis.call("SET", t, sub(total, amountOf(e[4])), "KEEPTTL") end
    end
  else
    local total = redis.call("GET", z)
    if total then redis.call("SET", z, sub(total, e[4]), "KEEPTTL") end
  end
end
redis.call("DEL", KEYS[1])
return 1
`)

// peekScript reads a counter's total without changing it.
// KEYS: sorted set (or calendar total), sliding total. ARGV: kind, cutoff.
var peekScript = redis.NewScript(luaDecimal + `
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
