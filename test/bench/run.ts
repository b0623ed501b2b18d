import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { Keys } from '../../src/keys.js'
import { assertRedisReachable } from '../../src/redis.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'
import { ingestBenchmark } from './ingest.bench.js'
import type { Benchmark } from './stats.js'

/**
 * `npm run bench [-- --runs N] [--only NAME] [--seed S]`: runs each benchmark N times, each run on a fresh
 * key prefix that is deleted afterwards (Redis is never flushed), and prints ONE JSON document on stdout.
 * Progress goes to stderr. A new benchmark is a `*.bench.ts` module listed here.
 */
const BENCHMARKS: Benchmark[] = [ingestBenchmark]

const DEFAULT_RUNS = 5
const DEFAULT_SEED = 20261120

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(2)
}

function parseFlags() {
  let values: { runs?: string; only?: string; seed?: string }
  try {
    ;({ values } = parseArgs({
      options: { runs: { type: 'string' }, only: { type: 'string' }, seed: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    fail(
      `${err instanceof Error ? err.message : String(err)}\nusage: npm run bench -- [--runs N] [--only NAME] [--seed S]`,
    )
  }
  const runs = values.runs === undefined ? DEFAULT_RUNS : Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1 || runs > 100)
    fail(`--runs must be an integer from 1 to 100, got ${values.runs}`)
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed)
  if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got ${values.seed}`)
  const names = BENCHMARKS.map((b) => b.name)
  if (values.only !== undefined && !names.includes(values.only)) {
    fail(`unknown benchmark "${values.only}"; known: ${names.join(', ')}`)
  }
  return { runs, seed, only: values.only }
}

const progress = (message: string) => process.stderr.write(`${message}\n`)

/** The prefix of the run in progress, so an interrupted bench still removes its keys. */
let live: { redis: Redis; prefix: string } | undefined

async function main(): Promise<void> {
  const { runs, seed, only } = parseFlags()
  try {
    await assertRedisReachable(REDIS_URL)
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err))
  }
  process.once('SIGINT', () => {
    progress('interrupted: deleting this run’s keys')
    const l = live
    void (l ? deleteByPrefix(l.redis, l.prefix) : Promise.resolve()).finally(() => process.exit(130))
  })

  const started = Date.now()
  const info = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  const redisVersion = /redis_version:(\S+)/.exec(await info.info('server'))?.[1] ?? 'unknown'
  info.disconnect()

  const report: Record<string, unknown> = {}
  for (const bench of BENCHMARKS) {
    if (only && bench.name !== only) continue
    progress(`== ${bench.name}: ${bench.description}`)
    const results: unknown[] = []
    for (let run = 0; run < runs; run++) {
      const prefix = `tbb-${bench.name}-${randomBytes(4).toString('hex')}`
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, connectionName: `bench:${bench.name}` })
      live = { redis, prefix }
      const t = performance.now()
      try {
        results.push(
          await bench.runOnce({
            redis,
            prefix,
            keys: new Keys(prefix),
            run,
            seed,
            progress: (m) => progress(`[${bench.name} ${run + 1}/${runs}] ${m}`),
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
