import type { Logger } from 'pino'

/**
 * Tells an outage of one dependency (Redis, a WhatsApp connection) once instead of once per failed
 * attempt: every connection, queue and worker retries on its own and each attempt fails, which wrote about
 * 2,000 lines for 20 s of Redis down.
 *
 * - the first failure: one warning, `<name> is down: <cause>`, with the cause and where it was seen;
 * - while it stays down: every `summaryEveryMs` one warning with the count of failures since, per cause
 *   and per source;
 * - when a probe succeeds (or `recovered()` is called): one line, `<name> is back after N s`.
 *
 * Failures reported in the first `settleMs` after recovery are counted, not told: connections that were
 * mid-retry when the dependency came back report their last refused attempt a moment later.
 */
export interface OutageOptions {
  /** What to call the dependency in the log: `redis`, `whatsapp`. */
  name: string
  log: Logger
  /** Extra fields on every line (e.g. `{ sessionId }`). */
  fields?: Record<string, unknown>
  summaryEveryMs?: number
  /** Asked every `probeEveryMs` while down; resolving means the dependency is back. */
  probe?: () => Promise<unknown>
  probeEveryMs?: number
  settleMs?: number
  now?: () => number
}

interface Episode {
  since: number
  errors: number
  /** Failures since the last summary, per cause and per source. */
  byCause: Map<string, number>
  bySource: Map<string, number>
  summaryTimer: NodeJS.Timeout
  probeTimer: NodeJS.Timeout | undefined
}

export class OutageLog {
  private episode: Episode | null = null
  private recoveredAt = Number.NEGATIVE_INFINITY
  private probing = false
  private closed = false
  private readonly now: () => number
  private readonly summaryEveryMs: number
  private readonly settleMs: number

  constructor(private readonly opts: OutageOptions) {
    this.now = opts.now ?? Date.now
    this.summaryEveryMs = opts.summaryEveryMs ?? 10_000
    this.settleMs = opts.settleMs ?? 3_000
  }

  isDown(): boolean {
    return this.episode !== null
  }

  /** A failed attempt to reach the dependency, from `source` (a connection, a queue). */
  failed(err: unknown, source = 'connection'): void {
    if (this.closed) return
    const cause = describeCause(err)
    const e = this.episode
    if (e) {
      e.errors++
      e.byCause.set(cause, (e.byCause.get(cause) ?? 0) + 1)
      e.bySource.set(source, (e.bySource.get(source) ?? 0) + 1)
      return
    }
    if (this.now() - this.recoveredAt < this.settleMs) return
    const { name, log, fields } = this.opts
    log.warn({ dependency: name, ...fields, cause, source }, `${name} is down: ${cause}`)
    const episode: Episode = {
      since: this.now(),
      errors: 1,
      byCause: new Map(),
      bySource: new Map(),
      summaryTimer: setInterval(() => this.summarise(), this.summaryEveryMs),
      probeTimer: undefined,
    }
    episode.summaryTimer.unref()
    if (this.opts.probe) {
      episode.probeTimer = setInterval(() => void this.runProbe(), this.opts.probeEveryMs ?? 1_000)
      episode.probeTimer.unref()
    }
    this.episode = episode
  }

  /** The dependency answered again. */
  recovered(): void {
    const e = this.episode
    if (!e) return
    this.stopTimers(e)
    this.episode = null
    this.recoveredAt = this.now()
    const { name, log, fields } = this.opts
    const downSeconds = Math.round((this.now() - e.since) / 100) / 10
    log.info(
      { dependency: name, ...fields, downSeconds, errors: e.errors },
      `${name} is back after ${downSeconds} s (${e.errors} failed attempts)`,
    )
  }

  close(): void {
    this.closed = true
    if (this.episode) this.stopTimers(this.episode)
    this.episode = null
  }

  private summarise(): void {
    const e = this.episode
    if (!e) return
    const { name, log, fields } = this.opts
    const downSeconds = Math.round((this.now() - e.since) / 1000)
    const recent = [...e.bySource.values()].reduce((a, b) => a + b, 0)
    log.warn(
      {
        dependency: name,
        ...fields,
        downSeconds,
        errors: e.errors,
        recentErrors: recent,
        causes: Object.fromEntries(e.byCause),
        sources: topCounts(e.bySource, 5),
      },
      `${name} still down after ${downSeconds} s: ${e.errors} failed attempts so far`,
    )
    e.byCause.clear()
    e.bySource.clear()
  }

  private async runProbe(): Promise<void> {
    if (this.probing || !this.episode || !this.opts.probe) return
    this.probing = true
    try {
      await this.opts.probe()
      this.recovered()
    } catch {
      // still down: the next probe asks again
    } finally {
      this.probing = false
    }
  }

  private stopTimers(e: Episode): void {
    clearInterval(e.summaryTimer)
    if (e.probeTimer) clearInterval(e.probeTimer)
  }
}

/** The `n` largest counts, the rest summed under `others`: a summary line stays short. */
function topCounts(counts: Map<string, number>, n: number): Record<string, number> {
  const sorted = [...counts].sort((a, b) => b[1] - a[1])
  const out = Object.fromEntries(sorted.slice(0, n))
  const rest = sorted.slice(n).reduce((sum, [, c]) => sum + c, 0)
  if (rest > 0) out.others = rest
  return out
}

/** The cause in words: a network error's code and address, else its message. */
export function describeCause(err: unknown): string {
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number }
    if (e.code && e.syscall)
      return `${e.code} (${e.syscall}${e.address ? ` ${e.address}` : ''}${e.port ? `:${e.port}` : ''})`
    return err.message
  }
  return String(err)
}

/**
 * Whether an error means "could not reach Redis" (as opposed to a failed command). LOADING counts too: a
 * restarted Redis answers it to every command while it replays its AOF, which is still the outage.
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as NodeJS.ErrnoException).code
  if (
    code &&
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(
      code,
    )
  )
    return true
  // "got no answer from Redis": a lease or heartbeat command bounded by its timeout (Redis hung or away).
  return /Connection is closed|Reached the max retries per request limit|Stream isn't writeable|connect ETIMEDOUT|^LOADING|got no answer from Redis/i.test(
    err.message,
  )
}
