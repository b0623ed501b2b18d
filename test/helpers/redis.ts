import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { Keys } from '../../src/keys.js'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * A Redis connection plus a key prefix of the test file's own. Tests never flush Redis: cleanup deletes
 * only keys under this prefix, so test files run in parallel without seeing each other.
 */
export function testRedis(label: string) {
  const prefix = `tbt-${label}-${randomBytes(4).toString('hex')}`
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  return {
    redis,
    prefix,
    keys: new Keys(prefix),
    async cleanup(): Promise<void> {
      await deleteByPrefix(redis, prefix)
      redis.disconnect()
    },
  }
}

export async function deleteByPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length) await redis.unlink(...keys)
  } while (cursor !== '0')
}

/** Every key under the prefix with its full value, for "nothing changed" assertions. */
export async function dumpPrefix(redis: Redis, prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  let cursor = '0'
  const all: string[] = []
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    all.push(...keys)
  } while (cursor !== '0')
  for (const key of all.sort()) {
    const type = await redis.type(key)
    if (type === 'hash') out[key] = await redis.hgetall(key)
    else if (type === 'zset') out[key] = await redis.zrange(key, 0, -1, 'WITHSCORES')
    else if (type === 'set') out[key] = (await redis.smembers(key)).sort()
    else if (type === 'string') out[key] = await redis.get(key)
    else if (type === 'list') out[key] = await redis.lrange(key, 0, -1)
    else if (type === 'stream') out[key] = await redis.xrange(key, '-', '+')
    else out[key] = type
  }
  return out
}
