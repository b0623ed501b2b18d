import type { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import type { Fence } from '../fence/fence.js'
import { FencedWrites } from '../fence/scripts.js'
import type { Keys } from '../keys.js'
import type { SessionStatus } from './port.js'

export interface SessionStatusRecord {
  status: SessionStatus
  since: number
  detail: string | null
  /** Pairing QR payload while status is SCAN_QR_CODE, for a UI to render. */
  qr: string | null
  /** Which worker process holds the session, if any. */
  holder: string | null
}

const HISTORY_KEEP = 50

/** Session statuses with their history, in Redis so every web process can answer for every worker. */
export class SessionStatusStore {
  private readonly writes: FencedWrites

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly clock: Clock,
    /** Told after each status write (the console's live pages); must not throw. */
    private readonly onSet: (sid: string) => void = () => {},
  ) {
    this.writes = new FencedWrites(redis, keys)
  }

  /**
   * Records a status. A session's holder passes its `fence`: once a newer holder has the session the
   * write is refused (FenceRefusedError), so a deposed holder cannot show STOPPED over its successor.
   */
  async set(
    sid: string,
    status: SessionStatus,
    extra: { detail?: string; qr?: string; holder?: string } = {},
    fence?: Fence,
  ): Promise<void> {
    const rec: SessionStatusRecord = {
      status,
      since: this.clock.now(),
      detail: extra.detail ?? null,
      qr: extra.qr ?? null,
      holder: extra.holder ?? null,
    }
    const json = JSON.stringify(rec)
    await this.writes.run(
      'status-set',
      sid,
      fence,
      [this.keys.sessionStatus(sid), this.keys.sessionHistory(sid)],
      [json, HISTORY_KEEP],
    )
    this.onSet(sid)
  }

  async get(sid: string): Promise<SessionStatusRecord> {
    const raw = await this.redis.get(this.keys.sessionStatus(sid))
    return raw
      ? (JSON.parse(raw) as SessionStatusRecord)
      : { status: 'STOPPED', since: 0, detail: null, qr: null, holder: null }
  }

  /** What an operator asked for: `stopped` sessions are not run by any worker until started again. */
  async setDesired(sid: string, desired: 'running' | 'stopped'): Promise<void> {
    if (desired === 'running') await this.redis.del(this.desiredKey(sid))
    else await this.redis.set(this.desiredKey(sid), 'stopped')
  }

  /**
   * The sessions among `sids` an operator has stopped. Concurrent reads rather than one pipeline: the
   * sessions' keys live on different shards of a cluster.
   */
  async stoppedAmong(sids: string[]): Promise<Set<string>> {
    const rows = await Promise.all(sids.map((sid) => this.redis.get(this.desiredKey(sid))))
    return new Set(sids.filter((_, i) => rows[i] === 'stopped'))
  }

  private desiredKey(sid: string): string {
    return `${this.keys.session(sid)}desired`
  }

  async history(sid: string, limit = HISTORY_KEEP): Promise<SessionStatusRecord[]> {
    const rows = await this.redis.lrange(this.keys.sessionHistory(sid), 0, limit - 1)
    return rows.map((r) => JSON.parse(r) as SessionStatusRecord)
  }
}
