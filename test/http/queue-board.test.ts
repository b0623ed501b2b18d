import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consoleService } from '../console/support.js'
import { KEYS } from '../helpers/app.js'

let svc: Awaited<ReturnType<typeof consoleService>>
beforeAll(async () => {
  svc = await consoleService('queue-board')
})
afterAll(() => svc.close())

interface BoardQueue {
  name: string
  hasWorkers: boolean | null
}
const board = async () =>
  ((await svc.call('GET', '/admin/queues/api/queues', KEYS.operator)).body as { queues: BoardQueue[] }).queues
const session = (queues: BoardQueue[], sid: string) => queues.find((q) => q.name.endsWith(`{${sid}}-wa`))

describe('the queue dashboard', () => {
  it('shows a worker on each session queue a live worker runs (its shared wait), and none once nobody does', async () => {
    for (const sid of ['acme-sales', 'acme-support', 'globex-main'])
      await expect.poll(async () => (await svc.services.statuses.get(sid)).status).toBe('WORKING')
    const before = await board()
    expect(session(before, 'acme-sales')?.hasWorkers).toBe(true)
    expect(session(before, 'globex-main')?.hasWorkers).toBe(true)
    // The global queues keep BullMQ's own answer: their workers have connections of their own.
    expect(before.find((q) => q.name === '{sla-0}')?.hasWorkers).toBe(true)

    await svc.call('POST', '/v1/sessions/acme-sales/stop', KEYS.acmeAdmin)
    await expect.poll(async () => (await svc.services.statuses.get('acme-sales')).status).toBe('STOPPED')
    await expect.poll(async () => session(await board(), 'acme-sales')?.hasWorkers).toBe(false)
    expect(session(await board(), 'acme-support')?.hasWorkers).toBe(true)
  })
})
