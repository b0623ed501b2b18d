import { createRequire } from 'node:module'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import type { Clock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { buildApp } from '../../src/http/app.js'
import { createLogger } from '../../src/log.js'
import { createServices, dashboardQueues } from '../../src/services.js'
import { RedisSessionGateway } from '../../src/whatsapp/command-bus.js'
import { startWorker } from '../../src/worker/worker.js'
import { API_RULES, bearer } from '../helpers/app.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'

/** Debian's Chromium (apt-get install chromium); playwright-core drives it, no browser download. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** The real clock, which a test may move ahead (a pairing link's expiry) without waiting. */
export class ShiftedClock implements Clock {
  offsetMs = 0
  now(): number {
    return Date.now() + this.offsetMs
  }
}

/**
 * The whole service as `npm start` runs it (web + worker, sim transport) on real Redis under the test's
 * own prefix, listening on 127.0.0.1 at a free port.
 */
export async function consoleService(label: string) {
  const r = testRedis(label)
  const env = parseEnv({ REDIS_URL, TICKBRIDGE_PREFIX: r.prefix, WA_TRANSPORT: 'sim', LOG_LEVEL: 'info' })
  const logLines: string[] = []
  const log = createLogger({ level: 'info' }, { write: (line: string) => void logLines.push(line) })
  const clock = new ShiftedClock()
  const services = await createServices({
    env,
    log,
    clock,
    rulesPath: API_RULES,
    watchRules: false,
    redis: r.redis,
  })
  // Production's lease and liveness (a quicker pass only): a loaded machine must not make sessions
  // change hands (and show a new QR code) in the middle of a test.
  const worker = await startWorker(services, { timings: { tickMs: 500 } })
  const gateway = new RedisSessionGateway(r.redis, r.prefix, 5000)
  const app = await buildApp({ services, gateway, queues: dashboardQueues(services) })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    url: address,
    app,
    services,
    clock,
    logLines,
    /** The HTTP API as a bot or CRM calls it (bearer key). */
    async call(method: string, path: string, key: string, body?: unknown) {
      const res = await fetch(`${address}${path}`, {
        method,
        headers: { ...bearer(key), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const text = await res.text()
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null }
    },
    async close() {
      await app.close()
      await worker.close()
      await gateway.close()
      await services.close()
      await r.cleanup()
    },
  }
}
export type ConsoleService = Awaited<ReturnType<typeof consoleService>>

/**
 * Chromium with a fresh profile: playwright's launch() gives every run a new temporary user-data-dir
 * (it refuses one passed in args) and deletes it on close; each test then opens its own context.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}

/** A page that records every console error and uncaught exception, for "no errors" assertions. */
export async function watchedPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`))
  return { page, errors }
}

const axeSource = (async () => {
  const { readFile } = await import('node:fs/promises')
  return readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
})()

/**
 * axe-core's serious and critical violations on the page as it is now. The script is evaluated through
 * the DevTools protocol, which the page's Content-Security-Policy does not govern (a <script> tag would
 * be refused, as it should be).
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(`${await axeSource}\n;0`)
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe
    const result = await axe.run()
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 3),
    }))
  })
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.join(', ')})`)
}
interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: Array<{ target: string[] }>
}

export async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/`)
  await page.getByLabel('API key').fill(key)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: 'Sign out' }).waitFor()
}
