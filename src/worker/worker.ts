import { createHash, randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { Worker as BullWorker, type ConnectionOptions } from 'bullmq'
import { catalog, globalRunner, task, taskList } from '../../jobs/catalog.js'
import { counterResetProcessor } from '../../jobs/counter-reset.js'
import { seenReceiptProcessor } from '../../jobs/seen-receipt.js'
import { sessionActionProcessor } from '../../jobs/session-action.js'
import { slaLevelProcessor } from '../../jobs/sla-level.js'
import { slaWebhookProcessor } from '../../jobs/sla-webhook.js'
import { unreadReminderProcessor } from '../../jobs/unread-reminder.js'
import { ResetSchedules } from '../counters/reset-schedules.js'
import { type Fence, unlessRefused } from '../fence/fence.js'
import type { Ingestor } from '../inbox/ingest.js'
import { GLOBAL_QUEUES, SLA_SHARDS, STALLED_JOB_RECOVERY, slaQueueName } from '../queues.js'
import { duplicateRedis, isCluster } from '../redis.js'
import type { Rules } from '../rules/compile.js'
import type { Services } from '../services.js'
import { AuthCipher } from '../whatsapp/baileys/auth-cipher.js'
import { useRedisAuthState } from '../whatsapp/baileys/auth-state.js'
import { fromMeOriginBy } from '../whatsapp/baileys/origin.js'
import { BaileysTransport, type BaileysTransportDeps } from '../whatsapp/baileys/transport.js'
import { type SessionCommandHandler, SessionCommandServer } from '../whatsapp/command-bus.js'
import { SessionNotLiveError, type StatusListener, type WhatsAppTransport } from '../whatsapp/port.js'
import { RedisTokenStore, sendBucketKey } from '../whatsapp/send-budget.js'
import { SimTransport } from '../whatsapp/sim/transport.js'
import { startCrmWorker } from './crm-worker.js'
import { LeaseStore } from './lease.js'
import { MarkerWaits } from './marker-waits.js'
import { DEFAULT_TIMINGS, type OwnershipTimings, SessionOwnership } from './ownership.js'

export interface Worker {
  workerId: string
  ingestor: Ingestor
  ownership: SessionOwnership
  /** The `counters.resets` job schedulers, synced at start and on every rules reload. */
  resetSchedules: ResetSchedules
  close(): Promise<void>
}

/** What a test may put in place of WhatsApp for the Baileys transport (a stand-in socket, no version fetch). */
export type BaileysTestDeps = Pick<BaileysTransportDeps, 'socketFactory' | 'waVersion'>

/**
 * `fenceOf`: the fence of this process's holding of a session (see SessionOwnership.fenceOf); the auth
 * state's writes carry the one current when the socket opens.
 */
function createTransport(
  s: Services,
  onStatus: StatusListener,
  fenceOf: (sid: string) => Fence | undefined,
  baileys: BaileysTestDeps = {},
): WhatsAppTransport {
  if (s.env.WA_TRANSPORT === 'sim') {
    return new SimTransport({
      redis: s.redis,
      keys: s.keys,
      network: s.sim!,
      log: s.log,
      onStatus,
      onConnectionError: s.onRedisError,
      clock: s.clock,
    })
  }
  return new BaileysTransport({ ...baileysDeps(s, onStatus, fenceOf), ...baileys })
}

/**
 * The Baileys adapter's deps as the worker wires them (rules read at use, metrics, inbox look-ups).
 * `fenceOf`: the fence of this process's holding of a session; none outside a worker's holding.
 */
export function baileysDeps(
  s: Services,
  onStatus: StatusListener,
  fenceOf: (sid: string) => Fence | undefined = () => undefined,
): BaileysTransportDeps {
  // One keyring for every session's auth state (WA_AUTH_KEYS; without it values are stored as they are).
  const cipher = new AuthCipher(s.env.WA_AUTH_KEYS)
  return {
    authState: async (sid) => {
      const fence = fenceOf(sid)
      const auth = await useRedisAuthState(s.redis, s.keys, sid, { fence, cipher })
      // A refused creds save was told to the holder (which closes the socket); a key write still throws,
      // so Baileys never takes a refused Signal state for stored.
      return { ...auth, saveCreds: () => auth.saveCreds().catch(unlessRefused) }
    },
    // The transport names its own component per session (`baileys-session`, and `baileys` for Baileys'
    // own lines): a component bound here as well would appear twice in every line.
    log: s.log,
    onStatus,
    // The session's own rate, else the default: never unlimited (bursts get numbers banned).
    sendRate: (sid) => {
      const rules = s.rules.current()
      return rules.sessions.get(sid)?.sendRate ?? rules.config.whatsapp.sendRate
    },
    sendTokens: (sid) => new RedisTokenStore(s.redis, sendBucketKey(s.keys, sid)),
    clock: s.clock,
    logins: () => {
      const { stableAfter, maxPerHour } = s.rules.current().config.whatsapp.logins
      return { stableAfterMs: stableAfter, maxLoginsPerHour: maxPerHour }
    },
    // Bot replies and Business greeting/away messages told apart by the rules (counters.*), read at
    // each message. No `getMessage`: Baileys asks it only for messages this socket sent (to resend them
    // on a retry receipt) and Tickbridge sends none; it keeps no message content to answer with.
    fromMeOrigin: fromMeOriginBy(() => {
      const { botMessageIdPrefixes, automatedReplies } = s.rules.current().config.counters
      return { botMessageIdPrefixes, automatedTexts: automatedReplies.texts }
    }),
    onLogin: (sid) => s.metrics.whatsappLogins.inc({ session: sid }),
    onReadReceiptsHidden: (sid, hidden) =>
      s.metrics.whatsappReadReceiptsHidden.set({ session: sid }, hidden ? 1 : 0),
    groupNeedsName: async (sid, jid) => !(await s.inbox.getChat(sid, jid))?.name,
  }
}

/**
 * The worker role: takes its share of the WhatsApp sessions (leases), feeds their events into the
 * inbox state, runs the jobs that need their sockets and answers live commands for them.
 */
export async function startWorker(
  s: Services,
  opts: { timings?: Partial<OwnershipTimings>; baileys?: BaileysTestDeps } = {},
): Promise<Worker> {
  const workerId = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`
  // The transport's writes for a session carry the fence of our holding of it (refused once stale).
  const fenceOf = (sid: string) => ownership.fenceOf(sid)
  const onStatus: StatusListener = (sid, status, extra) =>
    s.statuses.set(sid, status, { ...extra, holder: workerId }, fenceOf(sid)).catch(unlessRefused)
  const transport = createTransport(s, onStatus, fenceOf, opts.baileys)
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
  // Every held session's job queue waits on this one connection (single Redis; see marker-waits.ts).
  const markerWaits = isCluster(s.redis) ? undefined : sharedWait(s, workerId)
  const ownership: SessionOwnership = new SessionOwnership({
    workerId,
    redis: s.redis,
    keys: s.keys,
    // Lease and heartbeat commands answer within half a tick or count as failed (fencing, issue 14).
    leases: new LeaseStore(
      s.redis,
      s.keys,
      Math.max(100, Math.floor((opts.timings?.tickMs ?? DEFAULT_TIMINGS.tickMs) / 2)),
    ),
    transport,
    statuses: s.statuses,
    sink: async (event, fence) => {
      await ingestor.ingest(event, { fence })
    },
    log: s.log.child({ worker: workerId }),
    onRedisError: s.onRedisError,
    rules: s.rules.current(),
    commands,
    processors: taskList(
      task(catalog.sessionAction, sessionActionProcessor({ redis: s.redis, keys: s.keys })),
      task(
        catalog.seenReceipt,
        seenReceiptProcessor({ store: s.receipts, clock: s.clock, metrics: s.metrics, log: s.log }),
      ),
      task(
        catalog.unreadReminder,
        unreadReminderProcessor({
          reminders: s.reminderStore,
          inbox: s.inbox,
          rules: () => s.rules.current(),
          clock: s.clock,
          metrics: s.metrics,
          log: s.log,
        }),
      ),
    ),
    ...(opts.timings ? { timings: opts.timings } : {}),
    ...(markerWaits ? { markerWaits } : {}),
  })
  await ownership.start()
  const globalWorkers = startGlobalWorkers(s)
  const resetSchedules = new ResetSchedules({
    jobs: s.jobs,
    redis: s.redis,
    lockKey: s.keys.global('counter-reset-schedules-lock'),
    log: s.log,
  })
  const syncSchedules = (rules: Rules) =>
    resetSchedules
      .sync(rules)
      .catch((err: unknown) => s.log.error({ err }, 'syncing the counter reset schedules failed'))
  await syncSchedules(s.rules.current())
  const crm = await startCrmWorker(s)
  const unsubscribe = s.rules.onChange((next) => {
    void ownership.sync(next)
    void replanOnce(s, next.config)
    void syncSchedules(next)
  })
  s.log.info({ workerId, holds: ownership.sessionIds(), transport: transport.kind }, 'worker started')
  return {
    workerId,
    ingestor,
    ownership,
    resetSchedules,
    async close() {
      unsubscribe()
      await Promise.all(globalWorkers.map((w) => w.close()))
      await crm?.close()
      await ownership.close()
      await markerWaits?.close()
      await commands.close()
    },
  }
}

function sharedWait(s: Services, workerId: string): MarkerWaits {
  const blocking = duplicateRedis(s.redis, { forWorkers: true, name: `${s.keys.prefix}:session-jobs-wait` })
  blocking.on('error', (err) => s.onRedisError(err, 'session jobs wait'))
  return new MarkerWaits(blocking, s.redis, s.log.child({ worker: workerId }))
}

/** Workers of the queues that need no session socket: SLA timers, webhook deliveries, counter resets. */
function startGlobalWorkers(s: Services): BullWorker[] {
  const connection = () => duplicateRedis(s.redis, { forWorkers: true }) as unknown as ConnectionOptions
  const sla = slaLevelProcessor({
    sla: s.sla,
    inbox: s.inbox,
    ingestor: s.ingestor,
    crm: s.crm,
    jobs: s.jobs,
    rules: () => s.rules.current(),
    clock: s.clock,
    metrics: s.metrics,
    log: s.log,
    ...(s.hubspot ? { onStateChange: (sid: string, jid: string) => s.hubspot!.dirty.mark(sid, jid) } : {}),
  })
  const webhook = slaWebhookProcessor({ env: s.secretEnv })
  const counterReset = counterResetProcessor({
    inbox: s.inbox,
    ingestor: s.ingestor,
    metrics: s.metrics,
    rules: () => s.rules.current(),
    clock: s.clock,
    log: s.log,
  })
  const workers = [
    ...Array.from(
      { length: SLA_SHARDS },
      (_, shard) =>
        new BullWorker(slaQueueName(shard), globalRunner(taskList(task(catalog.slaLevel, sla))), {
          connection: connection(),
          prefix: s.keys.prefix,
          concurrency: 4,
          // A crashed worker's in-flight timer returns within seconds rather than the default 30-60 s.
          ...STALLED_JOB_RECOVERY,
        }),
    ),
    new BullWorker(GLOBAL_QUEUES.webhooks, globalRunner(taskList(task(catalog.slaWebhook, webhook))), {
      connection: connection(),
      prefix: s.keys.prefix,
      concurrency: 10,
      ...STALLED_JOB_RECOVERY,
    }),
    new BullWorker(GLOBAL_QUEUES.counters, globalRunner(taskList(task(catalog.counterReset, counterReset))), {
      connection: connection(),
      prefix: s.keys.prefix,
      concurrency: 2,
      ...STALLED_JOB_RECOVERY,
    }),
  ]
  for (const w of workers) {
    w.on('failed', (job, err) =>
      s.log.warn({ queue: w.name, jobId: job?.id, err: err.message }, 'job failed'),
    )
    w.on('error', (err) => s.onRedisError(err, `worker ${w.name}`))
  }
  return workers
}

/** Re-plans open SLA clocks after a rules change, once per rules version across all workers. */
async function replanOnce(s: Services, config: unknown): Promise<void> {
  const version = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16)
  const first = await s.redis.set(s.keys.global(`sla-replan:${version}`), '1', 'EX', 3600, 'NX')
  if (first === 'OK')
    await s.slaPlanner.replanAll().catch((err: unknown) => s.log.error({ err }, 'SLA re-plan failed'))
}
