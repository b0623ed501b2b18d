import { Client, Signature } from '@hubspot/api-client'
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/index.js'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type HubSpotStandIn, STANDIN_TOKEN, startHubSpotStandIn, type WebhookEvent } from './server.js'
import { decodeHubSpotEscapes, type WebhookRequest } from './webhooks.js'

/** The stand-in's real-portal behaviours (section 1 of issue 15), driven through the real client. */
let now = Date.UTC(2026, 0, 15, 12, 0, 0)
let hs: HubSpotStandIn
let client: Client

beforeAll(async () => {
  hs = await startHubSpotStandIn({ clock: () => now, defaultCountry: 'DE', timeZone: 'Europe/Berlin' })
  client = new Client({ accessToken: STANDIN_TOKEN, basePath: hs.url, numberOfApiCallRetries: 0 })
})
afterAll(async () => {
  await hs.close()
})
beforeEach(() => {
  hs.reset()
  hs.setWebhookTarget(null)
})

async function failure(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  return p.then(
    () => {
      throw new Error('expected a failure')
    },
    (e: { code: number; body: Record<string, unknown> }) => e,
  )
}

describe('searchable phone numbers, as typed by a user', () => {
  it.each([
    ['0151 2222 3333', undefined, '15122223333'],
    ['+49 (0) 151 2222 3333', undefined, '15122223333'],
    ['0049 151 2222 3333', undefined, '15122223333'],
    ['(415) 201-3344', 'US', '4152013344'],
    ['+1 415-201-3344', undefined, '4152013344'],
  ])('%s (country %s) -> %s, for phone and mobile', (typed, country, digits) => {
    const c = hs.addContact({
      properties: { phone: typed, mobilephone: typed, ...(country ? { country } : {}) },
    })
    expect(c.properties.hs_searchable_calculated_phone_number).toBe(digits)
    expect(c.properties.hs_searchable_calculated_mobile_number).toBe(digits)
  })

  it('recalculated when the number changes through the API', async () => {
    const c = hs.addContact({ properties: { phone: '0151 2222 3333' } })
    await client.crm.contacts.basicApi.update(c.id, { properties: { phone: '+1 (415) 201-3344' } })
    expect(hs.contact(c.id)?.properties.hs_searchable_calculated_phone_number).toBe('4152013344')
  })
})

describe('search index lag', () => {
  it('a created or changed contact is invisible to search until the lag has passed', async () => {
    const lagged = await startHubSpotStandIn({
      clock: () => now,
      searchLagMs: 3000,
      defaultCountry: 'DE',
      limits: { searchPerSecond: 100 },
    })
    const c2 = new Client({ accessToken: STANDIN_TOKEN, basePath: lagged.url, numberOfApiCallRetries: 0 })
    try {
      const c = lagged.createContact({ phone: '0151 2222 3333' })
      const find = (v: string) =>
        c2.crm.contacts.searchApi.doSearch({
          filterGroups: [
            {
              filters: [
                {
                  propertyName: 'hs_searchable_calculated_phone_number',
                  operator: FilterOperatorEnum.Eq,
                  value: v,
                },
              ],
            },
          ],
          limit: 10,
        })
      expect((await find('15122223333')).total).toBe(0)
      now += 3000
      expect((await find('15122223333')).results.map((r) => r.id)).toEqual([c.id])
      // A change: search still sees the old number for the lag.
      await c2.crm.contacts.basicApi.update(c.id, { properties: { phone: '0151 9999 0000' } })
      expect((await find('15122223333')).total).toBe(1)
      expect((await find('15199990000')).total).toBe(0)
      now += 3000
      expect((await find('15122223333')).total).toBe(0)
      expect((await find('15199990000')).total).toBe(1)
    } finally {
      await lagged.close()
    }
  })
})

describe('batch/update validation and locking', () => {
  it('one unknown owner id or option fails the whole request with 400; nothing is applied', async () => {
    hs.addOwner({ id: '9001', email: 'a@example.com' })
    const a = hs.addContact({ properties: { phone: '+4915100000001' } })
    const b = hs.addContact({ properties: { phone: '+4915100000002' } })
    const bad = await failure(
      client.crm.contacts.batchApi.update({
        inputs: [
          { id: a.id, properties: { hubspot_owner_id: '9001', firstname: 'A' } },
          { id: b.id, properties: { hubspot_owner_id: '424242' } },
        ],
      }),
    )
    expect(bad.code).toBe(400)
    expect(bad.body).toMatchObject({ category: 'VALIDATION_ERROR' })
    expect(String(bad.body.message)).toContain('424242 is not a valid owner id')
    expect(hs.contact(a.id)?.properties.firstname).toBeUndefined()
    const option = await failure(
      client.crm.contacts.batchApi.update({ inputs: [{ id: a.id, properties: { lifecyclestage: 'nope' } }] }),
    )
    expect(String(option.body.message)).toContain('INVALID_OPTION')
  })

  it('423 Locked for a write to a record another write still holds', async () => {
    const locking = await startHubSpotStandIn({ recordLockMs: 2000 })
    const c2 = new Client({ accessToken: STANDIN_TOKEN, basePath: locking.url, numberOfApiCallRetries: 0 })
    try {
      const c = locking.addContact({ properties: {} })
      await c2.crm.contacts.batchApi.update({ inputs: [{ id: c.id, properties: { firstname: 'A' } }] })
      const second = await failure(
        c2.crm.contacts.batchApi.update({ inputs: [{ id: c.id, properties: { firstname: 'B' } }] }),
      )
      expect(second.code).toBe(423)
      expect(locking.contact(c.id)?.properties.firstname).toBe('A')
    } finally {
      await locking.close()
    }
  })
})

describe('faults', () => {
  it('hang: no answer and no reset; only the caller can give up', async () => {
    hs.failNext({ status: 'hang', path: '/crm/v3/owners' })
    const started = Date.now()
    const err = await fetch(`${hs.url}/crm/v3/owners/`, {
      headers: { authorization: `Bearer ${STANDIN_TOKEN}` },
      signal: AbortSignal.timeout(300),
    }).then(
      () => null,
      (e: Error) => e,
    )
    expect(err?.name).toBe('TimeoutError')
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(hs.requests.at(-1)).toMatchObject({ status: 0, injected: true })
  })

  it.each([
    ['TEN_SECONDLY_ROLLING', 'You have reached your ten_secondly_rolling limit.'],
    ['SECONDLY', 'You have reached your secondly limit.'],
    ['DAILY', 'You have reached your daily limit.'],
  ] as const)('429 %s carries HubSpot’s body', async (policy, message) => {
    hs.failNext({ status: 429, policy })
    const e = await failure(client.crm.owners.ownersApi.getPage())
    expect(e.code).toBe(429)
    expect(e.body).toMatchObject({ status: 'error', errorType: 'RATE_LIMIT', policyName: policy, message })
  })

  it('477 and 423 as injected faults carry their categories', async () => {
    hs.failNext({ status: 477 })
    hs.failNext({ status: 423 })
    expect((await failure(client.crm.owners.ownersApi.getPage())).body.category).toBe('MIGRATION_IN_PROGRESS')
    expect((await failure(client.crm.owners.ownersApi.getPage())).body.category).toBe('LOCKED')
  })
})

describe('account information', () => {
  it('daily usage resets at the next midnight in the portal’s time zone', async () => {
    now = Date.UTC(2026, 0, 15, 12, 0, 0)
    await client.crm.owners.ownersApi.getPage()
    const usage = (await client
      .apiRequest({
        method: 'GET',
        path: '/account-info/v3/api-usage/daily/private-apps',
      })
      .then((r) => r.json())) as { results: Array<{ resetsAt: string; currentUsage: number }> }
    // 2026-01-15 12:00 UTC = 13:00 in Berlin; the next midnight there is 23:00 UTC.
    expect(usage.results[0]?.resetsAt).toBe('2026-01-15T23:00:00.000Z')
    expect(usage.results[0]?.currentUsage).toBeGreaterThanOrEqual(1)
    const details = (await client
      .apiRequest({ method: 'GET', path: '/account-info/v3/details' })
      .then((r) => r.json())) as { timeZone: string }
    expect(details.timeZone).toBe('Europe/Berlin')
  })
})

describe('webhooks', () => {
  const SECRET = 'app-secret-for-tests'
  const URL_CALLED = 'https://tb.example.com/v1/webhooks/hubspot?org=acme%3Aeu&x=a%20b'
  let received: Array<{ req: WebhookRequest; events: WebhookEvent[] }>
  let answer: number

  beforeEach(() => {
    received = []
    answer = 204
    hs.setWebhookTarget({
      url: URL_CALLED,
      secret: SECRET,
      send: async (req) => {
        received.push({ req, events: JSON.parse(req.body) as WebhookEvent[] })
        return answer
      },
    })
  })

  it('our own API write comes back as a signed property change from INTEGRATION; a UI edit from CRM_UI', async () => {
    // Signature.isValid checks the timestamp against the real clock: deliver "now".
    now = Date.now()
    hs.addOwner({ id: '9001', email: 'a@example.com' })
    hs.addOwner({ id: '9002', email: 'b@example.com' })
    const c = hs.addContact({ properties: { phone: '+4915100000001' } })
    await client.crm.contacts.batchApi.update({
      inputs: [{ id: c.id, properties: { hubspot_owner_id: '9001' } }],
    })
    // An unchanged value writes no history: no event.
    await client.crm.contacts.batchApi.update({
      inputs: [{ id: c.id, properties: { hubspot_owner_id: '9001' } }],
    })
    now += 1000
    hs.editContact(c.id, { hubspot_owner_id: '9002' })
    await hs.deliverWebhooks()
    expect(received).toHaveLength(1)
    const [echo, edit] = received[0]!.events
    expect(echo).toMatchObject({
      subscriptionType: 'contact.propertyChange',
      objectId: Number(c.id),
      propertyName: 'hubspot_owner_id',
      propertyValue: '9001',
      changeSource: 'INTEGRATION',
      attemptNumber: 0,
    })
    expect(edit).toMatchObject({
      propertyValue: '9002',
      changeSource: 'CRM_UI',
      occurredAt: echo!.occurredAt + 1000,
    })
    expect(edit!.eventId).not.toBe(echo!.eventId)
    // Signed like HubSpot: the real client's check accepts it with the URI decoded as HubSpot lists.
    const { req } = received[0]!
    const valid = Signature.isValid({
      signatureVersion: 'v3',
      signature: req.headers['x-hubspot-signature-v3']!,
      clientSecret: SECRET,
      requestBody: req.body,
      url: decodeHubSpotEscapes(URL_CALLED),
      timestamp: Number(req.headers['x-hubspot-request-timestamp']),
    })
    expect(valid).toBe(true)
    expect(decodeHubSpotEscapes(URL_CALLED)).toBe(
      'https://tb.example.com/v1/webhooks/hubspot?org=acme:eu&x=a%20b',
    )
  })

  it('creation, merge (a new id) and deletion', async () => {
    const a = hs.addContact({ properties: { phone: '+4915100000001' } })
    const b = hs.addContact({ properties: { mobilephone: '+4915100000002', firstname: 'B' } })
    const created = hs.createContact({ phone: '+4915100000003' })
    const merged = hs.mergeContacts(a.id, b.id)
    hs.deleteContact(created.id)
    await hs.deliverWebhooks()
    const events = received.flatMap((r) => r.events)
    expect(events.map((e) => e.subscriptionType)).toEqual([
      'contact.creation',
      'contact.merge',
      'contact.deletion',
    ])
    expect(events[1]).toMatchObject({
      primaryObjectId: Number(a.id),
      mergedObjectIds: [Number(b.id)],
      newObjectId: Number(merged.id),
    })
    expect(merged.id).not.toBe(a.id)
    expect(merged.properties).toMatchObject({ phone: '+4915100000001', mobilephone: '+4915100000002' })
    expect(hs.contact(a.id)).toBeUndefined()
  })

  it('a failed delivery is retried with attemptNumber + 1; order is not kept; duplicates happen', async () => {
    const c = hs.addContact({ properties: {} })
    hs.editContact(c.id, { phone: '+4915100000001' })
    now += 10
    hs.editContact(c.id, { phone: '+4915100000002' })
    answer = 500
    await hs.deliverWebhooks()
    answer = 200
    await hs.deliverWebhooks({ order: 'reverse', duplicate: true })
    await hs.deliverWebhooks()
    expect(received.map((r) => r.events.map((e) => [e.propertyValue, e.attemptNumber]))).toEqual([
      [
        ['+4915100000001', 0],
        ['+4915100000002', 0],
      ],
      [
        ['+4915100000002', 1],
        ['+4915100000001', 1],
      ],
      [
        ['+4915100000002', 1],
        ['+4915100000001', 1],
      ],
    ])
  })
})
