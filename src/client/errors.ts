import type { ErrorCode } from '../http/errors.js'

/** Every API error as a typed exception; `code` and `details` are the API's own. */
export class TickbridgeError extends Error {
  constructor(
    readonly code: ErrorCode | 'network_error',
    message: string,
    readonly status: number,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = new.target.name
  }
}

export class ValidationError extends TickbridgeError {
  /** Each bad field with why. */
  get fields(): Array<{ field: string; message: string }> {
    return (this.details.fields as Array<{ field: string; message: string }>) ?? []
  }
}
export class UnauthorizedError extends TickbridgeError {}
export class ForbiddenError extends TickbridgeError {}
export class NotFoundError extends TickbridgeError {}
export class ConflictError extends TickbridgeError {}
export class RateLimitedError extends TickbridgeError {
  get retryAfterSeconds(): number {
    return Number(this.details.retryAfterSeconds ?? 1)
  }
}
export class NotImplementedError extends TickbridgeError {}
export class UnavailableError extends TickbridgeError {}
export class InternalError extends TickbridgeError {}
/**
 * The server could not be reached or did not answer in time. `cause` is what fetch threw (its own
 * `cause` holds the socket error, e.g. ECONNREFUSED); the message names it too.
 */
export class NetworkError extends TickbridgeError {
  static from(what: string, err: unknown): NetworkError {
    const inner = (err as { cause?: { code?: string; message?: string } } | undefined)?.cause
    const reason = err instanceof Error ? err.message : String(err)
    const detail = inner?.code ? ` (${inner.code}${inner.message ? `: ${inner.message}` : ''})` : ''
    return new NetworkError('network_error', `${what}: ${reason}${detail}`, 0, {}, { cause: err })
  }
}

const BY_CODE: Record<ErrorCode, typeof TickbridgeError> = {
  validation_error: ValidationError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  not_found: NotFoundError,
  conflict: ConflictError,
  rate_limited: RateLimitedError,
  not_implemented: NotImplementedError,
  unavailable: UnavailableError,
  internal: InternalError,
}

export function errorFromResponse(status: number, body: unknown): TickbridgeError {
  const e = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
    ?.error
  const code = (e?.code ?? 'internal') as ErrorCode
  const Cls = BY_CODE[code] ?? InternalError
  return new Cls(
    code in BY_CODE ? code : 'internal',
    e?.message ?? `HTTP ${status}`,
    status,
    e?.details ?? {},
  )
}
