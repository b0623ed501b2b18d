import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Cluster, Redis } from 'ioredis'

/** So many requests per window of `per` ms. */
export interface Limit {
  max: number
  per: number
}

export interface RateDecision {
  allowed: boolean
  remaining: number
  /** Until the window ends (Redis' TTL of the counter), at least 1. */
  retryAfterSeconds: number
}

/** The budget a request is counted against, read by the plugin's keyGenerator, max and timeWindow. */
const budgets = new WeakMap<FastifyRequest, { subject: string; limit: Limit }>()

function budgetOf(req: FastifyRequest) {
  const budget = budgets.get(req)
  if (!budget) throw new Error('rate limit asked without a budget')
  return budget
}

/**
 * The API's request budgets on @fastify/rate-limit's Redis store, so every web process shares them:
 * one per API key, and one of failed authentications per client address. Each window starts at its
 * first hit and ends when Redis expires the counter (the store's Lua INCR + PEXPIRE, one round-trip).
 * `global: false`: no route gets the plugin's own hook; the auth guard asks, because a key's budget is
 * known only once the key is.
 */
export async function installRateLimits(app: FastifyInstance, redis: Redis | Cluster, nameSpace: string) {
  await app.register(fastifyRateLimit, {
    global: false,
    redis,
    nameSpace,
    keyGenerator: (req) => budgetOf(req).subject,
    max: (req) => budgetOf(req).limit.max,
    timeWindow: (req) => budgetOf(req).limit.per,
  })
  const limiter = app.createRateLimit()

  async function count(req: FastifyRequest, subject: string, limit: Limit, increment: boolean) {
    budgets.set(req, { subject, limit })
    const result = await limiter(req, { increment })
    // No allowList is configured, so every answer is a counted one.
    if (result.isAllowed) throw new Error('rate limit answered without counting')
    return {
      exceeded: result.isExceeded,
      remaining: result.remaining,
      retryAfterSeconds: Math.max(1, result.ttlInSeconds),
    }
  }

  // IPv6 clients are counted per /64 (the plugin's default), as one host usually holds a whole /64.
  const addressOf = (req: FastifyRequest) => `authfail:${normalizeIP(req.ip)}`

  return {
    /** Spends one request of the key's budget. A change of the window's length starts a new count. */
    async spend(req: FastifyRequest, keyId: string, limit: Limit): Promise<RateDecision> {
      const r = await count(req, `key:${keyId}:${limit.per}`, limit, true)
      return { allowed: !r.exceeded, remaining: r.remaining, retryAfterSeconds: r.retryAfterSeconds }
    },
    /** Whether the client's address has used up its failed authentications (`max` of them); spends nothing. */
    async locked(req: FastifyRequest, limit: Limit): Promise<RateDecision> {
      const r = await count(req, addressOf(req), limit, false)
      return { allowed: r.remaining > 0, remaining: r.remaining, retryAfterSeconds: r.retryAfterSeconds }
    },
    /** Counts one failed authentication of the client's address. */
    async failed(req: FastifyRequest, limit: Limit): Promise<void> {
      await count(req, addressOf(req), limit, true)
    },
  }
}

export type RateLimits = Awaited<ReturnType<typeof installRateLimits>>
