import { createHmac, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { formatIssues } from '../../rules/report.js'
import type { HttpDeps } from '../context.js'
import { ApiError } from '../errors.js'

/** HubSpot's v3 signature window: older requests are replays. */
const MAX_AGE_MS = 5 * 60_000

const eventsSchema = z
  .array(
    z.object({
      subscriptionType: z.string(),
      objectId: z.union([z.number(), z.string()]).transform(String),
      propertyName: z.string().optional(),
      propertyValue: z.string().optional(),
      occurredAt: z.number().optional(),
    }),
  )
  .max(1000)

/**
 * `POST /v1/webhooks/hubspot`: HubSpot tells us a contact's owner changed (the chat's owner and the
 * counters follow) or that an agent or workflow set `wa_no_reply_needed`. Authenticated by HubSpot's
 * v3 signature (HMAC-SHA256 of method + URI + body + timestamp with the app secret), not by an API key.
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
    .update(`${opts.method}${decodeURIComponent(opts.uri)}${opts.body}${opts.timestamp}`)
    .digest()
  const given = Buffer.from(opts.signature, 'base64')
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'bad'
}

export const hubspotWebhookRoutes: FastifyPluginAsync<HttpDeps> = async (app, { services: s }) => {
  // The signature covers the exact bytes HubSpot sent: keep the raw body (this plugin only).
  app.removeContentTypeParser('application/json') // the app's own parser, inherited: replaced here
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body))

  app.post(
    '/v1/webhooks/hubspot',
    {
      config: { public: true },
      schema: { tags: ['hubspot'], summary: "HubSpot's webhook: owner changes, no-reply-needed" },
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
        uri: `${proto}://${req.headers.host}${req.url}`,
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
      const crm = s.hubspot?.crm
      let applied = 0
      for (const e of parsed.data) {
        if (!crm || e.subscriptionType !== 'contact.propertyChange') continue
        const chats = await crm.chatsOf(e.objectId)
        for (const chat of chats) {
          if (e.propertyName === 'hubspot_owner_id') {
            const rules = s.rules.current()
            const org = rules.sessions.get(chat.sessionId)?.org
            const user = [...rules.users.values()].find(
              (u) => u.org === org && u.hubspotOwnerId === e.propertyValue,
            )
            await s.ingestor.ingest({
              type: 'chat.owner',
              sessionId: chat.sessionId,
              chatJid: chat.chatJid,
              owner: user?.id ?? null,
            })
            applied++
          } else if (e.propertyName === 'wa_no_reply_needed' && e.propertyValue === 'true') {
            await s.ingestor.ingest({
              type: 'chat.noReplyNeeded',
              sessionId: chat.sessionId,
              chatJid: chat.chatJid,
              at: e.occurredAt ?? s.clock.now(),
            })
            applied++
          }
        }
      }
      return { received: parsed.data.length, applied }
    },
  )
}
