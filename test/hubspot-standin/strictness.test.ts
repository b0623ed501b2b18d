import { createHash } from 'node:crypto'
import { Client } from '@hubspot/api-client'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type HubSpotStandIn, MAX_SEARCH_BODY_CHARS, STANDIN_TOKEN, startHubSpotStandIn } from './server.js'
import { signV3 } from './webhooks.js'

/**
 * Issue 25, "First": the stand-in is as strict as HubSpot's documentation, each limit checked with the
 * real `@hubspot/api-client` (pages cited in server.ts and webhooks.ts beside the code).
 */
let hs: HubSpotStandIn
const OTHER_TOKEN = 'pat-other'
const client = (token = STANDIN_TOKEN) =>
  new Client({ accessToken: token, basePath: hs.url, numberOfApiCallRetries: 0 })

beforeAll(async () => {
  hs = await startHubSpotStandIn({ tokens: [STANDIN_TOKEN, OTHER_TOKEN] })
})
beforeEach(() => {
  hs.reset()
})
afterAll(async () => {
  await hs.close()
})

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (err: { code?: number }) => err.code,
  )
const inGroup = (n: number) => ({
  filters: Array.from({ length: n }, (_, i) => ({
    propertyName: 'phone',
    operator: 'EQ' as never,
    value: `+${i}`,
  })),
})
const search = (body: Record<string, unknown>, token?: string) =>
  client(token).crm.contacts.searchApi.doSearch({
    filterGroups: [],
    properties: [],
    sorts: [],
    limit: 10,
    after: '0',
    ...body,
  } as never)

describe('search limits (search guide, "Limitations")', () => {
  it('a request body over 3,000 characters is a 400', async () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => `+4915100${String(100_000 + i)}`)
    const body = (n: number) => ({
      filterGroups: [{ filters: [{ propertyName: 'phone', operator: 'IN', values: values(n) }] }],
    })
    const size = (n: number) =>
      JSON.stringify({ ...body(n), properties: [], sorts: [], limit: 10, after: '0' }).length
    let n = 1
    while (size(n + 1) <= MAX_SEARCH_BODY_CHARS) n++
    expect(await codeOf(search(body(n)))).toBe(200)
    expect(await codeOf(search(body(n + 1)))).toBe(400)
  })

  it('at most 6 filters in a group, 18 in all, 5 groups', async () => {
    expect(await codeOf(search({ filterGroups: [inGroup(6)] }))).toBe(200)
    expect(await codeOf(search({ filterGroups: [inGroup(7)] }))).toBe(400)
    expect(await codeOf(search({ filterGroups: [inGroup(6), inGroup(6), inGroup(6)] }))).toBe(200)
    expect(await codeOf(search({ filterGroups: [inGroup(6), inGroup(6), inGroup(6), inGroup(1)] }))).toBe(400)
    hs.reset() // the search rate
    expect(await codeOf(search({ filterGroups: Array.from({ length: 6 }, () => inGroup(1)) }))).toBe(400)
  })

  it('no page beyond 10,000 results', async () => {
    expect(await codeOf(search({ after: '9900', limit: 100 }))).toBe(200)
    expect(await codeOf(search({ after: '9950', limit: 100 }))).toBe(400)
  })

  it('the 5 searches per second are counted per account, not per token', async () => {
    for (let i = 0; i < 5; i++)
      expect(await codeOf(search({}, i % 2 ? OTHER_TOKEN : STANDIN_TOKEN))).toBe(200)
    expect(await codeOf(search({}, OTHER_TOKEN))).toBe(429)
    expect(hs.requests.at(-1)?.policyName).toBe('SECONDLY')
  })
})

describe('scopes', () => {
  it('a call whose scope the token lacks is a 403 naming it in requiredGranularScopes', async () => {
    hs.revokeScopes(['crm.schemas.contacts.write'])
    const err = await client()
      .crm.properties.coreApi.create('contacts', {
        name: 'x_y',
        label: 'X',
        type: 'string' as never,
        fieldType: 'text' as never,
        groupName: 'contactinformation',
      })
      .catch((e: { code: number; body: unknown }) => e)
    expect(err).toMatchObject({
      code: 403,
      body: {
        category: 'MISSING_SCOPES',
        errors: [{ context: { requiredGranularScopes: ['crm.schemas.contacts.write'] } }],
      },
    })
    // Reading still works: only the write scope is missing.
    expect(await codeOf(client().crm.properties.coreApi.getAll('contacts'))).toBe(200)
  })
})

describe('the daily limit', () => {
  it('the account-info endpoints fail too while it is hit', async () => {
    hs.setLimits({ daily: 2 })
    try {
      await client().crm.owners.ownersApi.getPage()
      await client().crm.owners.ownersApi.getPage()
      for (const path of ['/account-info/v3/details', '/account-info/v3/api-usage/daily/private-apps']) {
        const res = await fetch(`${hs.url}${path}`, { headers: { authorization: `Bearer ${STANDIN_TOKEN}` } })
        expect(res.status).toBe(429)
        expect(await res.json()).toMatchObject({ policyName: 'DAILY' })
      }
    } finally {
      hs.setLimits({ daily: 1_000_000 })
    }
  })
})

describe('webhooks (webhooks guide)', () => {
  const SECRET = 'app-secret'
  const received: Array<{ headers: Record<string, string>; body: string }> = []
  const target = (send?: () => Promise<number>) =>
    hs.setWebhookTarget({
      url: 'https://example.test/hooks',
      secret: SECRET,
      send: async (req) => {
        received.push(req)
        return send ? send() : 204
      },
    })

  it('signature v1 comes beside v3', async () => {
    const c = hs.addContact({ properties: { phone: '+4915100000001' } })
    hs.editContact(c.id, { phone: '+4915100000002' })
    target()
    await hs.deliverWebhooks()
    const req = received.at(-1)!
    expect(req.headers['x-hubspot-signature-version']).toBe('v1')
    expect(req.headers['x-hubspot-signature']).toBe(
      createHash('sha256')
        .update(SECRET + req.body)
        .digest('hex'),
    )
    const ts = Number(req.headers['x-hubspot-request-timestamp'])
    expect(req.headers['x-hubspot-signature-v3']).toBe(
      signV3({ url: 'https://example.test/hooks', secret: SECRET }, req.body, ts),
    )
  })

  it('event ids are not unique across subscriptions', async () => {
    const c = hs.addContact({ properties: { phone: '+4915100000003' } })
    hs.editContact(c.id, { phone: '+4915100000004', hubspot_owner_id: '' })
    hs.addOwner({ id: '77', email: 'o@example.com' })
    hs.editContact(c.id, { hubspot_owner_id: '77' })
    const events = hs.pendingWebhooks()
    expect(events.map((e) => e.propertyName)).toEqual(['phone', 'hubspot_owner_id'])
    expect(events[0]!.eventId).toBe(events[1]!.eventId)
  })

  it('contact.privacyDeletion for a GDPR deletion (never restorable); contact.restore for a restored one', async () => {
    const a = hs.addContact({ properties: { phone: '+4915100000005' } })
    const b = hs.addContact({ properties: { phone: '+4915100000006' } })
    hs.gdprDeleteContact(a.id)
    hs.deleteContact(b.id)
    expect(() => hs.restoreContact(a.id)).toThrow()
    expect(hs.restoreContact(b.id).id).toBe(b.id)
    expect(hs.contact(b.id)?.properties.phone).toBe('+4915100000006')
    expect(hs.pendingWebhooks().map((e) => [e.subscriptionType, String(e.objectId)])).toEqual([
      ['contact.privacyDeletion', a.id],
      ['contact.deletion', b.id],
      ['contact.restore', b.id],
    ])
  })

  it('a delivery not answered within 5 s is retried', async () => {
    hs.createContact({ phone: '+4915100000007' })
    target(() => new Promise<number>(() => {})) // never answers
    const started = Date.now()
    const [report] = await hs.deliverWebhooks()
    expect(Date.now() - started).toBeGreaterThanOrEqual(5000)
    expect(report?.status).toBe(0)
    expect(hs.pendingWebhooks()).toMatchObject([{ subscriptionType: 'contact.creation', attemptNumber: 1 }])
  }, 15_000)
})
