import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalog } from '../../jobs/catalog.js'
import { systemClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { assertRedisReachable, createRedis, RedisAuthError, redisTls } from '../../src/redis.js'
import { createServices, type Services } from '../../src/services.js'
import { AuthCipher, parseAuthKeys } from '../../src/whatsapp/baileys/auth-cipher.js'
import { useRedisAuthState } from '../../src/whatsapp/baileys/auth-state.js'
import { inbound, pn } from '../helpers/events.js'
import { spawnTs } from '../helpers/process.js'
import { freePort } from '../helpers/redis-servers.js'

/**
 * Redis as docs/security-redis.md tells to run it: TLS only (no plain port), the default user off, and
 * Tickbridge's own user limited by an ACL to its key prefix. The service's Redis factory connects with
 * `rediss://user:password@host:port` and REDIS_TLS_CA_FILE, and does its work; what lies outside its ACL
 * is refused. A redis-server of this test's own, with a certificate made here by openssl.
 */

const run = promisify(execFile)
const PREFIX = `tbtls${randomBytes(3).toString('hex')}`
const PASSWORD = randomBytes(12).toString('hex')
/** The ACL of docs/security-redis.md, for this prefix. */
const ACL = `user tickbridge on >${PASSWORD} resetkeys ~${PREFIX}:* resetchannels &${PREFIX}:* -@all +@read +@write +@keyspace +@list +@hash +@set +@sortedset +@string +@stream +@pubsub +@scripting +@transaction +@connection +@fast +@slow -@dangerous +info`

let dir = ''
let port = 0
let server: ChildProcess
let url = ''
let caFile = ''
const opened: Services[] = []

async function openssl(...args: string[]) {
  await run('openssl', args, { cwd: dir })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-redis-tls-'))
  // A CA of the test's own, and a server certificate it signs for 127.0.0.1 (Node checks the IP SAN).
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=tickbridge test CA',
  )
  await openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  )
  await writeFile(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n')
  await openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '1',
    '-extfile',
    'san.cnf',
  )
  await writeFile(join(dir, 'users.acl'), `user default off\n${ACL}\n`)
  caFile = join(dir, 'ca.crt')
  port = await freePort()
  server = spawn(
    'redis-server',
    [
      '--port',
      '0', // no plain-text port at all
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      join(dir, 'server.crt'),
      '--tls-key-file',
      join(dir, 'server.key'),
      '--tls-ca-cert-file',
      caFile,
      '--tls-auth-clients',
      'no', // clients prove who they are with the ACL user's password
      '--aclfile',
      join(dir, 'users.acl'),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  )
  url = `rediss://tickbridge:${PASSWORD}@127.0.0.1:${port}`
  const tls = redisTls(caFile)
  for (let i = 0; ; i++) {
    try {
      await assertRedisReachable(url, 1000, tls)
      break
    } catch (err) {
      if (i > 100 || server.exitCode !== null) throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}, 60_000)

afterAll(async () => {
  for (const s of opened) await s.close()
  server?.kill('SIGKILL')
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('Redis over TLS with an ACL limited to the key prefix', () => {
  it('the service works through its Redis factory: inbox, jobs and encrypted auth', async () => {
    const env = parseEnv({
      REDIS_URL: url,
      REDIS_TLS_CA_FILE: caFile,
      TICKBRIDGE_PREFIX: PREFIX,
      WA_TRANSPORT: 'sim',
      LOG_LEVEL: 'silent',
    })
    const s = await createServices({
      env,
      log: createLogger({ level: 'silent' }),
      clock: systemClock,
      rulesPath: 'test/fixtures/rules.api.yaml',
      watchRules: false,
      secretEnv: {},
    })
    opened.push(s)
    const ingested = await s.ingestor.ingest(
      inbound('acme-sales', pn(1), { ts: Date.now(), text: 'over TLS' }),
    )
    expect(ingested.ok).toBe(true)
    expect((await s.inbox.getChat('acme-sales', pn(1)))?.unreadCount).toBe(1)
    const job = await s.jobs.add(
      catalog.slaWebhook,
      { url: 'https://hooks.example.com/x', event: { id: 'e1', type: 'sla.level' } },
      { key: { sessionId: 'acme-sales', chatJid: pn(1), waitSeq: 1, level: 1, action: 0 }, delay: 3_600_000 },
    )
    expect(await job.getState()).toBe('delayed')
    const keyring = parseAuthKeys(`k1:${randomBytes(32).toString('base64')}`)
    if (!keyring.ok) throw new Error(keyring.problem)
    const auth = await useRedisAuthState(s.redis, s.keys, 'acme-sales', {
      cipher: new AuthCipher(keyring.keyring),
    })
    await auth.saveCreds()
    expect(await auth.hasCreds()).toBe(true)
    // Every key written lies under the prefix the ACL allows.
    expect(
      (await s.redis.scan('0', 'MATCH', '*', 'COUNT', 1000))[1].every((k) => k.startsWith(`${PREFIX}:`)),
    ).toBe(true)
  })

  it('refuses what lies outside the ACL: other keys, other channels, admin commands', async () => {
    const redis = createRedis(url, { tls: redisTls(caFile) })
    try {
      await expect(redis.get('tb:{acme-sales}:auth:creds')).rejects.toThrow(/NOPERM/)
      await expect(redis.set('elsewhere', '1')).rejects.toThrow(/NOPERM/)
      await expect(redis.publish('tb:cmd:acme-sales', '{}')).rejects.toThrow(/NOPERM/)
      await expect(redis.flushall()).rejects.toThrow(/NOPERM/)
      await expect(redis.config('GET', 'dir')).rejects.toThrow(/NOPERM/)
      await expect(redis.call('ACL', 'LIST')).rejects.toThrow(/NOPERM/)
      expect(await redis.set(`${PREFIX}:probe`, '1')).toBe('OK')
    } finally {
      redis.disconnect()
    }
  })

  it('refuses a server it cannot verify, a wrong password and the default user', async () => {
    const unverified = await assertRedisReachable(url, 2000).catch((e: Error) => e.message)
    expect(unverified).toMatch(/^Redis is not reachable at rediss:\/\/tickbridge:\*\*\*@127\.0\.0\.1:\d+ \(/)
    expect(unverified).toContain("TLS: set REDIS_TLS_CA_FILE to the CA that signed the server's certificate")
    expect(unverified).toMatch(/self[- ]signed certificate/)
    await expect(
      assertRedisReachable(url.replace(PASSWORD, 'not-the-password'), 2000, redisTls(caFile)),
    ).rejects.toThrow(RedisAuthError)
    await expect(assertRedisReachable(`rediss://127.0.0.1:${port}`, 2000, redisTls(caFile))).rejects.toThrow(
      RedisAuthError,
    )
  })

  it('`tickbridge` starts on it with REDIS_URL=rediss://… and REDIS_TLS_CA_FILE', async () => {
    const p = spawnTs('src/main.ts', ['web'], {
      REDIS_URL: url,
      REDIS_TLS_CA_FILE: caFile,
      TICKBRIDGE_PREFIX: PREFIX,
      TICKBRIDGE_RULES: 'test/fixtures/rules.api.yaml',
      PORT: '0',
      LOG_FORMAT: 'json',
    })
    try {
      const loaded = JSON.parse(await p.waitFor(/"msg":"tickbridge loaded"/, 45_000))
      expect(loaded.redis).toBe(`rediss://tickbridge:***@127.0.0.1:${port}`)
      expect(`${p.stdout.join('\n')}${p.stderr.join('\n')}`).not.toContain(PASSWORD)
    } finally {
      p.child.kill('SIGKILL')
    }
  }, 60_000)
})
