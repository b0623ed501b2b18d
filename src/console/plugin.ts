import { timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import {
  type Principal,
  presentedKey,
  principalOf,
  principalOfKey,
  sha256Hex,
  UnknownKeyError,
} from '../http/auth.js'
import { PUBLISHED_KEYS } from '../http/bind-guard.js'
import type { HttpDeps } from '../http/context.js'
import { ApiError, sendApiError } from '../http/errors.js'
import type { RateLimits } from '../http/rate-limit.js'
import { assertSameOrigin, cookieOf, setCookie, signedIn, visibleOrgs } from './access.js'
import { ChangeSubscriber } from './changes.js'
import { consoleDataRoutes } from './data-routes.js'
import { pairingRoutes } from './pairing-routes.js'
import { type ConsoleSignIn, ConsoleStore } from './session-store.js'
import { type EventStream, openEventStream } from './sse.js'
import { inlineScriptHashes, loadConsoleFiles } from './static.js'

/**
 * The browser console (issue 27): pages under /console/, signed in with an API key that is exchanged
 * for a server-side session. With that session's cookie the pages call the HTTP API itself (/v1/…),
 * so every org check and capability of the API holds for them unchanged; what the API lacks for a
 * page (live notices, the rules file's state, pairing links) lives under /console/api/.
 *
 * Registered before the API's guard (app.ts): its hook gives a cookie-signed request its principal,
 * which the guard then checks like a bearer key's.
 */

export const SIGN_IN_COOKIE = 'tb_console'
export const CSRF_HEADER = 'x-tickbridge-csrf'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
/** Paths where the sign-in cookie stands for a key: the API, the queue dashboard, the console's own. */
const COOKIE_PATHS = ['/v1/', '/admin/', '/console/api/']
/** Signing in, and the pairing page (its own cookie), do not speak for a signed-in key. */
const OWN_AUTH_PATHS = ['/console/api/sign-in', '/console/api/pair/']
/** Bull Board's own page cannot send our CSRF header; Origin + SameSite guard its changes. */
const NO_TOKEN_PATHS = ['/admin/queues']

export interface ConsoleOptions {
  /** The API's failed-login throttle (app.ts): a wrong key here counts against the address as there. */
  authLimits?: Pick<RateLimits, 'locked' | 'failed'>
  /** How long a sign-in lasts. Default 8 h. */
  signInTtlMs?: number
  /** How long a pairing link may wait to be opened, and its page then lasts. Default 10 min. */
  pairingLinkTtlMs?: number
}

const signInBody = z.object({ key: z.string().min(8).max(512) }).strict()

export const consolePlugin: FastifyPluginAsyncZod<HttpDeps & ConsoleOptions> = async (app, deps) => {
  const { services: s } = deps
  const signInTtlMs = deps.signInTtlMs ?? 8 * 3600_000
  const store = new ConsoleStore(s.redis, s.keys)
  const changes = new ChangeSubscriber(s.redis, s.keys.prefix)
  const files = loadConsoleFiles()
  const streams = new Set<{ close(): void }>()
  app.addHook('onClose', async () => {
    for (const stream of streams) stream.close()
    changes.close()
  })

  app.addHook('onRequest', async (req, reply) => {
    try {
      await cookieSignIn(req)
    } catch (err) {
      if (err instanceof ApiError) return sendApiError(reply, err)
      throw err
    }
  })

  /** Gives a request carrying a valid sign-in cookie (and no key of its own) that key's principal. */
  async function cookieSignIn(req: FastifyRequest): Promise<void> {
    if (req.headers.authorization || !COOKIE_PATHS.some((p) => req.url.startsWith(p))) return
    if (OWN_AUTH_PATHS.some((p) => req.url.startsWith(p))) return
    const id = cookieOf(req, SIGN_IN_COOKIE)
    if (!id) return
    const record = await store.signInOf(id, s.clock.now())
    // The key is looked up in the rules in force: a key removed from the file signs its consoles out.
    const key = record && s.rules.current().config.apiKeys.find((k) => k.id === record.keyId)
    if (!record || !key) return
    if (!SAFE_METHODS.has(req.method)) {
      assertSameOrigin(req)
      if (!NO_TOKEN_PATHS.some((p) => req.url.startsWith(p))) assertCsrf(req, record)
    }
    req.consolePrincipal = principalOfKey(key)
    req.consoleSignIn = { id, record }
  }

  // --- pages and files ------------------------------------------------------------------------------
  const page = (name: string) => {
    const f = files.get(name)!
    // Scripts only from us (and the inline import map, by its hash); fetches and event streams only to us.
    const csp = [
      "default-src 'self'",
      `script-src 'self' ${inlineScriptHashes(f.body.toString()).join(' ')}`,
      "img-src 'self' data:",
      "style-src 'self'",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ].join('; ')
    return async (_req: FastifyRequest, reply: FastifyReply) =>
      reply
        .header('content-security-policy', csp)
        .header('cache-control', 'no-cache')
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
        .type(f.type)
        .send(f.body)
  }
  const publicRoute = { config: { public: true }, schema: { hide: true } } as const
  app.get('/', publicRoute, async (_req, reply) => reply.redirect('/console/'))
  app.get('/console', publicRoute, async (_req, reply) => reply.redirect('/console/'))
  app.get('/console/', publicRoute, page('index.html'))
  app.get('/console/pair', publicRoute, page('pair.html'))
  app.get<{ Params: { '*': string } }>('/console/assets/*', publicRoute, async (req, reply) => {
    const f = files.get(req.params['*'])
    if (!f) throw ApiError.notFound(`file ${req.params['*']}`)
    reply
      .header('cache-control', 'no-cache')
      .header('etag', f.etag)
      .header('x-content-type-options', 'nosniff')
    if (req.headers['if-none-match'] === f.etag) return reply.status(304).send()
    return reply.type(f.type).send(f.body)
  })

  // --- signing in and out ---------------------------------------------------------------------------
  app.post(
    '/console/api/sign-in',
    { ...publicRoute, schema: { hide: true, body: signInBody } },
    async (req, reply) => {
      assertSameOrigin(req)
      const rules = s.rules.current()
      const failures = rules.config.api.authFailureLimit
      const lock = await deps.authLimits?.locked(req, failures)
      if (lock && !lock.allowed)
        throw new ApiError(
          'rate_limited',
          `too many failed authentications from this address (${failures.max} per ${failures.per / 1000}s)`,
          { retryAfterSeconds: lock.retryAfterSeconds },
          { 'retry-after': String(lock.retryAfterSeconds) },
        )
      let principal: Principal
      try {
        principal = principalOf(presentedKey(`Bearer ${req.body.key}`), rules)
      } catch (err) {
        if (err instanceof UnknownKeyError) await deps.authLimits?.failed(req, failures)
        throw err
      }
      const { id, record } = await store.signIn(principal.keyId, s.clock.now(), signInTtlMs)
      setCookie(reply, req, SIGN_IN_COOKIE, id, { path: '/', maxAgeMs: signInTtlMs })
      req.log.info({ key: principal.keyId }, 'console sign-in')
      return me(principal, record)
    },
  )

  app.post('/console/api/sign-out', publicRoute, async (req, reply) => {
    signedIn(req)
    await store.signOut(req.consoleSignIn!.id)
    setCookie(reply, req, SIGN_IN_COOKIE, '', { path: '/', maxAgeMs: 0 })
    return reply.status(204).send()
  })

  // Not signed in is an answer, not an error: the page asks on every load. A key whose text ships with
  // Tickbridge (example rules; only ever in force on a loopback bind, see bind-guard.ts) is named, so
  // `npm start` leads a newcomer straight in.
  app.get('/console/api/me', publicRoute, async (req) => {
    if (req.consoleSignIn) return me(signedIn(req), req.consoleSignIn.record)
    const hashes = new Set(s.rules.current().config.apiKeys.map((k) => k.sha256))
    return { signedIn: false as const, publishedKeys: PUBLISHED_KEYS.filter((k) => hashes.has(sha256Hex(k))) }
  })

  /** Who is signed in, what they may do, and the orgs (sessions, users) they see. */
  function me(p: Principal, record: ConsoleSignIn) {
    const rules = s.rules.current()
    const orgs = visibleOrgs(p, rules)
    return {
      signedIn: true as const,
      keyId: p.keyId,
      org: p.kind === 'org' ? p.org : null,
      capabilities: p.kind === 'org' ? [...p.capabilities] : ['operator'],
      operator: p.kind === 'operator',
      csrf: record.csrf,
      expiresAt: new Date(record.expiresAt).toISOString(),
      sim: s.sim !== null,
      hubspot: s.hubspot !== null,
      orgs: orgs.map((id) => ({
        id,
        name: rules.orgs.get(id)?.name ?? null,
        sessions: rules.sessionsOfOrg(id).map((x) => ({ id: x.id, label: x.label ?? null })),
        users: [...rules.users.values()]
          .filter((u) => u.org === id)
          .map((u) => ({ id: u.id, name: u.name ?? null, role: u.role })),
      })),
    }
  }

  // --- live notices -----------------------------------------------------------------------------------
  app.get('/console/api/events', publicRoute, async (req, reply) => {
    const principal = signedIn(req)
    const signInId = req.consoleSignIn!.id
    // Subscribed before the stream opens: a Redis that cannot subscribe gets an ordinary error answer.
    let stream: EventStream | null = null
    const unlisten = await changes.listen((change) => {
      const rules = s.rules.current()
      const org = rules.sessions.get(change.sid)?.org
      if (org && visibleOrgs(principal, rules).includes(org)) stream?.send('change', change)
    })
    stream = openEventStream(req, reply, {
      // A sign-out elsewhere (or the end of the sign-in) ends the stream at the next heartbeat.
      onHeartbeat: async (st) => {
        if (!(await store.signInOf(signInId, s.clock.now()))) st.close()
      },
    })
    streams.add(stream)
    stream.send('ready', {})
    const opened = stream
    void opened.closed.then(() => {
      unlisten()
      streams.delete(opened)
    })
  })

  await app.register(consoleDataRoutes, deps)
  await app.register(pairingRoutes, { ...deps, store, changes, streams })
}
// Registered at the root (Fastify's `skip-override`, what fastify-plugin sets): its hook must run for
// the API's routes too, before the API's guard.
Object.assign(consolePlugin, { [Symbol.for('skip-override')]: true })

function assertCsrf(req: FastifyRequest, record: ConsoleSignIn): void {
  const sent = Buffer.from(String(req.headers[CSRF_HEADER] ?? ''))
  const expected = Buffer.from(record.csrf)
  if (sent.length !== expected.length || !timingSafeEqual(sent, expected))
    throw new ApiError('forbidden', `missing or wrong ${CSRF_HEADER} header (reload the console)`)
}
