import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ManualClock } from '../../src/clock.js'
import { appFixture, KEYS } from '../helpers/app.js'

let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
beforeAll(async () => {
  f = await appFixture('console-auth')
})
afterAll(() => f.cleanup())

const ORIGIN = { origin: 'http://console.test:3000', host: 'console.test:3000' }

async function signIn(key: string = KEYS.acmeAdmin) {
  const res = await f.app.inject({
    method: 'POST',
    url: '/console/api/sign-in',
    headers: ORIGIN,
    payload: { key },
  })
  const cookie = String(res.headers['set-cookie']).split(';')[0]!
  return { res, cookie, csrf: res.json().csrf as string }
}

describe('console sign-in', () => {
  it('sets an httpOnly SameSite=Strict cookie with an expiry, holding neither the key nor its hash', async () => {
    const { res, cookie } = await signIn()
    expect(res.statusCode).toBe(200)
    expect(res.headers['set-cookie']).toMatch(
      /^tb_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/,
    )
    expect(res.json()).toMatchObject({
      keyId: 'acme-admin',
      org: 'acme',
      capabilities: ['read', 'send', 'admin'],
    })
    const stored = await f.redis.keys(`${f.prefix}:*console*`)
    const values = await Promise.all(stored.map((k) => f.redis.get(k)))
    expect(JSON.stringify(values)).not.toContain(KEYS.acmeAdmin)
    expect(JSON.stringify(stored)).not.toContain(cookie.split('=')[1])
  })

  it('refuses an unknown key with 401 and a sign-in from another site with 403', async () => {
    expect((await signIn('tbk_nobody_000000')).res.statusCode).toBe(401)
    const crossSite = await f.app.inject({
      method: 'POST',
      url: '/console/api/sign-in',
      headers: { origin: 'https://evil.example', host: 'console.test:3000' },
      payload: { key: KEYS.acmeAdmin },
    })
    expect(crossSite.statusCode).toBe(403)
  })

  it('lets the cookie read the API, but a change needs both our Origin and the CSRF token', async () => {
    const { cookie, csrf } = await signIn()
    const read = await f.app.inject({ url: '/v1/sessions', headers: { cookie } })
    expect(read.statusCode).toBe(200)
    // The queue dashboard is the operator's: an org admin's cookie is refused without a password prompt,
    // an operator's cookie opens it.
    const board = await f.app.inject({ url: '/admin/queues', headers: { cookie } })
    expect([board.statusCode, board.headers['www-authenticate']]).toEqual([403, undefined])
    const operator = await signIn(KEYS.operator)
    const opsBoard = await f.app.inject({ url: '/admin/queues', headers: { cookie: operator.cookie } })
    expect([opsBoard.statusCode, opsBoard.headers['www-authenticate']]).toEqual([200, undefined])
    const change = (headers: Record<string, string>) =>
      f.app.inject({ method: 'POST', url: '/v1/sessions/acme-sales/stop', headers: { cookie, ...headers } })
    expect((await change({})).statusCode).toBe(403)
    expect((await change({ ...ORIGIN })).statusCode).toBe(403)
    expect(
      (await change({ origin: 'https://evil.example', host: 'console.test:3000', 'x-tickbridge-csrf': csrf }))
        .statusCode,
    ).toBe(403)
    expect((await change({ ...ORIGIN, 'x-tickbridge-csrf': `${csrf.slice(0, -1)}x` })).statusCode).toBe(403)
    expect((await f.services.statuses.stoppedAmong(['acme-sales'])).size).toBe(0)
    expect((await change({ ...ORIGIN, 'x-tickbridge-csrf': csrf })).statusCode).toBe(202)
    await f.services.statuses.setDesired('acme-sales', 'running')
  })

  it("keeps the key's capabilities and org: a read key's cookie cannot stop a session, nor see another org", async () => {
    const { cookie, csrf } = await signIn(KEYS.acmeRead)
    const headers = { cookie, ...ORIGIN, 'x-tickbridge-csrf': csrf }
    expect(
      (await f.app.inject({ method: 'POST', url: '/v1/sessions/acme-sales/stop', headers })).statusCode,
    ).toBe(403)
    expect((await f.app.inject({ url: '/v1/sessions/globex-main', headers: { cookie } })).statusCode).toBe(
      404,
    )
  })

  it('ends at its expiry and at sign-out', async () => {
    const { cookie, csrf } = await signIn()
    f.clock.advance(8 * 3600_000 + 1)
    expect((await f.app.inject({ url: '/v1/sessions', headers: { cookie } })).statusCode).toBe(401)
    expect((await f.app.inject({ url: '/console/api/me', headers: { cookie } })).json()).toMatchObject({
      signedIn: false,
    })
    const next = await signIn()
    const out = await f.app.inject({
      method: 'POST',
      url: '/console/api/sign-out',
      headers: { cookie: next.cookie, ...ORIGIN, 'x-tickbridge-csrf': next.csrf },
    })
    expect(out.statusCode).toBe(204)
    expect(out.headers['set-cookie']).toMatch(/^tb_console=; .*Max-Age=0/)
    expect((await f.app.inject({ url: '/v1/sessions', headers: { cookie: next.cookie } })).statusCode).toBe(
      401,
    )
    expect(csrf).not.toBe(next.csrf)
  })
})
