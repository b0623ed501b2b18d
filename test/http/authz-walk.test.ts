import { Queue } from 'bullmq'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { inbound, pn, T0 } from '../helpers/events.js'
import { testRedis } from '../helpers/redis.js'
import type { AppFixture } from './support.js'

/**
 * Walks every route the app serves with every kind of key and checks each answer's class against the
 * table below. Every operation of the OpenAPI document must have a row, and every route Fastify has
 * registered must be in the document, be one of the few public pages listed, or sit under the
 * operator's /admin/queues: a new route cannot ship without someone deciding who may call it.
 */

type Capability = 'read' | 'send' | 'admin'
/**
 * - `public`: any caller, no key needed (2xx).
 * - `signed`: public, but only a request signed with HubSpot's app secret passes (401 unsigned).
 * - `{ needs, of }`: an org key with the capability; `of: 'A'` names org A's session or user, so another
 *   org's key gets 404 (exactly like a missing one); `of: 'own'` lists the caller's own org's things.
 */
type Guard = 'public' | 'signed' | { needs: Capability; of: 'A' | 'own' }

interface Row {
  guard: Guard
  query?: string
  body?: object
}

/** Every operation of the OpenAPI document, as "METHOD /path/{param}". */
const TABLE: Record<string, Row> = {
  'GET /healthz': { guard: 'public' },
  'GET /readyz': { guard: 'public' },
  'POST /v1/webhooks/hubspot': { guard: 'signed', body: [] as unknown as object },
  'GET /v1/sessions': { guard: { needs: 'read', of: 'own' } },
  'GET /v1/sessions/{sid}': { guard: { needs: 'read', of: 'A' } },
  'GET /v1/sessions/{sid}/qr': { guard: { needs: 'admin', of: 'A' } },
  'POST /v1/sessions/{sid}/start': { guard: { needs: 'admin', of: 'A' } },
  'POST /v1/sessions/{sid}/stop': { guard: { needs: 'admin', of: 'A' } },
  'POST /v1/sessions/{sid}/logout': { guard: { needs: 'admin', of: 'A' } },
  'GET /v1/sessions/{sid}/chats/overview': { guard: { needs: 'read', of: 'A' } },
  'GET /v1/sessions/{sid}/chats/{jid}': { guard: { needs: 'read', of: 'A' } },
  'POST /v1/sessions/{sid}/chats/{jid}/read': { guard: { needs: 'send', of: 'A' } },
  'POST /v1/sessions/{sid}/chats/{jid}/no-reply-needed': { guard: { needs: 'send', of: 'A' } },
  'PUT /v1/sessions/{sid}/chats/{jid}/presence': {
    guard: { needs: 'send', of: 'A' },
    body: { state: 'paused' },
  },
  'GET /v1/sessions/{sid}/contacts': { guard: { needs: 'read', of: 'A' } },
  'POST /v1/sessions/{sid}/seen': { guard: { needs: 'send', of: 'A' }, body: { chatId: pn(1) } },
  'POST /v1/sessions/{sid}/chats/{jid}/unread': { guard: { needs: 'send', of: 'A' }, body: { in: '2h' } },
  'GET /v1/sessions/{sid}/chats/{jid}/reminders': { guard: { needs: 'read', of: 'A' } },
  'DELETE /v1/sessions/{sid}/chats/{jid}/reminders/{rid}': { guard: { needs: 'send', of: 'A' } },
  'GET /v1/sla/events': { guard: { needs: 'read', of: 'A' }, query: '?sessionId=acme-sales' },
  'GET /v1/crm/unmatched': { guard: { needs: 'read', of: 'own' } },
  'GET /v1/counters/unanswered/{userId}': { guard: { needs: 'read', of: 'A' } },
  'DELETE /v1/chats/unanswered': { guard: { needs: 'admin', of: 'A' }, query: '?sessionId=acme-sales' },
  'POST /v1/sim/sessions/{sid}/messages': {
    guard: { needs: 'send', of: 'A' },
    body: { chatId: pn(2), text: 'hi' },
  },
  'POST /v1/sim/sessions/{sid}/faults': {
    guard: { needs: 'send', of: 'A' },
    body: { fault: 'app_state_missing', times: 1 },
  },
  'GET /v1/sim/sessions/{sid}/actions': { guard: { needs: 'read', of: 'A' } },
  // A well-formed QR payload that is no session's current one: the guard is what is walked here.
  'POST /v1/sim/sessions/{sid}/scan': { guard: { needs: 'send', of: 'A' }, body: { code: 'ABCD1234' } },
}

/** Registered but not in the document: the docs UI and the document it renders. Public. */
const PUBLIC_PAGES = [
  'GET /docs',
  'GET /docs/',
  'GET /docs/static/index.html',
  'GET /docs/static/swagger-initializer.js',
  'GET /docs/*',
  'GET /docs/json',
  'GET /docs/yaml',
  'GET /openapi.json',
]
/** The browser console's pages and files (src/console/): public, they hold no data. */
const CONSOLE_PAGES = ['GET /', 'GET /console', 'GET /console/', 'GET /console/pair', 'GET /console/*']
/**
 * The console's own API. Signing in takes a key in its body; `me` answers "not signed in" to anyone;
 * every other route answers only a sign-in cookie (or, under pair/, a pairing link's cookie): a bearer
 * key, of any kind, does not open them.
 */
const CONSOLE_PUBLIC = ['POST /console/api/sign-in', 'GET /console/api/me']
const CONSOLE_SIGNED_IN = [
  'POST /console/api/sign-out',
  'GET /console/api/sessions/:sid/sla',
  'POST /console/api/sessions/:sid/pairing-links',
  'GET /console/api/events',
  'GET /console/api/counters',
  'GET /console/api/rules',
  'POST /console/api/dry-run',
  'GET /console/api/hubspot',
  'GET /console/api/pair/state',
  'GET /console/api/pair/events',
  'POST /console/api/pair/code',
  'POST /console/api/pair/open',
]
/** Everything under it is Bull Board: the operator key's, read-only here (DASHBOARD_ACTIONS unset). */
const DASHBOARD = '/admin/queues'

const KINDS = {
  none: undefined,
  read: KEYS.acmeRead,
  send: KEYS.acmeSend,
  admin: KEYS.acmeAdmin,
  otherOrgAdmin: KEYS.globexAdmin,
  operator: KEYS.operator,
} as const
type Kind = keyof typeof KINDS
/** The admin key last: what it is allowed to change, it changes after the others were checked. */
const ORDER: Kind[] = ['none', 'operator', 'read', 'send', 'otherOrgAdmin', 'admin']
const HAS: Record<'read' | 'send' | 'admin', Capability[]> = {
  read: ['read'],
  send: ['send'],
  admin: ['read', 'send', 'admin'],
}

type Expect = '2xx' | '401' | '403' | '404' | 'allowed' | 'allowed, own org only'

function expected(guard: Guard, kind: Kind): Expect {
  if (guard === 'public') return '2xx'
  if (guard === 'signed') return '401'
  if (kind === 'none') return '401'
  if (kind === 'operator') return '403'
  if (kind === 'otherOrgAdmin') return guard.of === 'A' ? '404' : 'allowed, own org only'
  return HAS[kind].includes(guard.needs) ? 'allowed' : '403'
}

function check(res: LightMyRequestResponse, want: Expect, label: string) {
  const got = res.statusCode
  const why = `${label}: expected ${want}, got ${got} ${res.body.slice(0, 200)}`
  switch (want) {
    case '2xx':
      expect(got >= 200 && got < 300, why).toBe(true)
      return
    case '401':
    case '403':
    case '404':
      expect(String(got), why).toBe(want)
      return
    case 'allowed':
    case 'allowed, own org only':
      // Past the guard: a success, or an answer about the request itself (validation, conflict, no
      // live WhatsApp client), never a refusal, a not-found of our own ids, or a server error.
      expect([401, 403, 404, 429].includes(got) || (got >= 500 && got !== 501), why).toBe(false)
      if (want === 'allowed, own org only') expect(res.body, why).not.toMatch(/acme/)
      return
  }
}

const r = testRedis('http-authz-walk')
let f: AppFixture
let queue: Queue
let jobId: string
let reminderId: string

/** Real ids of org A (acme): a session with a chat, a user, a pending reminder, a queued job. */
function fill(path: string): string {
  return (
    path
      .replace('{sid}', 'acme-sales')
      .replace(':sid', 'acme-sales')
      .replace('{jid}', pn(1))
      .replace('{rid}', reminderId)
      .replace('{userId}', 'anna')
      .replace(':queueName', 'receipts')
      .replace(':jobId', jobId)
      .replace(':queueStatus', 'failed')
      .replace(':schedulerId', 'none')
      // printRoutes shows the static files' wildcard routes as `<prefix>/*`; they serve `<prefix>/static/*`.
      .replace(/^\/docs\/\*$/, '/docs/static/swagger-ui.css')
      .replace(/^\/admin\/queues\/\*$/, '/admin/queues/static/favicon-32x32.png')
  )
}

/** "METHOD /path" of every route Fastify serves (HEAD is GET's twin), read from printRoutes' tree. */
function registeredRoutes(app: AppFixture['app']): string[] {
  const stack: string[] = []
  const out: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    stack.push(m[2]!)
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD'))
      out.push(`${method} ${stack.join('')}`)
  }
  return out
}

beforeAll(async () => {
  queue = new Queue('receipts', { connection: r.redis.duplicate(), prefix: r.prefix })
  jobId = (await queue.add('read', { sessionId: 'acme-sales' }, { delay: 3_600_000 })).id!
  f = await appFixture('http-authz-walk', {
    prefix: r.prefix,
    queues: [queue],
    // Set, so that the webhook route checks signatures (unset, it answers 501 to everyone).
    env: { HUBSPOT_APP_SECRET: 'walk-test-app-secret' },
  })
  await f.services.ingestor.ingest(inbound('acme-sales', pn(1), { ts: T0 }))
  f.clock.set(T0 + 60_000)
  const reminder = await f.app.inject({
    method: 'POST',
    url: `/v1/sessions/acme-sales/chats/${pn(1)}/unread`,
    headers: bearer(KEYS.acmeSend),
    payload: { in: '1h' },
  })
  expect(reminder.statusCode, reminder.body).toBe(202)
  reminderId = reminder.json().reminderId
})
afterAll(async () => {
  await f?.cleanup()
  await queue?.close()
  await r.cleanup()
})

describe('authorization walk', () => {
  it('every operation of the OpenAPI document has a row in the table, and every row an operation', () => {
    const doc = f.app.swagger() as { paths: Record<string, Record<string, unknown>> }
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    )
    expect(
      documented.filter((op) => !(op in TABLE)),
      'operations without a row',
    ).toEqual([])
    expect(
      Object.keys(TABLE).filter((op) => !documented.includes(op)),
      'rows without an operation',
    ).toEqual([])
  })

  it('every registered route is documented, a listed public page, or the operator dashboard', () => {
    const routes = registeredRoutes(f.app)
    expect(routes.length).toBeGreaterThan(Object.keys(TABLE).length)
    const asDoc = (route: string) => route.replace(/:(\w+)/g, '{$1}')
    const unguarded = routes.filter(
      (route) =>
        !(asDoc(route) in TABLE) &&
        !PUBLIC_PAGES.includes(route) &&
        !CONSOLE_PAGES.includes(route) &&
        !CONSOLE_PUBLIC.includes(route) &&
        !CONSOLE_SIGNED_IN.includes(route) &&
        !route.split(' ')[1]!.startsWith(DASHBOARD),
    )
    expect(unguarded, 'routes nobody decided about').toEqual([])
  })

  it("the console's own API answers no key, and every kind of bearer key, as not signed in", async () => {
    for (const route of CONSOLE_SIGNED_IN) {
      const [method, path] = route.split(' ') as [string, string]
      for (const kind of ORDER) {
        const key = KINDS[kind]
        const res = await f.app.inject({
          method: method as 'GET',
          url: path.replace(':sid', 'acme-sales'),
          // Same-origin, so what answers is the sign-in check, not the cross-site guard.
          headers: { ...(key ? bearer(key) : {}), origin: 'http://localhost:80', host: 'localhost:80' },
          ...(method === 'GET' ? {} : { payload: {} }),
        })
        // A body the route validates before it asks who is signed in is refused as invalid: still nothing
        // read or done.
        const refused = res.statusCode === 401 || (method === 'POST' && res.statusCode === 400)
        expect(refused, `${kind} ${route}: ${res.statusCode} ${res.body.slice(0, 200)}`).toBe(true)
      }
    }
  })

  it('every documented operation answers each kind of key as the table says', async () => {
    let requests = 0
    for (const kind of ORDER) {
      for (const [op, row] of Object.entries(TABLE)) {
        const [method, path] = op.split(' ') as [string, string]
        const key = KINDS[kind]
        const res = await f.app.inject({
          method: method as 'GET',
          url: fill(path) + (row.query ?? ''),
          headers: key ? bearer(key) : {},
          ...(row.body ? { payload: row.body } : {}),
        })
        check(res, expected(row.guard, kind), `${kind} ${op}`)
        requests++
      }
    }
    expect(requests).toBe(Object.keys(TABLE).length * ORDER.length)
  })

  it('every public page answers without a key (the docs UI redirects to its index)', async () => {
    for (const route of PUBLIC_PAGES) {
      const res = await f.app.inject({ url: fill(route.split(' ')[1]!) })
      expect(res.statusCode, `${route}: ${res.body.slice(0, 200)}`).toBeLessThan(400)
    }
  })

  it('every dashboard route: 401 without a key, 403 for every org key, the operator reads but writes nothing', async () => {
    const routes = registeredRoutes(f.app).filter((route) => route.split(' ')[1]!.startsWith(DASHBOARD))
    expect(routes.length).toBeGreaterThan(20)
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string]
      for (const kind of ORDER) {
        const key = KINDS[kind]
        const res = await f.app.inject({
          method: method as 'GET',
          url: fill(path),
          headers: key ? bearer(key) : {},
          ...(method === 'GET' ? {} : { payload: {} }),
        })
        const want: Expect =
          kind === 'none' ? '401' : kind === 'operator' && method === 'GET' ? 'allowed' : '403'
        // Bull Board answers its own 404 for a queue or job view it does not have; only refusals matter.
        if (want === 'allowed') {
          const refused = [401, 403, 429].includes(res.statusCode) || res.statusCode >= 500
          expect(refused, `${kind} ${route}: got ${res.statusCode} ${res.body.slice(0, 200)}`).toBe(false)
        } else check(res, want, `${kind} ${route}`)
      }
    }
    expect(await queue.getJobCounts('delayed')).toEqual({ delayed: 1 })
  })
})
