import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import type { Redis } from 'ioredis'
import { redisCpuUs } from './redis-cost.js'

/**
 * Where the machine's CPU goes during the load. The worker processes (ingest, every job, the sim
 * transport's readers), the soak process (the generator, the HubSpot stand-in, the session watch) and
 * Redis all share this machine's cores, so a rate that is not reached may be the generator's limit or
 * the service's: the CPU each spends per customer message tells which, and what rate the workers and
 * Redis alone would need the cores for.
 */
export interface CpuSnapshot {
  atMs: number
  soakMs: number
  /** CPU ms used so far by each live worker process (by pid). */
  workersMs: Map<number, number>
  redisMs: number
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU ms (user + system) a process has used, from /proc/<pid>/stat; null when it is gone (or not Linux). */
async function processCpuMs(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces), from field 3: utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
  } catch {
    return null
  }
}

export async function snapshotCpu(redis: Redis, workerPids: number[]): Promise<CpuSnapshot> {
  const own = process.cpuUsage()
  const workersMs = new Map<number, number>()
  for (const pid of workerPids) {
    const ms = await processCpuMs(pid)
    if (ms !== null) workersMs.set(pid, ms)
  }
  return {
    atMs: Date.now(),
    soakMs: (own.user + own.system) / 1000,
    workersMs,
    redisMs: redisCpuUs(await redis.info('cpu')) / 1000,
  }
}

export interface CpuDuringLoad {
  seconds: number
  cores: number
  /** Cores kept busy on average: the workers (all together), the soak process, Redis. */
  coresBusy: { workers: number; soak: number; redis: number; total: number }
  /** CPU µs per customer message (answers and bot messages included, as in `redisCost`). */
  usPerCustomerMessage: { workers: number; soak: number; redis: number }
  /**
   * Customer messages per second the machine's cores would carry if only the workers and Redis used
   * them (their CPU per message, not a measured rate): the service's ceiling here, apart from the
   * generator's.
   */
  serviceCeilingPerSec: number
}

/**
 * The CPU between two snapshots. Null when a worker was killed or Redis restarted in between: a killed
 * process's CPU is gone with it, and a restarted Redis starts its counters again.
 */
export function cpuDuringLoad(
  from: CpuSnapshot,
  to: CpuSnapshot,
  customerMessages: number,
): CpuDuringLoad | null {
  let workers = 0
  for (const [pid, ms] of from.workersMs) {
    const after = to.workersMs.get(pid)
    if (after === undefined) return null
    workers += after - ms
  }
  if (to.workersMs.size !== from.workersMs.size || to.redisMs < from.redisMs) return null
  const wallMs = to.atMs - from.atMs
  const soak = to.soakMs - from.soakMs
  const redis = to.redisMs - from.redisMs
  const busy = (ms: number) => Math.round((ms / wallMs) * 100) / 100
  const per = (ms: number) => Math.round((ms * 1000) / Math.max(1, customerMessages))
  const cores = availableParallelism()
  return {
    seconds: Math.round(wallMs / 1000),
    cores,
    coresBusy: {
      workers: busy(workers),
      soak: busy(soak),
      redis: busy(redis),
      total: busy(workers + soak + redis),
    },
    usPerCustomerMessage: { workers: per(workers), soak: per(soak), redis: per(redis) },
    serviceCeilingPerSec: Math.round((cores * 1e6) / Math.max(1, per(workers) + per(redis))),
  }
}
