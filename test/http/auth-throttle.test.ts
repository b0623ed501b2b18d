import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDocument } from 'yaml'
import { sha256Hex } from '../../src/http/auth.js'
import { API_RULES, appFixture, bearer, KEYS } from '../helpers/app.js'
import { type AppFixture, expectApiError } from './support.js'

/**
 * Failed authentications are throttled per client address: after `api.authFailureLimit.max` unknown
 * keys in a window, every request from that address is 429 until the window ends, a right key
 * included. The access-log line of a refusal names the client's address, never the key. Behind a
 * proxy, TRUST_PROXY decides whose X-Forwarded-For is believed.
 */

const WRONG = 'tbk_wrong_guess_0001'
let dir: string
let direct: AppFixture
let proxied: AppFixture

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-auth-throttle-'))
  const rules = parseDocument(await readFile(API_RULES, 'utf8'))
  rules.setIn(['api', 'authFailureLimit'], { max: 3, per: '1m' })
  const rulesPath = join(dir, 'rules.yaml')
  await writeFile(rulesPath, rules.toString())
  direct = await appFixture('http-throttle', { rulesPath })
  proxied = await appFixture('http-throttle-px', {
    rulesPath,
    // The proxy connects from 127.0.0.1 (inject's default remote address).
    env: { TRUST_PROXY: '127.0.0.1' },
  })
})
afterAll(async () => {
  await direct?.cleanup()
  await proxied?.cleanup()
  await rm(dir, { recursive: true, force: true })
})

const from = (f: AppFixture, remoteAddress: string, key: string | undefined, url = '/v1/sessions') =>
  f.app.inject({ url, remoteAddress, headers: key === undefined ? {} : bearer(key) })

function accessLines(f: AppFixture) {
  return f.logLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request' && l.component === 'http')
}

const consoleSignIn = (f: AppFixture, remoteAddress: string, key: string) =>
  f.app.inject({
    method: 'POST',
    url: '/console/api/sign-in',
    remoteAddress,
    headers: { origin: 'http://console.test', host: 'console.test' },
    payload: { key },
  })

describe('failed authentications per client address', () => {
  it("the console's sign-in counts against the same address: no way around the throttle", async () => {
    for (let i = 0; i < 3; i++)
      expectApiError(await consoleSignIn(direct, '198.51.100.77', WRONG), 401, 'unauthorized')
    expectApiError(await consoleSignIn(direct, '198.51.100.77', KEYS.acmeAdmin), 429, 'rate_limited')
    // ... and the API's routes see the same lock.
    expectApiError(await from(direct, '198.51.100.77', KEYS.acmeAdmin), 429, 'rate_limited')
  })

  it('3 unknown keys from one address are 401, then that address gets 429 even with a right key', async () => {
    for (let i = 0; i < 3; i++) expectApiError(await from(direct, '198.51.100.1', WRONG), 401, 'unauthorized')
    for (const key of [WRONG, KEYS.acmeAdmin]) {
      const res = await from(direct, '198.51.100.1', key)
      const e = expectApiError(res, 429, 'rate_limited')
      const seconds = Number(res.headers['retry-after'])
      expect(seconds).toBeGreaterThanOrEqual(1)
      expect(seconds).toBeLessThanOrEqual(60)
      expect(e.details).toEqual({ retryAfterSeconds: seconds })
      expect(e.message).toMatch(/failed authentications from this address \(3 per 60s\)/)
    }
    // The dashboard's Basic login is the same door.
    const basic = `Basic ${Buffer.from(`x:${KEYS.operator}`).toString('base64')}`
    const board = await direct.app.inject({
      url: '/admin/queues',
      remoteAddress: '198.51.100.1',
      headers: { authorization: basic },
    })
    expectApiError(board, 429, 'rate_limited')
  })

  it('other addresses keep their own budget', async () => {
    expect((await from(direct, '198.51.100.2', KEYS.acmeAdmin)).statusCode).toBe(200)
    expectApiError(await from(direct, '198.51.100.2', WRONG), 401, 'unauthorized')
    // IPv6 hosts are counted per /64: two addresses of one /64 share a budget, another /64 does not.
    for (let i = 0; i < 3; i++)
      expectApiError(await from(direct, `2001:db8:1:1::${i + 1}`, WRONG), 401, 'unauthorized')
    expectApiError(await from(direct, '2001:db8:1:1::ff', KEYS.acmeAdmin), 429, 'rate_limited')
    expect((await from(direct, '2001:db8:1:2::1', KEYS.acmeAdmin)).statusCode).toBe(200)
  })

  it('a request without a key (a browser before its login prompt) is no failed guess', async () => {
    for (let i = 0; i < 10; i++)
      expectApiError(await from(direct, '198.51.100.3', undefined), 401, 'unauthorized')
    expect((await from(direct, '198.51.100.3', KEYS.acmeRead)).statusCode).toBe(200)
  })

  it("the 401 access-log line names the client's address and never the key", async () => {
    direct.logLines.length = 0
    expectApiError(await from(direct, '203.0.113.77', 'tbk_wrong_guess_0077'), 401, 'unauthorized')
    const [line] = accessLines(direct)
    expect(line).toMatchObject({ status: 401, ip: '203.0.113.77', route: '/v1/sessions' })
    const output = direct.logLines.join('')
    expect(output).not.toContain('tbk_wrong_guess_0077')
    expect(output).not.toContain(sha256Hex('tbk_wrong_guess_0077'))
  })
})

describe('behind a proxy (TRUST_PROXY)', () => {
  it("the trusted proxy's X-Forwarded-For is the client: its failures and its log line", async () => {
    const viaProxy = (client: string, key: string) =>
      proxied.app.inject({ url: '/v1/sessions', headers: { ...bearer(key), 'x-forwarded-for': client } })
    proxied.logLines.length = 0
    for (let i = 0; i < 3; i++) expectApiError(await viaProxy('192.0.2.10', WRONG), 401, 'unauthorized')
    expectApiError(await viaProxy('192.0.2.10', KEYS.acmeAdmin), 429, 'rate_limited')
    // Another client behind the same proxy is not locked out with the first.
    expect((await viaProxy('192.0.2.11', KEYS.acmeAdmin)).statusCode).toBe(200)
    expect(
      accessLines(proxied)
        .filter((l) => l.status === 401)
        .map((l) => l.ip),
    ).toEqual(['192.0.2.10', '192.0.2.10', '192.0.2.10'])
  })

  it('without TRUST_PROXY a client cannot dodge the throttle with its own X-Forwarded-For', async () => {
    const spoofed = (i: number, key: string) =>
      direct.app.inject({
        url: '/v1/sessions',
        remoteAddress: '198.51.100.9',
        headers: { ...bearer(key), 'x-forwarded-for': `10.9.9.${i}` },
      })
    for (let i = 0; i < 3; i++) expectApiError(await spoofed(i, WRONG), 401, 'unauthorized')
    expectApiError(await spoofed(99, KEYS.acmeAdmin), 429, 'rate_limited')
  })
})
