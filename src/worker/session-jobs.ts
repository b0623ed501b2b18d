import { DelayedError, type Job, UnrecoverableError } from 'bullmq'
import type { JobRunner, SessionJobContext } from '../../jobs/job-definition.js'
import type { WhatsAppSession } from '../whatsapp/port.js'

/** Runs one job of a session queue; built with `taskList(task(catalog.x, processor), ...)`. */
export type SessionJobProcessor = JobRunner<SessionJobContext>

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
