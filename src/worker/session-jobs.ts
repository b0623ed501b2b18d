import { DelayedError, type Job, UnrecoverableError } from 'bullmq'
import type { z } from 'zod'
import { formatIssues } from '../rules/report.js'
import type { WhatsAppSession } from '../whatsapp/port.js'

/** What every processor of a session queue receives: the session it runs for, live. */
export interface SessionJobContext {
  sessionId: string
  session: WhatsAppSession
  /** The job's lock token, for processors that reschedule themselves (moveToDelayed). */
  token: string | undefined
}

export type SessionJobProcessor = (job: Job, ctx: SessionJobContext) => Promise<unknown>

/** While the session is reconnecting or moving, jobs step back this long instead of failing. */
const WAIT_MS = 1000

/**
 * Runs a session-queue job: waits (without spending an attempt) while the session is not WORKING,
 * then hands it to the processor registered for its name.
 */
export async function runSessionJob(
  job: Job,
  token: string | undefined,
  sessionId: string,
  session: WhatsAppSession | undefined,
  processors: Readonly<Record<string, SessionJobProcessor>>,
): Promise<unknown> {
  const processor = processors[job.name]
  if (!processor) throw new UnrecoverableError(`no processor for job "${job.name}" in session queues`)
  if (session?.status() !== 'WORKING') {
    await job.moveToDelayed(Date.now() + WAIT_MS, token)
    throw new DelayedError()
  }
  return processor(job, { sessionId, session, token })
}

/** Parses a job's payload; a malformed one fails at once with the reason and is never retried. */
export function payloadOf<T extends z.ZodType>(job: Job, schema: T): z.infer<T> {
  const parsed = schema.safeParse(job.data)
  if (!parsed.success) {
    throw new UnrecoverableError(
      `invalid ${job.name} payload: ${formatIssues(parsed.error.issues).join('; ')}`,
    )
  }
  return parsed.data
}
