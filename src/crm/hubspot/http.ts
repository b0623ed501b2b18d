import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'

/**
 * `@hubspot/api-client` 14 has no request timeout: its transport (src/services/http/Transport.js,
 * `sendBufferedRequest`) uses `fetch` without an abort signal, or, when `httpAgent` is configured,
 * `http.request` through that agent. We give it an agent whose sockets are destroyed after `timeoutMs`
 * without any traffic, so a HubSpot call that hangs (no answer, no reset) rejects with
 * `HubSpotTimeoutError` instead of holding the flusher or a job forever.
 */
export class HubSpotTimeoutError extends Error {
  readonly code = 0
  constructor(readonly timeoutMs: number) {
    super(`HubSpot did not answer within ${timeoutMs} ms`)
    this.name = 'HubSpotTimeoutError'
  }
}

export function timeoutAgent(baseUrl: string, timeoutMs: number): http.Agent {
  const Base = baseUrl.startsWith('https:') ? https.Agent : http.Agent
  // `timeout` makes the agent re-arm the socket's idle timer each time a request reuses a pooled socket.
  const agent = new Base({ keepAlive: true, timeout: timeoutMs, maxSockets: 50 })
  const create = agent.createConnection.bind(agent) as (...a: unknown[]) => Socket
  ;(agent as unknown as { createConnection: (...a: unknown[]) => Socket }).createConnection = (...args) => {
    const socket = create(...args)
    socket.on('timeout', () => socket.destroy(new HubSpotTimeoutError(timeoutMs)))
    return socket
  }
  return agent
}

/** HubSpot's `X-HubSpot-RateLimit-*` headers (usage guidelines, "Rate limits"), as numbers. */
export interface RateLimitHeaders {
  max?: number
  remaining?: number
  intervalMs?: number
  daily?: number
  dailyRemaining?: number
}

export function rateLimitHeaders(headers: Record<string, string | undefined>): RateLimitHeaders | null {
  const n = (name: string) => {
    const v = headers[name] ?? headers[name.toLowerCase()]
    return v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v)
  }
  const out: RateLimitHeaders = {
    max: n('x-hubspot-ratelimit-max'),
    remaining: n('x-hubspot-ratelimit-remaining'),
    intervalMs: n('x-hubspot-ratelimit-interval-milliseconds'),
    daily: n('x-hubspot-ratelimit-daily'),
    dailyRemaining: n('x-hubspot-ratelimit-daily-remaining'),
  }
  return Object.values(out).some((v) => v !== undefined) ? out : null
}

/**
 * A client middleware (IConfiguration.middleware: `post` sees every ResponseContext, whose `headers`
 * is a plain lower-case map) that reports the rate-limit headers.
 */
export function rateLimitMiddleware(report: (h: RateLimitHeaders) => void) {
  return {
    pre: (ctx: unknown) => ctx,
    post: (ctx: unknown) => {
      const headers = (ctx as { headers?: Record<string, string> }).headers
      const h = headers ? rateLimitHeaders(headers) : null
      if (h) report(h)
      return ctx
    },
  }
}
