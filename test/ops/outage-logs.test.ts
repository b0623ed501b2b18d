import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { type Spawned, spawnTs } from '../helpers/process.js'
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis-servers.js'

/**
 * An outage is told once: with Redis down for 20 s the service wrote about 2,000 lines. It must write one
 * line when Redis goes down (with the cause), a summary with counts every 10 s while it stays down, and
 * one line when it is back; what actually happens to the sessions (a lease that could not be renewed)
 * is still told, once each.
 */

const OUTAGE_MS = 20_000

let redis: PrivateRedis | null = null
let service: Spawned | null = null
afterAll(async () => {
  if (service && service.child.exitCode === null) service.child.kill('SIGKILL')
  await redis?.stop()
})

interface Line {
  level: number
  msg: string
  time: number
  [key: string]: unknown
}

const parse = (lines: string[]): Line[] =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Line]
    } catch {
      return []
    }
  })

describe('a Redis outage in the log', () => {
  it('20 s of Redis down: one line when it goes down with the cause, counted summaries, one line when it is back', async () => {
    redis = await startPrivateRedis()
    service = spawnTs('src/main.ts', ['all'], {
      REDIS_URL: redis.url,
      TICKBRIDGE_PREFIX: `tbt-outage-${randomBytes(4).toString('hex')}`,
      TICKBRIDGE_RULES: 'config/rules.example.yaml',
      HOST: '127.0.0.1',
      PORT: '0',
      WA_TRANSPORT: 'sim',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    })
    await service.waitFor(/HTTP API listening/, 20_000)
    await service.waitFor(/worker started/)
    const before = service.stdout.length + service.stderr.length

    await redis.kill()
    const downAt = Date.now()
    await service.waitFor(/"dependency":"redis".*"msg":"redis is down/, 10_000)
    await new Promise((r) => setTimeout(r, OUTAGE_MS - (Date.now() - downAt)))
    await redis.start()
    await service.waitFor(/"msg":"redis is back/, 30_000)

    const during = [...service.stdout.slice(before), ...service.stderr]
    const lines = parse(during)
    const text = during.join('\n')
    // Seen: which lines there are, if the bound fails.
    const byMsg = new Map<string, number>()
    for (const l of lines) byMsg.set(l.msg, (byMsg.get(l.msg) ?? 0) + 1)
    const summary = [...byMsg].map(([m, n]) => `${n} x ${m}`).join('\n')

    const down = lines.filter((l) => l.msg.startsWith('redis is down'))
    expect(down, summary).toHaveLength(1)
    // Refused (Redis gone) or reset (killed while a read was under way), as the socket saw it first.
    expect(String(down[0]!.cause)).toMatch(/ECONNREFUSED|ECONNRESET|connection|closed/i)
    const still = lines.filter((l) => l.msg.startsWith('redis still down'))
    expect(still.length, summary).toBeGreaterThanOrEqual(1)
    expect(still.length, summary).toBeLessThanOrEqual(3)
    expect(Number(still.at(-1)!.errors)).toBeGreaterThan(0)
    expect(
      lines.filter((l) => l.msg.startsWith('redis is back')),
      summary,
    ).toHaveLength(1)
    // Small bound: the outage lines above plus what happened to the two sessions (lease lost, released,
    // taken again), each told once.
    expect(during.length, summary).toBeLessThanOrEqual(25)
    expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m) // no stack traces
  }, 90_000)
})
