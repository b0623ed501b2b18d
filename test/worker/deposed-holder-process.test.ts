import { readFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { InboxStore } from '../../src/inbox/store.js'
import { authKeys } from '../../src/whatsapp/baileys/auth-state.js'
import { type SessionStatusRecord, SessionStatusStore } from '../../src/whatsapp/status-store.js'
import { pn } from '../helpers/events.js'
import { type Spawned, spawnTs } from '../helpers/process.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'
import { sendToAccount } from '../helpers/wa-server.js'

/**
 * Issue 24, fault 2: a worker PROCESS stopped (SIGSTOP) for longer than its lease, in the middle of
 * decrypting a customer message (between loading and storing the contact's Signal session, where a long
 * GC pause or a VM pause hurts most), while another worker takes the session. When it continues
 * (SIGCONT), nothing it writes may land: the status store keeps the new holder's status, the auth hashes
 * keep the new holder's Signal state, and the next customer message is ingested once.
 */
const r = testRedis('deposed')
const SID = 'stalled'
const CUSTOMER = pn(4915700001)
const ADDRESS = `${CUSTOMER.split('@')[0]}.0`
const timings = { tickMs: 500, leaseMs: 3000, workerTtlMs: 2000 }
const statuses = new SessionStatusStore(r.redis, r.keys, systemClock)
const inbox = new InboxStore(r.redis, r.keys)
const procs: Spawned[] = []

afterAll(async () => {
  for (const p of procs) {
    p.child.kill('SIGCONT')
    p.child.kill('SIGKILL')
  }
  await r.cleanup()
})

function spawnHolder(rules: string, extra: Record<string, string> = {}): Spawned {
  const p = spawnTs('test/helpers/baileys-worker.ts', [], {
    REDIS_URL,
    TICKBRIDGE_RULES: rules,
    TICKBRIDGE_PREFIX: r.prefix,
    WA_TRANSPORT: 'baileys',
    LOG_LEVEL: 'info',
    TB_TEST_TIMINGS: JSON.stringify(timings),
    TB_TEST_SESSION: SID,
    ...extra,
  })
  procs.push(p)
  return p
}

const workerIdOf = async (p: Spawned) =>
  JSON.parse(await p.waitFor(/"msg":"worker started"/, 30_000)).workerId as string

/** The process state letter from /proc (T: stopped). */
const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0]

const sessionRecord = () => r.redis.hget(authKeys(r.keys, SID).key('session'), ADDRESS)

describe('a worker process stopped past its lease cannot write over its successor', () => {
  it('SIGSTOP mid-decrypt, another worker takes the session, SIGCONT: status, auth and inbox stay the successor’s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-deposed-'))
    const rules = join(dir, 'rules.yaml')
    await writeFile(rules, `version: 1\norgs: [{ id: o }]\nsessions:\n  - { id: ${SID}, org: o }\n`)

    // A holds the session alone.
    const a = spawnHolder(rules, { TB_TEST_PAUSE_IN_DECRYPT: 'M1' })
    const idA = await workerIdOf(a)
    await vi.waitFor(
      async () => expect(await statuses.get(SID)).toMatchObject({ status: 'WORKING', holder: idA }),
      {
        timeout: 20_000,
        interval: 100,
      },
    )

    // A customer writes; A stops (SIGSTOP) between loading and storing the contact's Signal session.
    await sendToAccount(r.redis, r.keys, SID, { id: 'M1', from: CUSTOMER, text: 'hello?', ts: 1_765_000_000 })
    await a.waitFor(/"msg":"fake-wa pausing mid-decrypt"/, 20_000)
    await vi.waitFor(() => expect(procState(a.child.pid!)).toBe('T'), { timeout: 5000, interval: 20 })

    // B starts and takes the session once A's lease ran out; M1, never acknowledged by A, reaches B.
    const b = spawnHolder(rules)
    const idB = await workerIdOf(b)
    await vi.waitFor(
      async () => expect(await statuses.get(SID)).toMatchObject({ status: 'WORKING', holder: idB }),
      {
        timeout: 30_000,
        interval: 100,
      },
    )
    await b.waitFor(/"msg":"fake-wa decrypt","id":"M1","ok":true/, 20_000)
    await vi.waitFor(async () => expect((await inbox.getChat(SID, CUSTOMER))?.unanswered).toBe(1), {
      timeout: 10_000,
      interval: 100,
    })
    const successorsRecord = await sessionRecord()
    expect(successorsRecord).not.toBeNull()
    expect(procState(a.child.pid!)).toBe('T')

    // A continues where it stopped: it stores its Signal session, then its socket and lease are fenced.
    a.child.kill('SIGCONT')
    await a.waitFor(/"msg":"fake-wa decrypt","id":"M1"/, 20_000)
    await a.waitFor(/"msg":"session released"/, 20_000)

    // The status store: nothing A's old holding wrote after B's WORKING (until A legitimately takes the
    // session again, if the assignment prefers it: a new holding that starts with STARTING).
    const history = (await statuses.history(SID)).reverse()
    const bWorking = history.findIndex((s) => s.status === 'WORKING' && s.holder === idB)
    const after: SessionStatusRecord[] = []
    for (const s of history.slice(bWorking + 1)) {
      if (s.status === 'STARTING' && s.holder === idA) break
      after.push(s)
    }
    const stale = after.filter(
      (s) =>
        s.holder === idA ||
        ['lease not renewed in time', 'lease lost', 'a newer holder took the session'].includes(
          s.detail ?? '',
        ),
    )
    expect.soft(stale).toEqual([])
    // The auth hashes: B's Signal session for the customer, not the one A computed before it stopped.
    expect.soft(await sessionRecord()).toBe(successorsRecord)
    // A says once why it stopped (its fencing deadline or a refused write, whichever it met first).
    const fencedLines = [...a.stdout, ...a.stderr].filter((l) => l.includes('stopping the socket (fencing)'))
    expect.soft(fencedLines).toHaveLength(1)

    // The next customer message is ingested once, by whichever process holds the session now.
    await sendToAccount(r.redis, r.keys, SID, {
      id: 'M2',
      from: CUSTOMER,
      text: 'anyone?',
      ts: 1_765_000_060,
    })
    await vi.waitFor(async () => expect((await inbox.getChat(SID, CUSTOMER))?.unanswered).toBe(2), {
      timeout: 20_000,
      interval: 100,
    })
    await vi.waitFor(async () => expect((await statuses.get(SID)).status).toBe('WORKING'), {
      timeout: 20_000,
      interval: 100,
    })
    expect((await inbox.getChat(SID, CUSTOMER))?.unanswered).toBe(2)
    expect(await r.redis.zrange(r.keys.seenMessages(SID, CUSTOMER), 0, -1)).toEqual(['i/M1', 'i/M2'])

    for (const p of [a, b]) p.child.kill('SIGTERM')
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0])
  }, 120_000)
})
