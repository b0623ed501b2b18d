import { UnrecoverableError } from 'bullmq'
import type { Logger } from 'pino'
import { classifyHubSpotError } from '../src/crm/hubspot/errors.js'
import type { CrmOutcome, CrmPort } from '../src/crm/port.js'
import type { catalog, Processor } from './catalog.js'

/**
 * `crm-task`: creates the HubSpot task an SLA level asked for, in the `{crm-tasks}` queue. Its own job,
 * so the SLA level never waits on HubSpot's request budget or outages: the level fires on time, and the
 * task follows as soon as HubSpot takes it. 429s, 5xx and timeouts are retried with backoff (BullMQ
 * attempts); a 4xx HubSpot refuses fails the job at once with HubSpot's message as the reason.
 * HubSpot has no idempotency key for creates: a worker killed after HubSpot answered but before the job
 * completed creates the task again when the job is retried (rare; at-least-once).
 */
export function crmTaskProcessor(deps: {
  crm: CrmPort
  log: Logger
}): Processor<typeof catalog.crmTask, CrmOutcome> {
  return async (input, job) => {
    try {
      const outcome = await deps.crm.createTask(input)
      if (!outcome.ok)
        deps.log.info({ jobId: job.id, chat: input.chatJid, skipped: outcome.skipped }, 'CRM task skipped')
      return outcome
    } catch (err) {
      const f = classifyHubSpotError(err)
      if (f.kind === 'fatal')
        throw new UnrecoverableError(`HubSpot refused the task (${f.status}): ${f.message}`)
      throw err // rate limited, daily limit or unavailable: BullMQ tries again with backoff
    }
  }
}
