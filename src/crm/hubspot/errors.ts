/** What a failed HubSpot call means for us. */
export type HubSpotFailure =
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'daily_limit' }
  | { kind: 'retryable'; status: number }
  | { kind: 'fatal'; status: number; message: string }

/** Classifies an `ApiException` of @hubspot/api-client (or a network error) by status and 429 policy. */
export function classifyHubSpotError(err: unknown): HubSpotFailure {
  const e = err as { code?: number; body?: unknown; message?: string }
  const status = typeof e.code === 'number' ? e.code : 0
  if (status === 429) {
    const body = (typeof e.body === 'string' ? safeJson(e.body) : e.body) as
      | { policyName?: string }
      | undefined
    if (body?.policyName === 'DAILY') return { kind: 'daily_limit' }
    return { kind: 'rate_limited', retryAfterMs: body?.policyName === 'SECONDLY' ? 1000 : 10_000 }
  }
  if (status === 0 || status >= 500 || status === 408) return { kind: 'retryable', status }
  return { kind: 'fatal', status, message: e.message ?? String(err) }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}
