import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rulesSchema } from '../../src/rules/schema.js'
import { crmFixture, RULES } from './fixture.js'

/** Issue 15, section 3: what a HubSpot admin expects beyond the counters. */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture(
    'crm-admin',
    RULES().replace('{ id: s1, org: o,', '{ id: s1, org: o, label: "+49 30 1234567 (Sales)",'),
  )
})
afterAll(async () => {
  await f.cleanup()
})

describe('what a HubSpot admin sees', () => {
  it('a property group labelled "WhatsApp (Tickbridge)", described properties, readable option labels', () => {
    expect(f.hs.propertyGroups.find((g) => g.name === 'tickbridge')?.label).toBe('WhatsApp (Tickbridge)')
    const ours = f.hs.properties.filter((p) => p.groupName === 'tickbridge')
    expect(ours.map((p) => p.name).sort()).toEqual(
      [
        'wa_awaiting_reply_since',
        'wa_business_number',
        'wa_last_inbound_at',
        'wa_last_message_preview',
        'wa_last_outbound_at',
        'wa_no_reply_needed',
        'wa_sla_state',
        'wa_unanswered_count',
      ].sort(),
    )
    expect(ours.every((p) => p.description.length > 10)).toBe(true)
    expect(ours.find((p) => p.name === 'wa_sla_state')?.options.map((o) => o.label)).toEqual([
      'On time',
      'Reply due soon',
      'Reply overdue',
    ])
  })

  it('the business number last used and the last message preview are written', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915199000001' } })
    await f.customerWrites('4915199000001', 's1', 'Hello, is the blue one still in stock?')
    f.clock.advance(5000)
    await f.settle()
    expect(f.hs.contact(c.id)?.properties).toMatchObject({
      wa_business_number: '+49 30 1234567 (Sales)',
      wa_last_message_preview: 'Hello, is the blue one still in stock?',
    })
  })

  it('X-HubSpot-RateLimit-* headers become metrics', async () => {
    const text = await f.services.metrics.registry.getSingleMetricAsString('tickbridge_hubspot_ratelimit')
    expect(text).toMatch(/tickbridge_hubspot_ratelimit\{window="10s",value="max"\} 100/)
    expect(text).toMatch(/tickbridge_hubspot_ratelimit\{window="10s",value="remaining"\} \d+/)
    expect(text).toMatch(/tickbridge_hubspot_ratelimit\{window="daily",value="remaining"\} \d+/)
  })

  it('requestsPer10s accepts the capacity pack’s 250, not more', () => {
    const base = { version: 1, orgs: [{ id: 'o' }] }
    const ok = rulesSchema.safeParse({ ...base, counters: { crmSync: { requestsPer10s: 250 } } })
    expect(ok.success).toBe(true)
    expect(rulesSchema.safeParse({ ...base, counters: { crmSync: { requestsPer10s: 251 } } }).success).toBe(
      false,
    )
  })
})

describe('rules settings', () => {
  it('defaultRegion must be a country libphonenumber knows', () => {
    const parse = (defaultRegion: string) =>
      rulesSchema.safeParse({ version: 1, orgs: [{ id: 'o', hubspot: { defaultRegion } }] })
    expect(parse('DE').success).toBe(true)
    const bad = parse('XX')
    expect(bad.success).toBe(false)
    expect(bad.error?.issues[0]?.message).toBe(
      'unknown country "XX" (expected an ISO 3166 code like DE or US)',
    )
  })
})
