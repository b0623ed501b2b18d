import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { runPair } from '../../src/cli/sessions-pair.js'
import { systemClock } from '../../src/clock.js'
import { compileRules } from '../../src/rules/compile.js'
import { rulesSchema } from '../../src/rules/schema.js'
import { RedisSessionGateway, SessionCommandServer } from '../../src/whatsapp/command-bus.js'
import { SessionStatusStore } from '../../src/whatsapp/status-store.js'
import { testRedis } from '../helpers/redis.js'

const r = testRedis('pair')
const statuses = new SessionStatusStore(r.redis, r.keys, systemClock)
const gateway = new RedisSessionGateway(r.redis, r.prefix, 2000)
const rules = compileRules(
  rulesSchema.parse({
    version: 1,
    orgs: [{ id: 'o' }],
    sessions: [
      { id: 'p1', org: 'o' },
      { id: 'p2', org: 'o' },
    ],
  }),
)
afterAll(async () => {
  await gateway.close()
  await r.cleanup()
})

/** A stand-in worker: answers commands the way the real holder does and moves the status along. */
function fakeHolder(onCommand: (cmd: string, arg?: string) => Promise<string | undefined>) {
  const server = new SessionCommandServer(
    r.redis,
    r.prefix,
    async (_sid, c) => onCommand(c.cmd, c.cmd === 'pairingCode' ? c.phone : undefined),
    pino({ level: 'silent' }),
  )
  return server
}

describe('tickbridge sessions pair', () => {
  it('shows each new QR and finishes when the phone has linked', async () => {
    const lines: string[] = []
    await statuses.set('p1', 'SCAN_QR_CODE', { qr: '2@first-qr-payload', holder: 'w1' })
    const done = runPair('p1', undefined, { rules, statuses, gateway, out: (t) => lines.push(t), pollMs: 20 })
    // The worker refreshes the QR, then the phone scans it. Each step waits for the CLI to show the last.
    await expect.poll(() => lines.filter((l) => l.includes('Scan with the phone')).length).toBe(1)
    await statuses.set('p1', 'SCAN_QR_CODE', { qr: '2@second-qr-payload', holder: 'w1' })
    await expect.poll(() => lines.filter((l) => l.includes('Scan with the phone')).length).toBe(2)
    await statuses.set('p1', 'WORKING', { holder: 'w1' })
    expect(await done).toBe(0)
    expect(lines.at(-1)).toBe('paired: session p1 is WORKING')
    // Two QR blocks were drawn (terminal art made of block characters).
    expect(lines.filter((l) => /[▀▄█]/.test(l))).toHaveLength(2)
  })

  it('asks the holder for a pairing code with --phone', async () => {
    const lines: string[] = []
    const asked: string[] = []
    const holder = fakeHolder(async (cmd, phone) => {
      asked.push(`${cmd}:${phone ?? ''}`)
      if (cmd === 'pairingCode') {
        setTimeout(() => void statuses.set('p2', 'WORKING', { holder: 'w1' }), 50)
        return 'ABCD-1234'
      }
      return undefined
    })
    await holder.serve('p2')
    await statuses.set('p2', 'STARTING', { holder: 'w1' })
    const code = await runPair('p2', '4915112345678', {
      rules,
      statuses,
      gateway,
      out: (t) => lines.push(t),
      pollMs: 20,
    })
    await holder.close()
    expect(code).toBe(0)
    expect(asked).toEqual(['pairingCode:4915112345678'])
    expect(lines).toContain('pairing code for +4915112345678: ABCD-1234')
  })

  it('explains what is missing: unknown session, bad phone, no worker', async () => {
    const lines: string[] = []
    const out = (t: string) => lines.push(t)
    expect(await runPair('nope', undefined, { rules, statuses, gateway, out })).toBe(2)
    expect(await runPair('p1', '+49 151', { rules, statuses, gateway, out })).toBe(2)
    // The last worker shut down a minute ago. (Written "now", it could share the CLI's start millisecond
    // and count as news, printed as "  stopped: …": that made this test flaky.)
    const aMinuteAgo = { now: () => Date.now() - 60_000 }
    await new SessionStatusStore(r.redis, r.keys, aMinuteAgo).set('p1', 'STOPPED', {
      detail: 'worker shut down',
    })
    expect(
      await runPair('p1', undefined, { rules, statuses, gateway, out, holderTimeoutMs: 100, pollMs: 20 }),
    ).toBe(1)
    expect(lines).toEqual([
      'unknown session "nope": it must be listed under sessions in the rules file',
      '--phone expects the number in international format, digits only (e.g. 4915112345678)',
      'waiting for a worker to open session p1…',
      'no worker has picked up session p1: start one (npm run start:worker) sharing this Redis, then retry',
    ])
  })

  it('2.6 prints the status detail while waiting and fails early with the real cause', async () => {
    const lines: string[] = []
    await statuses.set('p1', 'STARTING', { holder: 'w1', detail: 'connecting to WhatsApp' })
    const started = Date.now()
    const done = runPair('p1', undefined, {
      rules,
      statuses,
      gateway,
      out: (t) => lines.push(t),
      pollMs: 20,
      timeoutMs: 20_000,
    })
    const unreachable = (s: number) =>
      statuses.set('p1', 'STARTING', {
        holder: 'w1',
        detail: `WhatsApp unreachable: getaddrinfo ENOTFOUND web.whatsapp.com: reconnecting in ${s}.0 s`,
      })
    await unreachable(1)
    await expect.poll(() => lines.some((l) => l.includes('reconnecting in 1.0 s'))).toBe(true)
    await new Promise((r) => setTimeout(r, 5))
    await unreachable(2)
    expect(await done).toBe(1)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(lines).toContain(
      '  starting: WhatsApp unreachable: getaddrinfo ENOTFOUND web.whatsapp.com: reconnecting in 1.0 s',
    )
    expect(lines.at(-1)).toBe('pairing failed: WhatsApp unreachable: getaddrinfo ENOTFOUND web.whatsapp.com')
  })

  it('2.6 with --phone, shows the new code each new socket asked for', async () => {
    const lines: string[] = []
    const holder = fakeHolder(async (cmd) => (cmd === 'pairingCode' ? 'CODE0001' : undefined))
    await holder.serve('p2')
    await statuses.set('p2', 'STARTING', { holder: 'w1' })
    const done = runPair('p2', '4915112345678', {
      rules,
      statuses,
      gateway,
      out: (t) => lines.push(t),
      pollMs: 20,
    })
    await expect.poll(() => lines.includes('pairing code for +4915112345678: CODE0001')).toBe(true)
    await statuses.set('p2', 'SCAN_QR_CODE', {
      holder: 'w1',
      detail:
        'pairing code for +4915112345678: CODE0002 (WhatsApp > Linked devices > Link with phone number)',
    })
    await expect
      .poll(() => lines.some((l) => l.startsWith('new pairing code for +4915112345678: CODE0002')))
      .toBe(true)
    await statuses.set('p2', 'WORKING', { holder: 'w1' })
    expect(await done).toBe(0)
    await holder.close()
  })
})
