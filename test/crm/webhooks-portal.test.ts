import { createHash, createHmac } from 'node:crypto'
import { Signature } from '@hubspot/api-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyHubSpotSignature } from '../../src/http/routes/hubspot-webhooks.js'
import { decodeHubSpotEscapes, signV3 } from '../hubspot-standin/webhooks.js'
import { APP_SECRET, crmFixture, RULES } from './fixture.js'

/** Issue 15, faults 2.2, 2.5, 2.6 and 2.7, through signed webhook batches from the stand-in. */
const KEY_O = 'tbk_o_read_000001'
const KEY_P = 'tbk_p_read_000001'
const sha = (k: string) => createHash('sha256').update(k).digest('hex')
const rules = (org = 'hubspot: { timeZone: Europe/Berlin }') =>
  RULES(org).replace('orgs: [', 'orgs: [{ id: p }, ') +
  `apiKeys:
  - { id: ko, org: o, sha256: ${sha(KEY_O)}, capabilities: [read] }
  - { id: kp, org: p, sha256: ${sha(KEY_P)}, capabilities: [read] }
`
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-hooks-portal', rules(), { standIn: { searchLagMs: 3000 } })
  f.webhooksTo()
})
afterAll(async () => {
  await f.cleanup()
})

const jid = (p: string) => `${p}@s.whatsapp.net`
const chat = (p: string) => f.services.inbox.getChat('s1', jid(p))
async function linked(phone: string) {
  const c = f.hs.addContact({ properties: { phone: `+${phone}` } })
  await f.customerWrites(phone)
  f.clock.advance(5000)
  await f.settle()
  f.hs.clearWebhooks()
  return c
}
const unmatched = (key: string) =>
  f.app.inject({ method: 'GET', url: '/v1/crm/unmatched', headers: { authorization: `Bearer ${key}` } })

describe('ordering and duplicates (2.5)', () => {
  it('owner changes delivered out of order: the newest (occurredAt) wins', async () => {
    const c = await linked('4915190000001')
    f.hs.editContact(c.id, { hubspot_owner_id: '9002' })
    f.clock.advance(1000)
    f.hs.editContact(c.id, { hubspot_owner_id: '9001' })
    await f.hs.deliverWebhooks({ order: 'reverse', batchSize: 1 })
    expect((await chat('4915190000001'))?.owner).toBe('anna')
  })

  it('a redelivered event (same eventId) is applied once', async () => {
    const c = await linked('4915190000002')
    f.hs.editContact(c.id, { hubspot_owner_id: '9002' })
    await f.hs.deliverWebhooks({ duplicate: true })
    expect((await chat('4915190000002'))?.owner).toBe('dora')
    // Tickbridge hands the chat back to anna; HubSpot's retry of the old event must not undo it.
    await f.services.ingestor.ingest({
      type: 'chat.owner',
      sessionId: 's1',
      chatJid: jid('4915190000002'),
      owner: 'anna',
    })
    await f.hs.deliverWebhooks()
    expect((await chat('4915190000002'))?.owner).toBe('anna')
  })
})

describe('signature (2.6)', () => {
  it('a URL with escapes HubSpot does not decode (%20) and ones it does (%3A) verifies', async () => {
    const c = await linked('4915190000003')
    f.webhooksTo('http://localhost:80/v1/webhooks/hubspot?portal=a%3Ab&note=a%20b')
    try {
      f.hs.editContact(c.id, { hubspot_owner_id: '9002' })
      const [report] = await f.hs.deliverWebhooks()
      expect(report?.status).toBe(200)
      expect((await chat('4915190000003'))?.owner).toBe('dora')
    } finally {
      f.webhooksTo()
    }
  })

  it('a malformed escape is a 401 (or verifies when signed), never a 500', async () => {
    const body = '[]'
    const ts = f.clock.now()
    const headers = (sig: string) => ({
      'content-type': 'application/json',
      'x-hubspot-signature-v3': sig,
      'x-hubspot-request-timestamp': String(ts),
    })
    const url = '/v1/webhooks/hubspot?x=%E0%A4%A'
    const bad = await f.app.inject({ method: 'POST', url, headers: headers('AAAA'), payload: body })
    expect(bad.statusCode).toBe(401)
    const sig = signV3({ url: `http://localhost:80${url}`, secret: APP_SECRET }, body, ts)
    const good = await f.app.inject({ method: 'POST', url, headers: headers(sig), payload: body })
    expect(good.statusCode).toBe(200)
  })

  it('agrees with @hubspot/api-client’s Signature.isValid on URIs with every listed escape', () => {
    const uris = [
      'https://tb.example.com/v1/webhooks/hubspot',
      'https://tb.example.com/v1/webhooks/hubspot?a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B',
      'https://tb.example.com/v1/webhooks/hubspot?a=b%20c&d=%25',
      'https://tb.example.com/v1/webhooks/hubspot?a=%e0%a4%a',
    ]
    const now = Date.now()
    for (const uri of uris) {
      const body = JSON.stringify([{ objectId: 1, uri }])
      const signature = createHmac('sha256', APP_SECRET)
        .update(`POST${decodeHubSpotEscapes(uri)}${body}${now}`)
        .digest('base64')
      const ours = verifyHubSpotSignature({
        secret: APP_SECRET,
        method: 'POST',
        uri,
        body,
        timestamp: String(now),
        signature,
        now,
      })
      const client = Signature.isValid({
        signatureVersion: 'v3',
        method: 'POST',
        signature,
        clientSecret: APP_SECRET,
        requestBody: body,
        url: decodeHubSpotEscapes(uri),
        timestamp: now,
      })
      expect({ uri, ours: ours === 'ok' }).toEqual({ uri, ours: client })
    }
  })

  it('HUBSPOT_WEBHOOK_URL: behind a proxy the signed URL is the public one, not the Host header', async () => {
    const g = await crmFixture('crm-hooks-proxy', RULES(), {
      env: { HUBSPOT_WEBHOOK_URL: 'https://tb.example.com/hooks/hubspot' },
    })
    try {
      const c = g.hs.addContact({ properties: { phone: '+4915190000009' } })
      await g.customerWrites('4915190000009')
      g.clock.advance(5000)
      await g.settle()
      g.hs.clearWebhooks()
      // HubSpot calls the public URL; the proxy forwards to /v1/webhooks/hubspot on localhost.
      g.hs.setWebhookTarget({
        url: 'https://tb.example.com/hooks/hubspot',
        secret: APP_SECRET,
        send: async (req) =>
          (
            await g.app.inject({
              method: 'POST',
              url: '/v1/webhooks/hubspot',
              headers: { ...req.headers, host: '10.0.0.7:3000' },
              payload: req.body,
            })
          ).statusCode,
      })
      g.hs.editContact(c.id, { hubspot_owner_id: '9002' })
      const [report] = await g.hs.deliverWebhooks()
      expect(report?.status).toBe(200)
    } finally {
      await g.cleanup()
    }
  })
})

describe('wa_no_reply_needed (2.7)', () => {
  it('is created as a checkbox, applied, written back to false, and works a second time', async () => {
    expect(f.hs.properties.find((p) => p.name === 'wa_no_reply_needed')).toMatchObject({
      type: 'bool',
      fieldType: 'booleancheckbox',
      groupName: 'tickbridge',
    })
    const c = await linked('4915190000004')
    f.hs.editContact(c.id, { wa_no_reply_needed: 'true' })
    await f.hs.deliverWebhooks()
    expect((await chat('4915190000004'))?.unanswered).toBe(0)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties.wa_no_reply_needed).toBe('false')
    await f.hs.deliverWebhooks() // the echo of our "false"
    await f.customerWrites('4915190000004')
    expect((await chat('4915190000004'))?.unanswered).toBe(1)
    f.hs.editContact(c.id, { wa_no_reply_needed: 'true' })
    await f.hs.deliverWebhooks()
    expect((await chat('4915190000004'))?.unanswered).toBe(0)
  })
})

describe('unmatched chats (2.2)', () => {
  it('kept pending and listed (org-scoped); found once HubSpot reports the new contact', async () => {
    await f.customerWrites('4915190000005')
    f.clock.advance(5000)
    await f.flush()
    const listed = await unmatched(KEY_O)
    expect(listed.statusCode).toBe(200)
    expect(listed.json().data).toEqual([
      expect.objectContaining({
        sessionId: 's1',
        chatJid: jid('4915190000005'),
        phone: '+4915190000005',
        attempts: 1,
      }),
    ])
    expect((await unmatched(KEY_P)).json().data).toEqual([])
    expect(
      await f.services.metrics.registry.getSingleMetricAsString('tickbridge_crm_unmatched_chats'),
    ).toContain('tickbridge_crm_unmatched_chats 1')
    // An agent creates the contact in HubSpot; search finds it only 3 s later.
    const c = f.hs.createContact({ phone: '0151 9000 0005', country: 'DE' })
    await f.hs.deliverWebhooks()
    for (let i = 0; i < 10 && f.hs.contact(c.id)?.properties.wa_unanswered_count !== '1'; i++) {
      f.clock.advance(1000)
      await f.flush()
    }
    expect(f.hs.contact(c.id)?.properties.wa_unanswered_count).toBe('1')
    expect((await unmatched(KEY_O)).json().data).toEqual([])
  })

  it('a merge (new id) moves the chat to the merged contact', async () => {
    const a = await linked('4915190000006')
    const b = f.hs.addContact({ properties: { firstname: 'B' } })
    const merged = f.hs.mergeContacts(a.id, b.id)
    await f.hs.deliverWebhooks()
    await f.customerWrites('4915190000006')
    for (let i = 0; i < 10 && f.hs.contact(merged.id)?.properties.wa_unanswered_count !== '2'; i++) {
      f.clock.advance(1000)
      await f.flush()
    }
    expect(f.hs.contact(merged.id)?.properties.wa_unanswered_count).toBe('2')
  })

  it('createContacts: true creates the contact for a new number', async () => {
    const g = await crmFixture('crm-create', RULES('hubspot: { createContacts: true }'))
    try {
      await g.customerWrites('4915190000007')
      g.clock.advance(5000)
      await g.settle()
      const created = g.hs.contacts().find((c) => c.properties.phone === '+4915190000007')
      expect(created?.properties).toMatchObject({
        hs_whatsapp_phone_number: '+4915190000007',
        wa_unanswered_count: '1',
      })
    } finally {
      await g.cleanup()
    }
  })
})
