import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crmFixture } from './fixture.js'

/**
 * Issue 25, fault 1: the owner HubSpot already holds is read when a chat is matched. The chat follows
 * it (the rules user with that `hubspotOwnerId`; none = unassigned, logged once); a contact without an
 * owner gets the chat's owner (unless `fillEmptyOwner: false`); an owner HubSpot holds is never written
 * over. Org `o` has the defaults; org `q` turns the fill off.
 */
const KEY = 'tbk_o_read_owner01'
const sha = (k: string) => createHash('sha256').update(k).digest('hex')
const RULES = `version: 1
orgs:
  - { id: o, hubspot: { timeZone: Europe/Berlin } }
  - { id: q, hubspot: { timeZone: Europe/Berlin, fillEmptyOwner: false } }
sessions:
  - { id: s1, org: o, defaultOwner: anna }
  - { id: s2, org: o, defaultOwner: anna }
  - { id: s3, org: q, defaultOwner: quinn }
users:
  - { id: anna, org: o, role: agent, hubspotOwnerId: "9001" }
  - { id: dora, org: o, role: supervisor, supervises: [anna], hubspotOwnerId: "9002" }
  - { id: quinn, org: q, role: agent, hubspotOwnerId: "9004" }
counters: { crmSync: { debounce: 5s } }
apiKeys:
  - { id: ko, org: o, sha256: ${sha(KEY)}, capabilities: [read] }
`
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-owner-match', RULES)
  f.hs.addOwner({ id: '9003', email: 'olga@example.com', firstName: 'Olga' }) // no rules user
  f.hs.addOwner({ id: '9004', email: 'quinn@example.com', firstName: 'Quinn' })
})
afterAll(async () => {
  await f.cleanup()
})

const auth = { authorization: `Bearer ${KEY}` }
const searches = () => f.hs.callsTo('/crm/v3/objects/contacts/search').length
const overviewOwner = async (phone: string, session = 's1') => {
  const res = await f.app.inject({ url: `/v1/sessions/${session}/chats/overview`, headers: auth })
  return (res.json() as { items: Array<{ jid: string; owner: string | null }> }).items.find(
    (c) => c.jid === `${phone}@s.whatsapp.net`,
  )?.owner
}
const red = async (user: string) =>
  (await f.app.inject({ url: `/v1/counters/unanswered/${user}`, headers: auth })).json().data.red as number
const ownerWrites = (contactId: string) =>
  f.hs
    .callsTo('/crm/v3/objects/contacts/batch/update')
    .flatMap((r) => (r.body as { inputs: Array<{ id: string; properties: Record<string, string> }> }).inputs)
    .filter((i) => i.id === contactId && 'hubspot_owner_id' in i.properties)

describe('the owner HubSpot holds, read at match (fault 1)', () => {
  it('a chat whose contact HubSpot assigns to dora shows dora in the overview and her red counter after the debounce and one search', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915171000001', hubspot_owner_id: '9002' } })
    await f.customerWrites('4915171000001') // s1: the session's default owner is anna
    expect(await overviewOwner('4915171000001')).toBe('anna')
    const [annaBefore, doraBefore] = [await red('anna'), await red('dora')]
    const before = searches()
    f.clock.advance(5000)
    await f.flush()
    expect(searches() - before).toBe(1)
    expect(await overviewOwner('4915171000001')).toBe('dora')
    expect(await red('dora')).toBe(doraBefore + 1)
    expect(await red('anna')).toBe(annaBefore - 1)
    // HubSpot's owner is never written over, then or later.
    await f.customerWrites('4915171000001')
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties).toMatchObject({
      hubspot_owner_id: '9002',
      wa_unanswered_count: '2',
    })
    expect(ownerWrites(c.id)).toEqual([])
  })

  it('a contact HubSpot holds without an owner gets the chat’s owner', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915171000002' } })
    await f.customerWrites('4915171000002')
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id).toBe('9001')
    expect(await overviewOwner('4915171000002')).toBe('anna')
  })

  it('with fillEmptyOwner: false the contact keeps no owner', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915171000003' } })
    await f.customerWrites('4915171000003', 's3')
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties).toMatchObject({ wa_unanswered_count: '1' })
    expect(f.hs.contact(c.id)?.properties.hubspot_owner_id ?? '').toBe('')
    expect((await f.services.inbox.getChat('s3', '4915171000003@s.whatsapp.net'))?.owner).toBe('quinn')
  })

  it('an owner no rules user has leaves the chat unassigned, logged once', async () => {
    const a = f.hs.addContact({ properties: { phone: '+4915171000004', hubspot_owner_id: '9003' } })
    const b = f.hs.addContact({ properties: { phone: '+4915171000005', hubspot_owner_id: '9003' } })
    await f.customerWrites('4915171000004')
    await f.customerWrites('4915171000005')
    f.clock.advance(5000)
    await f.settle()
    expect(await overviewOwner('4915171000004')).toBeNull()
    expect(await overviewOwner('4915171000005')).toBeNull()
    expect(f.hs.contact(a.id)?.properties.hubspot_owner_id).toBe('9003')
    expect(f.hs.contact(b.id)?.properties.hubspot_owner_id).toBe('9003')
    expect(f.logLines.filter((l) => l.includes('HubSpot owner 9003 is no user')).length).toBe(1)
  })

  it('a chat on a second number of the same customer follows the owner read for the first, without a search', async () => {
    f.hs.addContact({ properties: { phone: '+4915171000006', hubspot_owner_id: '9002' } })
    await f.customerWrites('4915171000006', 's1')
    f.clock.advance(5000)
    await f.settle()
    expect(await overviewOwner('4915171000006')).toBe('dora')
    const before = searches()
    await f.customerWrites('4915171000006', 's2') // the cached contact: no search
    f.clock.advance(5000)
    await f.settle()
    expect(searches()).toBe(before)
    expect(await overviewOwner('4915171000006', 's2')).toBe('dora')
  })
})
