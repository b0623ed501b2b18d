import type { InjectOptions } from 'fastify'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { buildApp } from '../../src/http/app.js'
import { ApiError, ERROR_STATUS } from '../../src/http/errors.js'
import { buildOpsApp } from '../../src/http/ops-app.js'
import { errorSchema } from '../../src/http/schemas.js'
import { createLogger } from '../../src/log.js'
import { createServices } from '../../src/services.js'
import { API_RULES, bearer, KEYS } from '../helpers/app.js'
import { group, inbound, pn, T0 } from '../helpers/events.js'
import { expectApiError, expectValidationError, offlineGateway, useApp } from './support.js'

/** Every error code the API documents, reached the way a client would reach it. */

const ref = useApp('http-errors')
const inject = (opts: InjectOptions) => ref.f.app.inject(opts)
const chat = (jid: string, action = '') => `/v1/sessions/acme-sales/chats/${jid}${action}`
const sim = '/v1/sim/sessions/acme-sales/messages'

beforeAll(async () => {
  await ref.f.services.ingestor.ingest(inbound('acme-sales', pn(1), { ts: T0 }))
})

describe('validation_error (400)', () => {
  it('names every bad field as {field, message}', async () => {
    const fields = expectValidationError(
      await inject({
        method: 'POST',
        url: sim,
        headers: bearer(KEYS.acmeSend),
        payload: { chatId: 'nope', text: '', fromMe: 'yes' },
      }),
    )
    expect(fields.map((f) => f.field).sort()).toEqual(['body.chatId', 'body.fromMe', 'body.text'])
    const res = await inject({
      url: '/v1/sessions/acme-sales/chats/overview?limit=0&filter=x',
      headers: bearer(KEYS.acmeRead),
    })
    expect(
      expectValidationError(res)
        .map((f) => f.field)
        .sort(),
    ).toEqual(['query.filter', 'query.limit'])
    expect(res.json().error.message).toMatch(/^Invalid request: /)
    expectValidationError(
      await inject({ url: '/v1/sessions/a.b', headers: bearer(KEYS.acmeRead) }),
      'path.sid',
    )
  })

  it('answers invalid JSON, an empty JSON body and a wrong content type with a JSON validation_error', async () => {
    const send = (payload: string, contentType: string) =>
      inject({
        method: 'PUT',
        url: chat(pn(1), '/presence'),
        headers: { ...bearer(KEYS.acmeSend), 'content-type': contentType },
        payload,
      })
    expectValidationError(await send('{"state": "paused"', 'application/json'), 'body')
    expectValidationError(await send('', 'application/json'), 'body')
    expectValidationError(
      await send('state=paused', 'application/x-www-form-urlencoded'),
      'header.content-type',
    )
    expectValidationError(await send('<state>paused</state>', 'application/xml'), 'header.content-type')
    // text/plain parses to a string, which the body schema rejects.
    expectValidationError(await send('paused', 'text/plain'), 'body')
    expectValidationError(await send('["paused"]', 'application/json'), 'body')
  })

  it('answers a body over the limit with a JSON error, not a dropped connection or HTML', async () => {
    const res = await inject({
      method: 'POST',
      url: sim,
      headers: { ...bearer(KEYS.acmeSend), 'content-type': 'application/json' },
      payload: JSON.stringify({ chatId: pn(1), text: 'x'.repeat(300 * 1024) }),
    })
    const [problem] = expectValidationError(res, 'body')
    expect(problem!.message).toMatch(/too large/i)
  })

  it('answers a malformed percent-encoding in the path with the documented JSON error', async () => {
    expectValidationError(await inject({ url: '/v1/sessions/%E0%A4%A', headers: bearer(KEYS.acmeRead) }))
  })

  it('answers a path parameter over the router limit with the documented JSON error', async () => {
    const res = await inject({ url: `/v1/sessions/${'a'.repeat(300)}`, headers: bearer(KEYS.acmeRead) })
    expectValidationError(res)
  })
})

describe('unauthorized (401)', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['another scheme', `Token ${KEYS.acmeRead}`],
    ['Basic outside /admin', `Basic ${Buffer.from(`x:${KEYS.acmeRead}`).toString('base64')}`],
    ['Bearer without a key', 'Bearer'],
    ['a key with a space in it', `Bearer ${KEYS.acmeRead} extra`],
    ['a too short key', 'Bearer abc'],
    ['an unknown key', 'Bearer tbk_acme_read_0002'],
    [
      'the sha256 hash instead of the key',
      'Bearer bf5681f8e749098ec7106d7421790cf4844c7cd7dad0752a956c2570d72bfd35',
    ],
  ])('%s', async (_label, authorization) => {
    const headers = authorization === undefined ? {} : { authorization }
    const e = expectApiError(await inject({ url: '/v1/sessions', headers }), 401, 'unauthorized')
    expect(e.details).toEqual({})
  })

  it('is checked before validation and before the session lookup', async () => {
    expectApiError(await inject({ url: '/v1/sessions/bad%20id/contacts?limit=0' }), 401, 'unauthorized')
    expectApiError(await inject({ method: 'POST', url: chat('nope', '/read') }), 401, 'unauthorized')
  })
})

describe('forbidden (403)', () => {
  it('a read key on a send route', async () => {
    const e = expectApiError(
      await inject({ method: 'POST', url: chat(pn(1), '/read'), headers: bearer(KEYS.acmeRead) }),
      403,
      'forbidden',
    )
    expect(e.details).toEqual({ required: 'send' })
  })

  it('a send key on a read route', async () => {
    const e = expectApiError(
      await inject({ url: '/v1/sessions/acme-sales/chats/overview', headers: bearer(KEYS.acmeSend) }),
      403,
      'forbidden',
    )
    expect(e.details).toEqual({ required: 'read' })
  })

  it("an org's key (admin included) on /admin/queues, the operator's dashboard", async () => {
    const e = expectApiError(
      await inject({ url: '/admin/queues', headers: bearer(KEYS.acmeAdmin) }),
      403,
      'forbidden',
    )
    expect(e.details).toEqual({ required: 'operator' })
  })
})

describe('not_found (404)', () => {
  it('an unknown route, with or without a key', async () => {
    for (const headers of [{}, bearer(KEYS.acmeRead)]) {
      const e = expectApiError(await inject({ url: '/v1/nothing/here?x=1', headers }), 404, 'not_found')
      expect(e.message).toBe('no route GET /v1/nothing/here')
    }
    expectApiError(await inject({ method: 'DELETE', url: '/v1/sessions/acme-sales' }), 404, 'not_found')
    expectApiError(await inject({ url: '/nothing' }), 404, 'not_found')
    // `/` is the browser console's door.
    const root = await inject({ url: '/' })
    expect([root.statusCode, root.headers.location]).toEqual([302, '/console/'])
  })

  it('an unknown session', async () => {
    const e = expectApiError(
      await inject({ url: '/v1/sessions/acme-gone', headers: bearer(KEYS.acmeRead) }),
      404,
      'not_found',
    )
    expect(e).toEqual({ code: 'not_found', message: 'session acme-gone not found', details: {} })
  })

  it('an unknown chat', async () => {
    const e = expectApiError(
      await inject({ url: chat(group(404)), headers: bearer(KEYS.acmeRead) }),
      404,
      'not_found',
    )
    expect(e.message).toBe(`chat ${group(404)} not found`)
  })
})

describe('conflict (409)', () => {
  // No route produces a conflict yet (later issues add routes that do); the mapping and the documented
  // shape are in place.
  it('is mapped to 409 and allowed by the error schema', () => {
    expect(ERROR_STATUS.conflict).toBe(409)
    const err = new ApiError('conflict', 'already done', { id: 'x' })
    expect(err.status).toBe(409)
    expect(
      errorSchema.safeParse({ error: { code: 'conflict', message: 'already done', details: {} } }).success,
    ).toBe(true)
    expect(errorSchema.safeParse({ error: { code: 'teapot', message: 'x', details: {} } }).success).toBe(
      false,
    )
  })
})

describe('rate_limited (429)', () => {
  it('answers with Retry-After and details.retryAfterSeconds once the key budget is spent', async () => {
    const hit = () => inject({ url: '/v1/sessions', headers: bearer(KEYS.acmeLimited) })
    for (let i = 0; i < 5; i++) expect((await hit()).statusCode).toBe(200)
    const res = await hit()
    const e = expectApiError(res, 429, 'rate_limited')
    const seconds = Number(res.headers['retry-after'])
    expect(Number.isInteger(seconds)).toBe(true)
    expect(seconds).toBeGreaterThanOrEqual(1)
    expect(seconds).toBeLessThanOrEqual(60)
    expect(e.details).toEqual({ retryAfterSeconds: seconds })
    expect(res.headers['x-ratelimit-remaining']).toBe('0')
  })
})

describe('not_implemented (501)', () => {
  it('presence without a live WhatsApp client', async () => {
    expectApiError(
      await inject({
        method: 'PUT',
        url: chat(pn(1), '/presence'),
        headers: bearer(KEYS.acmeSend),
        payload: { state: 'composing' },
      }),
      501,
      'not_implemented',
    )
  })
})

describe('unavailable (503)', () => {
  let app: Awaited<ReturnType<typeof buildApp>>
  let ops: Awaited<ReturnType<typeof buildOpsApp>>
  let dead: Redis
  let closeServices: () => Promise<void>

  beforeAll(async () => {
    dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    const services = await createServices({
      env: parseEnv({ TICKBRIDGE_PREFIX: 'tbt-unreachable', WA_TRANSPORT: 'sim' }),
      log: createLogger({ level: 'silent' }),
      clock: new ManualClock(T0),
      rulesPath: API_RULES,
      watchRules: false,
      redis: dead,
    })
    closeServices = () => services.close()
    app = await buildApp({ services, gateway: offlineGateway, queues: [] })
    ops = await buildOpsApp({ services, queues: [] })
  })
  afterAll(async () => {
    await app.close()
    await ops.close()
    await closeServices()
    dead.disconnect()
  })

  it('answers 503 unavailable for routes that need Redis', async () => {
    for (const url of ['/v1/sessions', '/v1/sessions/acme-sales', '/v1/sessions/acme-sales/chats/overview']) {
      const e = expectApiError(await app.inject({ url, headers: bearer(KEYS.acmeRead) }), 503, 'unavailable')
      expect(e.message).toMatch(/Redis/)
    }
    expectApiError(
      await app.inject({ method: 'POST', url: chat(pn(1), '/read'), headers: bearer(KEYS.acmeSend) }),
      503,
      'unavailable',
    )
  })

  it('still answers what needs no Redis: 401 without a key, /healthz 200, /readyz 503 not_ready', async () => {
    expectApiError(await app.inject({ url: '/v1/sessions' }), 401, 'unauthorized')
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    const ready = await app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toEqual({ status: 'not_ready' })
    // The metrics listener says which check failed.
    const detailed = await ops.inject({ url: '/readyz' })
    expect(detailed.statusCode).toBe(503)
    expect(detailed.json()).toMatchObject({
      status: 'not_ready',
      checks: { redis: expect.stringMatching(/^down/) },
    })
  })
})

describe('every error body', () => {
  it('is exactly {error:{code,message,details}} with a documented code, never a stack trace or HTML', async () => {
    const answers = await Promise.all([
      inject({ url: '/v1/x' }),
      inject({ url: '/v1/sessions' }),
      inject({ url: '/v1/sessions', headers: bearer('tbk_nobody_0000') }),
      inject({ url: '/v1/sessions/acme-sales/contacts?limit=x', headers: bearer(KEYS.acmeRead) }),
      inject({ method: 'POST', url: sim, headers: bearer(KEYS.acmeRead), payload: {} }),
      inject({ url: chat(pn(77)), headers: bearer(KEYS.acmeRead) }),
      inject({
        method: 'POST',
        url: sim,
        headers: { ...bearer(KEYS.acmeSend), 'content-type': 'application/json' },
        payload: '{{{',
      }),
    ])
    for (const res of answers) {
      expect(res.statusCode).toBeGreaterThanOrEqual(400)
      const parsed = errorSchema.strict().safeParse(res.json())
      expect(parsed.success, res.body).toBe(true)
      expect(res.json().error.code).toSatisfy((c: string) => c in ERROR_STATUS)
      expect(ERROR_STATUS[res.json().error.code as keyof typeof ERROR_STATUS]).toBe(res.statusCode)
    }
  })
})
