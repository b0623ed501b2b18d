import { readFileSync } from 'node:fs'
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { Cluster, Redis, type RedisOptions } from 'ioredis'

/**
 * TLS settings for `rediss://` URLs: the CA that signed the server's certificate, from REDIS_TLS_CA_FILE
 * (without it Node's default CAs verify the server). The server's name or IP must be in its certificate.
 */
export function redisTls(caFile: string | undefined): TlsOptions | undefined {
  if (caFile === undefined) return undefined
  try {
    return { ca: readFileSync(caFile) }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new RedisUnreachableError(
      `(REDIS_TLS_CA_FILE)`,
      new Error(`cannot read the CA file ${caFile}: ${code}`),
    )
  }
}

export interface ConnectionRole {
  /** maxRetriesPerRequest: null, which BullMQ workers and blocking reads need to survive a Redis restart. */
  forWorkers?: boolean
  name?: string
}

function roleOptions(role: ConnectionRole): RedisOptions {
  return {
    ...(role.name ? { connectionName: role.name } : {}),
    maxRetriesPerRequest: role.forWorkers ? null : 3,
    // The shared connection sends what is issued in one tick as one write (fewer syscalls for Redis).
    // Never on a worker's connection: a blocking command would hold up everything batched behind it.
    enableAutoPipelining: !role.forWorkers,
  }
}

/**
 * Opens an ioredis connection to one Redis, or with `cluster` to a Redis Cluster (`url` is then one or
 * more seed nodes, comma-separated; the rest are discovered).
 *
 * A Cluster is returned typed as `Redis`: both have the same command methods, and every key Tickbridge
 * touches in one command, script or MULTI carries one hash tag. The one method whose signature differs,
 * `duplicate()`, is only ever called through `duplicateRedis()` below.
 */
export function createRedis(
  url: string,
  options: ConnectionRole & { cluster?: boolean; tls?: TlsOptions } = {},
): Redis {
  const tls = options.tls && url.startsWith('rediss://') ? { tls: options.tls } : {}
  if (!options.cluster) return new Redis(url, { ...roleOptions(options), enableReadyCheck: true, ...tls })
  const seeds = url.split(',').map((u) => new URL(u.trim()))
  const first = seeds[0]!
  const cluster = new Cluster(
    seeds.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    {
      enableReadyCheck: true,
      redisOptions: {
        ...roleOptions(options),
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
        ...(first.protocol === 'rediss:' ? { tls: options.tls ?? {} } : {}),
      },
    },
  )
  return cluster as unknown as Redis
}

export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true
}

/** A new connection to the same Redis or Cluster with the options of another role. */
export function duplicateRedis(redis: Redis, role: ConnectionRole): Redis {
  if (!isCluster(redis)) return redis.duplicate(roleOptions(role))
  const cluster = redis as unknown as Cluster
  return cluster.duplicate(undefined, {
    redisOptions: { ...cluster.options.redisOptions, ...roleOptions(role) },
  }) as unknown as Redis
}

export class RedisUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super(
      `Redis is not reachable at ${redactUrl(url)} (${reason}). ` +
        (/certificate|CERT_|self[- ]signed/i.test(reason)
          ? "TLS: set REDIS_TLS_CA_FILE to the CA that signed the server's certificate (docs/security-redis.md)."
          : 'Start one (for example: redis-server --daemonize yes --port 6379) or set REDIS_URL to a reachable server.'),
    )
    this.name = 'RedisUnreachableError'
  }
}

/** Redis answered but refused our credentials: a wrong or missing password, not a Redis to start. */
export class RedisAuthError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const reply = cause instanceof Error ? cause.message : String(cause)
    const hint = /NOAUTH/.test(reply)
      ? 'this Redis requires a password: put it in REDIS_URL (redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port with ACLs).'
      : 'check the user name and password in REDIS_URL (redis://USER:PASSWORD@host:port).'
    super(`Redis at ${redactUrl(url)}: authentication failed (${reply.split('.')[0]}); ${hint}`)
    this.name = 'RedisAuthError'
  }
}

const isAuthFailure = (err: unknown) =>
  err instanceof Error && /WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(err.message)

/**
 * Pings Redis once with a short timeout; the service refuses to start without it. A refused password is
 * a RedisAuthError, anything else a RedisUnreachableError.
 */
export async function assertRedisReachable(url: string, timeoutMs = 3000, tls?: TlsOptions): Promise<void> {
  // A cluster's seed list: its first node answers for the start-up check.
  const first = url.split(',')[0]!.trim()
  const probe = new Redis(first, {
    ...(tls && first.startsWith('rediss://') ? { tls } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  })
  // Reported through the rejected connect below, except that a refused AUTH or ready check closes the
  // connection and the rejection only says "Connection is closed": keep the reply that says why.
  let lastError: unknown
  probe.on('error', (err) => {
    lastError = err
  })
  try {
    await probe.connect()
    await probe.ping()
  } catch (err) {
    if (isAuthFailure(err)) throw new RedisAuthError(url, err)
    if (isAuthFailure(lastError)) throw new RedisAuthError(url, lastError)
    // A refused TLS handshake also ends in "Connection is closed": the error event said why.
    throw new RedisUnreachableError(url, lastError ?? err)
  } finally {
    probe.disconnect()
  }
}

/** A Redis URL (or a cluster's comma-separated seeds) without passwords, fit for logs. */
export function redactUrl(url: string): string {
  if (url.includes(','))
    return url
      .split(',')
      .map((u) => redactUrl(u.trim()))
      .join(',')
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable url)'
  }
}
