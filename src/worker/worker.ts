import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { SEEN_RECEIPT, seenReceiptProcessor } from '../../jobs/seen-receipt.js'
import { SESSION_ACTION, sessionActionProcessor } from '../../jobs/session-action.js'
import { UNREAD_REMINDER, unreadReminderProcessor } from '../../jobs/unread-reminder.js'
import type { Ingestor } from '../inbox/ingest.js'
import type { Services } from '../services.js'
import { useRedisAuthState } from '../whatsapp/baileys/auth-state.js'
import { BaileysTransport } from '../whatsapp/baileys/transport.js'
import { type SessionCommandHandler, SessionCommandServer } from '../whatsapp/command-bus.js'
import { SessionNotLiveError, type StatusListener, type WhatsAppTransport } from '../whatsapp/port.js'
import { SimTransport } from '../whatsapp/sim/transport.js'
import { LeaseStore } from './lease.js'
import { type OwnershipTimings, SessionOwnership } from './ownership.js'

export interface Worker {
  workerId: string
  ingestor: Ingestor
  ownership: SessionOwnership
  close(): Promise<void>
}

function createTransport(s: Services, onStatus: StatusListener): WhatsAppTransport {
  if (s.env.WA_TRANSPORT === 'sim') {
    return new SimTransport({ redis: s.redis, keys: s.keys, network: s.sim!, log: s.log, onStatus })
  }
  return new BaileysTransport({
    authState: (sid) => useRedisAuthState(s.redis, s.keys, sid),
    log: s.log.child({ component: 'baileys' }),
    onStatus,
    sendRate: (sid) => s.rules.current().sessions.get(sid)?.sendRate,
    clock: s.clock,
  })
}

/**
 * The worker role: takes its share of the WhatsApp sessions (leases), feeds their events into the
 * inbox state, runs the jobs that need their sockets and answers live commands for them.
 */
export async function startWorker(
  s: Services,
  opts: { timings?: Partial<OwnershipTimings> } = {},
): Promise<Worker> {
  const workerId = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`
  const onStatus: StatusListener = (sid, status, extra) =>
    s.statuses.set(sid, status, { ...extra, holder: workerId })
  const transport = createTransport(s, onStatus)
  const ingestor = s.ingestor

  const handle: SessionCommandHandler = async (sid, command) => {
    const session = ownership.get(sid)
    if (!session) throw new SessionNotLiveError(sid)
    switch (command.cmd) {
      case 'presence':
        if (session.status() !== 'WORKING') throw new SessionNotLiveError(sid)
        await session.sendPresence(command.jid, command.state)
        return undefined
      case 'restart':
        await ownership.restart(sid)
        return undefined
      case 'logout':
        await ownership.logout(sid)
        return undefined
      case 'pairingCode':
        if (!session.requestPairingCode)
          throw new Error(`the ${transport.kind} transport cannot pair with a phone number`)
        return session.requestPairingCode(command.phone)
    }
  }
  const commands = new SessionCommandServer(s.redis, s.keys.prefix, handle, s.log)
  const ownership: SessionOwnership = new SessionOwnership({
    workerId,
    redis: s.redis,
    keys: s.keys,
    leases: new LeaseStore(s.redis, s.keys),
    transport,
    statuses: s.statuses,
    sink: async (event) => {
      await ingestor.ingest(event)
    },
    log: s.log.child({ worker: workerId }),
    rules: s.rules.current(),
    commands,
    processors: {
      [SESSION_ACTION]: sessionActionProcessor({ redis: s.redis, keys: s.keys }),
      [SEEN_RECEIPT]: seenReceiptProcessor({ store: s.receipts, clock: s.clock, metrics: s.metrics }),
      [UNREAD_REMINDER]: unreadReminderProcessor({
        reminders: s.reminderStore,
        inbox: s.inbox,
        ingestor: s.ingestor,
        rules: () => s.rules.current(),
        clock: s.clock,
        metrics: s.metrics,
        log: s.log,
      }),
    },
    ...(opts.timings ? { timings: opts.timings } : {}),
  })
  await ownership.start()
  const unsubscribe = s.rules.onChange((next) => {
    void ownership.sync(next)
  })
  s.log.info({ workerId, holds: ownership.sessionIds(), transport: transport.kind }, 'worker started')
  return {
    workerId,
    ingestor,
    ownership,
    async close() {
      unsubscribe()
      await ownership.close()
      await commands.close()
    },
  }
}
