import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { parse, stringify } from 'yaml'
import { signWebhook } from '../../jobs/sla-webhook.js'
import { type HubSpotStandIn, startHubSpotStandIn } from '../../test/hubspot-standin/server.js'
import { formatDuration, parseDuration } from '../rules/duration.js'
import { CUSTOMERS, USERS } from './cast.js'

/** A HubSpot stand-in on loopback with the demo's owners and one contact per customer who writes a DM. */
export async function startDemoHubSpot(): Promise<{ hs: HubSpotStandIn; contactNames: Map<string, string> }> {
  const hs = await startHubSpotStandIn()
  for (const u of USERS) {
    hs.addOwner({ id: u.ownerId, email: u.email, firstName: u.firstName, lastName: u.lastName })
  }
  const contactNames = new Map<string, string>()
  for (const who of Object.values(CUSTOMERS)) {
    if (!who.contact) continue
    const [firstname, ...rest] = who.name.split(' ')
    const contact = hs.addContact({
      properties: { firstname: firstname ?? who.name, lastname: rest.join(' '), phone: who.phone },
    })
    contactNames.set(contact.id, who.name)
  }
  return { hs, contactNames }
}

export interface ReceivedWebhook {
  at: number
  event: Record<string, unknown>
  signed: boolean
}

/**
 * The receiver of the SLA webhook: listens on the port named in the rules, or on a free one when that
 * is taken, and checks each delivery's signature.
 */
export async function startWebhookReceiver(
  wantedPort: number,
  secret: string,
  onHook: (hook: ReceivedWebhook) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      const header = String(req.headers['x-tickbridge-signature'] ?? '')
      const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]))
      const signed = parts.v1 !== undefined && parts.v1 === signWebhook(secret, Number(parts.t), body)
      let event: Record<string, unknown> = {}
      try {
        event = JSON.parse(body) as Record<string, unknown>
      } catch {}
      onHook({ at: Date.now(), event, signed })
      res.writeHead(204).end()
    })
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  try {
    await listen(wantedPort)
  } catch {
    await listen(0)
  }
  return { server, port: (server.address() as { port: number }).port }
}

/** `port` if it can be bound on `host` right now, else 0 (any free port). */
export async function portOrFree(port: number, host: string): Promise<number> {
  if (port === 0) return 0
  const probe = createNetServer()
  const free = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false))
    probe.listen(port, host, () => resolve(true))
  })
  if (free) await new Promise<void>((resolve) => probe.close(() => resolve()))
  return free ? port : 0
}

type Json = Record<string, unknown>

/** Every SLA webhook URL of a parsed rules document. */
export function webhookUrls(doc: Json): string[] {
  const urls: string[] = []
  for (const policy of (doc.sla as { policies?: Json[] } | undefined)?.policies ?? []) {
    for (const level of (policy.levels as Json[] | undefined) ?? []) {
      for (const action of (level.actions as Json[] | undefined) ?? []) {
        const url = (action.webhook as { url?: string } | undefined)?.url
        if (url) urls.push(url)
      }
    }
  }
  return urls
}

/**
 * The rules the demo runs on: the file itself, or a temporary copy when the time scale is not 1 (every
 * threshold divided by `speed`) or the webhook receiver had to move to another port.
 */
export async function prepareRules(
  path: string,
  opts: { speed: number; webhookFrom?: string; webhookTo?: string },
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const moved = opts.webhookFrom !== undefined && opts.webhookFrom !== opts.webhookTo
  if (opts.speed === 1 && !moved) return { path, cleanup: async () => {} }
  const doc = parse(await readFile(path, 'utf8')) as Json
  if (opts.speed !== 1) scaleDurations(doc, opts.speed)
  if (moved) {
    for (const policy of (doc.sla as { policies: Json[] }).policies) {
      for (const level of policy.levels as Json[]) {
        for (const action of level.actions as Json[]) {
          const hook = action.webhook as { url?: string } | undefined
          if (hook && hook.url === opts.webhookFrom) hook.url = opts.webhookTo
        }
      }
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'tickbridge-demo-rules-'))
  const copy = join(dir, 'rules.demo.yaml')
  await writeFile(copy, stringify(doc))
  return { path: copy, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

const SCALED_DELAY_FIELDS = ['baseMin', 'baseMax', 'max', 'mediaExtra']

function scaleDurations(doc: Json, speed: number): void {
  const scale = (value: unknown) => {
    const ms = typeof value === 'string' ? parseDuration(value) : undefined
    return ms === undefined ? value : formatDuration(Math.max(1, Math.round(ms / speed)))
  }
  const scaleDelay = (delay: Json | undefined) => {
    if (!delay) return
    for (const field of SCALED_DELAY_FIELDS) if (field in delay) delay[field] = scale(delay[field])
    if (typeof delay.wordsPerMinute === 'number')
      delay.wordsPerMinute = Math.round(delay.wordsPerMinute * speed)
  }
  for (const policy of (doc.sla as { policies?: Json[] } | undefined)?.policies ?? []) {
    for (const field of ['firstResponse', 'nextResponse'])
      if (field in policy) policy[field] = scale(policy[field])
    for (const level of (policy.levels as Json[] | undefined) ?? []) level.after = scale(level.after)
  }
  const crmSync = (doc.counters as { crmSync?: Json } | undefined)?.crmSync
  if (crmSync && 'debounce' in crmSync) crmSync.debounce = scale(crmSync.debounce)
  scaleDelay((doc.seen as { defaults?: { delay?: Json } } | undefined)?.defaults?.delay)
  for (const session of (doc.sessions as Json[] | undefined) ?? []) {
    scaleDelay((session.seen as { delay?: Json } | undefined)?.delay)
  }
}

/** Deletes every key under `<prefix>:` (SCAN + UNLINK; never a flush); returns how many there were. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let n = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length) {
      n += keys.length
      await redis.unlink(...keys)
    }
  } while (cursor !== '0')
  return n
}

export async function countKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let n = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    n += keys.length
  } while (cursor !== '0')
  return n
}

/** A demo's own prefix: what TICKBRIDGE_DEMO_PREFIX may be, and what a leftover's prefix looks like. */
export const DEMO_PREFIX = /^tbdemo[A-Za-z0-9_-]{0,26}$/
const ALIVE_MS = 15_000

/**
 * Marks this demo run as alive (a key under its prefix that expires unless renewed), so another demo
 * starting meanwhile does not take its keys for leftovers. Returns the function that stops renewing.
 */
export function keepDemoAlive(redis: Redis, prefix: string): () => void {
  const mark = () => redis.set(`${prefix}:demo-alive`, String(process.pid), 'PX', ALIVE_MS).catch(() => {})
  void mark()
  const timer = setInterval(mark, ALIVE_MS / 3)
  timer.unref()
  return () => clearInterval(timer)
}

/**
 * Deletes the keys of demo runs that were killed before they could clean up (SIGKILL, a closed terminal,
 * a crash): every `tbdemo…` prefix other than ours with neither a live mark nor a worker heartbeat in the
 * last 30 s. Returns what it removed, per prefix.
 */
export async function removeLeftoverDemoKeys(
  redis: Redis,
  ownPrefix: string,
): Promise<Array<{ prefix: string; keys: number }>> {
  const prefixes = new Set<string>()
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'tbdemo*', 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const prefix = key.slice(0, key.indexOf(':'))
      if (prefix !== ownPrefix && DEMO_PREFIX.test(prefix)) prefixes.add(prefix)
    }
  } while (cursor !== '0')
  const [seconds] = await redis.time()
  const now = Number(seconds) * 1000
  const removed: Array<{ prefix: string; keys: number }> = []
  for (const prefix of prefixes) {
    const marked = await redis.exists(`${prefix}:demo-alive`)
    const workers = await redis.zcount(`${prefix}:{global}:workers`, now - 30_000, '+inf')
    if (marked || workers > 0) continue
    removed.push({ prefix, keys: await deleteKeys(redis, prefix) })
  }
  return removed
}
