import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { parseDocument } from 'yaml'
import { sha256Hex } from '../../src/http/auth.js'
import { ROOT, type Spawned, spawnTs } from '../helpers/process.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'
import { type HubSpotStandIn, STANDIN_TOKEN, startHubSpotStandIn } from '../hubspot-standin/server.js'

/**
 * What an operator follows in the log: a receipt sent, a reminder fired, an SLA level fired, a HubSpot
 * batch written (with counts), each told once at info. The real service process on the demo rules (with
 * shorter thresholds and a key of the test's own), the sim transport and the HubSpot stand-in.
 */

const prefix = `tbt-oplines-${randomBytes(4).toString('hex')}`
const KEY = `tb_${randomBytes(16).toString('hex')}`
const CUSTOMER = '4915112340001'
let hs: HubSpotStandIn | null = null
let service: Spawned | null = null
afterAll(async () => {
  if (service && service.child.exitCode === null) service.child.kill('SIGKILL')
  await hs?.close()
  const r = new Redis(REDIS_URL)
  await deleteByPrefix(r, prefix)
  r.disconnect()
})

interface Line {
  level: number
  msg: string
  [k: string]: unknown
}

describe('operator log lines', () => {
  it('a receipt sent, a reminder fired, SLA levels fired and a HubSpot batch written: each once, at info, with counts', async () => {
    hs = await startHubSpotStandIn()
    hs.addContact({ properties: { firstname: 'Maria', lastname: 'Silva', phone: `+${CUSTOMER}` } })
    const rules = parseDocument(await readFile(join(ROOT, 'config/rules.demo.yaml'), 'utf8'))
    rules.setIn(
      ['apiKeys'],
      [{ id: 'ops', org: 'demo-shop', sha256: sha256Hex(KEY), capabilities: ['read', 'send'] }],
    )
    // Two levels, 2 s apart, without the webhook (nothing listens for it here).
    rules.setIn(
      ['sla', 'policies', 0, 'levels'],
      [
        { after: '2s', actions: [{ setState: 'warning' }] },
        { after: '4s', actions: [{ setState: 'breached' }] },
      ],
    )
    rules.setIn(['counters', 'crmSync', 'debounce'], '1s')
    const dir = await mkdtemp(join(tmpdir(), 'tb-oplines-'))
    const rulesPath = join(dir, 'rules.yaml')
    await writeFile(rulesPath, rules.toString())

    service = spawnTs('src/main.ts', ['all'], {
      REDIS_URL,
      TICKBRIDGE_PREFIX: prefix,
      TICKBRIDGE_RULES: rulesPath,
      HOST: '127.0.0.1',
      PORT: '0',
      WA_TRANSPORT: 'sim',
      LOG_FORMAT: 'json',
      HUBSPOT_ACCESS_TOKEN: STANDIN_TOKEN,
      HUBSPOT_BASE_URL: hs.url,
    })
    const listening = JSON.parse(await service.waitFor(/HTTP API listening/, 20_000)) as { url: string }
    await service.waitFor(/worker started/)
    const api = (path: string, body: unknown) =>
      fetch(`${listening.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const chat = `${CUSTOMER}@s.whatsapp.net`
    for (const text of ['Hi!', 'Is the blue one in stock?']) {
      const res = await api('/v1/sim/sessions/shop-bot/messages', { chatId: chat, text, pushName: 'Maria' })
      expect(res.status).toBe(202)
    }
    const reminder = await api(`/v1/sessions/shop-bot/chats/${chat}/unread`, { in: '1s', cancelOn: [] })
    expect(reminder.status).toBe(202)

    await service.waitFor(/"msg":"read receipt sent"/, 15_000)
    await service.waitFor(/"msg":"reminder fired"/, 15_000)
    await service.waitFor(/"slaLevel":2/, 15_000)
    await service.waitFor(/"msg":"HubSpot batch written"/, 15_000)
    // Let anything that would repeat do so.
    await new Promise((r) => setTimeout(r, 2_000))

    const lines = service.stdout.flatMap((l) => {
      try {
        return [JSON.parse(l) as Line]
      } catch {
        return []
      }
    })
    const named = (msg: string) => lines.filter((l) => l.msg === msg)
    const receipt = named('read receipt sent')
    expect(receipt).toHaveLength(1)
    expect(receipt[0]).toMatchObject({ level: 30, sessionId: 'shop-bot', chat, messages: 2 })
    const fired = named('reminder fired')
    expect(fired).toHaveLength(1)
    expect(fired[0]).toMatchObject({ level: 30, sessionId: 'shop-bot', chat })
    // One line per level, numbered as the rules and the API number them: 1, 2.
    const sla = named('SLA level fired')
    expect(sla.map((l) => [l.level, l.slaLevel])).toEqual([
      [30, 1],
      [30, 2],
    ])
    // The metrics number the levels the same way, and Node's process metrics are there.
    // Metrics are not on the API's port but on their own loopback listener.
    expect((await fetch(`${listening.url}/metrics`)).status).toBe(404)
    const metricsAt = JSON.parse(await service.waitFor(/"msg":"metrics listening"/)) as { metrics: string }
    expect(metricsAt.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const metrics = await (await fetch(metricsAt.metrics)).text()
    expect(metrics).toContain('tickbridge_sla_breaches_total{policy="demo-fast",level="1"} 1')
    expect(metrics).toContain('tickbridge_sla_breaches_total{policy="demo-fast",level="2"} 1')
    expect(metrics).not.toMatch(/tickbridge_sla_breaches_total\{[^}]*level="0"/)
    expect(metrics).toMatch(/^tickbridge_process_resident_memory_bytes \d+/m)
    expect(metrics).toMatch(/^tickbridge_nodejs_eventloop_lag_seconds /m)
    const batches = named('HubSpot batch written')
    expect(batches.length).toBeGreaterThanOrEqual(1)
    expect(batches[0]).toMatchObject({ level: 30, contacts: 1, written: 1, failed: 0 })
  }, 60_000)
})
