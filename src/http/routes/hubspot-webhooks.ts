import { createHmac, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { HubSpotEvents } from '../../crm/webhook-events.js'
import { formatIssues } from '../../rules/report.js'
import type { HttpDeps } from '../context.js'
import { ApiError } from '../errors.js'

/** HubSpot's v3 signature window: older requests are replays. */
const MAX_AGE_MS = 5 * 60_000

const id = z.union([z.number(), z.string()]).transform(String)

const eventsSchema = z
  .array(
    z.object({
      eventId: z.union([z.number(), z.string()]).optional(),
      portalId: z.number().int().optional(),
      subscriptionType: z.string(),
      objectId: id,
      propertyName: z.string().optional(),
      propertyValue: z.string().optional(),
      occurredAt: z.number().optional(),
      changeSource: z.string().optional(),
      attemptNumber: z.number().optional(),
      primaryObjectId: id.optional(),
      mergedObjectIds: z.array(id).optional(),
      newObjectId: id.optional(),
    }),
  )
  .max(1000)

/**
 * The escapes HubSpot's v3 scheme decodes before signing ("Validate the v3 request signature": %3A %2F
 * %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B). Every other escape (%20, %25, ...) stays as sent: decoding
 * the whole URI would break those signatures, and a malformed escape must not throw.
 */
const SIGNED_ESCAPES: Record<string, string> = {
  '3A': ':',
  '2F': '/',
  '3F': '?',
  '40': '@',
  '21': '!',
  '24': '$',
  '27': "'",
  '28': '(',
  '29': ')',
  '2A': '*',
  '2C': ',',
  '3B': ';',
}

export function decodeSignedUri(uri: string): string {
  return uri.replace(
    /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi,
    (_m, hex: string) => SIGNED_ESCAPES[hex.toUpperCase()]!,
  )
}

/**
 * HubSpot's v3 signature (HMAC-SHA256 of method + URI + body + timestamp with the app secret, base64),
 * compared in constant time; timestamps older than 5 minutes are replays.
 */
export function verifyHubSpotSignature(opts: {
  secret: string
  method: string
  uri: string
  body: string
  timestamp: string | undefined
  signature: string | undefined
  now: number
}): 'ok' | 'stale' | 'bad' {
  const ts = Number(opts.timestamp)
  if (!opts.timestamp || !Number.isFinite(ts) || !opts.signature) return 'bad'
  if (Math.abs(opts.now - ts) > MAX_AGE_MS) return 'stale'
  const expected = createHmac('sha256', opts.secret)
    .update(`${opts.method}${decodeSignedUri(opts.uri)}${opts.body}${opts.timestamp}`)
    .digest()
  const given = Buffer.from(opts.signature, 'base64')
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'bad'
}

/**
 * The URI HubSpot called: HUBSPOT_WEBHOOK_URL when set (behind a proxy the Host header and path are
 * not what HubSpot signed; the request's query string is appended when the setting has none), else
 * the request's own scheme, host and path.
 */
export function calledUri(opts: {
  configured: string | undefined
  proto: string
  host: string | undefined
  url: string
}): string {
  if (opts.configured) {
    const q = opts.url.indexOf('?')
    return opts.configured.includes('?') || q < 0 ? opts.configured : `${opts.configured}${opts.url.slice(q)}`
  }
  return `${opts.proto}://${opts.host}${opts.url}`
}

export const hubspotWebhookRoutes: FastifyPluginAsync<HttpDeps> = async (app, { services: s }) => {
  // The signature covers the exact bytes HubSpot sent: keep the raw body (this plugin only).
  app.removeContentTypeParser('application/json') // the app's own parser, inherited: replaced here
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body))
  const events = s.hubspot
    ? new HubSpotEvents({
        redis: s.redis,
        keys: s.keys,
        crm: s.hubspot.crm,
        dirty: s.hubspot.dirty,
        unmatched: s.hubspot.unmatched,
        ingestor: s.ingestor,
        rules: () => s.rules.current(),
        clock: s.clock,
        metrics: s.metrics,
        log: s.log.child({ component: 'hubspot-webhooks' }),
      })
    : null

  app.post(
    '/v1/webhooks/hubspot',
    {
      config: { public: true },
      schema: {
        tags: ['hubspot'],
        summary: "HubSpot's webhook: owner changes, no-reply-needed, contact creation/merge/deletion",
      },
    },
    async (req) => {
      const secret = s.env.HUBSPOT_APP_SECRET
      if (!secret) throw new ApiError('not_implemented', 'HubSpot webhooks need HUBSPOT_APP_SECRET to be set')
      const raw = typeof req.body === 'string' ? req.body : ''
      const proto = String(req.headers['x-forwarded-proto'] ?? req.protocol)
        .split(',')[0]!
        .trim()
      const verdict = verifyHubSpotSignature({
        secret,
        method: req.method,
        uri: calledUri({
          configured: s.env.HUBSPOT_WEBHOOK_URL,
          proto,
          host: req.headers.host,
          url: req.url,
        }),
        body: raw,
        timestamp: req.headers['x-hubspot-request-timestamp'] as string | undefined,
        signature: req.headers['x-hubspot-signature-v3'] as string | undefined,
        now: s.clock.now(),
      })
      if (verdict !== 'ok') {
        throw new ApiError(
          'unauthorized',
          verdict === 'stale' ? 'webhook timestamp older than 5 minutes' : 'bad webhook signature',
        )
      }
      let parsedJson: unknown
      try {
        parsedJson = JSON.parse(raw)
      } catch {
        throw ApiError.validation([{ field: 'body', message: 'expected JSON' }])
      }
      const parsed = eventsSchema.safeParse(parsedJson)
      if (!parsed.success) {
        throw ApiError.validation(
          formatIssues(parsed.error.issues).map((line) => ({ field: 'body', message: line })),
        )
      }
      if (!events) return { received: parsed.data.length, applied: 0 }
      const { applied } = await events.applyAll(
        parsed.data.map((e) => ({
          ...e,
          ...(e.eventId !== undefined ? { eventId: e.eventId } : {}),
        })),
      )
      return { received: parsed.data.length, applied }
    },
  )
}
