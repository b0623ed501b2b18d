import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crmFixture, RULES } from './fixture.js'

/**
 * Issue 25, fault 6: our own write is recognised when HubSpot echoes it within minutes, not for a day:
 * another integration setting a value we once wrote, hours later, is a real change.
 */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-echo-window', RULES())
  f.webhooksTo()
})
afterAll(async () => {
  await f.cleanup()
})

const JID = '4915174000001@s.whatsapp.net'
const chatOwner = async () => (await f.services.inbox.getChat('s1', JID))?.owner

describe('the echo of our own write (fault 6)', () => {
  it('is recognised shortly after the write, not hours later', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915174000001', hubspot_owner_id: '9001' } })
    await f.customerWrites('4915174000001')
    f.clock.advance(5000)
    await f.settle()
    // Tickbridge reassigns the chat to dora: written to HubSpot; its echo changes nothing.
    await f.services.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: JID, owner: 'dora' })
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('9002')
    await f.hs.deliverWebhooks()
    expect(await chatOwner()).toBe('dora')
    // A rep takes the contact back in HubSpot ...
    f.clock.advance(3600_000)
    f.hs.editContact(c.id, { hubspot_owner_id: '9001' })
    await f.hs.deliverWebhooks()
    expect(await chatOwner()).toBe('anna')
    // ... and hours later another integration (a routing app) assigns dora again: a real change.
    f.clock.advance(2 * 3600_000)
    f.hs.editContact(c.id, { hubspot_owner_id: '9002' }, { changeSource: 'INTEGRATION', sourceId: '5555' })
    await f.hs.deliverWebhooks()
    expect(await chatOwner()).toBe('dora')
  })
})
