import { createHmac } from 'node:crypto'
import { UnrecoverableError } from 'bullmq'
import type { catalog, Processor } from './catalog.js'

/**
 * `sla-webhook`: POSTs an SLA event as signed JSON; retried with exponential backoff (BullMQ attempts)
 * until the receiver answers 2xx. Receivers verify `X-Tickbridge-Signature: t=<unix s>,v1=<hex>` where
 * v1 = HMAC-SHA256(secret, `${t}.${body}`), and de-duplicate on `X-Tickbridge-Event-Id`.
 *
 * Redirects are not followed: a receiver (or whoever took over its address) could otherwise point the
 * worker's POST, with the signed event, at an address inside our network. A 3xx fails the job at once
 * (retrying cannot fix an address in the rules), naming where it pointed.
 */
export function signWebhook(secret: string, timestampS: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex')
}

export function slaWebhookProcessor(deps: {
  env: Record<string, string | undefined>
  timeoutMs?: number
}): Processor<typeof catalog.slaWebhook, { status: number }> {
  return async ({ url, secretEnv, event }) => {
    const body = JSON.stringify(event)
    const t = Math.floor(Date.now() / 1000)
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'tickbridge-webhooks/1',
      'x-tickbridge-event-id': event.id,
    }
    if (secretEnv) {
      // The rules loader refuses a secretEnv this process lacks; a job from before a change still must not go out unsigned.
      const secret = deps.env[secretEnv]
      if (!secret)
        throw new UnrecoverableError(`webhook not sent: the environment variable ${secretEnv} is not set`)
      headers['x-tickbridge-signature'] = `t=${t},v1=${signWebhook(secret, t, body)}`
    }
    const host = new URL(url).host
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000),
    })
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel()
      throw new UnrecoverableError(
        `webhook ${host} answered ${res.status} redirecting to ${redirectHost(res, url)}; redirects are not followed (put the final address in the rules)`,
      )
    }
    if (!res.ok) throw new Error(`webhook ${host} answered ${res.status}`)
    return { status: res.status }
  }
}

/** Where a redirect pointed (host only: a path or query may carry anything), for the failure reason. */
function redirectHost(res: Response, url: string): string {
  const location = res.headers.get('location')
  if (!location) return 'nowhere (no Location header)'
  try {
    return new URL(location, url).host || 'an address without a host'
  } catch {
    return 'an unparseable Location'
  }
}
