import { DelayedError, UnrecoverableError } from 'bullmq'
import type { Logger } from 'pino'
import type { HubSpotBudget } from '../src/crm/hubspot/budget.js'
import { classifyHubSpotError } from '../src/crm/hubspot/errors.js'
import type { CrmOutcome, CrmPort } from '../src/crm/port.js'
import type { catalog, Processor } from './catalog.js'

/**
 * `crm-task`: creates the HubSpot task an SLA level asked for, in the `{crm-tasks}` queue. Its own job,
 * so the SLA level never waits on HubSpot's request budget or outages: the level fires on time, and the
 * task follows as soon as HubSpot takes it. It never waits for budget inside the job: without a slot
 * (or during the daily pause) the job is moved back to delayed, due when the budget allows, so it holds
 * no worker slot and shutdown never waits on it. A DAILY 429 pauses the shared budget until HubSpot's
 * reset and delays the job until then. 429s, 423 Locked, 477, 5xx and timeouts are retried with backoff
 * (BullMQ attempts), and so are 401/403 (a token or scope an admin fixes) and a contact that does not
 * exist yet (bounded by the job's attempts, the reason on the job); another 4xx HubSpot refuses fails
 * the job at once with HubSpot's message as the reason.
 * HubSpot has no idempotency key for creates: each task carries a token of its job's id, and a retry
 * looks for it before creating (a timeout whose create HubSpot carried out creates no second task).
 */
export function crmTaskProcessor(deps: {
  crm: CrmPort
  log: Logger
  /** The shared budget, paused on a DAILY 429. */
  budget?: HubSpotBudget
  /** When HubSpot's daily limit resets (HubSpotCrm.dailyReset). */
  dailyReset?: () => Promise<{ at: number; source: string }>
}): Processor<typeof catalog.crmTask, CrmOutcome> {
  return async (input, job, { token }) => {
    const delay = async (until: number, why: string): Promise<never> => {
      deps.log.info({ jobId: job.id, until: new Date(until).toISOString() }, `CRM task delayed: ${why}`)
      await job.moveToDelayed(until, token)
      throw new DelayedError()
    }
    try {
      const outcome = await deps.crm.createTask({
        ...input,
        ...(job.id ? { ref: job.id } : {}),
        earlierTries: job.attemptsMade,
      })
      // No contact yet (HubSpot's search lags, the contact may be created soon): the job waits with
      // its backoff, bounded by its attempts, the reason visible on the job.
      if (!outcome.ok && outcome.retry) throw new Error(`waiting for the contact: ${outcome.skipped}`)
      if (!outcome.ok)
        deps.log.info({ jobId: job.id, chat: input.chatJid, skipped: outcome.skipped }, 'CRM task skipped')
      return outcome
    } catch (err) {
      if (err instanceof DelayedError) throw err
      const f = classifyHubSpotError(err)
      if (f.kind === 'no_budget')
        return delay(Date.now() + f.retryAfterMs, f.paused ? 'HubSpot calls paused' : 'no HubSpot budget now')
      if (f.kind === 'daily_limit' && deps.budget && deps.dailyReset) {
        const reset = await deps.dailyReset()
        await deps.budget.pauseUntil(reset.at)
        return delay(reset.at, `HubSpot daily limit reached (reset from ${reset.source})`)
      }
      // 401/403 (a rotated token, a missing scope) can succeed once an admin fixes it: retried like the
      // flusher retries them. Other refusals (a bad value) cannot.
      if (f.kind === 'fatal' && (f.status === 401 || f.status === 403)) {
        deps.log.error(
          { jobId: job.id, status: f.status, ...(f.missingScopes ? { missingScopes: f.missingScopes } : {}) },
          `HubSpot refused the task (${f.status}): retrying with backoff`,
        )
        throw err
      }
      if (f.kind === 'fatal' || f.kind === 'invalid')
        throw new UnrecoverableError(`HubSpot refused the task (${f.status}): ${f.message}`)
      throw err // rate limited, locked, migrating or unavailable: BullMQ tries again with backoff
    }
  }
}
