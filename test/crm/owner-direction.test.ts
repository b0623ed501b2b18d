import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signV3 } from '../hubspot-standin/webhooks.js'
import { APP_SECRET, crmFixture, RULES } from './fixture.js'

/**
 * Issue 15, fault 2.4: HubSpot is the owner's source of truth by default. A change made in HubSpot
 * survives the next flush; Tickbridge writes `hubspot_owner_id` only when it changed the owner itself;
 * the echo of our own write changes nothing.
 */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-owner', RULES())
  f.webhooksTo()
})
afterAll(async () => {
  await f.cleanup()
})

function signed(body: string) {
  const ts = f.clock.now()
  return {
    'content-type': 'application/json',
    'x-hubspot-request-timestamp': String(ts),
    'x-hubspot-signature-v3': signV3(
      { url: 'http://localhost:80/v1/webhooks/hubspot', secret: APP_SECRET },
      body,
      ts,
    ),
  }
}

const chatOwner = async (phone: string) =>
  (await f.services.inbox.getChat('s1', `${phone}@s.whatsapp.net`))?.owner

describe('owner direction (default: HubSpot)', () => {
  it('a change made in HubSpot survives the next flush (with or without its webhook)', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915170000001', hubspot_owner_id: '9002' } })
    await f.customerWrites('4915170000001')
    f.clock.advance(5000)
    await f.settle()
    // The chat got the session's default owner (anna), but HubSpot's owner (dora) is not overwritten.
    expect(f.hs.contact(c.id)?.properties).toMatchObject({
      wa_unanswered_count: '1',
      hubspot_owner_id: '9002',
    })
    // A user changes the owner in HubSpot; more messages come; the flush keeps HubSpot's owner.
    f.hs.editContact(c.id, { hubspot_owner_id: '9001' })
    f.hs.clearWebhooks() // even if the webhook never arrives
    await f.customerWrites('4915170000001')
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties).toMatchObject({
      wa_unanswered_count: '2',
      hubspot_owner_id: '9001',
    })
  })

  it('the HubSpot change moves the chat; the following flush does not write the owner back', async () => {
    // HubSpot holds anna (a contact without an owner would get the chat's owner written: fault 1 of #25).
    const c = f.hs.addContact({ properties: { phone: '+4915170000002', hubspot_owner_id: '9001' } })
    await f.customerWrites('4915170000002')
    f.clock.advance(5000)
    await f.settle()
    f.hs.editContact(c.id, { hubspot_owner_id: '9002' })
    await f.hs.deliverWebhooks()
    expect(await chatOwner('4915170000002')).toBe('dora')
    f.clock.advance(5000)
    await f.settle()
    const writes = f.hs
      .callsTo('/crm/v3/objects/contacts/batch/update')
      .flatMap(
        (r) => (r.body as { inputs: Array<{ id: string; properties: Record<string, string> }> }).inputs,
      )
      .filter((i) => i.id === c.id)
    expect(writes.every((w) => !('hubspot_owner_id' in w.properties))).toBe(true)
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('9002')
  })

  it('an owner Tickbridge sets is written once; the echo of that write changes nothing', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915170000003', hubspot_owner_id: '9001' } })
    await f.customerWrites('4915170000003')
    f.clock.advance(5000)
    await f.settle()
    f.hs.clearWebhooks()
    // Tickbridge reassigns to dora (an SLA level or the API) ...
    const jid = '4915170000003@s.whatsapp.net'
    await f.services.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: jid, owner: 'dora' })
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('9002')
    // ... and back to anna before HubSpot's echo of the first write arrives.
    await f.services.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: jid, owner: 'anna' })
    const echoes = f.hs.pendingWebhooks()
    expect(echoes).toMatchObject([
      { propertyName: 'hubspot_owner_id', propertyValue: '9002', changeSource: 'INTEGRATION' },
    ])
    await f.hs.deliverWebhooks()
    expect(await chatOwner('4915170000003')).toBe('anna')
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('9001')
    // The second write's echo, delivered twice and out of order with nothing else: still anna.
    await f.hs.deliverWebhooks({ duplicate: true })
    await f.hs.deliverWebhooks()
    expect(await chatOwner('4915170000003')).toBe('anna')
    // Nothing more to write.
    const before = f.hs.callsTo('/crm/v3/objects/contacts/batch/update').length
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.callsTo('/crm/v3/objects/contacts/batch/update').length).toBe(before)
  })
})

describe('a late HubSpot change older than our write', () => {
  it('does not undo the owner Tickbridge wrote after it', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915170000006', hubspot_owner_id: '9001' } })
    await f.customerWrites('4915170000006')
    f.clock.advance(5000)
    await f.settle()
    f.hs.clearWebhooks()
    // A user sets dora in HubSpot; its webhook is delayed ...
    f.hs.editContact(c.id, { hubspot_owner_id: '9002' })
    const late = f.hs.pendingWebhooks()
    f.hs.clearWebhooks()
    // ... meanwhile Tickbridge hands the chat to anna and writes it (HubSpot now has anna).
    f.clock.advance(1000)
    const jid = '4915170000006@s.whatsapp.net'
    await f.services.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: jid, owner: 'dora' })
    await f.services.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: jid, owner: 'anna' })
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('9001')
    // The late event arrives: older than our write, dropped; chat and HubSpot agree.
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/webhooks/hubspot',
      headers: signed(JSON.stringify(late)),
      payload: JSON.stringify(late),
    })
    expect(res.json()).toEqual({ received: 1, applied: 0 })
    expect(await chatOwner('4915170000006')).toBe('anna')
  })
})

describe('owner direction: unassigning', () => {
  it('Tickbridge unassigning a chat clears the HubSpot owner', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915170000005', hubspot_owner_id: '9001' } })
    await f.customerWrites('4915170000005')
    f.clock.advance(5000)
    await f.settle()
    const jid = '4915170000005@s.whatsapp.net'
    await f.services.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: jid, owner: null })
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('')
  })
})

describe('owner direction: tickbridge', () => {
  it('writes the chat’s owner on every sync and ignores owner changes from HubSpot', async () => {
    const g = await crmFixture('crm-owner-tb', RULES('hubspot: { owner: tickbridge }'))
    try {
      g.webhooksTo()
      const c = g.hs.addContact({ properties: { phone: '+4915170000004', hubspot_owner_id: '9002' } })
      await g.customerWrites('4915170000004')
      g.clock.advance(5000)
      await g.settle()
      expect(g.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('9001')
      g.hs.editContact(c.id, { hubspot_owner_id: '9002' })
      await g.hs.deliverWebhooks()
      expect((await g.services.inbox.getChat('s1', '4915170000004@s.whatsapp.net'))?.owner).toBe('anna')
    } finally {
      await g.cleanup()
    }
  })
})
