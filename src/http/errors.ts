import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { CursorError } from '../inbox/store.js'
import { humanMessage } from '../rules/report.js'
import { CommandTimeoutError } from '../whatsapp/command-bus.js'
import { SessionNotLiveError } from '../whatsapp/port.js'

/** Every error code the API answers with; the typed client mirrors this list. */
export const ERROR_STATUS = {
  validation_error: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
  unavailable: 503,
} as const
export type ErrorCode = keyof typeof ERROR_STATUS

export interface FieldProblem {
  field: string
  message: string
}

/** Thrown by handlers; rendered as `{ error: { code, message, details } }`. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }

  get status(): number {
    return ERROR_STATUS[this.code]
  }

  static validation(fields: FieldProblem[]): ApiError {
    const summary = fields.map((f) => `${f.field}: ${f.message}`).join('; ')
    return new ApiError('validation_error', `Invalid request: ${summary}`, { fields })
  }

  static notFound(what: string): ApiError {
    return new ApiError('not_found', `${what} not found`)
  }
}

export function errorBody(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
  return { error: { code, message, details } }
}

export function sendApiError(reply: FastifyReply, err: ApiError) {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v)
  return reply.status(err.status).send(errorBody(err.code, err.message, err.details))
}

/** Redis client errors mean our store is unreachable: a 503, not a 500. */
export function isRedisDown(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const e = err as Error & { code?: string }
  return (
    e.name === 'MaxRetriesPerRequestError' ||
    e.code === 'ECONNREFUSED' ||
    e.code === 'ECONNRESET' ||
    /Connection is closed|enableOfflineQueue|Stream isn't writeable|connect ECONNREFUSED/.test(e.message)
  )
}

const CONTEXT_PREFIX: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
}

/** Error and not-found handlers: always the documented JSON shape, never a stack trace or an HTML page. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`)),
  )
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof ApiError) return sendApiError(reply, err)
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = CONTEXT_PREFIX[err.validationContext ?? ''] ?? 'request'
      const fields = err.validation.map((v) => {
        const path = v.instancePath.split('/').filter(Boolean)
        const message = humanMessage({
          ...(v.params as object),
          code: v.keyword,
          message: v.message,
          path,
        } as never)
        return { field: [where, ...path].join('.'), message }
      })
      return sendApiError(reply, ApiError.validation(fields))
    }
    if (err instanceof CursorError) {
      return sendApiError(reply, ApiError.validation([{ field: 'query.cursor', message: err.message }]))
    }
    if (err instanceof SessionNotLiveError) {
      return sendApiError(
        reply,
        new ApiError('not_implemented', `session ${err.sessionId} has no live WhatsApp client right now`),
      )
    }
    if (err instanceof CommandTimeoutError)
      return sendApiError(reply, new ApiError('unavailable', err.message))
    if (isRedisDown(err)) {
      req.log.error({ err: err.message }, 'redis unavailable')
      return sendApiError(
        reply,
        new ApiError('unavailable', 'the state store (Redis) is unavailable; retry shortly'),
      )
    }
    // Fastify's own client errors (bad JSON, wrong content type, body too large) keep their 4xx status.
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      const code: ErrorCode =
        status === 404 ? 'not_found' : status === 429 ? 'rate_limited' : 'validation_error'
      const field = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'header.content-type' : 'body'
      return reply
        .status(code === 'validation_error' ? 400 : status)
        .send(
          errorBody(
            code,
            err.message,
            code === 'validation_error' ? { fields: [{ field, message: err.message }] } : {},
          ),
        )
    }
    req.log.error({ err }, 'unhandled error')
    return reply.status(500).send(errorBody('internal', 'internal error; the incident was logged'))
  })
}
