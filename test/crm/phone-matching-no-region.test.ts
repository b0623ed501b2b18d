import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crmFixture, RULES } from './fixture.js'
import { FORMATS } from './phone-formats.js'

/**
 * Issue 25, fault 2: most orgs set no `defaultRegion`, and HubSpot's `country` is free text ("Germany",
 * "United States"). A stored number is read in the contact's country (code or name), else in the region
 * of the customer's own WhatsApp number.
 */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  // A German portal (HubSpot reads numbers typed without + in its default country); no defaultRegion.
  f = await crmFixture('crm-phones-noregion', RULES(), {
    standIn: { defaultCountry: 'DE', limits: { perTenSeconds: 1000 } },
  })
})
afterAll(async () => {
  await f.cleanup()
})

/** What people type into `country`: nothing, a name in English or German, a code. */
const COUNTRIES = [undefined, 'Germany', 'Deutschland', 'germany ', 'DE']

describe('phone matching with no defaultRegion (fault 2)', () => {
  it('contacts stored in the 10 formats, with or without a country name, are all matched', async () => {
    const ids: Array<{ id: string; phone: string }> = []
    for (let i = 0; i < 50; i++) {
      const n = String(22_220_000 + i)
      const country = COUNTRIES[Math.floor(i / 10) % COUNTRIES.length]
      const c = f.hs.addContact({ properties: { ...FORMATS[i % 10]!(n), ...(country ? { country } : {}) } })
      ids.push({ id: c.id, phone: `49151${n}` })
    }
    // US customers typed the American way, with the country as a name or not at all.
    for (const [i, country] of [undefined, 'United States', 'USA', 'United States of America'].entries()) {
      const c = f.hs.addContact({
        properties: { phone: `(415) 201-33${40 + i}`, ...(country ? { country } : {}) },
      })
      ids.push({ id: c.id, phone: `141520133${40 + i}` })
    }
    for (const { phone } of ids) await f.customerWrites(phone)
    f.clock.advance(5000)
    await f.settle()
    const unmatched = ids.filter(({ id }) => f.hs.contact(id)?.properties.wa_unanswered_count !== '1')
    expect(unmatched.map((u) => f.hs.contact(u.id)?.properties)).toEqual([])
    expect(await f.services.hubspot!.unmatched.count()).toBe(0)
  })

  it('a contact whose country names another country is not matched by the same national digits', async () => {
    const austrian = f.hs.addContact({ properties: { phone: '0151 4000 0001', country: 'Austria' } })
    await f.customerWrites('4915140000001')
    f.clock.advance(5000)
    await f.settle(3)
    expect((await f.services.hubspot!.unmatched.all()).map((u) => u.phone)).toContain('4915140000001')
    expect(f.hs.contact(austrian.id)?.properties.wa_unanswered_count).toBeUndefined()
  })
})
