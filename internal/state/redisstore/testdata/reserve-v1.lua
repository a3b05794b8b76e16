local now, res, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local tot, trimmed = {}, {}
local function arg(i, k) return ARGV[3 + (i - 1) * 8 + k] end
for i = 1, n do
  local z, t = KEYS[2 * i - 1], KEYS[2 * i]
  if not tot[z] then
    if arg(i, 1) == "c" then
      tot[z] = redis.call("GET", z) or "0"
    else
      local cutoff = arg(i, 3)
      local total = redis.call("GET", t)
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
local done = {}
for i = 1, n do
  local z, t = KEYS[2 * i - 1], KEYS[2 * i]
  local ttl = arg(i, 7)
  if arg(i, 1) == "c" then
    if not done[z] then redis.call("SET", z, cur[z], "PX", ttl) end
    if t ~= z then
      redis.call("INCR", t)
      redis.call("PEXPIRE", t, ttl)
    end
  else
    redis.call("ZADD", z, ARGV[1], res .. ":" .. i .. ":" .. arg(i, 4))
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
