import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from '../helpers/process.js'
import { runSoak } from '../soak/run.js'
import { type Benchmark, figure, median, round } from './stats.js'

const run = promisify(execFile)

/**
 * "e2e": the same generated traffic (fixed seed, fixed mix: customer messages, answers, bot replies,
 * reminders; receipts, SLA levels, counters and the HubSpot sync all on) through this checkout's workers
 * and through another revision's, in one run, side by side. Each side gets its own fresh redis-server, so
 * Redis' own counters (INFO cpu, commandstats) and memory belong to that side alone. The harness
 * (generator, stand-ins, checks) is this checkout's for both. Ratios are this / other: below 1 is cheaper.
 * The other revision is `--rev` (a commit, branch or tag), else the newest tag.
 */
const LOAD = {
  sessions: Number(process.env.TB_BENCH_E2E_SESSIONS ?? 4),
  chats: Number(process.env.TB_BENCH_E2E_CHATS ?? 400),
  rate: Number(process.env.TB_BENCH_E2E_RATE ?? 200),
  workers: 2,
  slaLevels: '5,10',
  drainTimeout: 180,
}
const DEFAULT_SECONDS = 30

interface Side {
  ok: boolean
  violations: number
  customerMessages: number
  achievedPerSec: number
  cpuUsPerCustomerMessage: number | null
  /** Less what the held sessions cost Redis while idle over the same span. */
  marginalCpuUsPerCustomerMessage: number | null
  idleCpuUsPerSec: number | null
  commandsPerCustomerMessage: number | null
  redisBytesPerChat: number | null
}

interface E2eRun {
  rev: string
  current: Side
  other: Side
}

/** The other revision, unpacked once per bench process (git archive, so the repo's worktrees stay untouched). */
let checkout: Promise<{ sha: string; dir: string }> | undefined
let unpackedDir: string | undefined

async function prepare(rev: string | undefined, progress: (m: string) => void) {
  const wanted =
    rev ??
    (await run('git', ['describe', '--tags', '--abbrev=0'], { cwd: ROOT }).then(
      (r) => r.stdout.trim(),
      () => {
        throw new Error('no git tag to compare with: give the revision, e.g. --rev main~5')
      },
    ))
  const sha = (
    await run('git', ['rev-parse', '--verify', `${wanted}^{commit}`], { cwd: ROOT }).catch(() => {
      throw new Error(`--rev ${wanted}: not a commit of this repository`)
    })
  ).stdout.trim()
  const dir = await mkdtemp(join(tmpdir(), `tb-bench-${sha.slice(0, 10)}-`))
  unpackedDir = dir
  progress(`unpacking ${wanted} (${sha.slice(0, 10)}) into ${dir}`)
  await run('sh', ['-c', `git archive ${sha} | tar -x -C '${dir}'`], { cwd: ROOT })
  const [ours, theirs] = await Promise.all([
    readFile(join(ROOT, 'package-lock.json'), 'utf8'),
    readFile(join(dir, 'package-lock.json'), 'utf8').catch(() => ''),
  ])
  if (ours === theirs) {
    // Same lock file: the same packages; hard links make the copy instant and take no space.
    await run('cp', ['-al', join(ROOT, 'node_modules'), join(dir, 'node_modules')])
  } else {
    progress(`${wanted} locks other packages: npm ci there (a minute)`)
    await run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir })
  }
  return { sha, dir }
}

async function side(seed: number, seconds: number, workerRoot: string | undefined): Promise<Side> {
  const r = await runSoak({ ...LOAD, seconds, seed, verbose: false, ...(workerRoot ? { workerRoot } : {}) })
  const cost = r.measured.redisCost as {
    cpuUsPerCustomerMessage?: number
    commandsPerCustomerMessage?: number
    idle?: { cpuUsPerSec: number; marginalCpuUsPerCustomerMessage: number }
  }
  return {
    ok: r.ok,
    violations: r.violations,
    customerMessages: r.load.sent.customer,
    achievedPerSec: r.load.achievedRate,
    cpuUsPerCustomerMessage: cost.cpuUsPerCustomerMessage ?? null,
    marginalCpuUsPerCustomerMessage: cost.idle?.marginalCpuUsPerCustomerMessage ?? null,
    idleCpuUsPerSec: cost.idle?.cpuUsPerSec ?? null,
    commandsPerCustomerMessage: cost.commandsPerCustomerMessage ?? null,
    redisBytesPerChat: r.measured.redisBytesPerChat,
  }
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b)

export const e2eBenchmark: Benchmark<E2eRun> = {
  name: 'e2e',
  description: `the same traffic (${LOAD.rate} msg/s, ${LOAD.sessions} sessions, ${LOAD.chats} chats) through this checkout and another revision (--rev, default the newest tag): Redis CPU, commands and memory per message`,
  defaultRuns: 3,
  onlyWhenNamed: true,
  async runOnce(ctx) {
    checkout ??= prepare(ctx.rev, ctx.progress)
    const other = await checkout
    const seconds = ctx.seconds ?? DEFAULT_SECONDS
    // Alternate the order so that a machine getting busier over the run favours neither side.
    const currentFirst = ctx.run % 2 === 0
    ctx.progress(`${currentFirst ? 'this checkout' : other.sha.slice(0, 10)} first, ${seconds} s each`)
    const a = await side(ctx.seed, seconds, currentFirst ? undefined : other.dir)
    const b = await side(ctx.seed, seconds, currentFirst ? other.dir : undefined)
    const [current, theirs] = currentFirst ? [a, b] : [b, a]
    ctx.progress(
      `this: ${current.cpuUsPerCustomerMessage} µs, ${current.commandsPerCustomerMessage} commands per message; ` +
        `${other.sha.slice(0, 10)}: ${theirs.cpuUsPerCustomerMessage} µs, ${theirs.commandsPerCustomerMessage} commands`,
    )
    return { rev: other.sha, current, other: theirs }
  },
  report(runs) {
    const pick = (f: (r: E2eRun) => number | null) => runs.map(f).filter((v): v is number => v !== null)
    const fig = (f: (r: E2eRun) => number | null, digits = 2) => {
      const v = pick(f)
      return v.length ? figure(v, digits) : null
    }
    const summary = (side: (r: E2eRun) => Side) => ({
      cpuUsPerCustomerMessage: fig((r) => side(r).cpuUsPerCustomerMessage, 1),
      marginalCpuUsPerCustomerMessage: fig((r) => side(r).marginalCpuUsPerCustomerMessage, 1),
      idleCpuUsPerSec: fig((r) => side(r).idleCpuUsPerSec, 0),
      commandsPerCustomerMessage: fig((r) => side(r).commandsPerCustomerMessage, 1),
      redisBytesPerChat: fig((r) => side(r).redisBytesPerChat, 0),
      achievedPerSec: fig((r) => side(r).achievedPerSec, 0),
    })
    // Every run is done: the unpacked revision goes (sync: the runner exits right after the report).
    if (unpackedDir) rmSync(unpackedDir, { recursive: true, force: true })
    return {
      comparedWith: runs[0]?.rev ?? null,
      load: { ...LOAD, seconds: undefined },
      allInvariantsHeld: runs.every((r) => r.current.ok && r.other.ok),
      current: summary((r) => r.current),
      other: summary((r) => r.other),
      /** this / other, per run (the same traffic in the same run), then their median. */
      ratio: {
        cpuPerMessage: fig((r) => ratio(r.current.cpuUsPerCustomerMessage, r.other.cpuUsPerCustomerMessage)),
        marginalCpuPerMessage: fig((r) =>
          ratio(r.current.marginalCpuUsPerCustomerMessage, r.other.marginalCpuUsPerCustomerMessage),
        ),
        commandsPerMessage: fig((r) =>
          ratio(r.current.commandsPerCustomerMessage, r.other.commandsPerCustomerMessage),
        ),
        bytesPerChat: fig((r) => ratio(r.current.redisBytesPerChat, r.other.redisBytesPerChat)),
      },
      medianOfCpuRatios: round(
        median(pick((r) => ratio(r.current.cpuUsPerCustomerMessage, r.other.cpuUsPerCustomerMessage))),
        2,
      ),
    }
  },
}
