import { describe, expect, it } from 'vitest'
import { bearer, KEYS } from '../helpers/app.js'
import { inbound, pn } from '../helpers/events.js'
import { expectValidationError, useApp } from './support.js'

/**
 * CRM tools send the bodiless POSTs with `Content-Type: application/json` and no body at all. That must
 * be accepted as "no body"; a body that is there but is not JSON is still a 400.
 */

const ref = useApp('http-empty-json')

describe('bodiless POST with Content-Type: application/json', () => {
  it('…/read and …/no-reply-needed accept an empty body', async () => {
    const { app, services } = ref.f
    await services.ingestor.ingest(inbound('acme-sales', pn(41), { text: 'Hello?' }))
    for (const action of ['read', 'no-reply-needed']) {
      for (const payload of ['', '  \n']) {
        const res = await app.inject({
          method: 'POST',
          url: `/v1/sessions/acme-sales/chats/${pn(41)}/${action}`,
          headers: { ...bearer(KEYS.acmeSend), 'content-type': 'application/json' },
          payload,
        })
        expect(res.statusCode, `${action} ${JSON.stringify(payload)}`).toBe(200)
      }
    }
    const chat = await services.inbox.getChat('acme-sales', pn(41))
    expect(chat?.unanswered).toBe(0)
  })

  it('a body that is not JSON is still a validation error, and a prototype-poisoning body is refused', async () => {
    const { app } = ref.f
    const post = (payload: string) =>
      app.inject({
        method: 'POST',
        url: `/v1/sessions/acme-sales/chats/${pn(42)}/read`,
        headers: { ...bearer(KEYS.acmeSend), 'content-type': 'application/json' },
        payload,
      })
    expectValidationError(await post('{"oops"'), 'body')
    expect((await post('{"__proto__":{"x":1}}')).statusCode).toBe(400)
  })
})
