import { createBullBoard } from '@bull-board/api'
import { FastifyAdapter } from '@bull-board/fastify'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { consolePlugin } from '../console/plugin.js'
import type { Rules } from '../rules/compile.js'
import {
  type Capability,
  presentedKey,
  principalOf,
  requireCapability,
  requireOperator,
  UnknownKeyError,
} from './auth.js'
import type { HttpDeps } from './context.js'
import { ApiError, errorBody, installErrorHandling, sendApiError } from './errors.js'
import { openApiTransform } from './openapi.js'
import { boardAdapters } from './queue-board.js'
import { installRateLimits } from './rate-limit.js'
import { chatRoutes } from './routes/chats.js'
import { contactRoutes } from './routes/contacts.js'
import { counterRoutes } from './routes/counters.js'
import { crmUnmatchedRoutes } from './routes/crm-unmatched.js'
import { hubspotWebhookRoutes } from './routes/hubspot-webhooks.js'
import { opsRoutes } from './routes/ops.js'
import { receiptRoutes } from './routes/receipts.js'
import { reminderRoutes } from './routes/reminders.js'
import { sessionRoutes } from './routes/sessions.js'
import { simRoutes } from './routes/sim.js'
import { slaRoutes } from './routes/sla.js'

export type { HttpDeps } from './context.js'

const ADMIN_PREFIX = '/admin/'
/** Answers whose access-log line names the client's address. */
const REFUSALS = new Set([401, 403, 429])

/**
 * Builds the HTTP API without listening (tests use inject(); main() calls listen()). Every route is
 * authenticated unless marked public; org isolation and capabilities are checked per route.
 */
export async function buildApp(deps: HttpDeps) {
  const { services: s } = deps
  const app = Fastify({
    loggerInstance: s.log.child({ component: 'http' }) as FastifyBaseLogger,
    // One access-log line per request comes from our onResponse hook (with route and key id).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    // Our ids never need more; longer params are rejected before routing.
    routerOptions: { maxParamLength: 200 },
    genReqId: () => crypto.randomUUID(),
    // Behind a proxy, req.ip (throttling failed logins, the access log) is the client's only if trusted.
    trustProxy: trustProxyOf(s.env.TRUST_PROXY),
    // Errors raised while routing (bad percent-encoding, over-long parameters) get our JSON shape too,
    // without echoing the path back.
    frameworkErrors: (err, _req, reply) => {
      const message =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? 'a path parameter is longer than 200 characters'
          : 'malformed URL'
      void (reply as FastifyReply)
        .status(400)
        .send(errorBody('validation_error', message, { fields: [{ field: 'path', message }] }))
    },
  }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  installErrorHandling(app)

  // CRM tools send bodiless POSTs (`…/read`, `…/no-reply-needed`) with `Content-Type: application/json`
  // and an empty body. That is no JSON document, but it is no body either: treat it as absent, and leave
  // every non-empty body to Fastify's own parser (prototype-poisoning checks included).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if ((body as string).trim() === '') return done(null, undefined)
    parseJson(req, body as string, done)
  })

  const limits = await installRateLimits(app, s.redis, `${s.keys.global('ratelimit')}:`)

  // The browser console (src/console/); before the guard, whose principal its sign-in cookie may give.
  await app.register(consolePlugin, { ...deps, authLimits: limits })

  app.addHook('onRequest', async (req, reply) => {
    try {
      await guard(req, reply)
    } catch (err) {
      // Answered here rather than thrown: plugins with their own error handler (Bull Board) would
      // otherwise turn a 401/403/429 into their own 500.
      if (err instanceof ApiError) return sendApiError(reply, err)
      throw err
    }
  })

  async function guard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const config = req.routeOptions.config
    const route = req.routeOptions.url
    // Unknown routes fall through to the JSON 404 without asking for a key; the docs UI is public
    // (a browser cannot send a bearer key), as is the OpenAPI document it renders.
    if (!route || config.public || route.startsWith('/docs')) return
    // The matched route, not the raw URL: no spelling of a path reaches the dashboard as an org route.
    const isAdmin = route.startsWith(ADMIN_PREFIX)
    const rules = s.rules.current()
    // A console page's request is signed in by its cookie (src/console/plugin.ts), else by its key.
    const principal = req.consolePrincipal ?? (await identify(req, reply, isAdmin, rules))
    if (isAdmin) {
      req.operator = requireOperator(principal)
      // Bull Board's readOnlyMode hides its buttons and refuses its queue actions; this refuses every
      // other write under /admin/ too, whatever a Bull Board version adds.
      if (!s.env.DASHBOARD_ACTIONS && req.method !== 'GET' && req.method !== 'HEAD')
        throw new ApiError(
          'forbidden',
          'the queue dashboard is read-only: set DASHBOARD_ACTIONS=true to let the operator key change jobs',
          { readOnly: true },
        )
    } else {
      req.principal = requireCapability(principal, (config.capability as Capability | undefined) ?? 'admin')
    }
    const key = rules.config.apiKeys.find((k) => k.id === principal.keyId)
    const limit = key?.rateLimit ?? rules.config.api.rateLimit
    const decision = await limits.spend(req, principal.keyId, limit)
    reply.header('x-ratelimit-limit', String(limit.max))
    reply.header('x-ratelimit-remaining', String(decision.remaining))
    if (!decision.allowed) {
      throw new ApiError(
        'rate_limited',
        `rate limit of ${limit.max} requests per ${limit.per / 1000}s exceeded for this key`,
        { retryAfterSeconds: decision.retryAfterSeconds },
        { 'retry-after': String(decision.retryAfterSeconds) },
      )
    }
  }

  /** The key's principal; unknown keys count against the client's address, which may be locked out. */
  async function identify(req: FastifyRequest, reply: FastifyReply, isAdmin: boolean, rules: Rules) {
    const failures = rules.config.api.authFailureLimit
    try {
      const key = presentedKey(bearerOf(req, isAdmin))
      // Refused before the key is looked at: a right guess must look no different from a wrong one.
      const lock = await limits.locked(req, failures)
      if (!lock.allowed) {
        throw new ApiError(
          'rate_limited',
          `too many failed authentications from this address (${failures.max} per ${failures.per / 1000}s)`,
          { retryAfterSeconds: lock.retryAfterSeconds },
          { 'retry-after': String(lock.retryAfterSeconds) },
        )
      }
      return principalOf(key, rules)
    } catch (err) {
      // Only a presented key that matches none counts: a browser's first, bare request is no guess.
      if (err instanceof UnknownKeyError) await limits.failed(req, failures)
      if (isAdmin && err instanceof ApiError && err.code === 'unauthorized')
        reply.header('www-authenticate', 'Basic realm="tickbridge admin", charset="UTF-8"')
      throw err
    }
  }

  app.addHook('onResponse', async (req, reply) => {
    s.metrics.httpSeconds.observe(
      { route: req.routeOptions.url ?? 'unknown', method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
    req.log.info(
      {
        method: req.method,
        route: req.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        key: (req.principal ?? req.operator)?.keyId,
        // Who knocks: the client's address on refusals (behind a proxy see TRUST_PROXY); never the key.
        ...(REFUSALS.has(reply.statusCode) ? { ip: req.ip } : {}),
      },
      'request',
    )
  })

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Tickbridge API',
        version: '1',
        description: 'WhatsApp inbox state, receipts, reminders, SLA and counters.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: openApiTransform,
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } })
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger())

  await app.register(opsRoutes, deps)
  await app.register(sessionRoutes, deps)
  await app.register(chatRoutes, deps)
  await app.register(contactRoutes, deps)
  await app.register(receiptRoutes, deps)
  await app.register(reminderRoutes, deps)
  await app.register(slaRoutes, deps)
  await app.register(hubspotWebhookRoutes, deps)
  await app.register(crmUnmatchedRoutes, deps)
  await app.register(counterRoutes, deps)
  if (s.sim) await app.register(simRoutes, { ...deps, sim: s.sim })

  const board = new FastifyAdapter()
  board.setBasePath('/admin/queues')
  createBullBoard({
    queues: boardAdapters(s, deps.queues, { readOnlyMode: !s.env.DASHBOARD_ACTIONS }),
    serverAdapter: board,
  })
  await app.register(board.registerPlugin(), { prefix: '/admin/queues' })

  return app
}

/**
 * The presented key: a Bearer header, or for the browser dashboard under /admin/ a Basic header whose
 * password is the key (so a browser's login prompt works).
 */
function bearerOf(req: FastifyRequest, allowBasic: boolean): string | undefined {
  const header = req.headers.authorization
  if (!allowBasic || !header?.startsWith('Basic ')) return header
  const decoded = Buffer.from(header.slice(6), 'base64').toString()
  const password = decoded.slice(decoded.indexOf(':') + 1)
  return `Bearer ${password}`
}

/** A hop count trusts that many proxies nearest to us (what Fastify does with a number, which its types omit). */
function trustProxyOf(setting: boolean | number | string[]) {
  if (typeof setting !== 'number') return setting
  return (_address: string, hop: number) => hop < setting
}
