import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ManualClock } from '../../src/clock.js'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { inbound, pn, T0 } from '../helpers/events.js'

let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
beforeAll(async () => {
  f = await appFixture('http-smoke')
})
afterAll(() => f.cleanup())

describe('HTTP API smoke', () => {
  it('serves the overview of stored chats', async () => {
    await f.services.ingestor.ingest(
      inbound('acme-sales', pn(1), { ts: T0, pushName: 'Maria', text: 'Hi there' }),
    )
    const res = await f.app.inject({
      url: '/v1/sessions/acme-sales/chats/overview',
      headers: bearer(KEYS.acmeRead),
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      items: [
        expect.objectContaining({
          jid: pn(1),
          name: 'Maria',
          unanswered: 1,
          unreadCount: 1,
          owner: 'anna',
          waitingSince: new Date(T0).toISOString(),
          lastMessage: {
            id: expect.any(String),
            fromMe: false,
            preview: 'Hi there',
            timestamp: new Date(T0).toISOString(),
          },
        }),
      ],
      nextCursor: '',
    })
  })

  it('names each bad field in a validation error', async () => {
    const res = await f.app.inject({
      url: '/v1/sessions/acme-sales/chats/overview?limit=0&filter=weird',
      headers: bearer(KEYS.acmeRead),
    })
    expect(res.statusCode).toBe(400)
    const body = res.json()
    expect(body.error.code).toBe('validation_error')
    expect(body.error.details.fields).toEqual(
      expect.arrayContaining([
        { field: 'query.limit', message: expect.stringContaining('1') },
        { field: 'query.filter', message: 'expected one of unread, unanswered' },
      ]),
    )
  })
})
