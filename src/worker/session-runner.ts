import type { Logger } from 'pino'
import type { Rules } from '../rules/compile.js'
import type { SessionCommandServer } from '../whatsapp/command-bus.js'
import type { WhatsAppSession, WhatsAppTransport } from '../whatsapp/port.js'
import type { SessionStatusStore } from '../whatsapp/status-store.js'

/**
 * Opens a transport session for every session in the rules and keeps that set in step with hot
 * reloads. Events of each session flow, one at a time and in order, into the sink (the ingestor).
 */
export class SessionRunner {
  private readonly live = new Map<string, WhatsAppSession>()
  private syncing: Promise<void> = Promise.resolve()

  constructor(
    private readonly deps: {
      transport: WhatsAppTransport
      statuses: SessionStatusStore
      sink: (event: unknown) => Promise<void>
      log: Logger
      holder: string
      /** Answers live commands (presence) for the sessions this process holds. */
      commands?: SessionCommandServer
    },
  ) {}

  get(sessionId: string): WhatsAppSession | undefined {
    return this.live.get(sessionId)
  }

  sessionIds(): string[] {
    return [...this.live.keys()]
  }

  /** Starts sessions new in the rules and stops removed ones; calls are serialised. */
  sync(rules: Rules): Promise<void> {
    this.syncing = this.syncing.then(() => this.doSync(rules))
    return this.syncing
  }

  private async doSync(rules: Rules): Promise<void> {
    const { transport, statuses, log, holder } = this.deps
    for (const [sid, session] of this.live) {
      if (rules.sessions.has(sid)) continue
      await this.deps.commands?.unserve(sid)
      await session.close()
      this.live.delete(sid)
      await statuses.set(sid, 'STOPPED', { detail: 'removed from the rules' })
      log.info({ sessionId: sid }, 'session stopped: removed from the rules')
    }
    for (const sid of rules.sessions.keys()) {
      if (this.live.has(sid)) continue
      await statuses.set(sid, 'STARTING', { holder })
      try {
        const session = await transport.open(sid, this.deps.sink)
        this.live.set(sid, session)
        await this.deps.commands?.serve(sid)
        await statuses.set(sid, session.status(), { holder })
        log.info({ sessionId: sid, transport: transport.kind, status: session.status() }, 'session started')
      } catch (err) {
        await statuses.set(sid, 'FAILED', {
          detail: err instanceof Error ? err.message : String(err),
          holder,
        })
        log.error({ err, sessionId: sid }, 'session failed to start')
      }
    }
  }

  /** Closes every session; each finishes the event it is handling first. */
  async close(): Promise<void> {
    await this.syncing
    await Promise.all(
      [...this.live].map(async ([sid, session]) => {
        await this.deps.commands?.unserve(sid)
        await session.close()
        await this.deps.statuses.set(sid, 'STOPPED', { detail: 'worker shut down' })
      }),
    )
    this.live.clear()
  }
}
