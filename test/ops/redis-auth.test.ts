import { type ChildProcess, spawn } from 'node:child_process'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnTs } from '../helpers/process.js'
import { freePort } from '../helpers/redis-servers.js'

/** A Redis that requires a password: a wrong or missing one is "authentication failed", not "start one". */

const PASSWORD = 'correct-horse-battery'
let server: ChildProcess
let port = 0

beforeAll(async () => {
  port = await freePort()
  server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--requirepass', PASSWORD],
    { stdio: 'ignore' },
  )
  for (let i = 0; i < 100; i++) {
    const probe = new Redis({ port, password: PASSWORD, lazyConnect: true, retryStrategy: () => null })
    probe.on('error', () => {})
    const ok = await probe.connect().then(
      () => true,
      () => false,
    )
    probe.disconnect()
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('redis-server with a password did not come up')
})
afterAll(() => {
  server?.kill('SIGKILL')
})

async function startWith(url: string) {
  const p = spawnTs('src/main.ts', ['web'], {
    REDIS_URL: url,
    PORT: '0',
    HOST: '127.0.0.1',
    TICKBRIDGE_RULES: 'config/rules.example.yaml',
  })
  const code = await p.exited
  return { code, err: p.stderr.join('\n') }
}

describe('Redis credentials at start-up', () => {
  it('a wrong password says authentication failed, exits 1 and never prints the password', async () => {
    const { code, err } = await startWith(`redis://:not-the-password@127.0.0.1:${port}`)
    expect(code).toBe(1)
    expect(err).toContain('authentication failed')
    expect(err).toContain('WRONGPASS')
    expect(err).not.toContain('not reachable')
    expect(err).not.toContain('not-the-password')
  })

  it('a missing password says the server requires one', async () => {
    const { code, err } = await startWith(`redis://127.0.0.1:${port}`)
    expect(code).toBe(1)
    expect(err).toContain('authentication failed (NOAUTH')
    expect(err).toContain('requires a password')
  })
})
