import { Worker as BullWorker, type ConnectionOptions } from 'bullmq'
import type { Logger } from 'pino'
import { CRM_FLUSH_SCHEDULER, catalog, globalRunner, task, taskList } from '../../jobs/catalog.js'
import { crmFlushProcessor } from '../../jobs/crm-flush.js'
import { crmTaskProcessor } from '../../jobs/crm-task.js'
import type { Clock } from '../clock.js'
import { classifyHubSpotError } from '../crm/hubspot/errors.js'
import type { HubSpotCrm } from '../crm/hubspot/hubspot-crm.js'
import { GLOBAL_QUEUES, STALLED_JOB_RECOVERY } from '../queues.js'
import { duplicateRedis } from '../redis.js'
import type { Services } from '../services.js'

/** How often due CRM changes are flushed; the debounce window is what actually batches them. */
const FLUSH_EVERY_MS = 1000

/**
 * The worker side of CRM sync: makes sure HubSpot has our contact properties, schedules the flusher
 * (one job scheduler, shared by all workers) and consumes it. Without HUBSPOT_ACCESS_TOKEN: nothing.
 */
export async function startCrmWorker(s: Services): Promise<{ close(): Promise<void> } | null> {
  const h = s.hubspot
  if (!h) return null
  const log = s.log.child({ component: 'crm' })
  // Property setup and the owners check wait for budget (they run outside any job), in the background:
  // during a DAILY pause they wait for HubSpot's reset without holding up the worker's start or its
  // shutdown (closing aborts them). The flusher writes nothing until the properties are there.
  const stopping = new AbortController()
  let ready = false
  void (async () => {
    if (!(await setUpProperties(h.crm, log, stopping.signal))) return
    await checkOwners(s, log, stopping.signal)
    ready = !stopping.signal.aborted
  })()
  // A rules change may fix an owner id or a value HubSpot refused: check again, retry what was parked.
  const offRules = s.rules.onChange(() => {
    void checkOwners(s, log, stopping.signal).then(async () => {
      const n = await h.dirty.retryRejected()
      if (n) log.info({ chats: n }, 'rules changed: retrying contact updates HubSpot refused')
    })
  })
  // One flush at a time across all workers: two concurrent flushes could write one contact out of order
  // (the older read landing last), leaving HubSpot stale until its next change. The soak caught that.
  await s.queues.crm.setGlobalConcurrency(1)
  await s.jobs.schedule(catalog.crmFlush, CRM_FLUSH_SCHEDULER, { every: FLUSH_EVERY_MS }, undefined, {})
  const flush = crmFlush(s, log)
  // Until the properties and owners are checked, a flush writes nothing (the changes stay due).
  const notReady = { written: 0, batches: 0, ready: false }
  const worker = new BullWorker(
    GLOBAL_QUEUES.crm,
    globalRunner(taskList(task(catalog.crmFlush, async () => (ready ? flush() : notReady)))),
    {
      connection: duplicateRedis(s.redis, { forWorkers: true }) as unknown as ConnectionOptions,
      prefix: s.keys.prefix,
      concurrency: 1,
      // A killed worker's flush frees the one slot within seconds, not the default 30-60 s.
      ...STALLED_JOB_RECOVERY,
    },
  )
  worker.on('failed', (job, err) => log.warn({ jobId: job?.id, err: err.message }, 'CRM flush failed'))
  // Without a listener BullMQ prints every connection error raw to stderr; the outage log tells them once.
  worker.on('error', (err) => s.onRedisError(err, `worker ${GLOBAL_QUEUES.crm}`))
  const crmTask = crmTaskProcessor({
    crm: s.crm,
    log,
    budget: h.budget,
    dailyReset: () => h.crm.dailyReset(s.rules.current().config.orgs[0]?.hubspot.timeZone ?? 'UTC'),
  })
  const tasks = new BullWorker(
    GLOBAL_QUEUES.crmTasks,
    globalRunner(taskList(task(catalog.crmTask, crmTask))),
    {
      connection: duplicateRedis(s.redis, { forWorkers: true }) as unknown as ConnectionOptions,
      prefix: s.keys.prefix,
      concurrency: 2,
      ...STALLED_JOB_RECOVERY,
    },
  )
  tasks.on('error', (err) => s.onRedisError(err, `worker ${GLOBAL_QUEUES.crmTasks}`))
  tasks.on('failed', (job, err) =>
    log.warn(
      { jobId: job?.id, attempt: job?.attemptsMade, err: err.message },
      'HubSpot task not created yet',
    ),
  )
  return {
    close: async () => {
      stopping.abort()
      offRules()
      await Promise.all([worker.close(), tasks.close()])
    },
  }
}

/** Backoff between property-setup attempts: 5 s doubling, at most 5 minutes. */
export const SETUP_RETRY_MS = (attempt: number) => Math.min(5000 * 2 ** attempt, 300_000)

/**
 * The contact properties must exist before any write (a `batch/update` naming an unknown property is a
 * 400 for the whole batch): tried until it succeeds, with backoff, while the flusher writes nothing. A
 * 403 names the scope the token lacks. False when stopped first.
 */
export async function setUpProperties(
  crm: Pick<HubSpotCrm, 'ensureProperties'>,
  log: Logger,
  signal: AbortSignal,
  sleep: (ms: number, signal: AbortSignal) => Promise<void> = abortableSleep,
): Promise<boolean> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const { created } = await crm.ensureProperties(signal)
      log.info(
        { created },
        created.length
          ? 'HubSpot: created or updated contact properties'
          : 'HubSpot: contact properties present',
      )
      return true
    } catch (err) {
      if (signal.aborted) return false
      const f = classifyHubSpotError(err)
      const retryInMs = SETUP_RETRY_MS(attempt)
      const scopes = f.kind === 'fatal' ? f.missingScopes : undefined
      log.error(
        { err: (err as Error).message, retryInMs, ...(scopes ? { missingScopes: scopes } : {}) },
        scopes
          ? `HubSpot: the token lacks the scope ${scopes.join(', ')}: contact properties not set up, CRM sync waits (retrying)`
          : 'HubSpot: could not check or create the contact properties: CRM sync waits (retrying)',
      )
      await sleep(retryInMs, signal)
    }
  }
  return false
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Every `hubspotOwnerId` of the rules must be a HubSpot owner; each one that is not is a clear rules problem. */
export async function checkOwners(s: Services, log: Logger, signal?: AbortSignal) {
  try {
    const problems = (await s.hubspot?.crm.checkOwners(signal)) ?? []
    for (const p of problems)
      log.error({ user: p.user, hubspotOwnerId: p.hubspotOwnerId }, `rules: ${p.message}`)
    if (problems.length === 0) log.info('HubSpot: every hubspotOwnerId of the rules is a HubSpot owner')
    return problems
  } catch (err) {
    if (signal?.aborted) return []
    log.warn({ err: (err as Error).message }, 'HubSpot: could not check the owners')
    return []
  }
}

/** The flusher over a process's services (what each `{crm}` job runs). */
export function crmFlush(s: Services, log: Logger = s.log, clock: Clock = s.clock) {
  const h = s.hubspot
  if (!h) throw new Error('HubSpot is not configured (no HUBSPOT_ACCESS_TOKEN)')
  return crmFlushProcessor({
    dirty: h.dirty,
    inbox: s.inbox,
    sla: s.sla,
    hubspot: h.crm,
    client: h.client,
    budget: h.budget,
    rules: () => s.rules.current(),
    clock,
    metrics: s.metrics,
    log,
    unmatched: h.unmatched,
    ingest: (event) => s.ingestor.ingest(event),
  })
}
