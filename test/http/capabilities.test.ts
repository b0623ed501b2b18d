import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, KEYS } from '../helpers/app.js'
import { inbound, pn, T0 } from '../helpers/events.js'
import { expectApiError, simWorker, useApp } from './support.js'

/** Which capability each route needs, checked against keys holding every mix of capabilities. */

const ref = useApp('http-capabilities')
let worker: ReturnType<typeof simWorker>

beforeAll(async () => {
  await ref.f.services.ingestor.ingest(inbound('acme-sales', pn(1), { ts: T0 }))
  ref.f.clock.set(T0 + 60_000)
  // A live session, so that presence answers 204 for the keys allowed to send it.
  worker = simWorker(ref.f)
  await worker.open('acme-sales')
})
afterAll(async () => {
  await worker.close()
})

type Capability = 'read' | 'send' | 'admin' | 'operator'
const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`x:${key}`).toString('base64')}` })

const ROUTES: Array<{
  method: 'GET' | 'POST' | 'PUT'
  url: string
  needs: Capability
  payload?: object
  basic?: boolean
}> = [
  { method: 'GET', url: '/v1/sessions', needs: 'read' },
  { method: 'GET', url: '/v1/sessions/acme-sales', needs: 'read' },
  { method: 'GET', url: '/v1/sessions/acme-sales/chats/overview', needs: 'read' },
  { method: 'GET', url: `/v1/sessions/acme-sales/chats/${pn(1)}`, needs: 'read' },
  { method: 'GET', url: '/v1/sessions/acme-sales/contacts', needs: 'read' },
  { method: 'GET', url: '/v1/sim/sessions/acme-sales/actions', needs: 'read' },
  { method: 'POST', url: `/v1/sessions/acme-sales/chats/${pn(1)}/read`, needs: 'send' },
  { method: 'POST', url: `/v1/sessions/acme-sales/chats/${pn(1)}/no-reply-needed`, needs: 'send' },
  {
    method: 'PUT',
    url: `/v1/sessions/acme-sales/chats/${pn(1)}/presence`,
    needs: 'send',
    payload: { state: 'paused' },
  },
  {
    method: 'POST',
    url: '/v1/sim/sessions/acme-sales/messages',
    needs: 'send',
    payload: { chatId: pn(2), text: 'hi' },
  },
  { method: 'GET', url: '/admin/queues', needs: 'operator' },
  { method: 'GET', url: '/admin/queues/api/queues', needs: 'operator' },
  { method: 'GET', url: '/admin/queues/api/queues', needs: 'operator', basic: true },
]

const KEYRING: Array<{ name: string; key: string; has: Capability[] }> = [
  { name: 'acme-admin', key: KEYS.acmeAdmin, has: ['read', 'send', 'admin'] },
  { name: 'acme-read', key: KEYS.acmeRead, has: ['read'] },
  { name: 'acme-send', key: KEYS.acmeSend, has: ['send'] },
  { name: 'operator', key: KEYS.operator, has: ['operator'] },
]

const CASES = ROUTES.flatMap((route) =>
  KEYRING.map((k) => ({
    ...route,
    label: `${k.name}: ${route.method} ${route.url.replace(pn(1), '<jid>')}${route.basic ? ' (Basic)' : ''} needs ${route.needs}`,
    key: k.key,
    allowed: k.has.includes(route.needs),
  })),
)

describe('capability table', () => {
  for (const c of CASES)
    it(c.label, async () => {
      const res = await ref.f.app.inject({
        method: c.method,
        url: c.url,
        headers: c.basic ? basic(c.key) : bearer(c.key),
        ...(c.payload ? { payload: c.payload } : {}),
      })
      if (c.allowed) {
        expect(res.statusCode, res.body.slice(0, 200)).toBeGreaterThanOrEqual(200)
        expect(res.statusCode, res.body.slice(0, 200)).toBeLessThan(300)
      } else {
        const e = expectApiError(res, 403, 'forbidden')
        expect(e.details).toEqual({ required: c.needs })
      }
    })

  it('the public routes need no key at all', async () => {
    for (const url of ['/healthz', '/readyz', '/openapi.json'])
      expect((await ref.f.app.inject({ url })).statusCode, url).toBe(200)
  })
})
