import { Worker as BullWorker, type ConnectionOptions } from 'bullmq'
import type { Logger } from 'pino'
import { CRM_FLUSH_SCHEDULER, catalog, globalRunner, task, taskList } from '../../jobs/catalog.js'
import { crmFlushProcessor } from '../../jobs/crm-flush.js'
import { crmTaskProcessor } from '../../jobs/crm-task.js'
import type { Clock } from '../clock.js'
import { GLOBAL_QUEUES } from '../queues.js'
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
  try {
    const { created } = await h.crm.ensureProperties()
    log.info(
      { created },
      created.length ? 'HubSpot: created missing contact properties' : 'HubSpot: contact properties present',
    )
  } catch (err) {
    // Not fatal: writes fail visibly until the token gets the crm.schemas scope; counters keep working.
    log.error({ err: (err as Error).message }, 'HubSpot: could not check or create the contact properties')
  }
  // One flush at a time across all workers: two concurrent flushes could write one contact out of order
  // (the older read landing last), leaving HubSpot stale until its next change. The soak caught that.
  await s.queues.crm.setGlobalConcurrency(1)
  await s.jobs.schedule(catalog.crmFlush, CRM_FLUSH_SCHEDULER, { every: FLUSH_EVERY_MS }, undefined, {})
  const flush = crmFlush(s, log)
  const worker = new BullWorker(GLOBAL_QUEUES.crm, globalRunner(taskList(task(catalog.crmFlush, flush))), {
    connection: duplicateRedis(s.redis, { forWorkers: true }) as unknown as ConnectionOptions,
    prefix: s.keys.prefix,
    concurrency: 1,
    // A killed worker's flush frees the one slot within seconds, not the default 30-60 s.
    lockDuration: 10_000,
    stalledInterval: 5000,
  })
  worker.on('failed', (job, err) => log.warn({ jobId: job?.id, err: err.message }, 'CRM flush failed'))
  // Without a listener BullMQ prints every connection error raw to stderr; the outage log tells them once.
  worker.on('error', (err) => s.onRedisError(err, `worker ${GLOBAL_QUEUES.crm}`))
  const crmTask = crmTaskProcessor({ crm: s.crm, log })
  const tasks = new BullWorker(
    GLOBAL_QUEUES.crmTasks,
    globalRunner(taskList(task(catalog.crmTask, crmTask))),
    {
      connection: duplicateRedis(s.redis, { forWorkers: true }) as unknown as ConnectionOptions,
      prefix: s.keys.prefix,
      concurrency: 2,
    },
  )
  tasks.on('error', (err) => s.onRedisError(err, `worker ${GLOBAL_QUEUES.crmTasks}`))
  tasks.on('failed', (job, err) =>
    log.warn(
      { jobId: job?.id, attempt: job?.attemptsMade, err: err.message },
      'HubSpot task not created yet',
    ),
  )
  return { close: async () => void (await Promise.all([worker.close(), tasks.close()])) }
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
  })
}
