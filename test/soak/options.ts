import { z } from 'zod'

/** Every soak setting, from `npm run soak -- --flag value` (or the CI test), validated once. */
export const soakOptionsSchema = z
  .object({
    sessions: z.coerce.number().int().min(1).max(1000).default(20),
    chats: z.coerce.number().int().min(1).max(200_000).default(2000),
    /** Messages per second the generator injects, all kinds together. */
    rate: z.coerce.number().positive().max(20_000).default(500),
    minutes: z.coerce.number().positive().max(240).default(5),
    /** Overrides `minutes` (short CI runs). */
    seconds: z.coerce.number().positive().optional(),
    workers: z.coerce.number().int().min(1).max(16).default(3),
    /** SIGKILL a random worker process every N seconds (it is restarted at once); 0 = never. */
    killEvery: z.coerce.number().min(0).default(0),
    /** SIGKILL the soak's own Redis (AOF, appendfsync always) this many times, spread over the run. */
    redisRestarts: z.coerce.number().int().min(0).max(20).default(0),
    /** Drop the WhatsApp connection of a random session every N seconds; 0 = never. */
    waDisconnectEvery: z.coerce.number().min(0).default(0),
    /** Stretches of HubSpot answering 429, 500 or timing out, every N seconds; 0 = never. */
    hubspotFaultEvery: z.coerce.number().min(0).default(0),
    /** Run against a fresh local 3-master Redis Cluster instead of a single Redis. */
    cluster: z.boolean().default(false),
    /** SLA level thresholds in seconds (a 24/7 policy); keep them well above the fault windows. */
    slaLevels: z
      .string()
      .default('15,40')
      .transform((v, ctx) => {
        const n = v.split(',').map(Number)
        if (n.some((x) => !Number.isFinite(x) || x <= 0)) {
          ctx.addIssue({ code: 'custom', message: 'comma-separated positive seconds, e.g. 15,40' })
          return z.NEVER
        }
        return n.map((x) => x * 1000)
      }),
    /** How close to a boundary (ms) a verdict counts as "either way". */
    toleranceMs: z.coerce.number().int().min(0).default(3000),
    seed: z.coerce.number().int().default(1),
    /** How long (s) the drain may take after the last timer is due before the run is reported as stuck. */
    drainTimeout: z.coerce.number().positive().default(600),
    /** Run the worker processes from this checkout (another revision) instead of this one. */
    workerRoot: z.string().min(1).optional(),
    /** Seconds of a command profile (Redis µs and calls by operation, from its SLOWLOG) during the load; 0 = none. */
    profileSeconds: z.coerce.number().min(0).max(60).default(0),
    /** Print progress lines on stderr. */
    verbose: z.boolean().default(true),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.cluster && o.redisRestarts > 0)
      ctx.addIssue({ code: 'custom', path: ['redisRestarts'], message: 'not supported with --cluster' })
  })

export type SoakOptions = z.output<typeof soakOptionsSchema>
export type SoakInput = z.input<typeof soakOptionsSchema>

export function loadSeconds(o: SoakOptions): number {
  return o.seconds ?? o.minutes * 60
}
