import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { type Spawned, spawnTs } from '../helpers/process.js'
import { freePort } from '../helpers/redis-servers.js'

/**
 * A shutdown that cannot finish (Redis frozen: every close waits on it) gives up after 25 s and says
 * what it was still waiting for, instead of a bare "took too long".
 */

let redis: ChildProcess | null = null
let service: Spawned | null = null
afterAll(() => {
  if (service && service.child.exitCode === null) service.child.kill('SIGKILL')
  if (redis) {
    redis.kill('SIGCONT')
    redis.kill('SIGKILL')
  }
})

describe('a shutdown that cannot finish', () => {
  it('exits 1 after 25 s naming the step it waited for', async () => {
    const port = await freePort()
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
      stdio: 'ignore',
    })
    for (let i = 0; i < 100; i++) {
      const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null })
      probe.on('error', () => {})
      const ok = await probe.connect().then(
        () => true,
        () => false,
      )
      probe.disconnect()
      if (ok) break
      await new Promise((r) => setTimeout(r, 50))
    }
    service = spawnTs('src/main.ts', ['all'], {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      TICKBRIDGE_PREFIX: `tbt-stuck-${randomBytes(3).toString('hex')}`,
      TICKBRIDGE_RULES: 'config/rules.example.yaml',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_FORMAT: 'json',
    })
    await service.waitFor(/HTTP API listening/, 20_000)
    await service.waitFor(/worker started/)
    redis.kill('SIGSTOP') // connections stay open, nothing answers
    const sentAt = Date.now()
    service.child.kill('SIGTERM')
    const line = await service.waitFor(/shutdown took longer than 25 s/, 40_000)
    expect(await service.exited).toBe(1)
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(24_000)
    const parsed = JSON.parse(line) as { waitingFor: string; msg: string; waitedSeconds: number }
    expect(parsed.msg).toContain('exiting while still waiting for')
    expect(parsed.waitingFor).toMatch(/worker|HTTP|Redis/)
    expect(parsed.msg).toContain(parsed.waitingFor)
  }, 60_000)
})
