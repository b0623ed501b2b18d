import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { TickbridgeClient } from '../client/index.js'
import { systemClock } from '../clock.js'
import { parseEnv } from '../env.js'
import { buildApp } from '../http/app.js'
import { bindProblems, plannedAddresses } from '../http/bind-guard.js'
import { createLogger } from '../log.js'
import {
  assertRedisReachable,
  createRedis,
  RedisAuthError,
  RedisUnreachableError,
  redactUrl,
} from '../redis.js'
import { formatDuration } from '../rules/duration.js'
import { RulesError } from '../rules/store.js'
import { createServices, dashboardQueues, type Services } from '../services.js'
import { RedisSessionGateway } from '../whatsapp/command-bus.js'
import { startWorker } from '../worker/worker.js'
import { BOT_LINE, DEMO_API_KEY, DEMO_OPERATOR_KEY, namesByJid, SALES_LINE } from './cast.js'
import { runScript, SCRIPT_END } from './script.js'
import {
  countKeys,
  DEMO_PREFIX,
  deleteKeys,
  keepDemoAlive,
  portOrFree,
  prepareRules,
  removeLeftoverDemoKeys,
  startDemoHubSpot,
  startWebhookReceiver,
  webhookUrls,
} from './setup.js'
import { Timeline } from './timeline.js'
import { DemoWatch } from './watch.js'

/**
 * `npm run demo`: the whole service (web + worker) in this process on the simulated WhatsApp, with a local
 * HubSpot stand-in and the short thresholds of config/rules.demo.yaml. Plays a scripted minute of
 * conversations and prints what Tickbridge does, then a summary; then keeps the API and Bull Board up
 * until Ctrl-C (or exits at once with --headless). Everything it stores in Redis lives under its own key
 * prefix and is deleted at exit.
 */
const USAGE = `Usage: npm run demo -- [--headless] [--speed N]
  --headless   exit after the summary instead of keeping the API up until Ctrl-C
  --speed N    run N times faster (0.25 to 10; every threshold and step is divided by N)
Environment: REDIS_URL (default redis://127.0.0.1:6379), PORT (default 3000, a free one if taken),
  HOST (default 127.0.0.1), LOG_LEVEL (default info, written to the log file),
  TICKBRIDGE_DEMO_PREFIX (Redis key prefix, must start with "tbdemo"), TICKBRIDGE_DEMO_LOG (log file)`

const RULES = fileURLToPath(new URL('../../config/rules.demo.yaml', import.meta.url))
const SESSIONS = [BOT_LINE, SALES_LINE]

function parseArgs(argv: string[]): { headless: boolean; speed: number } {
  let headless = false
  let speed = 1
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--headless') headless = true
    else if (arg === '--speed' || arg.startsWith('--speed=')) {
      const value = arg.includes('=') ? arg.slice(8) : argv[++i]
      speed = Number(value)
      if (!Number.isFinite(speed) || speed < 0.25 || speed > 10)
        usage(`--speed: expected 0.25 to 10, got ${value}`)
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`)
      process.exit(0)
    } else usage(`unknown argument ${arg}`)
  }
  return { headless, speed }
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\n${USAGE}\n`)
  process.exit(2)
}

function demoPrefix(): string {
  const given = process.env.TICKBRIDGE_DEMO_PREFIX
  if (given === undefined || given === '') return `tbdemo-${randomBytes(4).toString('hex')}`
  // The demo deletes every key under its prefix at exit: never let it point at a real install's keys.
  if (!DEMO_PREFIX.test(given)) {
    usage(
      'TICKBRIDGE_DEMO_PREFIX must start with "tbdemo" (letters, digits, "-", "_"; at most 32 characters)',
    )
  }
  return given
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
  const host = process.env.HOST || '127.0.0.1'
  const prefix = demoPrefix()
  const logPath = process.env.TICKBRIDGE_DEMO_LOG || join(tmpdir(), `${prefix}.log`)
  const out = (text: string) => process.stdout.write(text)

  try {
    await assertRedisReachable(redisUrl)
  } catch (err) {
    if (err instanceof RedisUnreachableError || err instanceof RedisAuthError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }

  // Things to undo at exit, last first; the demo's Redis keys go after all of them.
  const undo: Array<() => Promise<unknown>> = []
  const janitor = createRedis(redisUrl, { name: 'tickbridge-demo-janitor' })
  janitor.on('error', () => {})
  const stopMarking = keepDemoAlive(janitor, prefix)
  undo.push(async () => stopMarking())
  // An earlier run that was killed before its clean-up left its keys behind: remove them now.
  for (const left of await removeLeftoverDemoKeys(janitor, prefix).catch(() => []))
    out(`Removed ${left.keys} Redis keys left by an interrupted demo run (prefix "${left.prefix}:").\n`)
  let phase: 'starting' | 'running' | 'waiting' | 'stopping' = 'starting'

  let shuttingDown = false
  const shutdown = async (code: number): Promise<void> => {
    if (shuttingDown) return
    shuttingDown = true
    phase = 'stopping'
    const force = setTimeout(() => {
      process.stderr.write('demo: shutdown took longer than 25 s, exiting\n')
      process.exit(1)
    }, 25_000)
    force.unref()
    for (const step of undo.reverse()) await step().catch(() => {})
    let left = -1
    try {
      const removed = await deleteKeys(janitor, prefix)
      left = await countKeys(janitor, prefix)
      out(
        `Removed the demo's ${removed} Redis keys under "${prefix}:"${left === 0 ? '' : ` (${left} left!)`}.\n`,
      )
    } catch (err) {
      process.stderr.write(`demo: could not remove the keys under "${prefix}:": ${(err as Error).message}\n`)
    }
    await janitor.quit().catch(() => janitor.disconnect())
    process.exit(left === 0 ? code : code || 1)
  }
  const stopping = () => phase === 'stopping'
  const onSignal = () => {
    if (stopping()) process.exit(1)
    out('\nStopping…\n')
    void shutdown(phase === 'waiting' ? 0 : 130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    // HubSpot, seeded with the demo's owners and contacts.
    const { hs, contactNames } = await startDemoHubSpot()
    undo.push(() => hs.close())

    // The SLA webhook's receiver, on the port the rules name (or another one, in a copy of the rules).
    const timelineRef: { watch?: DemoWatch } = {}
    process.env.DEMO_WEBHOOK_SECRET ||= 'demo-webhook-secret'
    const hookUrl = webhookUrls(parse(await readFile(RULES, 'utf8')) as Record<string, unknown>)[0]
    let hookAt: string | undefined
    let rulesHook: string | undefined
    if (hookUrl) {
      const url = new URL(hookUrl)
      const receiver = await startWebhookReceiver(
        Number(url.port || 80),
        process.env.DEMO_WEBHOOK_SECRET,
        (h) => timelineRef.watch?.onWebhook(h),
      )
      undo.push(() => new Promise((resolve) => receiver.server.close(resolve)))
      rulesHook = hookUrl
      url.port = String(receiver.port)
      hookAt = url.toString()
    }
    const rules = await prepareRules(RULES, {
      speed: args.speed,
      ...(rulesHook && hookAt ? { webhookFrom: rulesHook, webhookTo: hookAt } : {}),
    })
    undo.push(rules.cleanup)

    // The whole service, as `npm start` runs it, but in this process and on the demo's own keys.
    const port = await portOrFree(Number(process.env.PORT || 3000), host)
    const env = parseEnv({
      REDIS_URL: redisUrl,
      PORT: String(port),
      HOST: host,
      TICKBRIDGE_PREFIX: prefix,
      TICKBRIDGE_RULES: rules.path,
      WA_TRANSPORT: 'sim',
      HUBSPOT_ACCESS_TOKEN: hs.token,
      HUBSPOT_BASE_URL: hs.url,
      LOG_LEVEL: process.env.LOG_LEVEL || 'info',
    })
    const logFile = createWriteStream(logPath, { flags: 'w' })
    undo.push(() => new Promise((resolve) => logFile.end(resolve)))
    const log = createLogger({ level: env.LOG_LEVEL, name: 'tickbridge-demo' }, logFile)
    const addresses = await plannedAddresses(env.HOST)
    let services: Services
    try {
      services = await createServices({
        env,
        log,
        clock: systemClock,
        rulesPath: rules.path,
        watchRules: true,
        processMetrics: true,
        // The demo key is public: the demo serves other machines only with rules of one's own.
        acceptRules: (r) => bindProblems({ host: env.HOST, addresses }, r),
      })
    } catch (err) {
      if (err instanceof RulesError)
        throw new Error(`${err.path} cannot be used:\n  ${err.problems.join('\n  ')}`)
      throw err
    }
    undo.push(() => services.close())
    const worker = await startWorker(services)
    undo.push(() => worker.close())
    const gateway = new RedisSessionGateway(services.redis, services.keys.prefix)
    const app = await buildApp({ services, gateway, queues: dashboardQueues(services) })
    undo.push(async () => {
      await app.close()
      await gateway.close()
    })
    await app.listen({ port: env.PORT, host: env.HOST })
    const base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${(app.server.address() as AddressInfo).port}`
    await waitForSessions(services)

    const tb = new TickbridgeClient({ baseUrl: base, apiKey: DEMO_API_KEY })
    const config = services.rules.current().config
    const levels = config.sla.policies[0]?.levels.map((l) => formatDuration(l.after)).join(', ') ?? 'none'
    const setupCalls = hs.requests.filter((r) => r.path.startsWith('/crm/v3/properties')).length
    const shownRules =
      rules.path === RULES
        ? relative(process.cwd(), RULES)
        : `${relative(process.cwd(), RULES)} (adapted copy: ${rules.path})`
    const speed = args.speed === 1 ? '' : ` (at ${args.speed}x speed)`
    out(
      `Tickbridge demo${speed}: a shop's two WhatsApp numbers, three CRM users and HubSpot, in about a minute.\n\n`,
    )
    const info = (label: string, text: string) => out(`  ${label.padEnd(10)}${text}\n`)
    info('service', 'web + worker in this process; WhatsApp simulated (WA_TRANSPORT=sim)')
    info('API', `${base}   key ${DEMO_API_KEY}`)
    info(
      'rules',
      `${shownRules}: SLA levels after ${levels}; HubSpot writes debounced ${formatDuration(config.counters.crmSync.debounce)}`,
    )
    info('numbers', `${BOT_LINE}: a bot answers, seen policy auto, new chats unassigned (ben takes them)`)
    info('', `${SALES_LINE}: people answer, seen policy manual, chats owned by anna; dora supervises both`)
    info(
      'HubSpot',
      `stand-in on ${hs.url}: ${contactNames.size} contacts, ${hs.owners().length} owners; ${setupCalls} calls to set up Tickbridge's contact properties`,
    )
    if (hookAt) info('webhook', `SLA level 3 posts to a receiver in this process, ${hookAt}`)
    info('Redis', `${redactUrl(redisUrl)}, keys under "${prefix}:" (removed at exit)`)
    info('logs', `${logPath} (service log, level ${env.LOG_LEVEL})`)
    out('\n')

    const t0 = Date.now()
    const timeline = new Timeline({
      t0,
      write: out,
      color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    })
    out(
      `${timeline.paint('1', `${'time'.padStart(7)}  ${'kind'.padEnd(8)} ${'number'.padEnd(10)} ${'chat'.padEnd(14)} what happened`)}\n`,
    )
    const watch = new DemoWatch({
      services,
      tb,
      hs,
      timeline,
      names: namesByJid(),
      contactNames,
      sessions: SESSIONS,
    })
    timelineRef.watch = watch
    undo.push(async () => {
      await watch.stop()
      timeline.stop()
    })
    watch.start()
    timeline.start()
    phase = 'running'
    await runScript(
      { sim: services.sim!, tb, watch, timeline, speed: args.speed },
      t0,
      () => phase !== 'running',
    )
    if (phase !== 'running') return
    await settle(services, watch, t0 + (SCRIPT_END * 1000) / args.speed)
    await watch.stop()
    timeline.stop()

    out(`\n${timeline.paint('1', `Summary after ${((Date.now() - t0) / 1000).toFixed(1)}s`)}\n`)
    for (const line of watch.summary()) out(`${line}\n`)
    out('\n')
    if (args.headless) {
      await shutdown(0)
      return
    }
    phase = 'waiting'
    out(`The service keeps running until Ctrl-C:\n`)
    info('API docs', `${base}/docs`)
    info('queues', `${base}/admin/queues   (Bull Board: any user name, password ${DEMO_OPERATOR_KEY})`)
    info('API key', DEMO_API_KEY)
    info('try', `curl -s -H 'Authorization: Bearer ${DEMO_API_KEY}' ${base}/v1/counters/unanswered/dora`)
    info(
      '',
      `curl -s -H 'Authorization: Bearer ${DEMO_API_KEY}' '${base}/v1/sessions/${SALES_LINE}/chats/overview'`,
    )
    info('HubSpot', `${hs.url} (stand-in, token ${hs.token})`)
  } catch (err) {
    if (stopping()) return
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
    process.stderr.write(`(service log: ${logPath})\n`)
    await shutdown(1)
  }
}

/** Waits until the worker holds both sessions and they are WORKING. */
async function waitForSessions(s: Services): Promise<void> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const statuses = await Promise.all(SESSIONS.map((sid) => s.statuses.get(sid)))
    if (statuses.every((st) => st.status === 'WORKING')) return
    if (Date.now() > deadline)
      throw new Error(`the sessions did not start: ${statuses.map((st) => st.status).join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * After the last step: waits until what it set in motion has happened (HubSpot writes out, no SLA clock
 * open, reminders fired) and nothing new showed up for 2 s; at most 30 s.
 */
async function settle(s: Services, watch: DemoWatch, scriptEnd: number): Promise<void> {
  const deadline = Math.max(Date.now(), scriptEnd) + 30_000
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const [crmPending, open] = await Promise.all([
      s.hubspot?.dirty.pending() ?? 0,
      Promise.all(SESSIONS.map((sid) => s.sla.openChats(sid))),
    ])
    const quiet = Date.now() - watch.lastActivity > 2000
    if (
      crmPending === 0 &&
      open.every((chats) => chats.length === 0) &&
      watch.remindersPending() === 0 &&
      quiet
    )
      return
  }
}

void main()
