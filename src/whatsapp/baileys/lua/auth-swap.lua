-- Re-encryption of stored auth, compare-and-set: each value is replaced only if it is still the one read,
-- so a value a live worker rewrote in the meantime is left as it is (written under that worker's key).
-- KEYS[1]: the creds string or one Signal key hash
-- ARGV: for the creds string: old, new; for a hash: field1, old1, new1, field2, old2, new2, ...
-- Returns the number of values replaced.
local replaced = 0
if redis.call('TYPE', KEYS[1]).ok == 'string' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2])
    replaced = 1
  end
  return replaced
end
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    replaced = replaced + 1
  end
end
return replaced
