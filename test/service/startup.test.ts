import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { sha256Hex } from '../../src/http/auth.js'
import { ROOT, spawnTs } from '../helpers/process.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'

const prefix = `tbt-startup-${randomBytes(4).toString('hex')}`
afterAll(async () => {
  const r = new Redis(REDIS_URL)
  await deleteByPrefix(r, prefix)
  r.disconnect()
})

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m)

describe('service start-up', () => {
  it('names every bad environment variable and exits 2 without a stack trace', async () => {
    const p = spawnTs('src/main.ts', ['all'], {
      PORT: 'abc',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://localhost',
      WA_TRANSPORT: 'carrier-pigeon',
      HUBSPOT_ACCESS_TOKEN: 'pat-secret-never-printed',
    })
    expect(await p.exited).toBe(2)
    const err = p.stderr.join('\n')
    for (const name of ['PORT', 'LOG_LEVEL', 'REDIS_URL', 'WA_TRANSPORT']) expect(err).toContain(`${name}:`)
    expect(err).not.toContain('pat-secret-never-printed')
    noStack(err)
  })

  it('refuses several Redis URLs unless REDIS_CLUSTER=true', async () => {
    const p = spawnTs('src/main.ts', ['all'], {
      REDIS_URL: 'redis://127.0.0.1:7001,redis://127.0.0.1:7002',
      REDIS_CLUSTER: 'maybe',
    })
    expect(await p.exited).toBe(2)
    expect(p.stderr.join('\n')).toContain('REDIS_CLUSTER: must be true or false')
    const q = spawnTs('src/main.ts', ['all'], { REDIS_URL: 'redis://127.0.0.1:7001,redis://127.0.0.1:7002' })
    expect(await q.exited).toBe(2)
    expect(q.stderr.join('\n')).toContain('REDIS_URL: lists several servers, which only a cluster can use')
  })

  it('says how to start Redis or set REDIS_URL when Redis is unreachable', async () => {
    const p = spawnTs('src/main.ts', ['all'], { REDIS_URL: 'redis://:hunter2@127.0.0.1:1', PORT: '0' })
    expect(await p.exited).toBe(1)
    const err = p.stderr.join('\n')
    expect(err).toMatch(/Redis is not reachable at redis:\/\/:\*\*\*@127\.0\.0\.1:1/)
    expect(err).toMatch(/redis-server .*REDIS_URL/s)
    expect(err).not.toContain('hunter2')
    noStack(err)
  })

  it('refuses an invalid rules file with every problem listed, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-startup-'))
    const file = join(dir, 'rules.yaml')
    await writeFile(file, 'version: 1\norgs: []\nsessions:\n  - id: "a:b"\n    org: acme\n')
    const p = spawnTs('src/main.ts', ['all'], {
      TICKBRIDGE_RULES: file,
      PORT: '0',
      TICKBRIDGE_PREFIX: prefix,
    })
    expect(await p.exited).toBe(2)
    const err = p.stderr.join('\n')
    expect(err).toContain('orgs: needs at least one org')
    expect(err).toContain('sessions[0].id:')
    noStack(err)
  })

  it('starts web + worker on the example rules, serves, and shuts down cleanly on SIGTERM', async () => {
    const p = spawnTs('src/main.ts', ['all'], {
      PORT: '0',
      TICKBRIDGE_PREFIX: prefix,
      WA_TRANSPORT: 'sim',
      LOG_LEVEL: 'info',
    })
    try {
      await p.waitFor(/running on the example rules/)
      const loaded = JSON.parse(await p.waitFor(/"msg":"tickbridge loaded"/))
      expect(loaded).toMatchObject({ role: 'all', sessions: 2, transport: 'sim' })
      const listening = JSON.parse(await p.waitFor(/"msg":"HTTP API listening"/))
      // No HOST set: the API (with the example rules' published keys) serves this machine only.
      expect(listening).toMatchObject({ bound: '127.0.0.1', reachableFrom: 'this machine only' })
      const health = await fetch(`${listening.url}/healthz`)
      expect(await health.json()).toEqual({ status: 'ok' })
      const sessions = await fetch(`${listening.url}/v1/sessions`, {
        headers: { authorization: 'Bearer tb_example_admin_key' },
      })
      const body = (await sessions.json()) as { items: Array<{ id: string; status: string }> }
      expect(body.items.map((s) => [s.id, s.status])).toEqual([
        ['acme-sales', 'WORKING'],
        ['acme-support', 'WORKING'],
      ])
      p.child.kill('SIGTERM')
      await p.waitFor(/"msg":"shutdown complete"/)
      expect(await p.exited).toBe(0)
    } finally {
      p.child.kill('SIGKILL')
    }
  })

  it('refuses a public bind while a published example key is in force, naming the key id', async () => {
    const p = spawnTs('src/main.ts', ['all'], { HOST: '0.0.0.0', PORT: '0', TICKBRIDGE_PREFIX: prefix })
    expect(await p.exited).toBe(2)
    const err = p.stderr.join('\n')
    expect(err).toContain('apiKeys id "acme-admin"')
    expect(err).toContain('apiKeys id "acme-dashboard"')
    expect(err).toContain('HOST=127.0.0.1')
    expect(p.stdout.join('\n')).not.toContain('HTTP API listening')
    noStack(err)
  })

  it('binds a public address once the rules hold real keys, and a worker is never refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-startup-'))
    const file = join(dir, 'rules.yaml')
    const example = await readFile(join(ROOT, 'config/rules.example.yaml'), 'utf8')
    await writeFile(
      file,
      example
        .replace(sha256Hex('tb_example_admin_key'), sha256Hex('real-admin-key-of-our-own'))
        .replace(sha256Hex('tb_example_read_key'), sha256Hex('real-read-key-of-our-own')),
    )
    const p = spawnTs('src/main.ts', ['web'], {
      HOST: '0.0.0.0',
      PORT: '0',
      TICKBRIDGE_PREFIX: prefix,
      TICKBRIDGE_RULES: file,
    })
    try {
      const listening = JSON.parse(await p.waitFor(/"msg":"HTTP API listening"/))
      expect(listening).toMatchObject({ bound: '0.0.0.0', reachableFrom: 'other machines' })
      const sessions = await fetch(`${listening.url}/v1/sessions`, {
        headers: { authorization: 'Bearer real-admin-key-of-our-own' },
      })
      expect(sessions.status).toBe(200)
    } finally {
      p.child.kill('SIGKILL')
    }
    // The worker serves no HTTP: HOST does not concern it.
    const w = spawnTs('src/main.ts', ['worker'], {
      HOST: '0.0.0.0',
      TICKBRIDGE_PREFIX: prefix,
      WA_TRANSPORT: 'sim',
    })
    try {
      await w.waitFor(/"msg":"tickbridge loaded"/)
    } finally {
      w.child.kill('SIGKILL')
    }
  })
})
