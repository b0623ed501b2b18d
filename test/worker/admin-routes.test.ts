import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ManualClock } from '../../src/clock.js'
import { authKeys } from '../../src/whatsapp/baileys/auth-state.js'
import { startWorker, type Worker } from '../../src/worker/worker.js'
import { appFixture, bearer, KEYS } from '../helpers/app.js'

let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
let worker: Worker
beforeAll(async () => {
  f = await appFixture('admin-routes')
  worker = await startWorker(f.services, { timings: { tickMs: 100, leaseMs: 1000, workerTtlMs: 500 } })
})
afterAll(async () => {
  await worker.close()
  await f.cleanup()
})

const status = async (sid: string) =>
  (await f.app.inject({ url: `/v1/sessions/${sid}`, headers: bearer(KEYS.acmeAdmin) })).json() as {
    status: string
    statusDetail: string | null
  }

describe('session admin routes', () => {
  it('stop takes the session off every worker; start brings it back', async () => {
    await expect.poll(async () => (await status('acme-sales')).status).toBe('WORKING')
    const stop = await f.app.inject({
      method: 'POST',
      url: '/v1/sessions/acme-sales/stop',
      headers: bearer(KEYS.acmeAdmin),
    })
    expect(stop.statusCode).toBe(202)
    await expect.poll(async () => (await status('acme-sales')).status).toBe('STOPPED')
    expect(worker.ownership.sessionIds()).not.toContain('acme-sales')
    expect((await status('acme-sales')).statusDetail).toBe('stopped by an operator')

    const start = await f.app.inject({
      method: 'POST',
      url: '/v1/sessions/acme-sales/start',
      headers: bearer(KEYS.acmeAdmin),
    })
    expect(start.statusCode).toBe(202)
    await expect.poll(async () => (await status('acme-sales')).status).toBe('WORKING')
    expect(worker.ownership.sessionIds()).toContain('acme-sales')
  })

  it('logout unlinks a live session (FAILED, pair again); start shows a QR code, and scanning it links the number', async () => {
    await expect.poll(async () => (await status('acme-support')).status).toBe('WORKING')
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/sessions/acme-support/logout',
      headers: bearer(KEYS.acmeAdmin),
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ status: 'FAILED', statusDetail: 'logged out: pair again' })
    await f.app.inject({
      method: 'POST',
      url: '/v1/sessions/acme-support/start',
      headers: bearer(KEYS.acmeAdmin),
    })
    // Like a phone unlinked from WhatsApp: the number must be paired again before it works.
    await expect.poll(async () => (await status('acme-support')).status).toBe('SCAN_QR_CODE')
    const { qr } = (await status('acme-support')) as unknown as { qr: string }
    const scan = await f.app.inject({
      method: 'POST',
      url: '/v1/sim/sessions/acme-support/scan',
      headers: bearer(KEYS.acmeAdmin),
      payload: { qr },
    })
    expect(scan.statusCode).toBe(202)
    await expect.poll(async () => (await status('acme-support')).status).toBe('WORKING')
  })

  it('needs the admin capability and hides other orgs’ sessions', async () => {
    const asRead = await f.app.inject({
      method: 'POST',
      url: '/v1/sessions/acme-sales/stop',
      headers: bearer(KEYS.acmeRead),
    })
    expect(asRead.statusCode).toBe(403)
    const otherOrg = await f.app.inject({
      method: 'POST',
      url: '/v1/sessions/acme-sales/stop',
      headers: bearer(KEYS.globexAdmin),
    })
    expect(otherOrg.statusCode).toBe(404)
    expect((await status('acme-sales')).status).toBe('WORKING')
  })

  it('logout of a session no worker holds wipes its stored auth through the services (FAILED, pair again)', async () => {
    const sid = 'acme-sales'
    await f.app.inject({ method: 'POST', url: `/v1/sessions/${sid}/stop`, headers: bearer(KEYS.acmeAdmin) })
    await expect.poll(async () => (await status(sid)).status).toBe('STOPPED')
    // What a paired Baileys session leaves in Redis: its creds and a signal key hash.
    const auth = authKeys(f.services.keys, sid)
    await f.redis.set(auth.creds, '{"registered":true}')
    await f.redis.hset(auth.key('session'), '4915550001.0', '{}')

    const res = await f.app.inject({
      method: 'POST',
      url: `/v1/sessions/${sid}/logout`,
      headers: bearer(KEYS.acmeAdmin),
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({
      status: 'FAILED',
      statusDetail: 'logged out by an operator: pair again',
    })
    expect(await f.redis.exists(...auth.all())).toBe(0)

    await f.app.inject({ method: 'POST', url: `/v1/sessions/${sid}/start`, headers: bearer(KEYS.acmeAdmin) })
    await expect.poll(async () => (await status(sid)).status).toBe('WORKING')
  })
})
