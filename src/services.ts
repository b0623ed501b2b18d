import { Client as HubSpotClient } from '@hubspot/api-client'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { JobProducer } from '../jobs/catalog.js'
import type { Clock } from './clock.js'
import { ChangePublisher } from './console/changes.js'
import { CrmDirtySet } from './crm/crm-sync.js'
import { HubSpotBudget } from './crm/hubspot/budget.js'
import { rateLimitMiddleware, timeoutAgent } from './crm/hubspot/http.js'
import { HubSpotCrm } from './crm/hubspot/hubspot-crm.js'
import { type CrmPort, NoCrm } from './crm/port.js'
import { UnmatchedChats } from './crm/unmatched.js'
import type { Env } from './env.js'
import { Ingestor, ingestRulesFrom } from './inbox/ingest.js'
import { InboxStore } from './inbox/store.js'
import { Keys } from './keys.js'
import { createMetrics, type Metrics } from './metrics.js'
import { isConnectionError, OutageLog } from './outage.js'
import { createGlobalQueues, type GlobalQueues } from './queues.js'
import { ReceiptPlanner } from './receipts/planner.js'
import { ReceiptStore } from './receipts/receipt-store.js'
import { createRedis, redisTls } from './redis.js'
import { ReminderStore } from './reminders/reminder-store.js'
import { ReminderService } from './reminders/reminders.js'
import type { Rules } from './rules/compile.js'
import { RulesStore } from './rules/store.js'
import { type SecretEnv, webhookSecretProblems } from './rules/webhook-secrets.js'
import { SlaPlanner } from './sla/sla-planner.js'
import { SlaStore } from './sla/sla-store.js'
import { authKeys } from './whatsapp/baileys/auth-state.js'
import type { SessionAuthStore } from './whatsapp/port.js'
import { type ReportedStatusRecord, reportedStatus } from './whatsapp/session-liveness.js'
import { SimNetwork } from './whatsapp/sim/network.js'
import { SessionStatusStore } from './whatsapp/status-store.js'
import { LeaseStore } from './worker/lease.js'
import { DEFAULT_TIMINGS } from './worker/ownership.js'
import { SessionQueues } from './worker/session-queues.js'

/** Everything the web and worker roles share, built once per process and passed down explicitly. */
export interface Services {
  env: Env
  log: Logger
  clock: Clock
  redis: Redis
  keys: Keys
  rules: RulesStore
  /** Where SLA webhook secrets (`secretEnv`) are read: checked against the rules at load, used to sign. */
  secretEnv: SecretEnv
  inbox: InboxStore
  /** The single door into the inbox state, for transports and for API actions alike. */
  ingestor: Ingestor
  statuses: SessionStatusStore
  /** "Session X changed" notices for the browser console's live pages (see src/console/changes.ts). */
  changes: ChangePublisher
  /** The stored WhatsApp credentials (logout of a session no process holds). */
  sessionAuth: SessionAuthStore
  /** The status the API reports: a stored claim of a live holder only while that holder lives (else MOVING). */
  reportedStatus(sessionId: string): Promise<ReportedStatusRecord>
  /**
   * The worker process that runs a session's job queue: the live holder of its lease. (It waits on the
   * queue through its one shared connection, see worker/marker-waits.ts, so BullMQ's own list of a
   * queue's workers never names it.) Null when no live worker holds the session.
   */
  sessionQueueConsumer(sessionId: string): Promise<{ workerId: string; since: number } | null>
  metrics: Metrics
  /** Producers' handles on each session's action queue. */
  sessionQueues: SessionQueues
  receipts: ReceiptStore
  receiptPlanner: ReceiptPlanner
  reminderStore: ReminderStore
  reminders: ReminderService
  /** Queues any worker consumes: SLA timers, webhook deliveries. */
  queues: GlobalQueues
  /** Producers' door to every queue: each job as jobs/catalog.ts defines it, its payload checked first. */
  jobs: JobProducer
  sla: SlaStore
  slaPlanner: SlaPlanner
  crm: CrmPort
  /** Present when HUBSPOT_ACCESS_TOKEN is set: the one HubSpot client of this process and its helpers. */
  hubspot: {
    client: HubSpotClient
    crm: HubSpotCrm
    budget: HubSpotBudget
    dirty: CrmDirtySet
    unmatched: UnmatchedChats
  } | null
  /** Present only with WA_TRANSPORT=sim. */
  sim: SimNetwork | null
  /** Tells a Redis outage once (down, counted summaries, back) instead of once per failed attempt. */
  redisOutage: OutageLog
  /**
   * Where every connection, queue and worker reports an error: connection failures go to the outage log,
   * anything else is logged as it is.
   */
  onRedisError(err: unknown, source: string): void
  close(): Promise<void>
}

export async function createServices(opts: {
  env: Env
  log: Logger
  clock: Clock
  rulesPath: string
  watchRules: boolean
  /** Extra checks on the rules for how this process runs (see RulesStoreOptions.accept). */
  acceptRules?: (rules: Rules) => string[]
  /** The environment webhook secrets come from; process.env unless a test gives its own. */
  secretEnv?: SecretEnv
  redis?: Redis
  crm?: CrmPort
  /** Node's process metrics (tickbridge_process_*, tickbridge_nodejs_*): once per process, by main. */
  processMetrics?: boolean
}): Promise<Services> {
  const { env, log, clock } = opts
  const secretEnv = opts.secretEnv ?? process.env
  const rules = await RulesStore.open(opts.rulesPath, log, {
    watch: opts.watchRules,
    accept: (r) => [...webhookSecretProblems(r, secretEnv), ...(opts.acceptRules?.(r) ?? [])],
  })
  const redis =
    opts.redis ??
    createRedis(env.REDIS_URL, {
      name: 'tickbridge',
      cluster: env.REDIS_CLUSTER,
      tls: redisTls(env.REDIS_TLS_CA_FILE),
    })
  const redisOutage = new OutageLog({
    name: 'redis',
    log,
    // While down, one PING a second on the main connection finds out when Redis answers again.
    probe: () =>
      Promise.race([
        redis.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), 900).unref()),
      ]),
  })
  const onRedisError = (err: unknown, source: string) => {
    if (isConnectionError(err)) redisOutage.failed(err, source)
    else log.warn({ source, err: err instanceof Error ? err.message : String(err) }, 'redis error')
  }
  redis.on('error', (err) => onRedisError(err, 'main connection'))
  redis.on('ready', () => redisOutage.recovered())
  const keys = new Keys(env.TICKBRIDGE_PREFIX)
  const inbox = new InboxStore(redis, keys)
  const metrics = createMetrics(undefined, { processMetrics: opts.processMetrics ?? false })
  const ingestor = new Ingestor({
    store: inbox,
    rules: () => ingestRulesFrom(rules.current()),
    clock,
    log,
    metrics,
  })
  // Connection errors while Redis restarts: BullMQ reconnects; the outage log tells them once.
  const onQueueError = (queue: string, err: Error) => onRedisError(err, `queue ${queue}`)
  const sessionQueues = new SessionQueues(redis, keys.prefix, onQueueError)
  const queues = createGlobalQueues(redis, keys.prefix, onQueueError)
  const jobs = JobProducer.over(sessionQueues, queues)
  const receipts = new ReceiptStore(redis, keys)
  const receiptPlanner = new ReceiptPlanner({
    store: receipts,
    jobs,
    rules: () => rules.current(),
    clock,
    log,
  })
  ingestor.onApplied(receiptPlanner.onApplied)
  const reminderStore = new ReminderStore(redis, keys)
  const reminders = new ReminderService({
    store: reminderStore,
    inbox,
    jobs,
    rules: () => rules.current(),
    clock,
    log,
    metrics,
  })
  ingestor.onApplied(reminders.onApplied)
  const changes = new ChangePublisher(redis, keys.prefix)
  ingestor.onApplied(changes.onApplied)
  const sla = new SlaStore(redis, keys, (sid) => changes.publish(sid, 'inbox'))
  const slaPlanner = new SlaPlanner({ store: sla, inbox, jobs, rules: () => rules.current(), clock, log })
  ingestor.onApplied(slaPlanner.onApplied)
  const hubspot = env.HUBSPOT_ACCESS_TOKEN
    ? createHubSpot(env, redis, keys, () => rules.current(), clock, log, metrics)
    : null
  if (hubspot) ingestor.onApplied(hubspot.dirty.onApplied)
  const statuses = new SessionStatusStore(redis, keys, clock, (sid) => changes.publish(sid, 'status'))
  return {
    env,
    log,
    clock,
    redis,
    keys,
    rules,
    secretEnv,
    inbox,
    ingestor,
    statuses,
    changes,
    sessionAuth: {
      wipe: async (sid) => {
        await redis.del(...authKeys(keys, sid).all())
      },
    },
    reportedStatus: async (sid) =>
      reportedStatus(
        { redis, keys, leases: new LeaseStore(redis, keys), workerTtlMs: DEFAULT_TIMINGS.workerTtlMs },
        sid,
        await statuses.get(sid),
      ),
    sessionQueueConsumer: async (sid) => {
      const leases = new LeaseStore(redis, keys)
      const lease = await leases.holderOf(sid)
      if (!lease) return null
      const [beat, [secs, micros], status] = await Promise.all([
        redis.zscore(keys.global('workers'), lease.holder),
        redis.time(),
        statuses.get(sid),
      ])
      const now = Number(secs) * 1000 + Math.floor(Number(micros) / 1000)
      if (beat === null || now - Number(beat) > DEFAULT_TIMINGS.workerTtlMs) return null
      // Since when it holds the session, as far as its status reports tell.
      return { workerId: lease.holder, since: status.holder === lease.holder ? status.since : now }
    },
    metrics,
    sessionQueues,
    receipts,
    receiptPlanner,
    reminderStore,
    reminders,
    queues,
    jobs,
    sla,
    slaPlanner,
    crm: opts.crm ?? hubspot?.crm ?? new NoCrm(),
    hubspot,
    sim: env.WA_TRANSPORT === 'sim' ? new SimNetwork(redis, keys, clock) : null,
    redisOutage,
    onRedisError,
    async close() {
      rules.close()
      redisOutage.close()
      changes.close()
      await sessionQueues.close()
      await queues.close()
      if (!opts.redis) await redis.quit().catch(() => redis.disconnect())
    },
  }
}

/**
 * One @hubspot/api-client Client per process (its retry settings are process-wide). Retries are ours:
 * the client makes one attempt; the shared budget and the flusher decide when to try again.
 */
function createHubSpot(
  env: Env,
  redis: Redis,
  keys: Keys,
  rules: () => import('./rules/compile.js').Rules,
  clock: Clock,
  log: Logger,
  metrics: Metrics,
) {
  const client = new HubSpotClient({
    accessToken: env.HUBSPOT_ACCESS_TOKEN!,
    basePath: env.HUBSPOT_BASE_URL,
    numberOfApiCallRetries: 0,
    // The client has no request timeout of its own: an agent that drops a silent socket gives it one.
    httpAgent: timeoutAgent(env.HUBSPOT_BASE_URL, env.HUBSPOT_TIMEOUT_MS),
    middleware: [
      rateLimitMiddleware((h) => {
        const set = (window: string, value: string, v: number | undefined) =>
          v !== undefined && metrics.hubspotRateLimit.set({ window, value }, v)
        set('10s', 'max', h.max)
        set('10s', 'remaining', h.remaining)
        set('daily', 'max', h.daily)
        set('daily', 'remaining', h.dailyRemaining)
      }),
    ],
  })
  const limits = rules().config.counters.crmSync
  const budget = new HubSpotBudget(redis, keys.global('hubspot-budget'), {
    perTenSeconds: limits.requestsPer10s,
    searchesPerSecond: limits.searchesPerSecond,
  })
  const crm = new HubSpotCrm({
    client,
    budget,
    redis,
    keys,
    rules,
    clock,
    log: log.child({ component: 'hubspot' }),
    http: {
      baseUrl: env.HUBSPOT_BASE_URL,
      token: env.HUBSPOT_ACCESS_TOKEN!,
      timeoutMs: env.HUBSPOT_TIMEOUT_MS,
    },
  })
  return {
    client,
    crm,
    budget,
    dirty: new CrmDirtySet(redis, keys, rules, clock),
    unmatched: new UnmatchedChats(redis, keys, clock),
  }
}

/** Every queue the dashboard shows: each session's queue of the current rules, then the global ones. */
export function dashboardQueues(s: Services) {
  const { sla, webhooks, counters, crm, crmTasks } = s.queues
  return [
    ...[...s.rules.current().sessions.keys()].map((sid) => s.sessionQueues.get(sid)),
    ...sla,
    webhooks,
    counters,
    crm,
    crmTasks,
  ]
}
