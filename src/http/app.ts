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
import { authenticate, type Capability, requireCapability } from './auth.js'
import type { HttpDeps } from './context.js'
import { ApiError, errorBody, installErrorHandling, sendApiError } from './errors.js'
import { openApiTransform } from './openapi.js'
import { boardAdapters } from './queue-board.js'
import { RedisRateLimiter } from './rate-limit.js'
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

  const limiter = new RedisRateLimiter(s.redis, s.keys.global('ratelimit'))

  // The browser console (src/console/); before the guard, whose principal its sign-in cookie may give.
  await app.register(consolePlugin, deps)

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
    const isAdmin = req.url.startsWith(ADMIN_PREFIX)
    // Unknown routes fall through to the JSON 404 without asking for a key; the docs UI is public
    // (a browser cannot send a bearer key), as is the OpenAPI document it renders.
    if (!req.routeOptions.url || config.public || req.routeOptions.url.startsWith('/docs')) return
    const rules = s.rules.current()
    try {
      req.principal ??= authenticate(bearerOf(req, isAdmin), rules)
    } catch (err) {
      if (isAdmin) reply.header('www-authenticate', 'Basic realm="tickbridge admin", charset="UTF-8"')
      throw err
    }
    requireCapability(
      req.principal,
      isAdmin ? 'admin' : ((config.capability as Capability | undefined) ?? 'admin'),
    )
    const key = rules.config.apiKeys.find((k) => k.id === req.principal!.keyId)
    const limit = key?.rateLimit ?? rules.config.api.rateLimit
    const decision = await limiter.hit(req.principal.keyId, limit, s.clock.now())
    reply.header('x-ratelimit-limit', String(limit.max))
    reply.header('x-ratelimit-remaining', String(decision.remaining))
    if (!decision.allowed) {
      const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000))
      throw new ApiError(
        'rate_limited',
        `rate limit of ${limit.max} requests per ${limit.per / 1000}s exceeded for this key`,
        { retryAfterSeconds: seconds },
        { 'retry-after': String(seconds) },
      )
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
        key: req.principal?.keyId,
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
  createBullBoard({ queues: boardAdapters(s, deps.queues), serverAdapter: board })
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
