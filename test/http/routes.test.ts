import { Queue } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { buildApp } from '../../src/http/app.js'
import { buildOpsApp } from '../../src/http/ops-app.js'
import { chatSchema, contactSchema } from '../../src/http/schemas.js'
import { createLogger } from '../../src/log.js'
import { createServices } from '../../src/services.js'
import { commandChannel } from '../../src/whatsapp/command-bus.js'
import { LeaseStore } from '../../src/worker/lease.js'
import { API_RULES, bearer, KEYS } from '../helpers/app.js'
import { group, inbound, lid, outbound, pn, T0 } from '../helpers/events.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'
import {
  type AppFixture,
  expectApiError,
  expectValidationError,
  offlineGateway,
  simWorker,
  untilApplied,
  useApp,
} from './support.js'

/** Every route: its success path and its 4xx paths, as a client sees them. */

/**
 * What a worker holding a session leaves in Redis: the lease, its heartbeat and its subscription to the
 * session's command channel. `die()` is a kill -9: the subscription goes, lease and heartbeat stay.
 */
async function liveHolder(f: AppFixture, sid: string, workerId: string) {
  const leases = new LeaseStore(f.services.redis, f.services.keys)
  expect(await leases.acquire(sid, workerId, 10_000)).toBeGreaterThan(0)
  await leases.heartbeat(workerId, 6_000)
  const sub = f.services.redis.duplicate()
  await sub.subscribe(commandChannel(f.services.keys.prefix, sid))
  return {
    async die(): Promise<number> {
      sub.disconnect()
      return Date.now()
    },
  }
}

const chatShape = chatSchema.strict()
const iso = (ms: number) => new Date(ms).toISOString()

function client(ref: { f: AppFixture }) {
  return {
    get: (url: string, key: string = KEYS.acmeRead) => ref.f.app.inject({ url, headers: bearer(key) }),
    post: (url: string, payload?: unknown, key: string = KEYS.acmeSend) =>
      ref.f.app.inject({
        method: 'POST',
        url,
        headers: bearer(key),
        ...(payload === undefined ? {} : { payload: payload as object }),
      }),
    put: (url: string, payload: unknown, key: string = KEYS.acmeSend) =>
      ref.f.app.inject({ method: 'PUT', url, headers: bearer(key), payload: payload as object }),
  }
}

describe('GET /v1/sessions and /v1/sessions/:sid', () => {
  const ref = useApp('routes-sessions')
  const api = client(ref)

  it('lists exactly the sessions of the caller org with their status', async () => {
    const res = await api.get('/v1/sessions')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      items: [
        {
          id: 'acme-sales',
          org: 'acme',
          label: 'Sales',
          defaultOwner: 'anna',
          status: 'STOPPED',
          statusSince: null,
          statusDetail: null,
        },
        {
          id: 'acme-support',
          org: 'acme',
          label: null,
          defaultOwner: null,
          status: 'STOPPED',
          statusSince: null,
          statusDetail: null,
        },
      ],
    })
  })

  it('shows one session with its status history (newest first), its QR while pairing and its chat count', async () => {
    const { f } = ref
    const holder = await liveHolder(f, 'acme-support', 'worker-1')
    await f.services.statuses.set('acme-support', 'STARTING', { holder: 'worker-1' })
    f.clock.advance(1_000)
    await f.services.statuses.set('acme-support', 'SCAN_QR_CODE', { qr: '2@qr-payload', holder: 'worker-1' })
    await f.services.ingestor.ingest(inbound('acme-support', pn(1)))
    await f.services.ingestor.ingest(inbound('acme-support', pn(2)))
    await f.services.ingestor.ingest(inbound('acme-support', pn(2))) // same chat: still two chats

    const pairing = await api.get('/v1/sessions/acme-support', KEYS.acmeAdmin)
    expect(pairing.statusCode).toBe(200)
    expect(pairing.json()).toEqual({
      id: 'acme-support',
      org: 'acme',
      label: null,
      defaultOwner: null,
      status: 'SCAN_QR_CODE',
      statusSince: iso(T0 + 1_000),
      statusDetail: null,
      qr: '2@qr-payload',
      history: [
        { status: 'SCAN_QR_CODE', at: iso(T0 + 1_000), detail: null },
        { status: 'STARTING', at: iso(T0), detail: null },
      ],
      chats: 2,
    })

    f.clock.advance(1_000)
    await f.services.statuses.set('acme-support', 'WORKING', {
      detail: 'connected',
      qr: 'stale',
      holder: 'worker-1',
    })
    const working = (await api.get('/v1/sessions/acme-support', KEYS.acmeAdmin)).json()
    expect(working).toMatchObject({ status: 'WORKING', statusDetail: 'connected', qr: null, chats: 2 })
    expect(working.history.map((h: { status: string }) => h.status)).toEqual([
      'WORKING',
      'SCAN_QR_CODE',
      'STARTING',
    ])
    // The list shows the same current status.
    const listed = (await api.get('/v1/sessions')).json().items
    expect(listed.find((s: { id: string }) => s.id === 'acme-support')).toMatchObject({
      status: 'WORKING',
      statusSince: iso(T0 + 2_000),
    })
    expect((await api.get('/v1/sessions/acme-sales')).json()).toMatchObject({ chats: 0, history: [] })
    await holder.die()
  })

  it('2.12 WORKING only while its holder process lives; then MOVING with the last holder and since when', async () => {
    const { f } = ref
    const holder = await liveHolder(f, 'acme-sales', 'worker-7')
    await f.services.statuses.set('acme-sales', 'WORKING', { detail: 'connected', holder: 'worker-7' })
    expect((await api.get('/v1/sessions/acme-sales')).json()).toMatchObject({ status: 'WORKING' })
    // kill -9: the process's connections drop at once; its lease and its WORKING stay behind.
    const diedAt = await holder.die()
    await expect
      .poll(async () => (await api.get('/v1/sessions/acme-sales')).json(), { timeout: 3000 })
      .toMatchObject({
        status: 'MOVING',
        statusDetail: expect.stringContaining('its last holder worker-7'),
      })
    const moving = (await api.get('/v1/sessions/acme-sales')).json()
    expect(Date.parse(moving.statusSince)).toBeGreaterThanOrEqual(diedAt - 1_000)
    expect((await api.get('/v1/sessions')).json().items[0]).toMatchObject({
      id: 'acme-sales',
      status: 'MOVING',
    })
    // A QR left behind by a dead holder is not offered for scanning either.
    await f.services.statuses.set('acme-sales', 'SCAN_QR_CODE', { qr: '2@stale', holder: 'worker-gone' })
    expect((await api.get('/v1/sessions/acme-sales', KEYS.acmeAdmin)).json()).toMatchObject({
      status: 'MOVING',
      qr: null,
    })
  })

  it('2.6 serves the pairing QR as a PNG to an admin key while pairing, 409 otherwise', async () => {
    const { f } = ref
    // The same holder as above still has the lease of acme-support.
    const holder = await liveHolder(f, 'acme-support', 'worker-1')
    await f.services.statuses.set('acme-support', 'SCAN_QR_CODE', {
      qr: '2@first-payload',
      holder: 'worker-1',
    })
    const res = await api.get('/v1/sessions/acme-support/qr', KEYS.acmeAdmin)
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('image/png')
    expect(res.rawPayload.subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    )
    await f.services.statuses.set('acme-support', 'SCAN_QR_CODE', {
      qr: '2@refreshed-payload',
      holder: 'worker-1',
    })
    const refreshed = await api.get('/v1/sessions/acme-support/qr', KEYS.acmeAdmin)
    expect(refreshed.rawPayload.equals(res.rawPayload)).toBe(false)
    await f.services.statuses.set('acme-support', 'STOPPED', { detail: 'closed' })
    expectApiError(await api.get('/v1/sessions/acme-support/qr', KEYS.acmeAdmin), 409, 'conflict')
    expectApiError(await api.get('/v1/sessions/acme-nope/qr', KEYS.acmeAdmin), 404, 'not_found')
    await holder.die()
  })

  it('the pairing QR is for admin keys only: read and send keys see no qr and get 403 on the PNG', async () => {
    const { f } = ref
    // Scanning the QR links the scanner's phone to the org's number.
    const holder = await liveHolder(f, 'acme-support', 'worker-1')
    await f.services.statuses.set('acme-support', 'SCAN_QR_CODE', {
      qr: '2@secret-pairing',
      holder: 'worker-1',
    })
    for (const key of [KEYS.acmeRead, KEYS.acmeSend, KEYS.acmeLimited]) {
      for (const url of ['/v1/sessions/acme-support', '/v1/sessions']) {
        const res = await api.get(url, key)
        if (key === KEYS.acmeSend) {
          expectApiError(res, 403, 'forbidden')
          continue
        }
        expect(res.statusCode).toBe(200)
        expect(res.body).not.toContain('2@secret-pairing')
        const session = url === '/v1/sessions' ? res.json().items[1] : res.json()
        expect(session).toMatchObject({ id: 'acme-support', status: 'SCAN_QR_CODE' })
        expect(session).not.toHaveProperty('qr')
      }
      const png = expectApiError(await api.get('/v1/sessions/acme-support/qr', key), 403, 'forbidden')
      expect(png.details).toEqual({ required: 'admin' })
    }
    expect((await api.get('/v1/sessions/acme-support', KEYS.acmeAdmin)).json().qr).toBe('2@secret-pairing')
    expect((await api.get('/v1/sessions', KEYS.acmeAdmin)).json().items[1].qr).toBe('2@secret-pairing')
    expect((await api.get('/v1/sessions/acme-support/qr', KEYS.acmeAdmin)).statusCode).toBe(200)
    await holder.die()
  })

  it('answers 404 not_found for an unknown session and 400 for a malformed id', async () => {
    const missing = expectApiError(await api.get('/v1/sessions/acme-nope'), 404, 'not_found')
    expect(missing.message).toBe('session acme-nope not found')
    expectValidationError(await api.get('/v1/sessions/bad%20id'), 'path.sid')
    expectValidationError(await api.get('/v1/sessions/-leading-dash'), 'path.sid')
  })
})

describe('GET /v1/sessions/:sid/chats/overview', () => {
  const ref = useApp('routes-overview')
  const api = client(ref)
  const url = (q = '') => `/v1/sessions/acme-sales/chats/overview${q}`
  const jids = [11, 12, 13, 14, 15].map((n) => pn(n))

  beforeAll(async () => {
    // pn(15) is the most recent activity, pn(11) the oldest.
    for (const [i, jid] of jids.entries())
      await ref.f.services.ingestor.ingest(inbound('acme-sales', jid, { ts: T0 + i * 1_000 }))
    ref.f.clock.set(T0 + 60_000)
  })

  it('pages through every chat exactly once, newest activity first, with an empty nextCursor at the end', async () => {
    const pages: string[][] = []
    let cursor = ''
    do {
      const res = await api.get(url(`?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`))
      expect(res.statusCode).toBe(200)
      const body = res.json()
      expect(Object.keys(body).sort()).toEqual(['items', 'nextCursor'])
      for (const item of body.items) chatShape.parse(item)
      pages.push(body.items.map((c: { jid: string }) => c.jid))
      cursor = body.nextCursor
    } while (cursor && pages.length < 10)
    expect(pages).toEqual([[pn(15), pn(14)], [pn(13), pn(12)], [pn(11)]])
  })

  it('honours limit bounds 1..200 and defaults to 50', async () => {
    const one = (await api.get(url('?limit=1'))).json()
    expect(one.items).toHaveLength(1)
    expect(one.nextCursor).not.toBe('')
    const max = (await api.get(url('?limit=200'))).json()
    expect(max.items).toHaveLength(5)
    expect(max.nextCursor).toBe('')
    expect((await api.get(url())).json().items).toHaveLength(5)
    for (const bad of ['0', '201', '-1', 'abc', '2.5'])
      expectValidationError(await api.get(url(`?limit=${bad}`)), 'query.limit')
  })

  it('filters unread and unanswered chats', async () => {
    const { f } = ref
    expect((await api.post(`/v1/sessions/acme-sales/chats/${pn(12)}/read`)).statusCode).toBe(200)
    await f.services.ingestor.ingest(outbound('acme-sales', pn(13), { ts: T0 + 30_000 }))

    const unread = (await api.get(url('?filter=unread'))).json().items as Array<Record<string, number>>
    expect(unread.map((c) => c.jid)).not.toContain(pn(12))
    expect(unread.map((c) => c.jid)).toContain(pn(11))
    for (const c of unread) expect(c.unreadCount).toBeGreaterThan(0)

    const unanswered = (await api.get(url('?filter=unanswered'))).json().items as Array<
      Record<string, number>
    >
    expect(unanswered.map((c) => c.jid).sort()).toEqual([pn(11), pn(12), pn(14), pn(15)].sort())
    for (const c of unanswered) expect(c.unanswered).toBeGreaterThan(0)

    expectValidationError(await api.get(url('?filter=all')), 'query.filter')
  })

  it('rejects a forged, expired or borrowed cursor with 400 validation_error on query.cursor', async () => {
    const forged = expectValidationError(await api.get(url('?cursor=not-a-cursor')), 'query.cursor')
    expect(forged).toEqual([
      { field: 'query.cursor', message: 'cursor is not one this API issued; start again without a cursor' },
    ])
    const first = (await api.get(url('?limit=1'))).json()
    // Well-formed but from a page read more than 5 minutes ago (its page time is Redis' clock).
    const parts = Buffer.from(first.nextCursor, 'base64url').toString().split('|')
    parts[5] = String(Number(parts[5]) - 600_000)
    const expired = Buffer.from(parts.join('|')).toString('base64url')
    const [problem] = expectValidationError(await api.get(url(`?cursor=${expired}`)), 'query.cursor')
    expect(problem!.message).toMatch(/^cursor expired/)
    // A cursor of one session is no cursor of another.
    const [borrowed] = expectValidationError(
      await api.get(`/v1/sessions/acme-support/chats/overview?cursor=${first.nextCursor}`),
      'query.cursor',
    )
    expect(borrowed!.message).toBe('cursor was issued for another session, not acme-support')
    expectValidationError(await api.get(url(`?cursor=${'a'.repeat(513)}`)), 'query.cursor')
  })

  it('rejects unknown query parameters and answers 404 for an unknown session', async () => {
    expectValidationError(await api.get(url('?sort=asc')), 'query')
    expectApiError(await api.get('/v1/sessions/nope/chats/overview'), 404, 'not_found')
    expect((await api.get('/v1/sessions/acme-support/chats/overview')).json()).toEqual({
      items: [],
      nextCursor: '',
    })
  })
})

describe('GET /v1/sessions/:sid/chats/:jid and the chat actions', () => {
  const ref = useApp('routes-chat')
  const api = client(ref)
  const chatUrl = (jid: string, action = '') => `/v1/sessions/acme-sales/chats/${jid}${action}`

  beforeAll(async () => {
    const { ingestor } = ref.f.services
    // A LID chat whose phone number WhatsApp told us, and a plain phone-number chat with two messages.
    await ingestor.ingest(inbound('acme-sales', lid(7), { alt: pn(7), pushName: 'Lara', text: 'Hallo' }))
    await ingestor.ingest(inbound('acme-sales', pn(8), { ts: T0, text: 'one' }))
    await ingestor.ingest(inbound('acme-sales', pn(8), { ts: T0 + 1_000, text: 'two' }))
    // A read covers the messages up to its instant: the API's "now" is after them.
    ref.f.clock.set(T0 + 60_000)
  })

  it('returns the chat under its own jid and under its alternate LID/PN form', async () => {
    const byLid = await api.get(chatUrl(lid(7)))
    expect(byLid.statusCode).toBe(200)
    const chat = chatShape.parse(byLid.json())
    expect(chat).toMatchObject({
      jid: lid(7),
      altJid: pn(7),
      name: 'Lara',
      type: 'dm',
      unreadCount: 1,
      unanswered: 1,
      lastMessage: { fromMe: false, preview: 'Hallo' },
    })
    const byPn = await api.get(chatUrl(pn(7)))
    expect(byPn.statusCode).toBe(200)
    expect(byPn.json()).toEqual(byLid.json())
  })

  it('answers 404 for an unknown chat and 400 for a malformed jid', async () => {
    const e = expectApiError(await api.get(chatUrl(pn(556))), 404, 'not_found')
    expect(e.message).toBe(`chat ${pn(556)} not found`)
    for (const bad of ['12345', 'abc@example.com', '..%2F..%2Fetc', '%E2%9C%93@lid', `${'1'.repeat(30)}@lid`])
      expectValidationError(await api.get(chatUrl(bad)), 'path.jid')
  })

  it('POST read clears our unread state, returns the chat and is idempotent', async () => {
    const first = await api.post(chatUrl(pn(8), '/read'))
    expect(first.statusCode).toBe(200)
    const chat = chatShape.parse(first.json())
    expect(chat).toMatchObject({ jid: pn(8), unreadCount: 0, markedUnread: false, unanswered: 2 })
    const second = await api.post(chatUrl(pn(8), '/read'))
    expect(second.statusCode).toBe(200)
    expect(second.json()).toEqual(first.json())
    expect((await api.get(chatUrl(pn(8)))).json()).toEqual(first.json())
    // Through the alternate form it is the same chat.
    const viaPn = await api.post(chatUrl(pn(7), '/read'))
    expect(viaPn.json()).toMatchObject({ jid: lid(7), unreadCount: 0 })
  })

  it('POST read answers 404 for an unknown chat without creating it', async () => {
    expectApiError(await api.post(chatUrl(pn(555), '/read')), 404, 'not_found')
    expectApiError(await api.get(chatUrl(pn(555))), 404, 'not_found')
  })

  it('POST no-reply-needed sets unanswered to 0 and clears waitingSince; reading did not', async () => {
    const before = (await api.get(chatUrl(lid(7)))).json()
    expect(before.unanswered).toBe(1)
    expect(before.waitingSince).not.toBeNull()
    const res = await api.post(chatUrl(lid(7), '/no-reply-needed'))
    expect(res.statusCode).toBe(200)
    expect(chatShape.parse(res.json())).toMatchObject({ jid: lid(7), unanswered: 0, waitingSince: null })
    const again = await api.post(chatUrl(pn(7), '/no-reply-needed'))
    expect(again.json()).toEqual(res.json())
    expectApiError(await api.post(chatUrl(pn(555), '/no-reply-needed')), 404, 'not_found')
    expectValidationError(await api.post(chatUrl('nope', '/no-reply-needed')), 'path.jid')
  })
})

describe('PUT /v1/sessions/:sid/chats/:jid/presence', () => {
  const ref = useApp('routes-presence')
  const api = client(ref)
  const url = (sid = 'acme-sales', jid = pn(1)) => `/v1/sessions/${sid}/chats/${jid}/presence`

  it('answers 501 not_implemented when no worker serves the session', async () => {
    const e = expectApiError(await api.put(url(), { state: 'composing' }), 501, 'not_implemented')
    expect(e.message).toMatch(/acme-sales/)
  })

  it('answers 204 and shows the presence in the sim actions when a live session serves it', async () => {
    const worker = simWorker(ref.f)
    try {
      await worker.open('acme-sales')
      const res = await api.put(url('acme-sales', group(3)), { state: 'recording' })
      expect(res.statusCode).toBe(204)
      expect(res.body).toBe('')
      const actions = (await api.get('/v1/sim/sessions/acme-sales/actions')).json()
      expect(actions.items).toEqual([
        { seq: expect.any(String), at: iso(T0), kind: 'presence', jid: group(3), state: 'recording' },
      ])

      // A worker that serves the session but whose client is not connected: still 501.
      const support = await worker.open('acme-support')
      await support.close()
      expectApiError(await api.put(url('acme-support'), { state: 'paused' }), 501, 'not_implemented')
    } finally {
      await worker.close()
    }
  })

  it('validates the body and the params', async () => {
    expectValidationError(await api.put(url(), { state: 'typing' }), 'body.state')
    expectValidationError(await api.put(url(), {}), 'body.state')
    expectValidationError(await api.put(url(), { state: 'paused', extra: 1 }), 'body')
    expectValidationError(await api.put(url('acme-sales', 'nobody'), { state: 'paused' }), 'path.jid')
    expectApiError(await api.put(url('nope'), { state: 'paused' }), 404, 'not_found')
  })
})

describe('contacts', () => {
  const ref = useApp('routes-contacts')
  const api = client(ref)
  const url = (q = '') => `/v1/sessions/acme-sales/contacts${q}`
  const names = async (q: string) => {
    const res = await api.get(url(q))
    expect(res.statusCode, res.body).toBe(200)
    return (res.json().items as Array<{ name: string }>).map((c) => c.name)
  }

  beforeAll(async () => {
    const { ingestor } = ref.f.services
    await ingestor.ingest(inbound('acme-sales', pn(1), { pushName: 'Maria Schmidt' }))
    await ingestor.ingest(inbound('acme-sales', lid(2), { alt: pn(2), pushName: 'Lars' }))
    await ingestor.ingest(inbound('acme-sales', group(1), { participant: pn(3), pushName: 'Zoe' }))
    await ingestor.ingest(inbound('acme-sales', group(1), { participant: pn(1), pushName: 'Maria Schmidt' }))
    await ingestor.ingest(inbound('acme-sales', group(2), { participant: pn(4), pushName: 'Otto' }))
    // Another session's contacts never show here.
    await ingestor.ingest(inbound('acme-support', pn(5), { pushName: 'Elsewhere' }))
  })

  it('lists the people the session has seen, with phone and LID when known', async () => {
    const res = await api.get(url())
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.nextCursor).toBe('')
    for (const c of body.items) contactSchema.strict().parse(c)
    expect(body.items).toHaveLength(4)
    expect(body.items).toEqual(
      expect.arrayContaining([
        {
          jid: lid(2),
          name: 'Lars',
          phone: pn(2).split('@')[0],
          lid: lid(2),
          dm: true,
          groups: [],
        },
        {
          jid: pn(1),
          name: 'Maria Schmidt',
          phone: pn(1).split('@')[0],
          lid: null,
          dm: true,
          groups: [group(1)],
        },
        expect.objectContaining({ name: 'Otto', dm: false, groups: [group(2)] }),
      ]),
    )
  })

  it('filters by source, by group (combinable) and by a case-insensitive q on name or number', async () => {
    expect((await names('?source=dm')).sort()).toEqual(['Lars', 'Maria Schmidt'])
    expect((await names('?source=group')).sort()).toEqual(['Maria Schmidt', 'Otto', 'Zoe'])
    expect((await names(`?group=${group(1)}`)).sort()).toEqual(['Maria Schmidt', 'Zoe'])
    expect(await names(`?source=dm&group=${group(1)}`)).toEqual(['Maria Schmidt'])
    expect(await names('?q=sCHMi')).toEqual(['Maria Schmidt'])
    expect(await names(`?q=${pn(4).split('@')[0]}`)).toEqual(['Otto'])
    expect(await names(`?q=zoe&group=${group(2)}`)).toEqual([])
    expect(await names(`?group=${group(9)}`)).toEqual([])
  })

  it('pages with limit and cursor, each contact exactly once', async () => {
    const seen: string[] = []
    let cursor = ''
    let pages = 0
    do {
      const res = await api.get(url(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`))
      expect(res.statusCode).toBe(200)
      const body = res.json()
      expect(body.items.length).toBeLessThanOrEqual(3)
      seen.push(...body.items.map((c: { jid: string }) => c.jid))
      cursor = body.nextCursor
      pages++
    } while (cursor && pages < 10)
    expect(pages).toBe(2)
    expect(new Set(seen).size).toBe(4)
    expect(seen).toHaveLength(4)
    // A filtered page boundary.
    const firstGroupPage = (await api.get(url('?source=group&limit=1'))).json()
    expect(firstGroupPage.items).toHaveLength(1)
    expect(firstGroupPage.nextCursor).not.toBe('')
  })

  it('rejects bad filters, limits and cursors with the field named', async () => {
    expectValidationError(await api.get(url(`?group=${pn(1)}`)), 'query.group')
    expectValidationError(await api.get(url('?group=not-a-jid')), 'query.group')
    expectValidationError(await api.get(url('?source=email')), 'query.source')
    expectValidationError(await api.get(url('?q=')), 'query.q')
    expectValidationError(await api.get(url(`?q=${'x'.repeat(101)}`)), 'query.q')
    expectValidationError(await api.get(url('?limit=0')), 'query.limit')
    expectValidationError(await api.get(url('?limit=201')), 'query.limit')
    expectValidationError(await api.get(url('?cursor=forged')), 'query.cursor')
    expectValidationError(await api.get(url('?page=2')), 'query')
    expectApiError(await api.get('/v1/sessions/nope/contacts'), 404, 'not_found')
  })
})

describe('simulated WhatsApp routes', () => {
  const ref = useApp('routes-sim')
  const api = client(ref)
  const messages = (sid = 'acme-sales') => `/v1/sim/sessions/${sid}/messages`
  const actions = (sid = 'acme-sales', q = '') => `/v1/sim/sessions/${sid}/actions${q}`

  it('POST messages answers 202 with the message id and its timestamp', async () => {
    const res = await api.post(messages(), { chatId: pn(1), text: 'hello' })
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({ accepted: true, messageId: expect.any(String), timestamp: iso(T0) })
    const given = await api.post(messages(), {
      chatId: pn(1),
      text: 'hi',
      id: 'ABCDEF0123',
      timestamp: '2026-11-20T08:59:00.000Z',
    })
    expect(given.json()).toEqual({
      accepted: true,
      messageId: 'ABCDEF0123',
      timestamp: '2026-11-20T08:59:00.000Z',
    })
  })

  it('delivers the message into the inbox once a sim session consumes it', async () => {
    const { f } = ref
    const worker = simWorker(f)
    try {
      await worker.open('acme-support')
      const applied = untilApplied(
        f.services.ingestor,
        (e) => e.type === 'message' && e.key.id === 'SIMTEST0001',
        'message SIMTEST0001',
      )
      const res = await api.post(messages('acme-support'), {
        chatId: pn(2),
        text: 'Where is my order?',
        pushName: 'Olga',
        id: 'SIMTEST0001',
      })
      expect(res.statusCode).toBe(202)
      await applied
      const chat = (await api.get(`/v1/sessions/acme-support/chats/${pn(2)}`)).json()
      expect(chat).toMatchObject({
        jid: pn(2),
        name: 'Olga',
        unreadCount: 1,
        unanswered: 1,
        lastMessage: { id: 'SIMTEST0001', fromMe: false, preview: 'Where is my order?' },
      })

      // Our own reply from the phone answers it.
      const reply = untilApplied(
        f.services.ingestor,
        (e) => e.type === 'message' && e.key.fromMe,
        'the reply',
      )
      await api.post(messages('acme-support'), { chatId: pn(2), fromMe: true, text: 'On its way' })
      await reply
      const answered = (await api.get(`/v1/sessions/acme-support/chats/${pn(2)}`)).json()
      expect(answered).toMatchObject({ unanswered: 0, waitingSince: null, lastMessage: { fromMe: true } })

      // A group message with its participant.
      const inGroup = untilApplied(
        f.services.ingestor,
        (e) => e.type === 'message' && e.key.remoteJid === group(5),
        'the group message',
      )
      const g = await api.post(messages('acme-support'), {
        chatId: group(5),
        participant: lid(6),
        text: 'hey',
      })
      expect(g.statusCode).toBe(202)
      await inGroup
      expect((await api.get(`/v1/sessions/acme-support/chats/${group(5)}`)).json()).toMatchObject({
        type: 'group',
        unanswered: 1,
      })
    } finally {
      await worker.close()
    }
  })

  it('POST messages validates the body: a group message needs its participant', async () => {
    const fields = expectValidationError(
      await api.post(messages(), { chatId: group(1), text: 'no participant' }),
      'body.participant',
    )
    expect(fields).toEqual([
      { field: 'body.participant', message: 'required for a customer message in a group' },
    ])
    expectValidationError(await api.post(messages(), { chatId: 'x@y', text: 'a' }), 'body.chatId')
    expectValidationError(await api.post(messages(), { chatId: pn(1), text: '' }), 'body.text')
    expectValidationError(await api.post(messages(), { chatId: pn(1) }), 'body.text')
    expectValidationError(
      await api.post(messages(), { chatId: pn(1), text: 'a', id: 'has space' }),
      'body.id',
    )
    expectValidationError(
      await api.post(messages(), { chatId: pn(1), text: 'a', timestamp: 'yesterday' }),
      'body.timestamp',
    )
    expectValidationError(
      await api.post(messages(), { chatId: pn(1), text: 'a', fromMe: true, origin: 'customer' }),
      'body.origin',
    )
    expectValidationError(await api.post(messages(), { chatId: pn(1), text: 'a', color: 'red' }), 'body')
    expectApiError(await api.post(messages('nope'), { chatId: pn(1), text: 'a' }), 404, 'not_found')
  })

  it('POST messages rejects a timestamp outside the epoch range WhatsApp events allow (400, not 500)', async () => {
    // simMessageBody accepts any ISO datetime, SimNetwork.injectMessage then rejects it (2009..2100).
    for (const timestamp of ['1990-01-01T00:00:00.000Z', '2200-01-01T00:00:00.000Z'])
      expectValidationError(
        await api.post(messages(), { chatId: pn(1), text: 'a', timestamp }),
        'body.timestamp',
      )
  })

  it('GET actions lists what the service did, oldest first, paged with after/limit', async () => {
    const { f } = ref
    const worker = simWorker(f)
    try {
      await worker.open('acme-sales')
      for (const state of ['composing', 'recording', 'paused'])
        expect((await api.put(`/v1/sessions/acme-sales/chats/${pn(1)}/presence`, { state })).statusCode).toBe(
          204,
        )
      f.clock.advance(5_000)
      await worker.sessions.get('acme-sales')!.readMessages([
        { remoteJid: pn(1), fromMe: false, id: 'READ1' },
        { remoteJid: pn(1), fromMe: true, id: 'MINE' },
      ])
    } finally {
      await worker.close()
    }
    const page1 = (await api.get(actions('acme-sales', '?limit=2'))).json()
    expect(page1.items.map((a: { state: string }) => a.state)).toEqual(['composing', 'recording'])
    expect(page1.lastSeq).toBe(page1.items[1].seq)
    const page2 = (await api.get(actions('acme-sales', `?after=${page1.lastSeq}&limit=2`))).json()
    expect(page2.items).toEqual([
      { seq: expect.any(String), at: iso(T0), kind: 'presence', jid: pn(1), state: 'paused' },
      {
        seq: expect.any(String),
        at: iso(T0 + 5_000),
        kind: 'read',
        keys: [{ remoteJid: pn(1), fromMe: false, id: 'READ1' }],
      },
    ])
    const done = (await api.get(actions('acme-sales', `?after=${page2.lastSeq}`))).json()
    expect(done).toEqual({ items: [], lastSeq: null })
    expect((await api.get(actions('acme-support'))).json()).toEqual({ items: [], lastSeq: null })
  })

  it('GET actions validates after and limit and answers 404 for an unknown session', async () => {
    expectValidationError(await api.get(actions('acme-sales', '?after=latest')), 'query.after')
    expectValidationError(await api.get(actions('acme-sales', '?limit=0')), 'query.limit')
    expectValidationError(await api.get(actions('acme-sales', '?limit=1001')), 'query.limit')
    expectApiError(await api.get(actions('nope')), 404, 'not_found')
  })

  it('GET actions rejects an after beyond the stream id range (400, not 500)', async () => {
    // Matches /^\d{1,20}-\d{1,10}$/ but exceeds 2^64-1: Redis answers "ERR Invalid stream ID".
    expectValidationError(
      await api.get(actions('acme-sales', '?after=99999999999999999999-0')),
      'query.after',
    )
  })
})

describe('without the sim transport', () => {
  const r = testRedis('routes-baileys')
  let app: Awaited<ReturnType<typeof buildApp>>
  let close: () => Promise<void>

  beforeAll(async () => {
    const env = parseEnv({ REDIS_URL, TICKBRIDGE_PREFIX: r.prefix, WA_TRANSPORT: 'baileys' })
    const log = createLogger({ level: 'silent' })
    const services = await createServices({
      env,
      log,
      clock: new ManualClock(T0),
      rulesPath: API_RULES,
      watchRules: false,
      redis: r.redis,
    })
    expect(services.sim).toBeNull()
    app = await buildApp({ services, gateway: offlineGateway, queues: [] })
    close = async () => {
      await app.close()
      await services.close()
    }
  })
  afterAll(async () => {
    await close()
    await r.cleanup()
  })

  it('has no /v1/sim routes: they answer 404 not_found JSON even with a valid key', async () => {
    const post = await app.inject({
      method: 'POST',
      url: '/v1/sim/sessions/acme-sales/messages',
      headers: bearer(KEYS.acmeAdmin),
      payload: { chatId: pn(1), text: 'x' },
    })
    expect(expectApiError(post, 404, 'not_found').message).toBe(
      'no route POST /v1/sim/sessions/acme-sales/messages',
    )
    expectApiError(
      await app.inject({ url: '/v1/sim/sessions/acme-sales/actions', headers: bearer(KEYS.acmeAdmin) }),
      404,
      'not_found',
    )
    const paths = Object.keys((await app.inject({ url: '/openapi.json' })).json().paths)
    expect(paths.filter((p) => p.startsWith('/v1/sim'))).toEqual([])
    expect(paths).toContain('/v1/sessions/{sid}/chats/overview')
    expect((await app.inject({ url: '/v1/sessions', headers: bearer(KEYS.acmeRead) })).statusCode).toBe(200)
  })
})

describe('ops routes', () => {
  const r = testRedis('routes-ops')
  let app: Awaited<ReturnType<typeof buildApp>>
  let ops: Awaited<ReturnType<typeof buildOpsApp>>
  let queue: Queue
  let close: () => Promise<void>
  const basic = (user: string, pass: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
  })

  beforeAll(async () => {
    const env = parseEnv({ REDIS_URL, TICKBRIDGE_PREFIX: r.prefix, WA_TRANSPORT: 'sim' })
    const services = await createServices({
      env,
      log: createLogger({ level: 'silent' }),
      clock: new ManualClock(T0),
      rulesPath: API_RULES,
      watchRules: false,
      redis: r.redis,
    })
    queue = new Queue('receipts', { connection: r.redis.duplicate(), prefix: r.prefix })
    await queue.add('read', { chat: pn(1) }, { delay: 60_000 })
    app = await buildApp({ services, gateway: offlineGateway, queues: [queue] })
    ops = await buildOpsApp({ services, queues: [queue] })
    close = async () => {
      await app.close()
      await ops.close()
      await queue.close()
      await services.close()
    }
  })
  afterAll(async () => {
    await close()
    await r.cleanup()
  })

  it('GET /healthz and /readyz answer without a key, and say no more than up / ready', async () => {
    const health = await app.inject({ url: '/healthz' })
    expect(health.statusCode).toBe(200)
    expect(health.json()).toEqual({ status: 'ok' })
    const ready = await app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ready' })
  })

  it('the API port serves no metrics; the metrics listener reports queue depths and the readiness checks', async () => {
    expectApiError(await app.inject({ url: '/metrics' }), 404, 'not_found')
    const res = await ops.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toContain('tickbridge_queue_jobs{queue="receipts",state="delayed"} 1')
    const ready = await ops.inject({ url: '/readyz' })
    expect(ready.json()).toEqual({ status: 'ready', checks: { redis: 'ok', rules: 'ok', queues: 'ok (1)' } })
  })

  it('GET /openapi.json and the docs UI (page, initializer, spec) answer a browser, which sends no key', async () => {
    const spec = await app.inject({ url: '/openapi.json' })
    expect(spec.statusCode).toBe(200)
    expect(spec.json().openapi).toMatch(/^3\./)
    const page = await app.inject({ url: '/docs/' })
    expect(page.statusCode, page.body.slice(0, 200)).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' })
    expect(initializer.statusCode, initializer.body.slice(0, 200)).toBe(200)
    const uiSpec = await app.inject({ url: '/docs/json' })
    expect(uiSpec.statusCode, uiSpec.body.slice(0, 200)).toBe(200)
    expect(uiSpec.json().paths).toEqual(spec.json().paths)
  })

  it('/admin/queues: 200 with the operator key via Bearer or via Basic x:<key>', async () => {
    const viaBearer = await app.inject({ url: '/admin/queues', headers: bearer(KEYS.operator) })
    expect(viaBearer.statusCode).toBe(200)
    expect(viaBearer.headers['content-type']).toMatch(/^text\/html/)
    const viaBasic = await app.inject({ url: '/admin/queues', headers: basic('x', KEYS.operator) })
    expect(viaBasic.statusCode).toBe(200)
    const api = await app.inject({ url: '/admin/queues/api/queues', headers: basic('x', KEYS.operator) })
    expect(api.statusCode).toBe(200)
    expect(api.json().queues.map((q: { name: string }) => q.name)).toEqual(['receipts'])
  })

  it('/admin/queues: 401 unauthorized with a Basic challenge without a (known) key', async () => {
    for (const headers of [{}, basic('x', 'tbk_wrong_key_000'), bearer('tbk_wrong_key_000')]) {
      const res = await app.inject({ url: '/admin/queues', headers })
      expectApiError(res, 401, 'unauthorized')
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/)
    }
  })

  it("/admin/queues: 403 forbidden for every org's key, admin included (it shows every org's jobs)", async () => {
    for (const key of [KEYS.acmeRead, KEYS.acmeSend, KEYS.acmeAdmin, KEYS.globexAdmin]) {
      expect(
        expectApiError(await app.inject({ url: '/admin/queues', headers: bearer(key) }), 403, 'forbidden'),
      ).toMatchObject({ details: { required: 'operator' } })
      expectApiError(
        await app.inject({ url: '/admin/queues/api/queues', headers: basic('x', key) }),
        403,
        'forbidden',
      )
    }
  })
})
