import { BudgetBusy } from './budget.js'

/** What a failed HubSpot call means for us. */
export type HubSpotFailure =
  | { kind: 'no_budget'; retryAfterMs: number; paused: boolean }
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'daily_limit' }
  | { kind: 'retryable'; status: number; retryAfterMs: number }
  | { kind: 'invalid'; status: 400; message: string }
  | { kind: 'fatal'; status: number; message: string; missingScopes?: string[] }

/**
 * Classifies an `ApiException` of @hubspot/api-client (or a network error, a timeout, a full budget)
 * by status and 429 policy. 423 Locked asks for a retry after at least 2 s (usage guidelines); 477
 * "Migration in progress" is temporary too; 400 is HubSpot refusing a value (the batch can be split).
 */
export function classifyHubSpotError(err: unknown): HubSpotFailure {
  if (err instanceof BudgetBusy) return { kind: 'no_budget', retryAfterMs: err.retryInMs, paused: err.paused }
  const e = err as { code?: number; body?: unknown; message?: string; headers?: Record<string, string> }
  const status = typeof e.code === 'number' ? e.code : 0
  const retryAfter = Number(e.headers?.['retry-after'])
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined
  if (status === 429) {
    const body = bodyOf(e.body) as { policyName?: string } | undefined
    if (body?.policyName === 'DAILY') return { kind: 'daily_limit' }
    // TEN_SECONDLY_ROLLING or SECONDLY: HubSpot's count and our shared budget disagree for a moment.
    // Retry in a second and let the budget pace what follows (not 10 s per call after a run of 429s).
    return { kind: 'rate_limited', retryAfterMs: retryAfterMs ?? 1000 }
  }
  if (status === 423) return { kind: 'retryable', status, retryAfterMs: Math.max(2000, retryAfterMs ?? 0) }
  if (status === 477) return { kind: 'retryable', status, retryAfterMs: retryAfterMs ?? 30_000 }
  if (status === 0 || status >= 500 || status === 408)
    return { kind: 'retryable', status, retryAfterMs: retryAfterMs ?? 5000 }
  const message = (bodyOf(e.body) as { message?: string } | undefined)?.message ?? e.message ?? String(err)
  if (status === 400) return { kind: 'invalid', status, message }
  const missingScopes = status === 403 ? requiredScopes(bodyOf(e.body)) : []
  return { kind: 'fatal', status, message, ...(missingScopes.length ? { missingScopes } : {}) }
}

/** A 403 names the scopes the token lacks in `errors[].context.requiredGranularScopes` (scopes guide). */
function requiredScopes(body: unknown): string[] {
  const errors = (body as { errors?: Array<{ context?: { requiredGranularScopes?: unknown } }> })?.errors
  if (!Array.isArray(errors)) return []
  const scopes = errors.flatMap((e) => {
    const s = e?.context?.requiredGranularScopes
    return Array.isArray(s) ? s.filter((x): x is string => typeof x === 'string') : []
  })
  return [...new Set(scopes)]
}

function bodyOf(body: unknown): unknown {
  if (typeof body !== 'string') return body
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}
