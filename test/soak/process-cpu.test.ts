import { spawn } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { testRedis } from '../helpers/redis.js'
import { cpuDuringLoad, snapshotCpu } from './process-cpu.js'

const r = testRedis('process-cpu')
afterAll(() => r.cleanup())

/** A child process that burns CPU until killed: a stand-in for a busy worker. */
function busyChild() {
  return spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' })
}

describe('soak: where the CPU goes during the load', () => {
  it('counts a busy worker process’s CPU, and Redis’, per customer message', async () => {
    const child = busyChild()
    try {
      const from = await snapshotCpu(r.redis, [child.pid!])
      await new Promise((resolve) => setTimeout(resolve, 600))
      const to = await snapshotCpu(r.redis, [child.pid!])
      const cpu = cpuDuringLoad(from, to, 100)!
      // The spinning child kept about one core busy; the soak process (this one) mostly waited.
      expect(cpu.coresBusy.workers).toBeGreaterThan(0.5)
      expect(cpu.coresBusy.soak).toBeLessThan(cpu.coresBusy.workers)
      expect(cpu.usPerCustomerMessage.workers).toBe(
        Math.round(((to.workersMs.get(child.pid!)! - from.workersMs.get(child.pid!)!) * 1000) / 100),
      )
      expect(cpu.serviceCeilingPerSec).toBe(
        Math.round((cpu.cores * 1e6) / (cpu.usPerCustomerMessage.workers + cpu.usPerCustomerMessage.redis)),
      )
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('gives no figure when a worker died during the load (its CPU is gone with it)', async () => {
    const child = busyChild()
    const from = await snapshotCpu(r.redis, [child.pid!])
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    const to = await snapshotCpu(r.redis, [child.pid!])
    expect(to.workersMs.size).toBe(0)
    expect(cpuDuringLoad(from, to, 100)).toBeNull()
  })
})
