import type { Clock } from '../../clock.js'

/**
 * Keeps a session from hammering WhatsApp's login. A Baileys socket can emit `open` (Socket/socket.js
 * `CB:success`) and be ended right after by the server (`CB:stream:error`, `CB:failure`,
 * `CB:xmlstreamend` all call `end`): every such cycle is a full login. Two rules (pure, clock injected):
 * - the reconnect backoff starts over only after a connection stayed open `stableAfterMs`, so a socket
 *   that drops right after login backs off like one that never opened;
 * - at most `maxLoginsPerHour` logins in any rolling hour: a close past that ends the session (FAILED)
 *   rather than logging in again, with the last close causes for the operator.
 */

export const DEFAULT_STABLE_AFTER_MS = 60_000
export const DEFAULT_MAX_LOGINS_PER_HOUR = 10
const HOUR_MS = 3_600_000
const CAUSES_KEPT = 3

export interface LoginGuardOptions {
  stableAfterMs?: number
  maxLoginsPerHour?: number
}

export interface CloseVerdict {
  /** The socket that closed had been open at least `stableAfterMs`: the backoff may start over. */
  stable: boolean
  /** Another login would exceed the hourly bound: stop instead of reconnecting. */
  exhausted: boolean
  loginsLastHour: number
}

export class LoginGuard {
  private readonly logins: number[] = []
  private readonly causes: string[] = []
  private openedAt: number | undefined
  readonly stableAfterMs: number
  readonly maxLoginsPerHour: number

  constructor(
    private readonly clock: Clock,
    opts: LoginGuardOptions = {},
  ) {
    this.stableAfterMs = opts.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS
    this.maxLoginsPerHour = opts.maxLoginsPerHour ?? DEFAULT_MAX_LOGINS_PER_HOUR
  }

  /** A socket logged in (`connection: 'open'`). */
  opened(): void {
    const now = this.clock.now()
    this.openedAt = now
    this.logins.push(now)
    this.prune(now)
  }

  /** A socket closed for `cause` (whether or not it had logged in). */
  closed(cause: string): CloseVerdict {
    const now = this.clock.now()
    const stable = this.openedAt !== undefined && now - this.openedAt >= this.stableAfterMs
    this.openedAt = undefined
    this.causes.push(cause)
    if (this.causes.length > CAUSES_KEPT) this.causes.shift()
    this.prune(now)
    const loginsLastHour = this.logins.length
    return { stable, exhausted: loginsLastHour >= this.maxLoginsPerHour, loginsLastHour }
  }

  /** The latest close causes, oldest first. */
  lastCauses(): readonly string[] {
    return this.causes
  }

  private prune(now: number): void {
    while (this.logins.length > 0 && this.logins[0]! <= now - HOUR_MS) this.logins.shift()
  }
}

/** The FAILED detail when the hourly bound is reached. */
export function loginStormDetail(v: CloseVerdict, max: number, causes: readonly string[]): string {
  return (
    `connection keeps dropping after login: ${v.loginsLastHour} logins in the last hour (limit ${max}); ` +
    `not reconnecting; last causes: ${causes.join('; ')}`
  )
}
