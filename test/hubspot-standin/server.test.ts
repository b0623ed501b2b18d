import { AssociationTypes, Client } from '@hubspot/api-client'
import { ApiException, FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/index.js'
import { AssociationSpecAssociationCategoryEnum } from '@hubspot/api-client/lib/codegen/crm/objects/tasks/index.js'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type HubSpotStandIn,
  STANDIN_TOKEN,
  type StandInLimits,
  searchableDigits,
  startHubSpotStandIn,
} from './server.js'

/**
 * The stand-in driven through the real @hubspot/api-client 14.0.1, as Tickbridge will use it. Each test
 * asserts what the client does with HubSpot's answers (what resolves, what throws, what the error carries).
 *
 * How the client reports a failure (codegen `*WithHttpInfo`): every status it does not list as a success
 * throws an `ApiException` `{ code: <HTTP status>, body: <parsed JSON, or the text of a text/* body>, headers:
 * <lower-case header map> }`. The body is passed through as sent (the `Error` model is not in the
 * serializer's type map), so HubSpot's extra fields (`policyName`, `errorType`, `context`) survive.
 * Transport failures (connection dropped) are not ApiExceptions: fetch's `TypeError('fetch failed')`.
 */

// One Client for the whole file, like one per process in production: `new Client()` replaces the process-wide
// decorators (retry, limiter), so a second client with other settings changes the first one's behaviour.
let hubspot: Client
let standIn: HubSpotStandIn
let defaults: StandInLimits

interface ClientError {
  code: number
  body: Record<string, unknown>
  headers: Record<string, string>
}

async function rejection(promise: Promise<unknown>): Promise<ClientError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the call to fail')
    },
    (e: unknown) => e,
  )
  return error as ClientError
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  standIn = await startHubSpotStandIn()
  defaults = { ...standIn.limits }
  hubspot = new Client({ accessToken: STANDIN_TOKEN, basePath: standIn.url, numberOfApiCallRetries: 0 })
})

afterAll(async () => {
  await standIn.close()
})

beforeEach(() => {
  standIn.reset()
  standIn.setLimits(defaults)
})

describe('contacts batch/update', () => {
  beforeEach(() => {
    standIn.addProperty({ name: 'wa_unanswered_count', type: 'number', fieldType: 'number' })
    standIn.addProperty({ name: 'wa_awaiting_reply_since', type: 'datetime', fieldType: 'date' })
  })

  it('applies a whole batch and answers 200 without errors', async () => {
    const a = standIn.addContact({ properties: { firstname: 'Ana' } })
    const b = standIn.addContact({ properties: { firstname: 'Bo' } })
    const res = await hubspot.crm.contacts.batchApi.update({
      inputs: [
        { id: a.id, properties: { wa_unanswered_count: '3' } },
        { id: b.id, properties: { wa_unanswered_count: '0', wa_awaiting_reply_since: '1767225600000' } },
      ],
    })
    expect(res.status).toBe('COMPLETE')
    expect(res.results.map((r) => r.id).sort()).toEqual([a.id, b.id].sort())
    expect('errors' in res && res.errors).toBeFalsy()
    expect(res.completedAt).toBeInstanceOf(Date)
    expect(standIn.contact(a.id)?.properties.wa_unanswered_count).toBe('3')
    // Datetime values are stored (and answered) as ISO-8601, whether written as epoch ms or ISO.
    expect(standIn.contact(b.id)?.properties.wa_awaiting_reply_since).toBe('2026-01-01T00:00:00.000Z')
    expect(standIn.callsTo('/crm/v3/objects/contacts/batch/update', 'POST')).toHaveLength(1)
  })

  it('a 207 with an unknown id RESOLVES (does not throw): errors come back in the result, the rest is applied', async () => {
    const a = standIn.addContact({ properties: { firstname: 'Ana' } })
    const b = standIn.addContact({ properties: { firstname: 'Bo' } })
    // The client lists 207 as a success for batch/update and deserializes it as
    // BatchResponseSimplePublicObjectWithErrors: check `errors`/`numErrors` after every call. Only
    // `updateWithHttpInfo` shows the 207 itself.
    const res = await hubspot.crm.contacts.batchApi.update({
      inputs: [
        { id: a.id, properties: { wa_unanswered_count: '1' } },
        { id: '999999', properties: { wa_unanswered_count: '7' } },
        { id: b.id, properties: { wa_unanswered_count: '2' } },
      ],
    })
    expect(res.results.map((r) => r.id)).toEqual([a.id, b.id])
    expect('errors' in res).toBe(true)
    if (!('errors' in res)) return
    expect(res.numErrors).toBe(1)
    expect(res.errors).toEqual([
      expect.objectContaining({
        status: 'error',
        category: 'OBJECT_NOT_FOUND',
        context: { ids: ['999999'] },
      }),
    ])
    expect(standIn.contact(a.id)?.properties.wa_unanswered_count).toBe('1')
    expect(standIn.contact(b.id)?.properties.wa_unanswered_count).toBe('2')
    expect(standIn.requests.at(-1)?.status).toBe(207)

    const info = await hubspot.crm.contacts.batchApi.updateWithHttpInfo({
      inputs: [{ id: '424242', properties: { wa_unanswered_count: '1' } }],
    })
    expect(info.httpStatusCode).toBe(207)
    expect(info.data.results).toEqual([])
  })

  it('more than 100 inputs: the client throws an ApiException 400 VALIDATION_ERROR and nothing is applied', async () => {
    const ids = Array.from({ length: 101 }, () => standIn.addContact({}).id)
    const error = await rejection(
      hubspot.crm.contacts.batchApi.update({
        inputs: ids.map((id) => ({ id, properties: { wa_unanswered_count: '5' } })),
      }),
    )
    expect(error).toBeInstanceOf(ApiException)
    expect(error.code).toBe(400)
    expect(error.body).toMatchObject({
      status: 'error',
      category: 'VALIDATION_ERROR',
      message: expect.stringContaining('maximum number of inputs supported in a batch is 100'),
      correlationId: expect.any(String),
    })
    expect(standIn.contacts().some((c) => c.properties.wa_unanswered_count === '5')).toBe(false)
  })

  it('duplicate ids and invalid values fail the whole batch with 400', async () => {
    const a = standIn.addContact({})
    const dup = await rejection(
      hubspot.crm.contacts.batchApi.update({
        inputs: [
          { id: a.id, properties: { wa_unanswered_count: '1' } },
          { id: a.id, properties: { wa_unanswered_count: '2' } },
        ],
      }),
    )
    expect(dup.code).toBe(400)
    expect(dup.body).toMatchObject({ category: 'VALIDATION_ERROR', context: { ids: [a.id] } })

    const unknown = await rejection(
      hubspot.crm.contacts.batchApi.update({ inputs: [{ id: a.id, properties: { wa_nope: 'x' } }] }),
    )
    expect(unknown.code).toBe(400)
    expect(String(unknown.body.message)).toContain('PROPERTY_DOESNT_EXIST')

    const notANumber = await rejection(
      hubspot.crm.contacts.batchApi.update({
        inputs: [{ id: a.id, properties: { wa_unanswered_count: 'many' } }],
      }),
    )
    expect(notANumber.code).toBe(400)
    expect(String(notANumber.body.message)).toContain('INVALID_DECIMAL')

    const badOwner = await rejection(
      hubspot.crm.contacts.batchApi.update({ inputs: [{ id: a.id, properties: { hubspot_owner_id: '1' } }] }),
    )
    expect(String(badOwner.body.message)).toContain('INVALID_OWNER_ID')
    expect(standIn.contact(a.id)?.properties.wa_unanswered_count).toBeUndefined()
  })

  it('reads one contact back, and 404s an unknown one', async () => {
    const a = standIn.addContact({ properties: { email: 'ana@example.com', phone: '+4915112345678' } })
    const got = await hubspot.crm.contacts.basicApi.getById(a.id, ['phone', 'hubspot_owner_id'])
    expect(got.properties).toMatchObject({
      phone: '+4915112345678',
      hubspot_owner_id: null,
      hs_object_id: a.id,
    })
    const missing = await rejection(hubspot.crm.contacts.basicApi.getById('777'))
    expect(missing.code).toBe(404)
    expect(missing.body.category).toBe('OBJECT_NOT_FOUND')
  })

  it('owner changes through PATCH are validated against the owners', async () => {
    const owner = standIn.addOwner({ email: 'eva@example.com' })
    const a = standIn.addContact({})
    await hubspot.crm.contacts.basicApi.update(a.id, { properties: { hubspot_owner_id: owner.id } })
    expect(standIn.contact(a.id)?.properties.hubspot_owner_id).toBe(owner.id)
  })
})

describe('contacts search', () => {
  const phoneFilters = (e164: string) => ({
    filterGroups: [
      { filters: [{ propertyName: 'phone', operator: FilterOperatorEnum.Eq, value: e164 }] },
      { filters: [{ propertyName: 'mobilephone', operator: FilterOperatorEnum.Eq, value: e164 }] },
      {
        filters: [{ propertyName: 'hs_whatsapp_phone_number', operator: FilterOperatorEnum.Eq, value: e164 }],
      },
      {
        filters: [
          {
            propertyName: 'hs_searchable_calculated_phone_number',
            operator: FilterOperatorEnum.Eq,
            value: searchableDigits(e164),
          },
        ],
      },
    ],
    properties: ['phone', 'mobilephone', 'hs_whatsapp_phone_number', 'hubspot_owner_id'],
    limit: 10,
  })

  it('finds a contact by phone with OR across filter groups, on any of the four properties', async () => {
    const byPhone = standIn.addContact({ properties: { phone: '+4915112345678' } })
    const byMobile = standIn.addContact({ properties: { mobilephone: '+4915199999999' } })
    const byWhatsApp = standIn.addContact({ properties: { hs_whatsapp_phone_number: '+4915100000001' } })
    const byNational = standIn.addContact({ properties: { phone: '0151 2222 333', country: 'DE' } })
    standIn.addContact({ properties: { phone: '+4917000000000' } })

    const one = await hubspot.crm.contacts.searchApi.doSearch(phoneFilters('+4915112345678'))
    expect(one.total).toBe(1)
    expect(one.results[0]?.id).toBe(byPhone.id)
    expect(one.results[0]?.properties).toMatchObject({ phone: '+4915112345678', hubspot_owner_id: null })
    expect(one.results[0]?.createdAt).toBeInstanceOf(Date)
    expect(one.paging).toBeUndefined()

    expect(
      (await hubspot.crm.contacts.searchApi.doSearch(phoneFilters('+4915199999999'))).results[0]?.id,
    ).toBe(byMobile.id)
    expect(
      (await hubspot.crm.contacts.searchApi.doSearch(phoneFilters('+4915100000001'))).results[0]?.id,
    ).toBe(byWhatsApp.id)
    // Stored in national format: only the calculated national digits match.
    expect(standIn.contact(byNational.id)?.properties.hs_searchable_calculated_phone_number).toBe(
      '1512222333',
    )
    const national = await hubspot.crm.contacts.searchApi.doSearch(phoneFilters('+491512222333'))
    expect(national.results.map((r) => r.id)).toEqual([byNational.id])

    expect(standIn.requests.at(-1)?.body).toMatchObject({ filterGroups: expect.any(Array) })
  })

  it('pages with limit/after and rejects more than 5 filter groups', async () => {
    for (let i = 0; i < 3; i++) standIn.addContact({ properties: { lifecyclestage: 'lead' } })
    const filterGroups = [
      { filters: [{ propertyName: 'lifecyclestage', operator: FilterOperatorEnum.Eq, value: 'lead' }] },
    ]
    const first = await hubspot.crm.contacts.searchApi.doSearch({ filterGroups, limit: 2 })
    expect(first.total).toBe(3)
    expect(first.results).toHaveLength(2)
    const after = first.paging?.next?.after
    expect(after).toBe('2')
    const second = await hubspot.crm.contacts.searchApi.doSearch({ filterGroups, limit: 2, after })
    expect(second.results).toHaveLength(1)
    expect(second.paging).toBeUndefined()

    const tooMany = await rejection(
      hubspot.crm.contacts.searchApi.doSearch({
        filterGroups: Array.from({ length: 6 }, () => filterGroups[0]!),
      }),
    )
    expect(tooMany.code).toBe(400)
  })

  it('search has its own per-second limit: 429 SECONDLY', async () => {
    standIn.setLimits({ searchPerSecond: 2, searchWindowMs: 500 })
    const settled = await Promise.allSettled(
      Array.from({ length: 3 }, () => hubspot.crm.contacts.searchApi.doSearch({ filterGroups: [] })),
    )
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(2)
    const error = (settled.find((r) => r.status === 'rejected') as PromiseRejectedResult)
      .reason as ClientError
    expect(error.code).toBe(429)
    expect(error.body).toMatchObject({
      policyName: 'SECONDLY',
      errorType: 'RATE_LIMIT',
      message: 'You have reached your secondly limit.',
    })
    // Other calls are not held back by the search limit.
    await hubspot.crm.owners.ownersApi.getPage()
    await sleep(520)
    await hubspot.crm.contacts.searchApi.doSearch({ filterGroups: [] })
    expect(standIn.stats().rateLimited.SECONDLY).toBe(1)
  })
})

describe('owners', () => {
  it('pages with after (GET /crm/v3/owners/)', async () => {
    standIn.addOwner({ email: 'a@example.com', firstName: 'Ada', lastName: 'One', userId: 11 })
    standIn.addOwner({ email: 'b@example.com', firstName: 'Bea', lastName: 'Two' })
    standIn.addOwner({ email: 'c@example.com', firstName: 'Cy', lastName: 'Three' })
    standIn.addOwner({ email: 'gone@example.com', archived: true })

    const first = await hubspot.crm.owners.ownersApi.getPage(undefined, undefined, 2)
    expect(first.results.map((o) => o.email)).toEqual(['a@example.com', 'b@example.com'])
    expect(first.results[0]).toMatchObject({ firstName: 'Ada', lastName: 'One', userId: 11, archived: false })
    expect(first.results[0]?.id).toMatch(/^\d+$/)
    const after = first.paging?.next?.after
    expect(after).toBeDefined()

    const second = await hubspot.crm.owners.ownersApi.getPage(undefined, after, 2)
    expect(second.results.map((o) => o.email)).toEqual(['c@example.com'])
    expect(second.paging).toBeUndefined()

    const calls = standIn.callsTo('/crm/v3/owners', 'GET')
    expect(calls.map((c) => c.path)).toEqual(['/crm/v3/owners/', '/crm/v3/owners/'])
    expect(calls[1]?.query).toBe(`?after=${after}&limit=2`)

    const archived = await hubspot.crm.owners.ownersApi.getPage(undefined, undefined, 100, true)
    expect(archived.results.map((o) => o.email)).toEqual(['gone@example.com'])
  })
})

describe('properties', () => {
  it('creates a group and a property; the second create is a 409 the client throws', async () => {
    const group = await hubspot.crm.properties.groupsApi.create('contacts', {
      name: 'tickbridge',
      label: 'Tickbridge (WhatsApp)',
    })
    expect(group).toMatchObject({ name: 'tickbridge', archived: false })
    const groupAgain = await rejection(
      hubspot.crm.properties.groupsApi.create('contacts', { name: 'tickbridge', label: 'again' }),
    )
    expect(groupAgain.code).toBe(409)

    const definition = {
      name: 'wa_unanswered_count',
      label: 'WhatsApp unanswered',
      type: 'number',
      fieldType: 'number',
      groupName: 'tickbridge',
    } as Parameters<Client['crm']['properties']['coreApi']['create']>[1]
    const created = await hubspot.crm.properties.coreApi.create('contacts', definition)
    expect(created).toMatchObject({ name: 'wa_unanswered_count', type: 'number', hubspotDefined: false })
    expect(created.createdAt).toBeInstanceOf(Date)

    const conflict = await rejection(hubspot.crm.properties.coreApi.create('contacts', definition))
    expect(conflict.code).toBe(409)
    expect(conflict.body).toMatchObject({ status: 'error', category: 'OBJECT_ALREADY_EXISTS' })

    const all = await hubspot.crm.properties.coreApi.getAll('contacts')
    expect(all.results.map((p) => p.name)).toContain('wa_unanswered_count')
    const groups = await hubspot.crm.properties.groupsApi.getAll('contacts')
    expect(groups.results.map((g) => g.name)).toContain('tickbridge')
    expect(standIn.properties.find((p) => p.name === 'wa_unanswered_count')?.groupName).toBe('tickbridge')
  })

  it('refuses a property in a group that does not exist', async () => {
    const error = await rejection(
      hubspot.crm.properties.coreApi.create('contacts', {
        name: 'wa_sla_state',
        label: 'SLA',
        type: 'string',
        fieldType: 'text',
        groupName: 'nope',
      } as Parameters<Client['crm']['properties']['coreApi']['create']>[1]),
    )
    expect(error.code).toBe(400)
  })
})

describe('tasks', () => {
  it('creates a task associated to a contact (type 204) and records the association', async () => {
    const contact = standIn.addContact({ properties: { firstname: 'Ana' } })
    expect(AssociationTypes.taskToContact).toBe(204)
    const task = await hubspot.crm.objects.tasks.basicApi.create({
      properties: {
        hs_timestamp: '2026-01-01T10:00:00.000Z',
        hs_task_subject: 'Reply to Ana',
        hs_task_priority: 'HIGH',
      },
      associations: [
        {
          to: { id: contact.id },
          types: [
            {
              associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined,
              associationTypeId: AssociationTypes.taskToContact,
            },
          ],
        },
      ],
    })
    expect(task.id).toMatch(/^\d+$/)
    expect(task.properties.hs_task_subject).toBe('Reply to Ana')
    expect(standIn.tasks).toHaveLength(1)
    expect(standIn.tasks[0]?.associations).toEqual([
      { toObjectId: contact.id, associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 204 },
    ])
  })

  it('needs hs_timestamp and an existing contact', async () => {
    const noTimestamp = await rejection(
      hubspot.crm.objects.tasks.basicApi.create({ properties: { hs_task_subject: 'x' }, associations: [] }),
    )
    expect(noTimestamp.code).toBe(400)
    const noContact = await rejection(
      hubspot.crm.objects.tasks.basicApi.create({
        properties: { hs_timestamp: '2026-01-01T10:00:00Z' },
        associations: [
          {
            to: { id: '404404' },
            types: [
              {
                associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined,
                associationTypeId: 204,
              },
            ],
          },
        ],
      }),
    )
    expect(noContact.code).toBe(400)
    expect(standIn.tasks).toHaveLength(0)
  })
})

describe('auth', () => {
  it('401 without a token (a client without accessToken sends no Authorization header)', async () => {
    // Same decorator settings as `hubspot` (no retries, no limiter), so this second Client changes nothing.
    const anonymous = new Client({ basePath: standIn.url, numberOfApiCallRetries: 0 })
    const error = await rejection(anonymous.crm.owners.ownersApi.getPage())
    expect(error.code).toBe(401)
    expect(error.body).toMatchObject({ status: 'error', category: 'INVALID_AUTHENTICATION' })
    expect(standIn.requests[0]?.status).toBe(401)
    expect(standIn.requests[0]?.token).toBeUndefined()
  })

  it('401 with a wrong token', async () => {
    const res = await fetch(`${standIn.url}/crm/v3/owners/`, {
      headers: { authorization: 'Bearer pat-wrong' },
    })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ category: 'INVALID_AUTHENTICATION' })
    expect(standIn.requests[0]).toMatchObject({ status: 401, token: 'pat-wrong' })
  })
})

describe('rate limits', () => {
  it('429 TEN_SECONDLY_ROLLING past the rolling budget; the thrown error carries code, policyName and headers', async () => {
    standIn.setLimits({ perTenSeconds: 5, windowMs: 800 })
    // Six at once: five are admitted, the sixth is over the budget.
    const settled = await Promise.allSettled(
      Array.from({ length: 6 }, () => hubspot.crm.owners.ownersApi.getPage()),
    )
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(5)
    const refused = settled.find((r) => r.status === 'rejected')
    const error = (refused as PromiseRejectedResult).reason as ClientError
    // How to read it: `error.code` is the HTTP status, `error.body.policyName` the limit that was hit.
    expect(error.code).toBe(429)
    expect(error.body).toMatchObject({
      status: 'error',
      message: 'You have reached your ten_secondly_rolling limit.',
      errorType: 'RATE_LIMIT',
      policyName: 'TEN_SECONDLY_ROLLING',
      groupName: 'publicapi',
      correlationId: expect.any(String),
    })
    expect(error.headers['x-hubspot-ratelimit-remaining']).toBe('0')
    expect(error.headers['x-hubspot-ratelimit-max']).toBe('5')
    expect(error.headers['retry-after']).toBeUndefined()

    // The window rolls: once the admitted requests are older than windowMs there is room again.
    await sleep(850)
    await hubspot.crm.owners.ownersApi.getPage()
    expect(standIn.stats()).toMatchObject({
      total: 7,
      tooManyRequests: 1,
      rateLimited: { TEN_SECONDLY_ROLLING: 1 },
    })
    expect(standIn.maxRequestsInAnyWindow(800, (r) => r.status !== 429)).toBeLessThanOrEqual(5)
  })

  it('429 DAILY through failNext, and when the daily budget runs out', async () => {
    standIn.failNext({ status: 429, policy: 'DAILY' })
    const injected = await rejection(hubspot.crm.owners.ownersApi.getPage())
    expect(injected.code).toBe(429)
    expect(injected.body).toMatchObject({
      policyName: 'DAILY',
      message: 'You have reached your daily limit.',
    })
    expect(standIn.requests[0]?.injected).toBe(true)
    await hubspot.crm.owners.ownersApi.getPage()

    standIn.setLimits({ daily: 3 })
    await hubspot.crm.owners.ownersApi.getPage()
    await hubspot.crm.owners.ownersApi.getPage()
    const exhausted = await rejection(hubspot.crm.owners.ownersApi.getPage())
    expect(exhausted.body.policyName).toBe('DAILY')
    expect(exhausted.headers['x-hubspot-ratelimit-daily-remaining']).toBe('0')
    standIn.resetDaily()
    await hubspot.crm.owners.ownersApi.getPage()
    expect(standIn.stats().rateLimited.DAILY).toBe(2)
  })

  it('maxRequestsInAnyWindow counts the busiest span', async () => {
    await Promise.all(Array.from({ length: 5 }, () => hubspot.crm.owners.ownersApi.getPage()))
    expect(standIn.maxRequestsInAnyWindow()).toBe(5)
    expect(standIn.maxRequestsInAnyWindow(10_000, (r) => r.path.startsWith('/crm/v3/objects'))).toBe(0)
    expect(standIn.usage()).toMatchObject({ inWindow: 5, today: 5 })

    // The arithmetic, on a log with known times: a span is [t, t + windowMs).
    standIn.clearRequests()
    for (const at of [1_000, 1_050, 1_099, 1_100, 1_300, 1_310, 1_320, 1_330]) {
      standIn.requests.push({
        at,
        method: 'GET',
        path: '/crm/v3/owners/',
        query: '',
        status: 200,
        body: undefined,
      })
    }
    expect(standIn.maxRequestsInAnyWindow(100)).toBe(4)
    expect(standIn.maxRequestsInAnyWindow(99)).toBe(4)
    expect(standIn.maxRequestsInAnyWindow(30)).toBe(3)
    expect(standIn.maxRequestsInAnyWindow(10_000)).toBe(8)
  })
})

describe('faults', () => {
  it('5xx: JSON for 500, an HTML page for 502/503 (the body is then a string)', async () => {
    standIn.failNext({ status: 500 })
    standIn.failNext({ status: 502, path: '/crm/v3/owners' })
    const e500 = await rejection(hubspot.crm.owners.ownersApi.getPage())
    expect(e500.code).toBe(500)
    expect(e500.body).toMatchObject({ category: 'INTERNAL_ERROR' })
    const e502 = await rejection(hubspot.crm.owners.ownersApi.getPage())
    expect(e502.code).toBe(502)
    expect(typeof e502.body).toBe('string')
    await hubspot.crm.owners.ownersApi.getPage()
  })

  it('faults can be limited to a path and repeated', async () => {
    standIn.failNext({ status: 503, times: 2, path: '/crm/v3/objects/contacts/search' })
    await hubspot.crm.owners.ownersApi.getPage()
    expect((await rejection(hubspot.crm.contacts.searchApi.doSearch({}))).code).toBe(503)
    expect((await rejection(hubspot.crm.contacts.searchApi.doSearch({}))).code).toBe(503)
    await hubspot.crm.contacts.searchApi.doSearch({})
  })

  it("timeout: the connection is dropped, the client rejects with fetch's TypeError (no code)", async () => {
    standIn.addProperty({ name: 'wa_unanswered_count', type: 'number', fieldType: 'number' })
    const a = standIn.addContact({})
    standIn.failNext({ status: 'timeout', delayMs: 50, applied: true })
    const started = Date.now()
    const error = (await rejection(
      hubspot.crm.contacts.batchApi.update({
        inputs: [{ id: a.id, properties: { wa_unanswered_count: '4' } }],
      }),
    )) as unknown
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect(error).toBeInstanceOf(TypeError)
    expect((error as { code?: unknown }).code).toBeUndefined()
    // `applied`: the write happened although the answer was lost.
    expect(standIn.contact(a.id)?.properties.wa_unanswered_count).toBe('4')
    expect(standIn.requests[0]).toMatchObject({ status: 0, injected: true })
  })

  it('slow answers and latency', async () => {
    standIn.failNext({ status: 'slow', delayMs: 80 })
    let started = Date.now()
    await hubspot.crm.owners.ownersApi.getPage()
    expect(Date.now() - started).toBeGreaterThanOrEqual(75)
    standIn.setLatency(60)
    started = Date.now()
    await hubspot.crm.owners.ownersApi.getPage()
    expect(Date.now() - started).toBeGreaterThanOrEqual(55)
  })
})

// Last on purpose: these create clients WITH retries, which replaces the process-wide decorators.
describe('the real client: retries (numberOfApiCallRetries)', () => {
  it('N means N attempts in all; 5xx waits 200 ms x attempt and ignores Retry-After; DAILY is not retried', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    try {
      // Created before the retrying client, used after it: its APIs are built lazily on first use and pick
      // up whatever decorators the LAST `new Client()` set. This is why Tickbridge keeps one Client.
      const createdFirst = new Client({
        accessToken: STANDIN_TOKEN,
        basePath: standIn.url,
        numberOfApiCallRetries: 0,
      })
      const retrying = new Client({
        accessToken: STANDIN_TOKEN,
        basePath: standIn.url,
        numberOfApiCallRetries: 2,
      })

      standIn.failNext({ status: 500, times: 5, headers: { 'retry-after': '5' } })
      let started = Date.now()
      const e500 = await rejection(retrying.crm.owners.ownersApi.getPage())
      expect(e500.code).toBe(500)
      expect(standIn.requests).toHaveLength(2)
      expect(Date.now() - started).toBeLessThan(2_000) // ~200 ms, not the 5 s Retry-After asked for
      expect(errors).toHaveBeenCalledWith(
        'Request failed with status code [500], will retry [1] time in [200] ms',
      )

      standIn.clearFaults()
      standIn.clearRequests()
      standIn.failNext({ status: 429, policy: 'DAILY', times: 5 })
      const daily = await rejection(retrying.crm.owners.ownersApi.getPage())
      expect(daily.code).toBe(429)
      expect(standIn.requests).toHaveLength(1)

      // The SECONDLY search 429 is retried after 1 s (matched on the message text, not on policyName).
      standIn.clearFaults()
      standIn.clearRequests()
      standIn.failNext({ status: 429, policy: 'SECONDLY' })
      started = Date.now()
      await retrying.crm.contacts.searchApi.doSearch({})
      expect(standIn.requests.map((r) => r.status)).toEqual([429, 200])
      expect(Date.now() - started).toBeGreaterThanOrEqual(950)

      // A client built with 0 retries now retries too.
      standIn.clearFaults()
      standIn.clearRequests()
      standIn.failNext({ status: 503 })
      await createdFirst.crm.owners.ownersApi.getPage()
      expect(standIn.requests.map((r) => r.status)).toEqual([503, 200])
    } finally {
      errors.mockRestore()
    }
  })
})
