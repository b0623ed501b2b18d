import { createHmac } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@hubspot/api-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ManualClock } from '../../src/clock.js'
import { HubSpotBudget } from '../../src/crm/hubspot/budget.js'
import { userCounters } from '../../src/inbox/counters.js'
import { appFixture } from '../helpers/app.js'
import { flushCrm } from '../helpers/crm.js'
import { type HubSpotStandIn, STANDIN_TOKEN, startHubSpotStandIn } from '../hubspot-standin/server.js'

const APP_SECRET = 'hubspot-app-secret-test'
let hs: HubSpotStandIn
let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
const CHAT = '4915100000001@s.whatsapp.net'
let contactId = ''

beforeAll(async () => {
  hs = await startHubSpotStandIn({ searchLagMs: 1000 })
  hs.addOwner({ id: '9001', email: 'anna@example.com' })
  hs.addOwner({ id: '9002', email: 'dora@example.com' })
  const rules = join(await mkdtemp(join(tmpdir(), 'tb-crm-hooks-')), 'rules.yaml')
  await writeFile(
    rules,
    `version: 1
orgs: [{ id: o }]
sessions: [{ id: s1, org: o, defaultOwner: anna }]
users:
  - { id: anna, org: o, role: agent, hubspotOwnerId: "9001" }
  - { id: dora, org: o, role: supervisor, hubspotOwnerId: "9002" }
`,
  )
  f = await appFixture('crm-hooks', {
    rulesPath: rules,
    env: { HUBSPOT_ACCESS_TOKEN: STANDIN_TOKEN, HUBSPOT_BASE_URL: hs.url, HUBSPOT_APP_SECRET: APP_SECRET },
  })
  await f.services.hubspot!.crm.ensureProperties()
  contactId = hs.addContact({ properties: { phone: '+4915100000001' } }).id
  for (const id of ['W1', 'W2']) {
    await f.services.ingestor.ingest({
      type: 'message',
      sessionId: 's1',
      key: { remoteJid: CHAT, fromMe: false, id },
      timestamp: f.clock.now(),
      text: 'Hello',
      origin: 'customer',
    })
  }
  f.clock.advance(10_000)
  // The first sync links the contact to the chat, which is how HubSpot's webhooks find it.
  await flushCrm(f.services, f.clock)
})
afterAll(async () => {
  await f.cleanup()
  await hs.close()
})

function hook(events: unknown[], opts: { secret?: string; timestamp?: number } = {}) {
  const body = JSON.stringify(events)
  const ts = String(opts.timestamp ?? f.clock.now())
  const uri = 'http://localhost:80/v1/webhooks/hubspot'
  const signature = createHmac('sha256', opts.secret ?? APP_SECRET)
    .update(`POST${uri}${body}${ts}`)
    .digest('base64')
  return f.app.inject({
    method: 'POST',
    url: '/v1/webhooks/hubspot',
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-v3': signature,
      'x-hubspot-request-timestamp': ts,
    },
    payload: body,
  })
}

const ownerChange = (ownerId: string) => [
  {
    subscriptionType: 'contact.propertyChange',
    objectId: Number(contactId),
    propertyName: 'hubspot_owner_id',
    propertyValue: ownerId,
  },
]

describe('webhooks from HubSpot', () => {
  it('a bad signature or a stale timestamp is a 401 that changes nothing', async () => {
    const bad = await hook(ownerChange('9002'), { secret: 'wrong-secret-123' })
    expect(bad.statusCode).toBe(401)
    expect(bad.json().error).toMatchObject({ code: 'unauthorized', message: 'bad webhook signature' })
    const stale = await hook(ownerChange('9002'), { timestamp: f.clock.now() - 6 * 60_000 })
    expect(stale.statusCode).toBe(401)
    expect(stale.json().error.message).toBe('webhook timestamp older than 5 minutes')
    expect((await f.services.inbox.getChat('s1', CHAT))?.owner).toBe('anna')
  })

  it('an owner change in HubSpot moves the chat and its red counter', async () => {
    const res = await hook(ownerChange('9002'))
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ received: 1, applied: 1 })
    expect((await f.services.inbox.getChat('s1', CHAT))?.owner).toBe('dora')
    const rules = f.services.rules.current()
    expect((await userCounters(f.services.inbox, rules, 'dora'))?.red).toBe(2)
    expect((await userCounters(f.services.inbox, rules, 'anna'))?.red).toBe(0)
  })

  it('wa_no_reply_needed set by an agent or workflow answers the chat', async () => {
    const res = await hook([
      {
        subscriptionType: 'contact.propertyChange',
        objectId: contactId,
        propertyName: 'wa_no_reply_needed',
        propertyValue: 'true',
      },
    ])
    expect(res.json()).toEqual({ received: 1, applied: 1 })
    expect((await f.services.inbox.getChat('s1', CHAT))?.unanswered).toBe(0)
  })
})

describe('the shared HubSpot budget', () => {
  it('holds across three workers: HubSpot never sees more than the budget in any window', async () => {
    // Scaled down so it runs in seconds: 4 calls per 1 s window instead of 90 per 10 s. The stand-in
    // enforces the same limit, so one call over the budget would be a 429.
    const hub = await startHubSpotStandIn({ limits: { perTenSeconds: 4, windowMs: 1000 } })
    const workers = Array.from({ length: 3 }, () => {
      const redis = f.redis.duplicate()
      return {
        redis,
        budget: new HubSpotBudget(redis, `${f.prefix}:{global}:budget-test`, {
          perTenSeconds: 4,
          searchesPerSecond: 4,
          windowMs: 1000,
        }),
        client: new Client({ accessToken: STANDIN_TOKEN, basePath: hub.url, numberOfApiCallRetries: 0 }),
      }
    })
    try {
      await Promise.all(
        workers.map(async (w) => {
          for (let i = 0; i < 5; i++) {
            await w.budget.take('general')
            await w.client.crm.owners.ownersApi.getPage()
          }
        }),
      )
      expect(hub.requests).toHaveLength(15)
      expect(hub.requests.every((r) => r.status === 200)).toBe(true)
      expect(hub.maxRequestsInAnyWindow(1000)).toBeLessThanOrEqual(4)
    } finally {
      for (const w of workers) w.redis.disconnect()
      await hub.close()
    }
  })
})
