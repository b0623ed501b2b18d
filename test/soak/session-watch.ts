import type { SessionStatusStore } from '../../src/whatsapp/status-store.js'
import type { FaultWindow } from './truth.js'

/**
 * Watches who holds each session. Whenever a session changes hands or stops WORKING, its events may be
 * handled late: the span becomes a fault window. It also times how long a killed worker's sessions take
 * to be WORKING again elsewhere.
 */
export class SessionWatch {
  private readonly seen = new Map<string, { holder: string | null; working: boolean; at: number }>()
  /** Sessions whose holder died (pid) at a known time, until someone else holds them. */
  private readonly orphaned = new Map<string, { since: number; pid: number }>()
  private readonly recoveries = new Map<
    number,
    { killedAt: number; count: number; pending: Set<string>; doneAt: number | null }
  >()
  /** Sessions whose ingest is behind by more than LAG_MS, since when. */
  private readonly lagging = new Map<string, number>()
  /** Every sampled ingest lag (ms): how far each session's transport was behind its inbound stream. */
  readonly lagSamples: number[] = []
  private timer: NodeJS.Timeout | null = null
  private polling: Promise<void> = Promise.resolve()

  constructor(
    private readonly statuses: SessionStatusStore,
    private readonly sessions: string[],
    private readonly windows: FaultWindow[],
    /** How far the session's event consumer is behind (ms): 0 when it has read everything. */
    private readonly ingestLag: (sessionId: string, now: number) => Promise<{ lagMs: number; since: number }>,
  ) {}

  start(everyMs = 250): void {
    this.timer = setInterval(() => {
      this.polling = this.poll().catch(() => {}) // Redis down during a restart: the next poll sees it
    }, everyMs)
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.polling
    const now = Date.now()
    for (const [sid, from] of this.lagging)
      this.windows.push({ from, to: now + 2000, sessionId: sid, what: 'ingest behind' })
    this.lagging.clear()
  }

  /** Every session held by worker `pid` is orphaned from `at` (the moment it was killed). */
  markKilled(pid: number, at: number): void {
    const pending = new Set<string>()
    for (const [sid, s] of this.seen) {
      if (s.holder && holderPid(s.holder) === pid) {
        this.orphaned.set(sid, { since: at, pid })
        pending.add(sid)
      }
    }
    this.recoveries.set(pid, {
      killedAt: at,
      count: pending.size,
      pending,
      doneAt: pending.size === 0 ? at : null,
    })
  }

  /** Kill -> every session it held WORKING under another worker, per kill (ms). */
  recoveryTimes(): Array<{ pid: number; sessions: number; recoveryMs: number | null }> {
    return [...this.recoveries].map(([pid, r]) => ({
      pid,
      sessions: r.count,
      recoveryMs: r.doneAt === null ? null : r.doneAt - r.killedAt,
    }))
  }

  private async poll(): Promise<void> {
    const now = Date.now()
    // Ingest lag: while a session's events wait unread for over a second (a restart, a backlog after a
    // hand-over, a slow listener), anything decided from them may come late: a fault window.
    const lags = await Promise.all(this.sessions.map((sid) => this.ingestLag(sid, now)))
    lags.forEach(({ lagMs, since }, i) => {
      const sid = this.sessions[i]!
      this.lagSamples.push(lagMs)
      const open = this.lagging.get(sid)
      if (lagMs > LAG_MS && open === undefined) this.lagging.set(sid, since - 1000)
      if (lagMs <= LAG_MS && open !== undefined) {
        this.windows.push({ from: open, to: now + 2000, sessionId: sid, what: 'ingest behind' })
        this.lagging.delete(sid)
      }
    })
    const rows = await Promise.all(this.sessions.map((sid) => this.statuses.get(sid)))
    rows.forEach((rec, i) => {
      const sid = this.sessions[i]!
      const working = rec.status === 'WORKING'
      const prev = this.seen.get(sid)
      const orphan = this.orphaned.get(sid)
      const changed = prev && (prev.holder !== rec.holder || prev.working !== working)
      if (working && orphan && rec.holder && holderPid(rec.holder) !== orphan.pid) {
        this.windows.push({
          from: orphan.since - 1000,
          to: now + 2000,
          sessionId: sid,
          what: 'worker killed',
        })
        this.orphaned.delete(sid)
        const r = this.recoveries.get(orphan.pid)
        if (r?.pending.delete(sid) && r.pending.size === 0) r.doneAt = now
      } else if (changed && !orphan) {
        // A hand-over or a reconnect: events in between may be read late.
        this.windows.push({ from: prev.at - 1000, to: now + 2000, sessionId: sid, what: 'session moved' })
      }
      this.seen.set(sid, { holder: rec.holder, working, at: now })
    })
  }
}

const LAG_MS = 1000

function holderPid(holder: string): number {
  return Number(holder.split('/')[1])
}
