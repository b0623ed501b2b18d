import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Ingestor } from '../inbox/ingest.js'
import type { Services } from '../services.js'
import { SessionCommandServer } from '../whatsapp/command-bus.js'
import type { WhatsAppTransport } from '../whatsapp/port.js'
import { SimTransport } from '../whatsapp/sim/transport.js'
import { SessionRunner } from './session-runner.js'

export interface Worker {
  ingestor: Ingestor
  runner: SessionRunner
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

/** The worker role: WhatsApp sessions feeding the inbox state (and, as features land, the job processors). */
export async function startWorker(s: Services): Promise<Worker> {
  const transport = createTransport(s)
  const ingestor = s.ingestor
  const commands = new SessionCommandServer(s.redis, s.keys.prefix, (sid) => runner.get(sid), s.log)
  const runner: SessionRunner = new SessionRunner({
    transport,
    statuses: s.statuses,
    sink: async (event) => {
      await ingestor.ingest(event)
    },
    log: s.log,
    holder: `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`,
    commands,
  })
  await runner.sync(s.rules.current())
  const unsubscribe = s.rules.onChange((next) => {
    void runner.sync(next)
  })
  s.log.info({ sessions: runner.sessionIds(), transport: transport.kind }, 'worker started')
  return {
    ingestor,
    runner,
    async close() {
      unsubscribe()
      await runner.close()
      await commands.close()
    },
  }
}
