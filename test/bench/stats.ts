import type { Redis } from 'ioredis'
import type { Keys } from '../../src/keys.js'

/**
 * Shared pieces of the benchmarks: the shape every benchmark implements, summary statistics, a
 * deterministic random source and a bounded-concurrency driver.
 */

/** What the runner hands one run of a benchmark: a fresh key prefix that it deletes afterwards. */
export interface BenchContext {
  /** One connection for the run; benchmarks may duplicate it if they need more. */
  redis: Redis
  prefix: string
  keys: Keys
  /** 0-based index of this run. */
  run: number
  seed: number
  /** `--seconds`: how long a benchmark that simulates traffic in real time runs it; undefined: its default. */
  seconds: number | undefined
  /** `--rev`: the git revision a comparing benchmark (e2e) measures against; undefined: its default. */
  rev: string | undefined
  /** Progress for humans, on stderr (stdout carries only the JSON report). */
  progress(message: string): void
  /**
   * Registers an undo (e.g. of a server setting the run changed) that the runner also runs if the bench is
   * interrupted (Ctrl-C); returns a function that unregisters it once the run has undone it itself.
   */
  onInterrupt(undo: () => Promise<void>): () => void
}

/**
 * A benchmark: `runOnce` measures one run on a fresh prefix; `report` folds every run into the JSON entry
 * printed under `benchmarks.<name>`. To add one, write `test/bench/<name>.bench.ts` and list it in run.ts.
 */
export interface Benchmark<R = unknown> {
  name: string
  description: string
  /** Runs when `--runs` is not given (the runner's default otherwise): long benchmarks take fewer. */
  defaultRuns?: number
  /** Runs only when named with `--only` (it takes minutes, or needs another checkout). */
  onlyWhenNamed?: boolean
  runOnce(ctx: BenchContext): Promise<R>
  report(runs: R[]): Record<string, unknown>
}

/** A figure measured once per run: its median and every raw value. */
export interface Figure {
  median: number
  runs: number[]
}

export function figure(values: number[], digits = 2): Figure {
  return { median: round(median(values), digits), runs: values.map((v) => round(v, digits)) }
}

export function median(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort()
  const n = sorted.length
  if (n === 0) return Number.NaN
  const mid = n >> 1
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Nearest-rank percentile (0 < p <= 100) of values that are already sorted ascending. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * n)
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!
}

export function percentile(values: ArrayLike<number>, p: number): number {
  return percentileSorted(Float64Array.from(values).sort(), p)
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

/** The seeded PRNG the delay model uses, so generated workloads are identical for a given seed. */
export { mulberry32 as rng } from '../../src/receipts/delay-model.js'

/**
 * Calls `task(i)` for i in 0..n-1 with at most `concurrency` calls in flight; over one ioredis connection
 * that keeps `concurrency` commands pipelined. Returns the wall time in milliseconds.
 */
export async function drive(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      await task(i)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane))
  return performance.now() - started
}

/** `used_memory` of the whole Redis server, once lazily freed objects of earlier runs are gone. */
export async function usedMemory(redis: Redis): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const info = await redis.info('memory')
    const pending = Number(/lazyfree_pending_objects:(\d+)/.exec(info)?.[1] ?? 0)
    if (pending === 0) return Number(/used_memory:(\d+)/.exec(info)?.[1])
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('Redis kept lazily freeing objects for 2 s; cannot measure memory')
}
