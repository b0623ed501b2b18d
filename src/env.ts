import { isIP } from 'node:net'
import { z } from 'zod'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const HOST_NAME =
  /^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/

/** A bind address: an IP address (IPv6 with or without brackets, a zone as in fe80::1%eth0 allowed) or a host name. */
const bindHost = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v) => v.trim().replace(/^\[(.*)\]$/, '$1'))
    .refine(
      (v) => isIP(v) !== 0 || HOST_NAME.test(v),
      'expected an IP address (like 127.0.0.1, 0.0.0.0, ::1 or fe80::1%eth0) or a host name',
    )

/** Every environment variable Tickbridge reads, parsed once at start-up. */
export const envSchema = z
  .object({
    /** One Redis, or with REDIS_CLUSTER=true one or more comma-separated seed nodes of a Redis Cluster. */
    REDIS_URL: z
      .string()
      .default('redis://127.0.0.1:6379')
      .refine(
        (v) => v.split(',').every((u) => /^rediss?:\/\/[^,]+$/.test(u.trim())),
        'must start with redis:// or rediss:// (a cluster may list several, comma-separated)',
      ),
    REDIS_CLUSTER: z
      .enum(['true', 'false', '1', '0'], 'must be true or false')
      .default('false')
      .transform((v) => v === 'true' || v === '1'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /** Loopback by default: serving other machines is a decision (and needs keys of your own). */
    HOST: bindHost('127.0.0.1'),
    /**
     * The operator's listener (Prometheus `/metrics`, `/readyz` with its checks): unauthenticated, so on
     * loopback by default. 0 picks a free port (tests).
     */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    METRICS_HOST: bindHost('127.0.0.1'),
    TICKBRIDGE_RULES: z.string().min(1).optional(),
    /** Key prefix for everything Tickbridge stores in Redis (tests and side-by-side installs use their own). */
    TICKBRIDGE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, "-" or "_", at most 32')
      .default('tb'),
    WA_TRANSPORT: z.enum(['baileys', 'sim']).default('sim'),
    HUBSPOT_ACCESS_TOKEN: z.string().min(1).optional(),
    HUBSPOT_BASE_URL: z.url().default('https://api.hubapi.com'),
    /** The HubSpot app's client secret: verifies the signature of HubSpot's webhook calls. */
    HUBSPOT_APP_SECRET: z.string().min(8).optional(),
    /** The public URL HubSpot calls for webhooks (behind a proxy it is not what the Host header says). */
    HUBSPOT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** Every HubSpot call gives up after this long without an answer. */
    HUBSPOT_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    /** `pretty` (readable lines, a terminal's default) or `json` (one object per line, the default otherwise). */
    LOG_FORMAT: z.enum(['json', 'pretty'], 'must be json or pretty').optional(),
  })
  .superRefine((env, ctx) => {
    if (!env.REDIS_CLUSTER && env.REDIS_URL.includes(','))
      ctx.addIssue({
        code: 'custom',
        path: ['REDIS_URL'],
        message:
          'lists several servers, which only a cluster can use: set REDIS_CLUSTER=true or give one URL',
      })
  })

export type Env = z.infer<typeof envSchema>

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'EnvError'
  }
}

/** Parses the environment; throws EnvError naming every bad variable (never its value: it may be a secret). */
export function parseEnv(source: Record<string, string | undefined>): Env {
  // Treat empty strings as unset, as shells and Procfile runners often export VAR= .
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''))
  const result = envSchema.safeParse(cleaned)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`)
  throw new EnvError(problems)
}
