import { type Job, type JobsOptions, type Queue, type RepeatOptions, UnrecoverableError } from 'bullmq'
import type { z } from 'zod'
import type { GlobalQueueName, GlobalQueues } from '../src/queues.js'
import { formatIssues } from '../src/rules/report.js'
import type { WhatsAppSession } from '../src/whatsapp/port.js'

/**
 * The plumbing of the job catalog (jobs/catalog.ts): how a job is defined, how producers enqueue one
 * (validated before anything reaches Redis) and how a processor is bound to its job (it receives the
 * parsed payload). In the style of Trigger.dev's typed task definitions and graphile-worker's task list.
 */

/** Where a job waits: the session's own queue (needs its socket), the session's SLA shard, or a global queue. */
export type JobQueue = 'session' | 'sla-shard' | GlobalQueueName

/** A job's default options: retries and retention. Per add, a producer gives a delay (and may keep less). */
export type JobDefaults = Pick<JobsOptions, 'attempts' | 'backoff' | 'removeOnComplete' | 'removeOnFail'>

/** Builds a job's id from its key. Deterministic, so adding twice adds once and a producer can cancel it. */
export type JobIdScheme<Key> = (key: Key) => string

export interface JobDefinition<
  Name extends string = string,
  Schema extends z.ZodType = z.ZodType,
  Q extends JobQueue = JobQueue,
  // biome-ignore lint/suspicious/noExplicitAny: any key type; each definition narrows it
  Id extends JobIdScheme<any> | null = JobIdScheme<any> | null,
> {
  readonly name: Name
  readonly queue: Q
  readonly payload: Schema
  /** `null`: BullMQ numbers the job (the firings of a job scheduler). */
  readonly jobId: Id
  readonly defaults: JobDefaults
  /** What the job does, one line (for the README's table and error messages). */
  readonly summary: string
}

export type AnyJob = JobDefinition

export function defineJob<
  const Name extends string,
  Schema extends z.ZodType,
  Q extends JobQueue,
  // biome-ignore lint/suspicious/noExplicitAny: inferred from the definition
  Id extends JobIdScheme<any> | null,
>(def: JobDefinition<Name, Schema, Q, Id>): JobDefinition<Name, Schema, Q, Id> {
  return Object.freeze(def)
}

/** What a producer passes (before schema defaults). */
export type PayloadIn<D extends AnyJob> = z.input<D['payload']>
/** What a processor receives: the parsed payload. */
export type Payload<D extends AnyJob> = z.output<D['payload']>
export type KeyOf<D extends AnyJob> = D['jobId'] extends JobIdScheme<infer K> ? K : never

/** Per-session queues need the session; global ones must not get one. */
type Where<D extends AnyJob> = D['queue'] extends 'session' | 'sla-shard'
  ? { sessionId: string }
  : { sessionId?: undefined }
type Keyed<D extends AnyJob> = D['jobId'] extends null ? { key?: undefined } : { key: KeyOf<D> }

export type AddOptions<D extends AnyJob> = Where<D> &
  Keyed<D> & {
    /** Milliseconds until the job is due. */
    delay?: number
    /** Keep less than the default retention of completed jobs. */
    removeOnComplete?: JobsOptions['removeOnComplete']
  }

type LooseOptions = { key?: unknown; delay?: number; removeOnComplete?: JobsOptions['removeOnComplete'] }

/** A payload the job's schema refuses; thrown before anything is sent to Redis. */
export class InvalidJobPayloadError extends Error {
  constructor(
    readonly job: string,
    /** One line per problem, each starting with the field's path (`chat.lastMessage.key.id: required`). */
    readonly problems: string[],
  ) {
    super(`invalid ${job} payload: ${problems.join('; ')}`)
    this.name = 'InvalidJobPayloadError'
  }
}

function check<D extends AnyJob>(def: D, payload: unknown): void {
  const parsed = def.payload.safeParse(payload)
  if (!parsed.success) throw new InvalidJobPayloadError(def.name, formatIssues(parsed.error.issues))
}

/** The queues producers write to; services.ts builds it from the session and global queue handles. */
export interface JobQueues {
  session(sessionId: string): Queue
  slaShard(sessionId: string): Queue
  global(name: GlobalQueueName): Queue
}

/**
 * Producers' one door to the queues: `add(catalog.seenReceipt, payload, { sessionId, key, delay })`.
 * The payload is checked against the job's schema first; the queue, job name, job id and default
 * options come from the definition.
 */
export class JobProducer {
  constructor(private readonly queues: JobQueues) {}

  /** Over a process's queue handles: each session's queue (`get`) and the global queues with SLA shards. */
  static over(sessions: { get(sessionId: string): Queue }, global: GlobalQueues): JobProducer {
    return new JobProducer({
      session: (sid) => sessions.get(sid),
      slaShard: (sid) => global.slaFor(sid),
      global: (name) => global[name],
    })
  }

  /** The queue a job goes to (per-session jobs: the session's queue or SLA shard). */
  queueOf<D extends AnyJob>(def: D, sessionId?: string): Queue {
    if (def.queue === 'session' || def.queue === 'sla-shard') {
      if (!sessionId) throw new Error(`${def.name} jobs are per session: a sessionId is required`)
      return def.queue === 'session' ? this.queues.session(sessionId) : this.queues.slaShard(sessionId)
    }
    return this.queues.global(def.queue as GlobalQueueName)
  }

  /** The job id the definition gives this key. */
  jobId<D extends AnyJob>(def: D, key: KeyOf<D>): string {
    if (!def.jobId) throw new Error(`${def.name} jobs have no id scheme (BullMQ numbers them)`)
    const id = def.jobId(key)
    // BullMQ refuses ids with ':' (its key separator) and integer strings (its own numbering).
    if (id.includes(':') || /^\d+$/.test(id)) throw new Error(`bad ${def.name} job id "${id}"`)
    return id
  }

  private optionsOf<D extends AnyJob>(def: D, opts: LooseOptions): JobsOptions {
    return {
      ...def.defaults,
      ...(opts.key !== undefined ? { jobId: this.jobId(def, opts.key as KeyOf<D>) } : {}),
      ...(opts.delay !== undefined ? { delay: opts.delay } : {}),
      ...(opts.removeOnComplete !== undefined ? { removeOnComplete: opts.removeOnComplete } : {}),
    }
  }

  async add<D extends AnyJob>(def: D, payload: PayloadIn<D>, opts: AddOptions<D>): Promise<Job> {
    check(def, payload)
    const options = this.optionsOf(def, opts)
    return this.queueOf(def, opts.sessionId).add(def.name, payload, options)
  }

  /** Several jobs of one kind to one queue in one round-trip; nothing is added if any payload is bad. */
  async addBulk<D extends AnyJob>(
    def: D,
    where: Where<D>,
    items: ReadonlyArray<{ payload: PayloadIn<D> } & Omit<AddOptions<D>, 'sessionId'>>,
  ): Promise<Job[]> {
    for (const item of items) check(def, item.payload)
    const bulk = items.map((item) => ({
      name: def.name,
      data: item.payload,
      opts: this.optionsOf(def, item),
    }))
    return this.queueOf(def, where.sessionId).addBulk(bulk)
  }

  /** Cancels a job by its key (BullMQ answers 1 even when nothing was there). */
  remove<D extends AnyJob>(def: D, key: KeyOf<D>, where: Where<D>): Promise<number> {
    return this.queueOf(def, where.sessionId).remove(this.jobId(def, key))
  }

  /** Creates or replaces a job scheduler that produces this job with this payload. */
  async schedule<D extends AnyJob>(
    def: D,
    schedulerId: string,
    repeat: Omit<RepeatOptions, 'key'>,
    payload: PayloadIn<D>,
    where: Where<D>,
  ): Promise<void> {
    check(def, payload)
    await this.queueOf(def, where.sessionId).upsertJobScheduler(schedulerId, repeat, {
      name: def.name,
      ...(payload !== undefined ? { data: payload } : {}),
      opts: def.defaults,
    })
  }
}

/** What a processor of a session queue gets besides its payload: the session it runs for, live. */
export interface SessionJobContext {
  sessionId: string
  session: WhatsAppSession
  /** The job's lock token, for processors that reschedule themselves (moveToDelayed). */
  token: string | undefined
}

/** What a processor of a global queue gets besides its payload. */
export interface GlobalJobContext {
  /** The job's lock token, for processors that reschedule themselves (moveToDelayed). */
  token: string | undefined
}

type ContextOf<D extends AnyJob> = D['queue'] extends 'session' ? SessionJobContext : GlobalJobContext

/** A processor: the parsed payload, the BullMQ job (id, opts, moveToDelayed) and, in session queues, the session. */
export type Processor<D extends AnyJob, R = unknown> = (
  payload: Payload<D>,
  job: Job,
  ctx: ContextOf<D>,
) => Promise<R>

/** Runs a job of any name in a queue (the worker dispatches by `job.name`). */
export type JobRunner<Ctx> = (job: Job, ctx: Ctx) => Promise<unknown>

export interface Task<Ctx> {
  readonly name: string
  readonly run: JobRunner<Ctx>
}

/**
 * Binds a processor to its job: the payload is parsed with the job's schema first; a malformed one fails
 * at once with the reason (UnrecoverableError: never retried).
 */
export function task<D extends AnyJob, R>(def: D, processor: Processor<D, R>): Task<ContextOf<D>> {
  return {
    name: def.name,
    run: async (job, ctx) => {
      const parsed = def.payload.safeParse(job.data)
      if (!parsed.success) {
        throw new UnrecoverableError(
          `invalid ${job.name} payload: ${formatIssues(parsed.error.issues).join('; ')}`,
        )
      }
      return processor(parsed.data as Payload<D>, job, ctx)
    },
  }
}

/** A graphile-worker style task list: job name -> runner, for the jobs one worker consumes. */
export function taskList<Ctx>(...tasks: Task<Ctx>[]): Readonly<Record<string, JobRunner<Ctx>>> {
  const list: Record<string, JobRunner<Ctx>> = {}
  for (const t of tasks) {
    if (list[t.name]) throw new Error(`two processors for job "${t.name}"`)
    list[t.name] = t.run
  }
  return Object.freeze(list)
}

/**
 * A BullMQ processor for a global queue: runs the job with the processor its name has; a job of another
 * name (left by an older version) completes doing nothing.
 */
export function globalRunner(list: Readonly<Record<string, JobRunner<GlobalJobContext>>>) {
  return async (job: Job, token?: string): Promise<unknown> => {
    const run = list[job.name]
    return run ? run(job, { token }) : null
  }
}
