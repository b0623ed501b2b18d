import { isIP } from 'node:net'
import { z } from 'zod'
import { parseAuthKeys } from './whatsapp/baileys/auth-cipher.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** proxy-addr's names for address ranges (what Fastify's trustProxy accepts besides addresses). */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']

function isProxyEntry(entry: string): boolean {
  if (PROXY_RANGES.includes(entry)) return true
  const [address, bits, extra] = entry.split('/')
  const family = isIP(address ?? '')
  if (!family || extra !== undefined) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}

/**
 * Which proxies' X-Forwarded-For Fastify believes (its `trustProxy`), so `req.ip` is the client's and
 * not the proxy's. Unset: none, `req.ip` is the connecting address.
 */
const trustProxySchema = z
  .string()
  .transform((v, ctx): boolean | number | string[] => {
    const value = v.trim()
    if (value === 'false') return false
    if (value === 'true') return true
    if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 16) return Number(value)
    const entries = value.split(',').map((e) => e.trim())
    const bad = entries.filter((e) => !isProxyEntry(e))
    if (bad.length === 0) return entries
    ctx.addIssue({
      code: 'custom',
      message: `"${bad[0]}" is not an address, CIDR range or one of ${PROXY_RANGES.join(', ')} (or give true, or a hop count 1-16)`,
    })
    return z.NEVER
  })
  .default(false)
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
    TRUST_PROXY: trustProxySchema,
    /**
     * Lets the queue dashboard change jobs (retry, promote, add, clean, obliterate). Off, it only shows
     * them: whoever holds the operator key could otherwise queue any job, webhooks to any URL included.
     */
    DASHBOARD_ACTIONS: z
      .enum(['true', 'false', '1', '0'], 'must be true or false')
      .default('false')
      .transform((v) => v === 'true' || v === '1'),
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
    /**
     * Encryption at rest of WhatsApp auth in Redis: `<id>:<base64 32-byte key>`, comma-separated, the first
     * current (docs/security-redis.md). Parsed to a keyring that never prints its keys.
     */
    WA_AUTH_KEYS: z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (text === undefined) return undefined
        const parsed = parseAuthKeys(text)
        if (parsed.ok) return parsed.keyring
        ctx.addIssue({ code: 'custom', message: parsed.problem })
        return z.NEVER
      }),
    /** A PEM file of the CA that signed the Redis server's certificate (with rediss://). */
    REDIS_TLS_CA_FILE: z.string().min(1).optional(),
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
