import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { Keys } from '../../src/keys.js'
import { assertRedisReachable } from '../../src/redis.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'
import { crmBenchmark } from './crm.bench.js'
import { e2eBenchmark } from './e2e.bench.js'
import { ingestBenchmark } from './ingest.bench.js'
import { receiptsBenchmark } from './receipts.bench.js'
import { slaBenchmark } from './sla.bench.js'
import type { Benchmark } from './stats.js'

/**
 * `npm run bench [-- --runs N] [--only NAME] [--seed S] [--seconds T] [--rev GIT-REV]`: runs each benchmark N times (its
 * own default without --runs), each run on a fresh key prefix that is deleted afterwards (Redis is never
 * flushed), and prints ONE JSON document on stdout. Progress goes to stderr. `--seconds` shortens (or
 * lengthens) the benchmarks that simulate traffic in real time. A new benchmark is a `*.bench.ts` module
 * listed here.
 */
const BENCHMARKS: Benchmark[] = [ingestBenchmark, receiptsBenchmark, slaBenchmark, crmBenchmark, e2eBenchmark]

const DEFAULT_RUNS = 5
const DEFAULT_SEED = 20261120

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(2)
}

function parseFlags() {
  let values: { runs?: string; only?: string; seed?: string; seconds?: string; rev?: string }
  try {
    ;({ values } = parseArgs({
      options: {
        runs: { type: 'string' },
        only: { type: 'string' },
        seed: { type: 'string' },
        seconds: { type: 'string' },
        rev: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    fail(
      `${err instanceof Error ? err.message : String(err)}\nusage: npm run bench -- [--runs N] [--only NAME] [--seed S] [--seconds T] [--rev GIT-REV]`,
    )
  }
  const runs = values.runs === undefined ? undefined : Number(values.runs)
  if (runs !== undefined && (!Number.isInteger(runs) || runs < 1 || runs > 100))
    fail(`--runs must be an integer from 1 to 100, got ${values.runs}`)
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds)
  if (seconds !== undefined && (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600))
    fail(`--seconds must be an integer from 1 to 3600, got ${values.seconds}`)
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed)
  if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got ${values.seed}`)
  const names = BENCHMARKS.map((b) => b.name)
  if (values.only !== undefined && !names.includes(values.only)) {
    fail(`unknown benchmark "${values.only}"; known: ${names.join(', ')}`)
  }
  return { runs, seed, seconds, only: values.only, rev: values.rev }
}

const progress = (message: string) => process.stderr.write(`${message}\n`)

/** The run in progress, so an interrupted bench still undoes its changes and removes its keys. */
let live: { redis: Redis; prefix: string; undo: Set<() => Promise<void>> } | undefined

async function main(): Promise<void> {
  const { runs: runsFlag, seed, seconds, only, rev } = parseFlags()
  try {
    await assertRedisReachable(REDIS_URL)
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err))
  }
  process.once('SIGINT', () => {
    progress('interrupted: deleting this run’s keys')
    const l = live
    void (async () => {
      if (!l) return
      for (const undo of l.undo) await undo().catch(() => {})
      await deleteByPrefix(l.redis, l.prefix)
    })().finally(() => process.exit(130))
  })

  const started = Date.now()
  const info = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  const redisVersion = /redis_version:(\S+)/.exec(await info.info('server'))?.[1] ?? 'unknown'
  info.disconnect()

  const report: Record<string, unknown> = {}
  for (const bench of BENCHMARKS) {
    if (only ? bench.name !== only : bench.onlyWhenNamed) continue
    progress(`== ${bench.name}: ${bench.description}`)
    const runs = runsFlag ?? bench.defaultRuns ?? DEFAULT_RUNS
    const results: unknown[] = []
    for (let run = 0; run < runs; run++) {
      const prefix = `tbb-${bench.name}-${randomBytes(4).toString('hex')}`
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, connectionName: `bench:${bench.name}` })
      const undo = new Set<() => Promise<void>>()
      live = { redis, prefix, undo }
      const t = performance.now()
      try {
        results.push(
          await bench.runOnce({
            redis,
            prefix,
            keys: new Keys(prefix),
            run,
            seed,
            seconds,
            rev,
            progress: (m) => progress(`[${bench.name} ${run + 1}/${runs}] ${m}`),
            onInterrupt: (fn) => {
              undo.add(fn)
              return () => undo.delete(fn)
            },
          }),
        )
      } finally {
        await deleteByPrefix(redis, prefix)
        live = undefined
        await redis.quit().catch(() => redis.disconnect())
      }
      progress(`[${bench.name} ${run + 1}/${runs}] done in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    }
    report[bench.name] = bench.report(results)
  }

  const cpus = os.cpus()
  const doc = {
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      redis: redisVersion,
    },
    startedAt: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    seed,
    benchmarks: report,
  }
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
