import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import type { Capability } from './auth.js'
import { ERROR_STATUS, type ErrorCode } from './errors.js'

/**
 * The OpenAPI document as a reader needs it, on top of what the zod schemas give:
 * - public routes (`/healthz`, `/readyz`, the webhook receivers) carry no padlock;
 * - every authenticated route documents 401, 429, 500 and 503, plus 403 when it needs a capability;
 * - each error status shows an example with its own code (swagger UI otherwise shows the first code of
 *   the shared enum, `validation_error`, for every status);
 * - integers get bounds and examples a person would write, not ±9007199254740991 (zod's safe-integer
 *   bounds, which swagger UI shows as the example).
 */

type TransformInput = Parameters<typeof jsonSchemaTransform>[0]
type JsonSchema = Record<string, unknown>

const CODE_OF_STATUS = Object.fromEntries(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]),
) as Record<number, ErrorCode>

const EXAMPLES: Record<ErrorCode, { message: string; details: Record<string, unknown> }> = {
  validation_error: {
    message: 'Invalid request: query.limit: Too big: expected number to be <=200',
    details: { fields: [{ field: 'query.limit', message: 'Too big: expected number to be <=200' }] },
  },
  unauthorized: { message: 'unknown API key', details: {} },
  forbidden: { message: 'this API key lacks the "send" capability', details: { required: 'send' } },
  not_found: { message: 'session acme-sales not found', details: {} },
  conflict: { message: 'the chat has no stored last message', details: {} },
  rate_limited: {
    message: 'rate limit of 120 requests per 60s exceeded for this key',
    details: { retryAfterSeconds: 12 },
  },
  internal: { message: 'internal error; the incident was logged', details: {} },
  not_implemented: { message: 'session acme-sales has no live WhatsApp client right now', details: {} },
  unavailable: { message: 'the state store (Redis) is unavailable; retry shortly', details: {} },
}

const DESCRIPTIONS: Record<ErrorCode, string> = {
  validation_error: 'Invalid body, parameter or query: details.fields lists each',
  unauthorized: 'Missing, malformed or unknown API key',
  forbidden: "The key lacks the route's capability",
  not_found: 'Unknown session, chat or resource (another org answers the same)',
  conflict: 'Conflicts with stored state',
  rate_limited: "The key's budget is used up: see Retry-After",
  internal: 'A bug; logged with the request id',
  not_implemented: 'Needs a live WhatsApp client, and the session has none',
  unavailable: 'Redis is unreachable',
}

function errorResponse(status: number): JsonSchema {
  const code = CODE_OF_STATUS[status] ?? 'internal'
  const example = { error: { code, ...EXAMPLES[code] } }
  return {
    description: DESCRIPTIONS[code],
    type: 'object',
    properties: {
      error: {
        type: 'object',
        properties: {
          code: { type: 'string', enum: [code] },
          message: { type: 'string' },
          details: { type: 'object', additionalProperties: {} },
        },
        required: ['code', 'message', 'details'],
      },
    },
    required: ['error'],
    example,
  }
}

const SAFE = Number.MAX_SAFE_INTEGER

/** Drops zod's safe-integer bounds and gives each integer without one a small example. */
function tidyIntegers(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) tidyIntegers(item)
    return
  }
  if (typeof node !== 'object' || node === null) return
  const schema = node as JsonSchema
  if (schema.type === 'integer') {
    if (schema.minimum === -SAFE) delete schema.minimum
    if (schema.maximum === SAFE) delete schema.maximum
    if (schema.example === undefined && schema.default === undefined) {
      const min = typeof schema.minimum === 'number' ? schema.minimum : 0
      const max = typeof schema.maximum === 'number' ? schema.maximum : Number.POSITIVE_INFINITY
      schema.example = Math.min(Math.max(min, 3), max)
    }
  }
  for (const value of Object.values(schema)) tidyIntegers(value)
}

export function openApiTransform(input: TransformInput): ReturnType<typeof jsonSchemaTransform> {
  const out = jsonSchemaTransform(input)
  const config = (input.route.config ?? {}) as { public?: boolean; capability?: Capability }
  const schema = out.schema as JsonSchema
  const response = { ...((schema.response as Record<string, JsonSchema> | undefined) ?? {}) }
  if (config.public) schema.security = []
  else {
    const statuses = [401, 429, 500, 503, ...(config.capability ? [403] : [])]
    for (const status of statuses) response[String(status)] ??= {}
  }
  for (const [status, existing] of Object.entries(response)) {
    // Only the API's error shape: /readyz answers 503 with its own status, not an error.
    const isError = Object.keys(existing).length === 0 || Boolean((existing.properties as JsonSchema)?.error)
    if (Number(status) >= 400 && CODE_OF_STATUS[Number(status)] && isError)
      response[status] = errorResponse(Number(status))
  }
  if (Object.keys(response).length) schema.response = response
  tidyIntegers(schema)
  return out
}
