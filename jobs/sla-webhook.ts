import { createHmac } from 'node:crypto'
import type { catalog, Processor } from './catalog.js'

/**
 * `sla-webhook`: POSTs an SLA event as signed JSON; retried with exponential backoff (BullMQ attempts)
 * until the receiver answers 2xx. Receivers verify `X-Tickbridge-Signature: t=<unix s>,v1=<hex>` where
 * v1 = HMAC-SHA256(secret, `${t}.${body}`), and de-duplicate on `X-Tickbridge-Event-Id`.
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
    const secret = secretEnv ? deps.env[secretEnv] : undefined
    if (secret) headers['x-tickbridge-signature'] = `t=${t},v1=${signWebhook(secret, t, body)}`
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000),
    })
    if (!res.ok) throw new Error(`webhook ${new URL(url).host} answered ${res.status}`)
    return { status: res.status }
  }
}
