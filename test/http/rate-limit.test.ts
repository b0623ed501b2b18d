import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { type AppFixture, expectApiError } from './support.js'

/**
 * Two web processes (two app instances) on one Redis share each key's budget. acme-limited may make 5
 * requests per minute, acme-burst 5 per 3 s (test/fixtures/rules.api.yaml). A key's window starts at its
 * first request and ends when Redis expires its counter (@fastify/rate-limit's Redis store), so the
 * tests that need a window's end wait for that expiry (Redis' clock, not ours).
 */

let a: AppFixture
let b: AppFixture

beforeAll(async () => {
  a = await appFixture('http-rate-limit')
  b = await appFixture('http-rate-limit-b', { prefix: a.prefix })
})
afterAll(async () => {
  // b shares a's prefix; a's cleanup deletes it.
  await b?.cleanup()
  await a?.cleanup()
})

/**
 * Resolves once Redis has expired the key's counter (src/http/rate-limit.ts names it
 * `<prefix>:{global}:ratelimit:key:<key id>:<window ms>`): its window is over.
 */
async function windowEnds(keyId: string, perMs: number) {
  const counter = `${a.prefix}:{global}:ratelimit:key:${keyId}:${perMs}`
  expect(await a.redis.exists(counter)).toBe(1)
  await expect.poll(() => a.redis.exists(counter), { timeout: 10_000, interval: 100 }).toBe(0)
}

const hit = (f: AppFixture, key: string = KEYS.acmeLimited) =>
  f.app.inject({ url: '/v1/sessions/acme-sales', headers: bearer(key) })

describe('per-key rate limit shared across app instances', () => {
  it('3 requests on A and 3 on B: exactly 5 succeed, the 6th is 429 with Retry-After', async () => {
    expect(a.prefix).toBe(b.prefix)
    const statuses: number[] = []
    const remaining: string[] = []
    for (const f of [a, a, a, b, b, b]) {
      const res = await hit(f)
      statuses.push(res.statusCode)
      remaining.push(String(res.headers['x-ratelimit-remaining']))
      expect(res.headers['x-ratelimit-limit']).toBe('5')
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429])
    expect(remaining).toEqual(['4', '3', '2', '1', '0', '0'])

    const last = await hit(a)
    const e = expectApiError(last, 429, 'rate_limited')
    expect(last.headers['retry-after']).toMatch(/^\d+$/)
    const retryAfter = Number(last.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(e.details).toEqual({ retryAfterSeconds: retryAfter })
    expect(e.message).toMatch(/5 requests per 60s/)
  })

  it('does not spend other keys budgets', async () => {
    expect((await hit(b, KEYS.acmeRead)).statusCode).toBe(200)
    expect((await hit(a, KEYS.acmeAdmin)).statusCode).toBe(200)
    expect((await hit(b)).statusCode).toBe(429)
  })

  it('counts only authenticated requests with the capability: refused ones spend nothing', async () => {
    for (let i = 0; i < 10; i++) {
      expectApiError(
        await a.app.inject({ url: '/v1/sessions', headers: bearer('tbk_unknown_000') }),
        401,
        'unauthorized',
      )
      expectApiError(
        await b.app.inject({
          method: 'POST',
          url: '/v1/sessions/acme-sales/chats/49123@s.whatsapp.net/read',
          headers: bearer(KEYS.acmeBurst),
        }),
        403,
        'forbidden',
      )
    }
    expect((await hit(a, KEYS.acmeBurst)).headers['x-ratelimit-remaining']).toBe('4')
  })

  it('restores access once the window ends; concurrent requests still get exactly 5', async () => {
    await windowEnds('acme-burst', 3_000)
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => hit(i % 2 === 0 ? a : b, KEYS.acmeBurst).then((r) => r.statusCode)),
    )
    expect(answers.filter((s) => s === 200)).toHaveLength(5)
    expect(answers.filter((s) => s === 429)).toHaveLength(3)
    const refused = await hit(a, KEYS.acmeBurst)
    expect(refused.statusCode).toBe(429)
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(3)

    await windowEnds('acme-burst', 3_000)
    const res = await hit(b, KEYS.acmeBurst)
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-ratelimit-remaining']).toBe('4')
  })
})
