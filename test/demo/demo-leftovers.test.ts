import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { keepDemoAlive, removeLeftoverDemoKeys } from '../../src/demo/setup.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'

/** A demo killed before its clean-up leaves its keys; the next demo removes them, never a live run's. */

const tag = randomBytes(3).toString('hex')
const dead = `tbdemo-t${tag}dead`
const live = `tbdemo-t${tag}live`
const working = `tbdemo-t${tag}work`
const own = `tbdemo-t${tag}own`
const redis = new Redis(REDIS_URL)
afterAll(async () => {
  for (const p of [dead, live, working, own]) await deleteByPrefix(redis, p)
  redis.disconnect()
})

describe('demo leftovers', () => {
  it('removes the keys of an interrupted run, keeps a running one (marked alive or with a live worker) and our own', async () => {
    for (const p of [dead, live, working, own]) {
      await redis.hset(`${p}:{acme}:chat:1`, 'unread', '1')
      await redis.set(`${p}:{global}:rules-version`, '3')
    }
    const stop = keepDemoAlive(redis, live)
    // Our own run is marked alive first, as the demo does, so a demo starting meanwhile (test/demo runs one
    // in parallel) leaves it alone too.
    const stopOwn = keepDemoAlive(redis, own)
    // An older demo (no alive mark) that is still running: its worker heartbeats.
    const [seconds] = await redis.time()
    await redis.zadd(`${working}:{global}:workers`, Number(seconds) * 1000, 'vm/1/abc')
    // And a dead one whose worker stopped heartbeating long ago.
    await redis.zadd(`${dead}:{global}:workers`, Number(seconds) * 1000 - 120_000, 'vm/2/def')
    await redis.get(`${live}:demo-alive`) // the mark is written before we look

    const removed = await removeLeftoverDemoKeys(redis, own)
    stop()
    stopOwn()

    // A demo started in parallel may have removed the dead run's keys first; either way they are gone and
    // nothing else of ours was taken.
    const ours = removed.filter((r) => r.prefix.includes(tag))
    expect(
      ours.length <= 1 && ours.every((r) => r.prefix === dead && r.keys === 3),
      JSON.stringify(ours),
    ).toBe(true)
    expect(await redis.keys(`${dead}:*`)).toEqual([])
    for (const p of [live, working, own]) expect(await redis.exists(`${p}:{acme}:chat:1`)).toBe(1)
  })
})
