import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crmFixture, RULES } from './fixture.js'

/**
 * Issue 25, fault 13: a contact created in HubSpot a moment before its customer writes (a lead form,
 * then the WhatsApp button) is hidden from search for a few seconds (search guide: "it may take a few
 * moments for newly created or updated objects to appear in search"; the stand-in's `searchLagMs`).
 * The chat's first lookup misses; its retry must search again instead of reading the cached miss.
 */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-unmatched-retry', RULES(), { standIn: { searchLagMs: 8000 } })
})
afterAll(async () => {
  await f.cleanup()
})

const searchesFor = (digits: string) =>
  f.hs.callsTo('/crm/v3/objects/contacts/search').filter((r) => JSON.stringify(r.body).includes(`+${digits}`))
    .length

describe('an unmatched chat’s retry (fault 13)', () => {
  it('searches again after its backoff and finds the contact search did not show yet', async () => {
    const c = f.hs.createContact({ phone: '+4915172000001', firstname: 'Lead' }) // a form, just now
    await f.customerWrites('4915172000001')
    f.clock.advance(5000)
    await f.flush() // 5 s after the form: search does not show the contact yet
    expect(searchesFor('4915172000001')).toBe(1)
    const [waiting] = await f.services.hubspot!.unmatched.all()
    expect(waiting).toMatchObject({ phone: '4915172000001', attempts: 1 })
    // The backoff's first retry (15 s): the same chat searches again and is matched.
    f.clock.set(waiting!.nextTryAt + 1000)
    await f.flush()
    expect(searchesFor('4915172000001')).toBe(2)
    expect(f.hs.contact(c.id)?.properties.wa_unanswered_count).toBe('1')
    expect(await f.services.hubspot!.unmatched.count()).toBe(0)
  })

  it('a number not being retried still uses the cached miss', async () => {
    await f.customerWrites('4915172000002', 's1')
    f.clock.advance(5000)
    await f.flush()
    expect(searchesFor('4915172000002')).toBe(1)
    // The same customer writes to our second number: that new chat reads the cached miss.
    await f.customerWrites('4915172000002', 's2')
    f.clock.advance(5000)
    await f.flush()
    expect(searchesFor('4915172000002')).toBe(1)
    const waiting = (await f.services.hubspot!.unmatched.all()).filter((u) => u.phone === '4915172000002')
    expect(waiting.map((u) => u.sessionId).sort()).toEqual(['s1', 's2'])
  })
})
