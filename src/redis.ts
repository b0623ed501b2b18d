import { Redis, type RedisOptions } from 'ioredis'

/**
 * Opens an ioredis connection. `forWorkers` sets maxRetriesPerRequest: null, which BullMQ workers need
 * so that a blocking command survives a Redis restart instead of failing the job.
 */
export function createRedis(url: string, options: { forWorkers?: boolean; name?: string } = {}): Redis {
  const opts: RedisOptions = {
    connectionName: options.name,
    maxRetriesPerRequest: options.forWorkers ? null : 3,
    enableReadyCheck: true,
    lazyConnect: false,
  }
  return new Redis(url, opts)
}

export class RedisUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(
      `Redis is not reachable at ${redactUrl(url)} (${cause instanceof Error ? cause.message : String(cause)}). ` +
        'Start one (for example: redis-server --daemonize yes --port 6379) or set REDIS_URL to a reachable server.',
    )
    this.name = 'RedisUnreachableError'
  }
}

/** Pings Redis once with a short timeout; the service refuses to start without it. */
export async function assertRedisReachable(url: string, timeoutMs = 3000): Promise<void> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  })
  probe.on('error', () => {}) // reported through the rejected connect below
  try {
    await probe.connect()
    await probe.ping()
  } catch (err) {
    throw new RedisUnreachableError(url, err)
  } finally {
    probe.disconnect()
  }
}

/** A Redis URL without its password, fit for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable url)'
  }
}
