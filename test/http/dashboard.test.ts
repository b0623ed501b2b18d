import { Queue } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { pn } from '../helpers/events.js'
import { testRedis } from '../helpers/redis.js'
import { type AppFixture, expectApiError } from './support.js'

/**
 * The queue dashboard (Bull Board) shows every org's jobs, so it is the deployment operator's: only a
 * key of no org opens it, an org's admin key is refused, and it changes nothing unless
 * DASHBOARD_ACTIONS allows it. Real BullMQ queue, real Redis.
 */

const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`x:${key}`).toString('base64')}` })

const r = testRedis('http-dashboard')
let queue: Queue
let readOnly: AppFixture
let actions: AppFixture
let delayedId: string

beforeAll(async () => {
  queue = new Queue('receipts', { connection: r.redis.duplicate(), prefix: r.prefix })
  const job = await queue.add('read', { sessionId: 'acme-sales', chat: pn(1) }, { delay: 3_600_000 })
  delayedId = job.id!
  readOnly = await appFixture('http-dashboard-ro', { prefix: r.prefix, queues: [queue] })
  actions = await appFixture('http-dashboard-rw', {
    prefix: r.prefix,
    queues: [queue],
    env: { DASHBOARD_ACTIONS: 'true' },
  })
})
afterAll(async () => {
  await readOnly?.cleanup()
  await actions?.cleanup()
  await queue?.close()
  await r.cleanup()
})

/** Each of Bull Board's routes that changes a queue or a job (@bull-board/api dist/routes.js). */
const writes = () =>
  [
    { method: 'POST', url: '/admin/queues/api/queues/receipts/add', payload: { name: 'x', data: {} } },
    { method: 'PUT', url: '/admin/queues/api/queues/receipts/promote' },
    { method: 'PUT', url: `/admin/queues/api/queues/receipts/${delayedId}/promote` },
    { method: 'PUT', url: '/admin/queues/api/queues/receipts/retry/failed' },
    { method: 'PUT', url: '/admin/queues/api/queues/receipts/clean/delayed' },
    {
      method: 'PATCH',
      url: `/admin/queues/api/queues/receipts/${delayedId}/update-data`,
      payload: { data: {} },
    },
    { method: 'PUT', url: '/admin/queues/api/queues/receipts/obliterate' },
    { method: 'PUT', url: '/admin/queues/api/queues/pause' },
  ] as const

describe('who opens the dashboard', () => {
  it("an org's admin key gets 403 on the page and on every API route, by Bearer and by Basic", async () => {
    for (const key of [KEYS.globexAdmin, KEYS.acmeAdmin]) {
      for (const url of [
        '/admin/queues',
        '/admin/queues/api/queues',
        `/admin/queues/api/queues/receipts/${delayedId}`,
      ]) {
        for (const headers of [bearer(key), basic(key)]) {
          const e = expectApiError(await readOnly.app.inject({ url, headers }), 403, 'forbidden')
          expect(e.details).toEqual({ required: 'operator' })
        }
      }
      // Even where actions are on, an org key changes nothing.
      for (const w of writes()) {
        const res = await actions.app.inject({ ...w, headers: bearer(key) })
        expectApiError(res, 403, 'forbidden')
      }
    }
    expect(await queue.getJobCounts('delayed', 'wait', 'failed')).toEqual({ delayed: 1, wait: 0, failed: 0 })
  })

  it('the operator key views every queue and its jobs', async () => {
    const page = await readOnly.app.inject({ url: '/admin/queues', headers: basic(KEYS.operator) })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    const list = await readOnly.app.inject({
      url: '/admin/queues/api/queues?activeQueue=receipts&status=delayed',
      headers: bearer(KEYS.operator),
    })
    expect(list.statusCode, list.body.slice(0, 200)).toBe(200)
    const [receipts] = list.json().queues as Array<{
      name: string
      readOnlyMode: boolean
      jobs: { id: string }[]
    }>
    expect(receipts!.name).toBe('receipts')
    expect(receipts!.readOnlyMode).toBe(true)
    expect(receipts!.jobs.map((j) => j.id)).toEqual([delayedId])
  })

  it('the operator key reaches no org route: it belongs to no org', async () => {
    for (const url of [
      '/v1/sessions',
      '/v1/sessions/acme-sales',
      '/v1/sessions/globex-main/chats/overview',
    ]) {
      const e = expectApiError(
        await readOnly.app.inject({ url, headers: bearer(KEYS.operator) }),
        403,
        'forbidden',
      )
      expect(e.details).toEqual({ required: 'read' })
    }
    const start = await readOnly.app.inject({
      method: 'POST',
      url: '/v1/sessions/acme-sales/stop',
      headers: bearer(KEYS.operator),
    })
    expectApiError(start, 403, 'forbidden')
  })
})

describe('read-only unless DASHBOARD_ACTIONS is on', () => {
  it('refuses every write route to the operator key and the queue stays as it was', async () => {
    for (const w of writes()) {
      const e = expectApiError(
        await readOnly.app.inject({ ...w, headers: bearer(KEYS.operator) }),
        403,
        'forbidden',
      )
      expect(e.message, `${w.method} ${w.url}`).toMatch(/read-only.*DASHBOARD_ACTIONS=true/)
    }
    expect(await queue.getJobCounts('delayed', 'wait', 'failed')).toEqual({ delayed: 1, wait: 0, failed: 0 })
    expect((await queue.getJob(delayedId))?.data).toEqual({ sessionId: 'acme-sales', chat: pn(1) })
  })

  it('with DASHBOARD_ACTIONS=true the operator key may act (the refusal above is the setting)', async () => {
    const res = await actions.app.inject({
      method: 'PUT',
      url: `/admin/queues/api/queues/receipts/${delayedId}/promote`,
      headers: bearer(KEYS.operator),
    })
    expect(res.statusCode, res.body.slice(0, 200)).toBe(204)
    expect(await queue.getJobCounts('delayed', 'wait')).toEqual({ delayed: 0, wait: 1 })
  })
})
