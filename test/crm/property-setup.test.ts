import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONTACT_PROPERTIES } from '../../src/crm/hubspot/hubspot-crm.js'
import { setUpProperties } from '../../src/worker/crm-worker.js'
import { crmFixture, RULES } from './fixture.js'

/**
 * Issue 25, fault 5: a property setup that failed (429, 5xx, timeout, a missing scope) is retried with
 * backoff until it succeeds, the flusher writing nothing meanwhile; a 403 names the missing scope from
 * `requiredGranularScopes`; labels and descriptions an admin edited in HubSpot are kept.
 */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-property-setup', RULES())
})
afterAll(async () => {
  await f.cleanup()
})

describe('property setup (fault 5)', () => {
  it('is retried with backoff after a 500 and a missing scope, naming the scope, until it succeeds', async () => {
    f.hs.reset()
    f.hs.addOwner({ id: '9001', email: 'anna@example.com' })
    f.hs.failNext({ status: 500, path: '/crm/v3/properties/contacts/groups' })
    f.hs.revokeScopes(['crm.schemas.contacts.write'])
    const waits: number[] = []
    const sleep = async (ms: number) => {
      waits.push(ms)
      if (waits.length === 2) f.hs.grantAllScopes() // the admin adds the scope after the 403
    }
    const done = await setUpProperties(
      f.services.hubspot!.crm,
      f.services.log,
      new AbortController().signal,
      sleep,
    )
    expect(done).toBe(true)
    expect(waits).toEqual([5000, 10_000]) // the 500, then the 403; the third try succeeds
    expect(
      f.hs.properties
        .filter((p) => p.groupName === 'tickbridge')
        .map((p) => p.name)
        .sort(),
    ).toEqual(CONTACT_PROPERTIES.map((p) => p.name).sort())
    expect(
      f.logLines.some(
        (l) =>
          l.includes('the token lacks the scope crm.schemas.contacts.write') &&
          l.includes('"missingScopes":["crm.schemas.contacts.write"]'),
      ),
    ).toBe(true)
  })

  it('keeps labels and descriptions an admin edited; fills what the first version left out', async () => {
    f.hs.reset()
    f.hs.addProperty({
      name: 'wa_unanswered_count',
      label: 'Unbeantwortete WhatsApps',
      description: 'Von uns gepflegt',
      type: 'number',
      fieldType: 'number',
    })
    f.hs.addProperty({
      name: 'wa_awaiting_reply_since',
      label: 'WhatsApp: awaiting reply since',
      description: '',
      type: 'datetime',
      fieldType: 'date',
    })
    f.hs.addProperty({
      name: 'wa_sla_state',
      label: 'SLA',
      description: 'Admin text',
      type: 'enumeration',
      fieldType: 'select',
      options: [
        { label: 'Pünktlich', value: 'ok' },
        { label: 'Bald fällig', value: 'warning' },
        { label: 'Überfällig', value: 'breached' },
      ],
    })
    const group = f.hs.propertyGroups.find((g) => g.name === 'tickbridge')!
    group.label = 'WhatsApp-Zähler' // renamed by the admin (the stand-in hands out the live group)
    await f.services.hubspot!.crm.ensureProperties()
    const byName = (n: string) => f.hs.properties.find((p) => p.name === n)!
    expect(byName('wa_unanswered_count')).toMatchObject({
      label: 'Unbeantwortete WhatsApps',
      description: 'Von uns gepflegt',
    })
    expect(byName('wa_sla_state').options.map((o) => o.label)).toEqual([
      'Pünktlich',
      'Bald fällig',
      'Überfällig',
    ])
    expect(byName('wa_sla_state').label).toBe('SLA')
    expect(byName('wa_awaiting_reply_since').description).toBe(
      'When the oldest unanswered WhatsApp message arrived; empty when nothing waits.',
    )
    expect(f.hs.propertyGroups.find((g) => g.name === 'tickbridge')?.label).toBe('WhatsApp-Zähler')
  })
})
