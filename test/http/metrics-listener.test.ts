import { describe, expect, it, vi } from 'vitest'
import { buildOpsApp, METRICS_CACHE_MS } from '../../src/http/ops-app.js'
import { useApp } from './support.js'

/**
 * Issue 26, finding 3: metrics and readiness details are for the operator, on their own listener; the
 * API's port says only whether the service is ready. A scrape costs Redis work per session, so one
 * collection serves every scrape for a few seconds.
 */
const ref = useApp('metrics-listener')

describe('the API port', () => {
  it('answers /readyz with ready or not ready only, and has no /metrics', async () => {
    const ready = await ref.f.app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ready' })
    const metrics = await ref.f.app.inject({ url: '/metrics' })
    expect(metrics.statusCode).toBe(404)
    expect(metrics.body).not.toContain('tickbridge_')
  })
})

describe('the metrics listener', () => {
  it('collects once per few seconds however many scrapes come', async () => {
    const { services, clock } = ref.f
    const ops = await buildOpsApp({ services, queues: [] })
    const reads = vi.spyOn(services.statuses, 'get')
    const sessions = services.rules.current().sessions.size
    try {
      const scrape = async () => (await ops.inject({ url: '/metrics' })).body
      const first = await Promise.all(Array.from({ length: 5 }, scrape))
      expect(first[0]).toMatch(/^tickbridge_sessions\{status="WORKING"\} 0$/m)
      await services.statuses.set('acme-sales', 'WORKING')
      clock.advance(METRICS_CACHE_MS - 1)
      const cached = await scrape()
      expect(cached).toMatch(/^tickbridge_sessions\{status="WORKING"\} 0$/m)
      expect(new Set([...first, cached]).size).toBe(1)
      expect(reads).toHaveBeenCalledTimes(sessions)

      clock.advance(1)
      expect(await scrape()).toMatch(/^tickbridge_sessions\{status="WORKING"\} 1$/m)
      expect(reads).toHaveBeenCalledTimes(2 * sessions)
    } finally {
      reads.mockRestore()
      await ops.close()
    }
  })

  it('answers /readyz with the checks behind it', async () => {
    const ops = await buildOpsApp({ services: ref.f.services, queues: [] })
    try {
      const ready = await ops.inject({ url: '/readyz' })
      expect(ready.statusCode).toBe(200)
      expect(ready.json()).toEqual({
        status: 'ready',
        checks: { redis: 'ok', rules: 'ok', queues: 'ok (0)' },
      })
    } finally {
      await ops.close()
    }
  })
})
