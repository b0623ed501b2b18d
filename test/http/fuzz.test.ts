import type { InjectOptions } from 'fastify'
import { beforeAll, describe, expect, it } from 'vitest'
import { ERROR_STATUS } from '../../src/http/errors.js'
import { bearer, KEYS } from '../helpers/app.js'
import { group, inbound, lid, outbound, pn, T0 } from '../helpers/events.js'
import { dumpPrefix } from '../helpers/redis.js'
import { type AppFixture, isRateLimitKey, prng, STACK_FRAME, useApp } from './support.js'

/**
 * Throws thousands of random and malformed requests at the API (seeded, so every run sends the same
 * ones) and checks every answer against the documented contract.
 *
 * "Stored state unchanged" means: every key under the test prefix, with its full value, is identical
 * before and after the barrage, except
 *  - the rate limiter's counters (`<prefix>:{global}:ratelimit:*`), which every authenticated request
 *    bumps by design. (An overview read leaves nothing behind: its cursor is a keyset position.)
 * Inbox state (chats, indexes, counters, contacts, aliases, session statuses, the sim streams) must not
 * move at all. So the barrage uses read routes with anything, and the mutating routes only with input
 * that cannot be valid: chats that do not exist, sim message bodies with at least one broken field.
 * Presence with a valid body is allowed: no worker serves the sessions here, so it answers 501.
 */

const SEED = 0x7b1d9e
const REQUESTS = 2_400

const ref = useApp('http-fuzz')
const R = prng(SEED)

const EXISTING_CHATS = [pn(1), lid(2), pn(2), group(1), pn(3)]

beforeAll(async () => {
  const { ingestor } = ref.f.services
  await ingestor.ingest(inbound('acme-sales', pn(1), { ts: T0, pushName: 'Maria' }))
  await ingestor.ingest(inbound('acme-sales', lid(2), { ts: T0 + 1, alt: pn(2), pushName: 'Lars' }))
  await ingestor.ingest(inbound('acme-sales', group(1), { ts: T0 + 2, participant: pn(3), pushName: 'Zoe' }))
  await ingestor.ingest(outbound('acme-sales', pn(1), { ts: T0 + 3 }))
  await ingestor.ingest(inbound('globex-main', pn(1), { ts: T0, pushName: 'Gustav' }))
  await ref.f.services.statuses.set('acme-sales', 'WORKING')
  await ref.f.services.sim!.recordAction('acme-sales', { kind: 'presence', jid: pn(1), state: 'paused' })
  ref.f.clock.set(T0 + 60_000)
})

async function inboxState(f: AppFixture) {
  const all = await dumpPrefix(f.redis, f.prefix)
  return Object.fromEntries(Object.entries(all).filter(([k]) => !isRateLimitKey(f.prefix, k)))
}

// ---------------------------------------------------------------------------------------------------
// Generators

const UNICODE = ['ü', 'ß', '😀', '\u202e', '中文', 'é', '\u00a0', 'ﬁ']
const randomString = (max = 40): string => {
  const n = R.int(max + 1)
  let s = ''
  for (let i = 0; i < n; i++) {
    const r = R.next()
    if (r < 0.7) s += String.fromCharCode(0x20 + R.int(95))
    else if (r < 0.85) s += R.pick(UNICODE)
    else s += String.fromCharCode(R.int(0x20))
  }
  return s
}
const enc = (s: string) => (R.chance(0.8) ? encodeURIComponent(s) : s.replace(/[\s#?]/g, ''))

const SIDS_VALID = ['acme-sales', 'acme-support', 'globex-main']
const SIDS_GARBAGE = [
  'nope',
  'ACME-SALES',
  '..',
  '..%2F..%2Fetc',
  '%2e%2e',
  '%00',
  'acme-sales%00',
  '%E0%A4%A',
  '%ZZ',
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(250),
  '-x',
  '😀',
  '%F0%9F%98%80',
  "x'%20OR%201=1",
  '%3Cscript%3E',
  '{acme-sales}',
  'acme-sales:chats',
  '*',
]
const JIDS_ABSENT = [pn(777), lid(778), group(779), `${pn(780).split('@')[0]}:3@s.whatsapp.net`]
const JIDS_GARBAGE = [
  '12345',
  'x@y',
  '@s.whatsapp.net',
  'abc@g.us',
  '1234@s.whatsapp.net.evil',
  '..%2F..%2Fsecret',
  `${'1'.repeat(30)}@lid`,
  `${'1'.repeat(190)}@lid`,
  `${'9'.repeat(260)}@s.whatsapp.net`,
  '%00@lid',
  '123%00@lid',
  '123@lid%00',
  '%E0%A4%A@lid',
  '😀@lid',
  '123@LID',
  '123@broadcast',
  'status@broadcast',
  '123@newsletter',
  '-1@g.us',
  ' 123@lid',
]

function sidFor(): string {
  const r = R.next()
  if (r < 0.5) return R.pick(SIDS_VALID)
  if (r < 0.9) return R.pick(SIDS_GARBAGE)
  return enc(randomString(20)) || 'x'
}
function jidFor(mutating: boolean): string {
  const r = R.next()
  if (!mutating && r < 0.35) return R.pick(EXISTING_CHATS)
  if (r < 0.55) return R.pick(JIDS_ABSENT)
  if (r < 0.9) return R.pick(JIDS_GARBAGE)
  return enc(randomString(30)) || 'y'
}

const QUERY_KEYS = [
  'limit',
  'cursor',
  'filter',
  'source',
  'group',
  'q',
  'after',
  '__proto__',
  'constructor',
  'x',
  'limit[]',
]
const QUERY_VALUES = () =>
  R.pick([
    '0',
    '1',
    '50',
    '200',
    '201',
    '-1',
    '1e2',
    '1.5',
    'NaN',
    'Infinity',
    '',
    'unread',
    'unanswered',
    'dm',
    'group',
    group(1),
    pn(1),
    'maria',
    'b2.AAAAAAAAAAAA.1',
    Buffer.from('o.AAAAAAAAAAAA.1').toString('base64url'),
    Buffer.from('c.').toString('base64url'),
    Buffer.from('c.\u0000zz').toString('base64url'),
    '0-0',
    '1-1',
    '18446744073709551615-0',
    '99999999999999999999-0',
    'a'.repeat(513),
    '%00',
    '%E0%A4%A',
    '%ZZ',
    enc(randomString(20)),
  ])
function queryString(): string {
  if (R.chance(0.4)) return ''
  const n = 1 + R.int(4)
  const parts: string[] = []
  for (let i = 0; i < n; i++) {
    const key = R.chance(0.85) ? R.pick(QUERY_KEYS) : enc(randomString(8))
    parts.push(R.chance(0.1) ? key : `${key}=${QUERY_VALUES()}`)
  }
  return `?${parts.join(R.chance(0.95) ? '&' : ';')}`
}

function jsonValue(depth = 0): unknown {
  const r = R.next()
  if (depth > 2 || r < 0.3) {
    return R.pick([
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e308,
      Number.MAX_SAFE_INTEGER,
      '',
      'paused',
      randomString(20),
      pn(1),
      group(1),
      '2026-11-20T09:00:00.000Z',
    ])
  }
  if (r < 0.5) return Array.from({ length: R.int(4) }, () => jsonValue(depth + 1))
  const obj: Record<string, unknown> = {}
  const n = R.int(5)
  for (let i = 0; i < n; i++) {
    const key = R.pick([
      'state',
      'chatId',
      'text',
      'fromMe',
      'participant',
      'id',
      'timestamp',
      'x',
      randomString(6),
    ])
    obj[key] = jsonValue(depth + 1)
  }
  return obj
}

/** A sim message body that can never be valid: a valid one with at least one field broken. */
function brokenSimBody(): Record<string, unknown> {
  const body: Record<string, unknown> = { chatId: pn(5), text: 'hello' }
  if (R.chance(0.3)) Object.assign(body, { chatId: group(2), participant: lid(9) })
  const breakers: Array<() => void> = [
    () => (body.chatId = R.pick(JIDS_GARBAGE.filter((j) => !j.includes('%')))),
    () => delete body.chatId,
    () => (body.text = ''),
    () => delete body.text,
    () => (body.text = 42),
    () => (body.fromMe = 'yes'),
    () => (body.participant = 'nobody'),
    () => Object.assign(body, { chatId: group(3), participant: undefined, fromMe: false }),
    () => (body.id = 'has space'),
    () => (body.id = ''),
    () =>
      (body.timestamp = R.pick(['yesterday', '2026-13-01T00:00:00Z', 1795238202570, '1990-01-01T00:00:00Z'])),
    () => Object.assign(body, { fromMe: true, origin: 'customer' }),
    () => (body.origin = 'martian'),
    () => (body[R.pick(['color', '__proto__x', 'extra'])] = 1),
    () => (body.pushName = 'x'.repeat(257)),
  ]
  const n = 1 + R.int(2)
  for (let i = 0; i < n; i++) R.pick(breakers)()
  return JSON.parse(JSON.stringify(body))
}

function authorization(): Record<string, string> {
  const r = R.next()
  const key = R.pick([KEYS.acmeAdmin, KEYS.acmeRead, KEYS.acmeSend, KEYS.globexAdmin, KEYS.acmeLimited])
  if (r < 0.55) return bearer(key)
  if (r < 0.6) return {}
  const value = R.pick([
    '',
    'Bearer',
    'Bearer ',
    `Bearer ${key}x`,
    `Bearer ${key.slice(0, -1)}`,
    `bearer ${key}`,
    `Bearer  ${key}  `,
    `Bearer ${key} ${key}`,
    `Token ${key}`,
    `Basic ${Buffer.from(`x:${key}`).toString('base64')}`,
    `Basic ${Buffer.from(key).toString('base64')}`,
    'Basic !!!notbase64',
    'Basic ',
    `Bearer ${'k'.repeat(600)}`,
    `Bearer ${randomString(30).replace(/\s/g, '')}`,
    `Bearer ${R.pick(UNICODE).repeat(10)}`,
    randomString(50),
  ])
  return { authorization: value }
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/octet-stream',
  ';;;',
  'application/json; charset=utf-16',
]

function body(kind: 'presence' | 'sim' | 'any'): { payload?: string; contentType?: string } {
  const r = R.next()
  if (r < 0.2) return {}
  let payload: string
  if (kind === 'presence' && r < 0.5) {
    const b: Record<string, unknown> = {
      state: R.pick(['composing', 'recording', 'paused', 'typing', 1, null, '']),
    }
    if (R.chance(0.3)) b[R.pick(['x', 'jid', 'state2'])] = jsonValue()
    payload = JSON.stringify(b)
  } else if (kind === 'sim' && r < 0.6) {
    payload = JSON.stringify(brokenSimBody())
  } else if (r < 0.8) {
    payload = JSON.stringify(jsonValue())
  } else if (r < 0.995) {
    payload = R.pick([
      '{',
      '{"state":',
      '[]]',
      'null',
      'undefined',
      '\u0000\u0001',
      '{"a":1}{"b":2}',
      '1e999',
      '"\\ud800"',
      randomString(100),
    ])
  } else {
    payload = JSON.stringify({ chatId: 'x', text: 'x'.repeat(300 * 1024) })
  }
  return { payload, contentType: R.chance(0.8) ? 'application/json' : R.pick(CONTENT_TYPES) }
}

type Template = { path: () => string; method: string; body: 'presence' | 'sim' | 'any' }
const TEMPLATES: Template[] = [
  { method: 'GET', path: () => '/v1/sessions', body: 'any' },
  { method: 'GET', path: () => `/v1/sessions/${sidFor()}`, body: 'any' },
  { method: 'GET', path: () => `/v1/sessions/${sidFor()}/chats/overview`, body: 'any' },
  { method: 'GET', path: () => `/v1/sessions/${sidFor()}/chats/${jidFor(false)}`, body: 'any' },
  { method: 'GET', path: () => `/v1/sessions/${sidFor()}/contacts`, body: 'any' },
  { method: 'GET', path: () => `/v1/sim/sessions/${sidFor()}/actions`, body: 'any' },
  { method: 'POST', path: () => `/v1/sessions/${sidFor()}/chats/${jidFor(true)}/read`, body: 'any' },
  {
    method: 'POST',
    path: () => `/v1/sessions/${sidFor()}/chats/${jidFor(true)}/no-reply-needed`,
    body: 'any',
  },
  { method: 'PUT', path: () => `/v1/sessions/${sidFor()}/chats/${jidFor(true)}/presence`, body: 'presence' },
  { method: 'POST', path: () => `/v1/sim/sessions/${sidFor()}/messages`, body: 'sim' },
  { method: 'GET', path: () => R.pick(['/healthz', '/readyz', '/openapi.json', '/metrics']), body: 'any' },
  {
    method: 'GET',
    path: () => R.pick(['/admin/queues', '/admin/queues/api/queues', '/admin/x', '/docs']),
    body: 'any',
  },
  {
    method: 'GET',
    path: () =>
      R.pick([
        '/console/',
        '/console/pair',
        '/console/assets/app.js',
        '/console/assets/x',
        '/console/api/me',
      ]),
    body: 'any',
  },
  {
    method: 'GET',
    path: () =>
      R.pick([
        '/',
        '/v1',
        '/v1/',
        '/v2/sessions',
        '/v1/sessions/',
        '/v1//sessions',
        '/v1/sessions/acme-sales/chats',
        '/v1/sessions/acme-sales/chats/',
        `/v1/sessions/acme-sales/chats/${pn(1)}/read/extra`,
        '/%2e%2e/%2e%2e/etc/passwd',
        '/v1/sessions/acme-sales/../../admin/queues',
        `/${enc(randomString(30))}`,
        `/v1/${enc(randomString(20))}/${enc(randomString(20))}`,
      ]),
    body: 'any',
  },
]
const MUTATING_PATH = /\/(read|no-reply-needed)(\?|$)|\/sim\/sessions\/[^/]+\/messages(\?|$)/
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']

function request(): InjectOptions {
  const t = R.pick(TEMPLATES)
  let method = R.chance(0.85) ? t.method : R.pick(METHODS)
  const url = t.path() + queryString()
  // Only the templates' own broken inputs may reach a mutating route.
  if (MUTATING_PATH.test(url) && method !== t.method) method = 'GET'
  const b = body(t.body)
  const headers: Record<string, string> = { ...authorization() }
  if (b.contentType) headers['content-type'] = b.contentType
  if (R.chance(0.05)) headers['accept'] = R.pick(['text/html', 'application/xml', '*/*'])
  return {
    method: method as InjectOptions['method'],
    url,
    headers,
    ...(b.payload !== undefined ? { payload: b.payload } : {}),
  }
}

// ---------------------------------------------------------------------------------------------------

const DOCUMENTED = new Set([200, 202, 204, 400, 401, 403, 404, 409, 429, 501, 503])
/** `/` (and `/console`) lead to the console's page with a redirect. */
const isConsoleEntry = (url: string, status: number) =>
  status === 302 && ['/', '/console'].includes(url.split('?')[0]!)
/** Answers that are not JSON by nature. */
const NON_JSON_OK = (url: string, status: number) =>
  status === 204 ||
  isConsoleEntry(url, status) ||
  (status === 200 &&
    (url.startsWith('/metrics') ||
      url.startsWith('/docs') ||
      url.startsWith('/admin/queues') ||
      /^\/console\/(\?|$|pair|assets\/)/.test(url)))

function problemsOf(
  req: InjectOptions,
  res: { statusCode: number; headers: Record<string, unknown>; body: string },
) {
  const problems: string[] = []
  const url = String(req.url)
  if (!DOCUMENTED.has(res.statusCode) && !isConsoleEntry(url, res.statusCode))
    problems.push(`undocumented status ${res.statusCode}`)
  if (STACK_FRAME.test(res.body)) problems.push('stack trace in body')
  if (req.method === 'HEAD') return problems
  const contentType = String(res.headers['content-type'] ?? '')
  if (!NON_JSON_OK(url, res.statusCode) && !contentType.startsWith('application/json'))
    problems.push(`content-type ${contentType || '(none)'}`)
  if (res.statusCode >= 400) {
    let parsed: unknown
    try {
      parsed = JSON.parse(res.body)
    } catch {
      problems.push('error body is not JSON')
      return problems
    }
    const e = (parsed as { error?: Record<string, unknown> }).error
    const shapeOk =
      parsed !== null &&
      typeof parsed === 'object' &&
      Object.keys(parsed).length === 1 &&
      e !== null &&
      typeof e === 'object' &&
      Object.keys(e).sort().join() === 'code,details,message' &&
      typeof e.code === 'string' &&
      typeof e.message === 'string' &&
      typeof e.details === 'object' &&
      e.details !== null &&
      !Array.isArray(e.details)
    if (!shapeOk) problems.push('error body not {error:{code,message,details}}')
    else if (ERROR_STATUS[e!.code as keyof typeof ERROR_STATUS] !== res.statusCode)
      problems.push(`code ${String(e!.code)} with status ${res.statusCode}`)
  }
  return problems
}

/** What kind of answer it was: the error code, or Fastify's own code, or the start of the body. */
function signatureOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown }; code?: unknown }
    if (parsed.error && typeof parsed.error === 'object')
      return 'code' in parsed.error ? String(parsed.error.code) : JSON.stringify(parsed.error)
    if (typeof parsed.code === 'string') return parsed.code
    return body.slice(0, 60)
  } catch {
    return body.slice(0, 60) || '(empty)'
  }
}

describe('fuzz', () => {
  it(`${REQUESTS} seeded random and malformed requests: every answer documented, stored state unchanged`, async () => {
    const { f } = ref
    const before = await inboxState(f)
    expect(Object.keys(before).length).toBeGreaterThan(10)

    const violations = new Map<string, { count: number; example: string }>()
    const statuses = new Map<number, number>()
    for (let i = 0; i < REQUESTS; i++) {
      // Keep the valid keys under their budget most of the time (a 429 is fine, but says less).
      if (i % 250 === 0) f.clock.advance(60_000)
      const req = request()
      const res = await f.app.inject(req)
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      for (const problem of problemsOf(req, res)) {
        const kind = `${problem}: ${signatureOf(res.body)}`
        const v = violations.get(kind) ?? {
          count: 0,
          example: `#${i} ${req.method} ${String(req.url).slice(0, 120)} -> ${res.statusCode} ${res.body.slice(0, 160)}`,
        }
        v.count++
        violations.set(kind, v)
      }
    }

    // The barrage reached the handlers, not just the auth gate.
    for (const status of [200, 400, 401, 403, 404])
      expect(statuses.get(status) ?? 0, `status ${status}`).toBeGreaterThan(20)
    expect(statuses.get(501) ?? 0).toBeGreaterThan(0)

    expect.soft(Object.fromEntries(violations)).toEqual({})
    expect(await inboxState(f)).toEqual(before)
  })
})
