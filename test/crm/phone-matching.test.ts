import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HubSpotBudget } from '../../src/crm/hubspot/budget.js'
import { crmFixture, RULES } from './fixture.js'
import { FORMATS } from './phone-formats.js'

/** Issue 15, faults 2.1 and 2.10: every customer's contact found, however the number was typed. */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  // A German portal; the org reads numbers without a country code as German.
  f = await crmFixture('crm-phones', RULES('hubspot: { timeZone: Europe/Berlin, defaultRegion: DE }'), {
    standIn: { defaultCountry: 'DE', limits: { perTenSeconds: 1000 } },
  })
})
afterAll(async () => {
  await f.cleanup()
})

/** Searches that asked for `digits` (as E.164). */
const searchesFor = (digits: string) =>
  f.hs.callsTo('/crm/v3/objects/contacts/search').filter((r) => JSON.stringify(r.body).includes(`+${digits}`))
    .length
/**
 * Flushes until `check` holds. The search budget (4 per second, on Redis' real clock) can defer a lookup
 * to a later flush when the machine runs fast: that is the budget working, not a miss.
 */
const flushUntil = <T>(check: () => Promise<T>) =>
  expect.poll(
    async () => {
      await f.flush()
      f.clock.advance(1_100) // a deferred chat is due again once the budget has a slot (the app's clock)
      return check()
    },
    { timeout: 10_000, interval: 200 },
  )

describe('phone matching (2.1)', () => {
  it('counters for 200 contacts stored in 10 phone formats: every one is matched', async () => {
    const ids: Array<{ id: string; phone: string }> = []
    for (let i = 0; i < 200; i++) {
      const n = String(30_000_000 + i)
      const c = f.hs.addContact({ properties: FORMATS[i % 10]!(n) })
      ids.push({ id: c.id, phone: `49151${n}` })
    }
    for (const { phone } of ids) await f.customerWrites(phone)
    f.clock.advance(5000)
    expect(await f.settle()).toBe(200)
    const unmatched = ids.filter(({ id }) => f.hs.contact(id)?.properties.wa_unanswered_count !== '1')
    expect(
      unmatched.map(
        (u) => f.hs.contact(u.id)?.properties.phone ?? f.hs.contact(u.id)?.properties.mobilephone,
      ),
    ).toEqual([])
    expect(await f.services.hubspot!.unmatched.count()).toBe(0)
  })

  it('the national digits alone do not match a contact in another country', async () => {
    // Same national digits 15140000000, but the contact is Austrian (+43).
    const austrian = f.hs.addContact({ properties: { phone: '0151 4000 0000', country: 'AT' } })
    await f.customerWrites('4915140000000')
    f.clock.advance(5000)
    await flushUntil(async () => (await f.services.hubspot!.unmatched.all()).map((u) => u.phone)).toContain(
      '4915140000000',
    )
    expect(f.hs.contact(austrian.id)?.properties.wa_unanswered_count).toBeUndefined()
  })
})

describe('lookups (2.10)', () => {
  it('many new numbers are looked up in a few searches, not one each', async () => {
    const phones = Array.from({ length: 40 }, (_, i) => `4915150${String(100_000 + i)}`)
    for (const p of phones) f.hs.addContact({ properties: { phone: `+${p}` } })
    for (const p of phones) await f.customerWrites(p)
    // Only searches for these numbers count: the unmatched chat of the test before retries its own.
    const ours = () =>
      f.hs
        .callsTo('/crm/v3/objects/contacts/search')
        .filter((r) => phones.some((p) => JSON.stringify(r.body).includes(`+${p}`))).length
    f.clock.advance(5000)
    expect(await f.settle()).toBe(40)
    expect(ours()).toBeLessThanOrEqual(2)
  })

  it('a cached contact expires after a day even while other numbers keep the cache busy', async () => {
    f.hs.addContact({ properties: { phone: '+4915160000001' } })
    await f.customerWrites('4915160000001')
    f.clock.advance(5000)
    await f.settle()
    for (let h = 0; h < 25; h++) {
      f.hs.addContact({ properties: { phone: `+49151610000${String(10 + h)}` } })
      await f.customerWrites(`49151610000${String(10 + h)}`) // traffic on other numbers
      f.clock.advance(3600_000)
      await f.settle()
    }
    // Every new number was looked up once (the budget may have put two in one search), the cached one never.
    for (let h = 0; h < 25; h++) expect(searchesFor(`49151610000${String(10 + h)}`)).toBe(1)
    expect(searchesFor('4915160000001')).toBe(1)
    await f.customerWrites('4915160000001')
    f.clock.advance(5000)
    await flushUntil(async () => searchesFor('4915160000001')).toBe(2) // the day-old entry looked up again
  })

  it('a search waiting for its slot does not use up a general slot', async () => {
    const base = `${f.prefix}:{global}:budget-order`
    const budget = new HubSpotBudget(f.redis, base, { perTenSeconds: 100, searchesPerSecond: 2 })
    expect(await budget.tryTake('search')).toBe(0)
    expect(await budget.tryTake('search')).toBe(0)
    expect(await budget.tryTake('search')).toBeGreaterThan(0)
    expect(await f.redis.zcard(`${base}:general`)).toBe(2)
  })
})
