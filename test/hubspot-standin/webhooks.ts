import { Signature } from '@hubspot/api-client'

/**
 * HubSpot's webhook deliveries, as the Webhooks API documents them
 * (https://developers.hubspot.com/docs/api/webhooks, "Webhook payloads", "Retries", "Security"):
 * - events come in batches (a JSON array, at most 100 events per request);
 * - each event has `eventId`, `subscriptionId`, `portalId`, `appId`, `occurredAt`, `subscriptionType`,
 *   `attemptNumber` (0 on the first try), `objectId`, `changeSource`, `sourceId`; property changes add
 *   `propertyName`/`propertyValue`; `contact.merge` adds `primaryObjectId`, `mergedObjectIds`,
 *   `newObjectId`, `numberOfPropertiesMoved` (HubSpot changelog "New subscription types for webhooks");
 * - delivery is at least once and not in order ("use occurredAt");
 * - a failed delivery (timeout, connection error, 4xx/5xx other than... any non-2xx) is retried up to 10
 *   times, `attemptNumber` counting up;
 * - `eventId` is "not guaranteed to be unique" ("Webhook payloads"): modelled as a counter per
 *   subscription, so events of different subscriptions share ids;
 * - a delivery the receiver does not answer within 5 s counts as failed and is retried ("Retries": "the
 *   connection times out after 5 seconds");
 * - signature v1 beside v3 ("Security"): `X-HubSpot-Signature` = hex SHA-256 of app secret + body, with
 *   `X-HubSpot-Signature-Version: v1`;
 * - signature v3: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 (app secret) of method + URI + body +
 *   timestamp, `X-HubSpot-Request-Timestamp` in ms. HubSpot signs the URI with these escapes decoded:
 *   %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B (docs, "Validate the v3 request signature"); every
 *   other escape stays as sent. The signature itself comes from the real client's `Signature`.
 */
export interface WebhookEvent {
  eventId: number
  subscriptionId: number
  portalId: number
  appId: number
  occurredAt: number
  subscriptionType: string
  attemptNumber: number
  objectId: number
  changeSource: string
  sourceId?: string
  propertyName?: string
  propertyValue?: string
  changeFlag?: string
  primaryObjectId?: number
  mergedObjectIds?: number[]
  newObjectId?: number
  numberOfPropertiesMoved?: number
}

/** What the stand-in hands its transport: a request as HubSpot would send it. */
export interface WebhookRequest {
  url: string
  headers: Record<string, string>
  body: string
}

export interface WebhookTarget {
  /** The URL HubSpot calls (and signs, after decoding HubSpot's listed escapes). */
  url: string
  /** The app's client secret. */
  secret: string
  /** How to send; default `fetch`. Tests pass Fastify's `inject`. Resolves with the HTTP status. */
  send?: (req: WebhookRequest) => Promise<number>
}

export interface DeliveryReport {
  status: number
  events: WebhookEvent[]
}

const MAX_EVENTS_PER_REQUEST = 100
const MAX_ATTEMPTS = 10
/** Webhooks guide, "Retries": a receiver that has not answered after 5 s has failed the delivery. */
export const DELIVERY_TIMEOUT_MS = 5000

/** The escapes HubSpot decodes before signing (and tells receivers to decode before checking). */
export const HUBSPOT_DECODED_ESCAPES: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
}

export function decodeHubSpotEscapes(uri: string): string {
  return uri.replace(
    /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi,
    (m) => HUBSPOT_DECODED_ESCAPES[m.toUpperCase()]!,
  )
}

/** Signs one delivery the way HubSpot does (v3), with the real client's `Signature`. */
export function signV3(target: Pick<WebhookTarget, 'url' | 'secret'>, body: string, timestamp: number) {
  return Signature.getSignature('POST', 'v3', {
    clientSecret: target.secret,
    url: decodeHubSpotEscapes(target.url),
    requestBody: body,
    timestamp,
    signature: '',
  })
}

/** Signature v1 (webhooks guide, "Security"): hex SHA-256 of the app secret followed by the body. */
export function signV1(secret: string, body: string) {
  return Signature.getSignature('POST', 'v1', { clientSecret: secret, requestBody: body, signature: '' })
}

export class WebhookOutbox {
  private queue: WebhookEvent[] = []
  /** Event ids count per subscription: not unique across them, as HubSpot warns. */
  private nextEventId = new Map<number, number>()
  target: WebhookTarget | null = null
  /** Every request sent, with its answer. */
  readonly sent: Array<{ at: number; status: number; events: WebhookEvent[] }> = []

  constructor(
    private readonly ids: { portalId: number; appId: number },
    private readonly clock: () => number,
    /** Real milliseconds a receiver has to answer (HubSpot: 5 s). */
    private readonly timeoutMs = DELIVERY_TIMEOUT_MS,
  ) {}

  push(event: Omit<WebhookEvent, 'eventId' | 'subscriptionId' | 'portalId' | 'appId' | 'attemptNumber'>) {
    const subscriptionId = subscriptionIdOf(event.subscriptionType, event.propertyName)
    const eventId = this.nextEventId.get(subscriptionId) ?? 1
    this.nextEventId.set(subscriptionId, eventId + 1)
    const full: WebhookEvent = {
      eventId,
      subscriptionId,
      portalId: this.ids.portalId,
      appId: this.ids.appId,
      attemptNumber: 0,
      ...event,
    }
    this.queue.push(full)
    return full
  }

  pending(): WebhookEvent[] {
    return structuredClone(this.queue)
  }

  clear(): void {
    this.queue = []
  }

  /** A fresh portal: nothing queued, event ids from 1 again. */
  reset(): void {
    this.queue = []
    this.nextEventId.clear()
  }

  /**
   * Sends what is queued, in batches of at most 100. `order` reorders first (HubSpot does not keep
   * order); `duplicate` keeps delivered events queued once more (at-least-once delivery). Events of a
   * failed request stay queued with `attemptNumber` + 1 (dropped after 10 attempts, as HubSpot does).
   */
  async deliver(
    opts: { order?: 'as-queued' | 'reverse' | 'shuffle'; duplicate?: boolean; batchSize?: number } = {},
  ): Promise<DeliveryReport[]> {
    const target = this.target
    if (!target) throw new Error('no webhook target: call setWebhookTarget first')
    let events = this.queue
    this.queue = []
    if (opts.order === 'reverse') events = [...events].reverse()
    if (opts.order === 'shuffle') events = shuffle(events)
    const size = Math.min(opts.batchSize ?? MAX_EVENTS_PER_REQUEST, MAX_EVENTS_PER_REQUEST)
    const reports: DeliveryReport[] = []
    for (let i = 0; i < events.length; i += size) {
      const batch = events.slice(i, i + size)
      const body = JSON.stringify(batch)
      const timestamp = this.clock()
      const headers = {
        'content-type': 'application/json',
        'x-hubspot-signature-v3': signV3(target, body, timestamp),
        'x-hubspot-request-timestamp': String(timestamp),
        'x-hubspot-signature': signV1(target.secret, body),
        'x-hubspot-signature-version': 'v1',
        'user-agent': 'HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon-executor',
      }
      let status = 0
      let timer: NodeJS.Timeout | undefined
      try {
        const timedOut = new Promise<number>((resolve) => {
          timer = setTimeout(() => resolve(0), this.timeoutMs)
        })
        status = await Promise.race([
          (target.send ?? fetchSend)({ url: target.url, headers, body }),
          timedOut,
        ])
      } catch {
        status = 0
      } finally {
        clearTimeout(timer)
      }
      this.sent.push({ at: timestamp, status, events: structuredClone(batch) })
      reports.push({ status, events: structuredClone(batch) })
      const ok = status >= 200 && status < 300
      for (const e of batch) {
        if (!ok && e.attemptNumber + 1 < MAX_ATTEMPTS)
          this.queue.push({ ...e, attemptNumber: e.attemptNumber + 1 })
        if (ok && opts.duplicate) this.queue.push({ ...e })
      }
    }
    return reports
  }
}

async function fetchSend(req: WebhookRequest): Promise<number> {
  const res = await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body })
  await res.arrayBuffer()
  return res.status
}

function subscriptionIdOf(type: string, property?: string): number {
  let h = 0
  for (const ch of `${type}:${property ?? ''}`) h = (h * 31 + ch.charCodeAt(0)) % 1_000_000
  return 100_000 + h
}

function shuffle<T>(items: T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
