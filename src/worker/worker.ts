import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Ingestor } from '../inbox/ingest.js'
import type { Services } from '../services.js'
import { SessionCommandServer } from '../whatsapp/command-bus.js'
import type { WhatsAppTransport } from '../whatsapp/port.js'
import { SimTransport } from '../whatsapp/sim/transport.js'
import { LeaseStore } from './lease.js'
import { type OwnershipTimings, SessionOwnership } from './ownership.js'

export interface Worker {
  workerId: string
  ingestor: Ingestor
  ownership: SessionOwnership
  close(): Promise<void>
}

export class TransportUnavailableError extends Error {}

function createTransport(s: Services): WhatsAppTransport {
  if (s.env.WA_TRANSPORT === 'sim') {
    return new SimTransport({ redis: s.redis, keys: s.keys, network: s.sim!, log: s.log })
  }
  throw new TransportUnavailableError(
    'WA_TRANSPORT=baileys: the Baileys adapter is not part of this build yet (tracked in issue #4). ' +
      'Run with WA_TRANSPORT=sim to use the simulated WhatsApp transport.',
  )
}

/**
 * The worker role: takes its share of the WhatsApp sessions (leases), feeds their events into the
 * inbox state, and runs the jobs that need their sockets.
 */
export async function startWorker(
  s: Services,
  opts: { timings?: Partial<OwnershipTimings> } = {},
): Promise<Worker> {
  const transport = createTransport(s)
  const workerId = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`
  const ingestor = s.ingestor
  const commands = new SessionCommandServer(s.redis, s.keys.prefix, (sid) => ownership.get(sid), s.log)
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
