import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Queue } from 'bullmq'
import { systemClock } from '../../src/clock.js'
import { ContactCache } from '../../src/crm/hubspot/contact-cache.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { mulberry32 } from '../../src/receipts/delay-model.js'
import { createRedis } from '../../src/redis.js'
import { createServices, type Services } from '../../src/services.js'
import { RedisSessionGateway } from '../../src/whatsapp/command-bus.js'
import { percentile, usedMemory } from '../bench/stats.js'
import {
  type PrivateCluster,
  type PrivateRedis,
  startPrivateCluster,
  startPrivateRedis,
} from '../helpers/redis-servers.js'
import { type HubSpotStandIn, STANDIN_TOKEN, startHubSpotStandIn } from '../hubspot-standin/server.js'
import { checkInvariants, type WebhookDelivery } from './check.js'
import { profileCommands, scriptNames } from './command-profile.js'
import { buildChats, emptyLoadStats, type LoadStats, runLoad } from './load.js'
import { loadSeconds, type SoakInput, type SoakOptions, soakOptionsSchema } from './options.js'
import { cpuDuringLoad, snapshotCpu } from './process-cpu.js'
import { costPerMessage, idleCost, snapshotRedisCost } from './redis-cost.js'
import { SessionWatch } from './session-watch.js'
import { Truth } from './truth.js'
import { WorkerPool } from './workers.js'

/**
 * The soak: its own Redis (or Cluster), a HubSpot stand-in, a webhook receiver and N real worker
 * processes; a steady load with faults injected on a schedule; a drain; then every invariant checked
 * against the generator's truth. Returns a JSON-able report; `ok` is true only if nothing was violated.
 */

const AGENTS = ['a1', 'a2', 'a3', 'a4'] as const

export async function runSoak(input: SoakInput, progress: (line: string) => void = () => {}) {
  const o = soakOptionsSchema.parse(input)
  const rand = mulberry32(o.seed)
  const say = (line: string) =>
    o.verbose && progress(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`)
  const cleanups: Array<() => Promise<unknown>> = []
  try {
    return await soak(o, rand, say, cleanups)
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {})
  }
}

async function soak(
  o: SoakOptions,
  rand: () => number,
  say: (line: string) => void,
  cleanups: Array<() => Promise<unknown>>,
) {
  const seconds = loadSeconds(o)
  let redis: PrivateRedis | null = null
  let cluster: PrivateCluster | null = null
  if (o.cluster) {
    cluster = await startPrivateCluster(3)
    cleanups.push(() => cluster!.stop())
    say(`Redis Cluster: 3 masters on ports ${cluster.ports.join(', ')}`)
  } else {
    redis = await startPrivateRedis()
    cleanups.push(() => redis!.stop())
    say(`own Redis (AOF, appendfsync always) on port ${redis.port}`)
  }
  const redisUrl = cluster?.url ?? redis!.url
  const prefix = `soak${randomBytes(3).toString('hex')}`

  const hubspot: HubSpotStandIn = await startHubSpotStandIn({ limits: { perTenSeconds: 100 } })
  cleanups.push(() => hubspot.close())
  const hooks: WebhookDelivery[] = []
  const receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => {
      body += c.toString()
    })
    req.on('end', () => {
      try {
        hooks.push({
          id: String(req.headers['x-tickbridge-event-id']),
          at: Date.now(),
          event: JSON.parse(body),
        })
        res.end('ok')
      } catch {
        res.statusCode = 400
        res.end()
      }
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  cleanups.push(() => new Promise((r) => receiver.close(r)))
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/sla`

  // Rules: one org, sessions owned round-robin by four agents (and unassigned), one supervisor.
  const sessions = Array.from({ length: o.sessions }, (_, i) => ({
    id: `s${String(i + 1).padStart(2, '0')}`,
    defaultOwner: i % 5 === 4 ? null : AGENTS[i % 4]!,
  }))
  const users = [
    ...AGENTS.map((id) => ({ id, supervises: [] as string[], takesNewClients: id === 'a4' })),
    { id: 'lead', supervises: [...AGENTS] as string[], takesNewClients: false },
  ]
  for (const [i, u] of users.entries()) hubspot.addOwner({ id: String(9001 + i), email: `${u.id}@soak.test` })
  const dir = await mkdtemp(join(tmpdir(), 'tb-soak-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const rulesPath = join(dir, 'rules.yaml')
  await writeFile(rulesPath, rulesYaml(sessions, users, o.slaLevels, hookUrl))

  const env = {
    REDIS_URL: redisUrl,
    REDIS_CLUSTER: o.cluster ? 'true' : 'false',
    TICKBRIDGE_RULES: rulesPath,
    TICKBRIDGE_PREFIX: prefix,
    WA_TRANSPORT: 'sim',
    HUBSPOT_ACCESS_TOKEN: STANDIN_TOKEN,
    HUBSPOT_BASE_URL: hubspot.url,
    LOG_LEVEL: 'warn',
  }
  const client = createRedis(redisUrl, { name: 'soak', cluster: o.cluster })
  client.on('error', () => {}) // a planned Redis restart; commands retry
  cleanups.push(async () => client.disconnect())
  const s: Services = await createServices({
    env: parseEnv(env),
    log: createLogger({ level: 'silent' }),
    clock: systemClock,
    rulesPath,
    watchRules: false,
    redis: client,
  })
  cleanups.push(() => s.close())

  // Known HubSpot contacts for every DM phone (production caches a lookup after the first search).
  const truth = new Truth()
  const plan = {
    sessions,
    chats: o.chats,
    rate: o.rate,
    seconds,
    rand,
    reminderLeadMs: [3000, 12_000] as [number, number],
  }
  const chats = buildChats(plan, truth)
  const contactOf = new Map<string, string>()
  for (const c of chats) {
    if (c.phone && !contactOf.has(c.phone))
      contactOf.set(c.phone, hubspot.addContact({ properties: { phone: `+${c.phone}` } }).id)
  }
  // Known contacts: the workers' phone cache is seeded (lookups are searched once in production).
  const cache = new ContactCache(client, s.keys, systemClock)
  const entries = [...contactOf]
  for (let i = 0; i < entries.length; i += 1000) await cache.remember(entries.slice(i, i + 1000))

  const baseline = o.cluster ? 0 : await usedMemory(client)
  const baselineByKind = o.cluster ? new Map<string, number>() : await memoryByKind(client, prefix)
  const baselineOverhead = o.cluster ? new Map<string, number>() : await memoryOverhead(client)
  const pool = new WorkerPool(
    o.workers,
    // SOAK_WORKER_NODE_OPTIONS reaches only the workers (e.g. "--cpu-prof --cpu-prof-dir=DIR" to profile them).
    process.env.SOAK_WORKER_NODE_OPTIONS
      ? { ...env, NODE_OPTIONS: process.env.SOAK_WORKER_NODE_OPTIONS }
      : env,
    async (pid) =>
      (await client.zrange(s.keys.global('workers'), 0, -1)).some((w) => w.split('/')[1] === String(pid)),
    o.workerRoot,
  )
  cleanups.push(() => pool.stop())
  say(`starting ${o.workers} worker processes for ${o.sessions} sessions`)
  const idle = o.cluster ? null : await clientsAndMemory(client)
  const startedAt = Date.now()
  await pool.start()
  await waitUntil(
    async () =>
      (await Promise.all(sessions.map((x) => s.statuses.get(x.id)))).every((r) => r.status === 'WORKING'),
    Math.max(60_000, o.sessions * 200),
    'every session WORKING',
  )
  const allWorkingMs = Date.now() - startedAt
  // What holding the sessions costs Redis before any traffic: connections (blocking ones apart) and memory.
  const holding = idle ? await clientsAndMemory(client) : null
  // The service's own connections; the sim's readers (one per session, blocked in XREAD) apart.
  const readers = idle && holding ? holding.simReaders - idle.simReaders : 0
  const service = idle && holding ? holding.connected - idle.connected - readers : 0
  const sessionCost =
    idle && holding
      ? {
          allWorkingMs,
          connectionsPerWorker: Math.round(service / o.workers),
          blockingConnections: holding.blocked - idle.blocked - readers,
          connectionsPerSession: Math.round((service / o.sessions) * 100) / 100,
          simReaderConnections: readers,
          redisBytesPerSession: Math.round((holding.usedMemory - idle.usedMemory) / o.sessions),
        }
      : null
  say(
    `every session WORKING after ${allWorkingMs} ms${sessionCost ? `: ${JSON.stringify(sessionCost)}` : ''}`,
  )
  const watch = new SessionWatch(
    s.statuses,
    sessions.map((x) => x.id),
    truth.faults,
    async (sid, now) => {
      // The sim transport stores the id of the last entry it handled; stream ids start with the ms added.
      const offset = (await client.get(`${s.keys.simInbound(sid)}:offset`)) ?? '0'
      const next = await client.xrange(s.keys.simInbound(sid), `(${offset}`, '+', 'COUNT', 1)
      const since = next[0] ? Number(next[0][0].split('-')[0]) : now
      return { lagMs: now - since, since }
    },
  )
  watch.start()
  cleanups.push(() => watch.stop())
  const gateway = new RedisSessionGateway(client, prefix)
  cleanups.push(() => gateway.close())

  // Faults, each on its own schedule while the load runs.
  let loadDone = false
  const faults = {
    kills: 0,
    redisRestarts: [] as Array<{ downMs: number }>,
    waDisconnects: 0,
    hubspotStretches: [] as string[],
    /** Faults that could not be injected (e.g. a reconnect asked of a session that was just moving). */
    notInjected: [] as string[],
  }
  const started = Date.now()
  const every = (sec: number, fn: () => Promise<void>) =>
    (async () => {
      if (sec <= 0) return
      for (let t = 1; !loadDone; t++) {
        await sleepUntil(started + t * sec * 1000, () => loadDone)
        if (loadDone) return
        await fn().catch((err: unknown) => {
          faults.notInjected.push((err as Error).message)
          say(`fault not injected: ${(err as Error).message}`)
        })
      }
    })()
  const faultLoops = [
    every(o.killEvery, async () => {
      const pid = await pool.killOne(rand)
      watch.markKilled(pid, Date.now())
      truth.faults.push({
        from: Date.now() - 2000,
        to: Date.now() + 1000,
        sessionId: null,
        what: 'SLA timers in the killed worker',
      })
      faults.kills++
      say(`killed worker ${pid} (kill ${faults.kills})`)
    }),
    every(o.redisRestarts > 0 ? seconds / (o.redisRestarts + 1) : 0, async () => {
      if (faults.redisRestarts.length >= o.redisRestarts) return
      const down = Date.now()
      await redis!.kill()
      await new Promise((r) => setTimeout(r, 1000))
      await redis!.start()
      const up = Date.now()
      truth.faults.push({ from: down - 1000, to: up + 5000, sessionId: null, what: 'Redis restart' })
      faults.redisRestarts.push({ downMs: up - down })
      say(`Redis killed and restarted (${up - down} ms down)`)
    }),
    every(o.waDisconnectEvery, async () => {
      const sid = sessions[Math.floor(rand() * sessions.length)]!.id
      const at = Date.now()
      await gateway.call(sid, { cmd: 'restart' }, 10_000)
      truth.faults.push({
        from: at - 1000,
        to: Date.now() + 3000,
        sessionId: sid,
        what: 'WhatsApp reconnect',
      })
      faults.waDisconnects++
    }),
    every(o.hubspotFaultEvery, async () => {
      const kinds = [
        { status: 429 as const, label: '429' },
        { status: 500 as const, label: '500' },
        { status: 'timeout' as const, delayMs: 3000, label: 'timeouts' },
      ]
      const k = kinds[faults.hubspotStretches.length % kinds.length]!
      hubspot.failNext({
        status: k.status,
        times: 100_000,
        ...('delayMs' in k ? { delayMs: k.delayMs } : {}),
      })
      await new Promise((r) => setTimeout(r, 5000))
      hubspot.clearFaults()
      faults.hubspotStretches.push(k.label)
    }),
  ]

  say(`load: ${o.rate} msg/s for ${seconds} s over ${o.chats} chats`)
  const ticker = setInterval(
    () => say(`load running, ${Math.round((Date.now() - started) / 1000)} s`),
    15_000,
  )
  let load: LoadStats
  // Counters of a single server only; a Redis restart resets them (the report then says so). First a few
  // seconds with the sessions held and no traffic: what the workers cost Redis while idle (polls, locks).
  const idleFrom = o.cluster ? null : await snapshotRedisCost(client)
  if (idleFrom) await new Promise((r) => setTimeout(r, 5000))
  const costBefore = o.cluster ? null : await snapshotRedisCost(client)
  const cpuFrom = o.cluster ? null : await snapshotCpu(client, pool.pids())
  const costFromMs = Date.now()
  const live = emptyLoadStats()
  // A command profile (every command in the SLOWLOG) from a third into the load, when asked for; logging
  // costs Redis a little meanwhile, so that run's CPU figures include it.
  const profiling =
    o.profileSeconds > 0 && !o.cluster
      ? new Promise((r) => setTimeout(r, (seconds * 1000) / 3)).then(() =>
          profileCommands(client, {
            seconds: Math.min(o.profileSeconds, (seconds * 2) / 3),
            prefix,
            scripts: scriptNames([client, s.redis]),
            customerSent: () => live.sent.customer,
          }),
        )
      : null
  try {
    load = await runLoad({
      stats: live,
      plan,
      chats,
      truth,
      network: s.sim!,
      reminders: s.reminders,
      idPrefix: `3EB0${o.seed.toString(16).toUpperCase()}`,
      stopped: () => false,
    })
  } finally {
    clearInterval(ticker)
    loadDone = true
  }
  const cpuTo = cpuFrom ? await snapshotCpu(client, pool.pids()).catch(() => null) : null
  await Promise.all(faultLoops)
  hubspot.clearFaults()
  const commandProfile = await profiling?.catch((err: unknown) => ({ error: String(err) }))
  // Redis memory of the service's state, without the sim's own streams (the stand-in for WhatsApp's servers).
  let simBytes = 0
  if (!o.cluster)
    for (const x of sessions)
      for (const key of [s.keys.simInbound(x.id), s.keys.simActions(x.id)])
        simBytes += Number((await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0)
  const memoryAfterLoad = (o.cluster ? 0 : await usedMemory(client)) - simBytes
  const afterLoadByKind = o.cluster ? new Map<string, number>() : await memoryByKind(client, prefix)
  const afterLoadOverhead = o.cluster ? new Map<string, number>() : await memoryOverhead(client)

  // Drain: every timer due, every queue idle, every CRM change written.
  // Loops, not Math.max(...spread): a full soak sends far more messages than the call stack holds.
  let lastDue = 0
  for (const msgs of truth.messages.values())
    for (const m of msgs) lastDue = Math.max(lastDue, m.ts + Math.max(...o.slaLevels))
  for (const r of truth.reminders) lastDue = Math.max(lastDue, r.dueAt)
  say(
    `drain: waiting for timers due until ${new Date(lastDue).toISOString().slice(11, 19)}, then idle queues`,
  )
  await sleepUntil(lastDue + o.toleranceMs + 2000, () => false)
  const queues: Queue[] = [
    ...sessions.map((x) => s.sessionQueues.get(x.id)),
    ...s.queues.sla,
    s.queues.webhooks,
    s.queues.crmTasks,
  ]
  const drainStarted = Date.now()
  let drained = true
  // What the drain waits on, said every 15 s: a long drain names its queue rather than only its length.
  let waitingOn = ''
  let saidAt = drainStarted
  try {
    await waitUntil(
      async () => {
        if (waitingOn && Date.now() - saidAt >= 15_000) {
          say(`drain: still waiting on ${waitingOn}`)
          saidAt = Date.now()
        }
        for (const q of queues) {
          const c = await q.getJobCounts('active', 'wait', 'delayed', 'prioritized')
          if ((c.active ?? 0) + (c.wait ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) > 0) {
            waitingOn = `${q.name} ${JSON.stringify(c)}`
            return false
          }
        }
        const pending = await s.hubspot!.dirty.pending()
        waitingOn = `${pending} CRM changes not yet written`
        return pending === 0
      },
      o.drainTimeout * 1000,
      'idle queues',
    )
  } catch {
    drained = false
  }
  // What kept the drain from finishing: the report names it instead of a bare timeout.
  const undrained = drained
    ? null
    : await leftAfterDrain(client, queues, s).catch((err: unknown) => ({ error: String(err) }))
  if (undrained)
    say(
      `not drained after ${o.drainTimeout} s: ${
        'error' in undrained
          ? undrained.error
          : JSON.stringify({
              queues: Object.fromEntries(
                Object.entries(undrained.queues).map(([q, v]) => [q, (v as { counts: unknown }).counts]),
              ),
              crmDirty: undrained.crmDirty,
            })
      } (the report lists the jobs)`,
    )
  await watch.stop()
  const drainMs = Date.now() - drainStarted
  const costAfter = costBefore ? await snapshotRedisCost(client) : null
  const costSpanMs = Date.now() - costFromMs
  say(`${drained ? 'drained' : 'stopped draining'} after ${drainMs} ms; checking invariants`)

  const checked = await checkInvariants({
    s,
    truth,
    sessions: sessions.map((x) => x.id),
    users,
    hooks,
    hubspot,
    contactOf,
    slaLevelsMs: o.slaLevels,
    toleranceMs: o.toleranceMs,
    queues: [...queues, s.queues.crm],
  })
  const violations = Object.values(checked.invariants).reduce((n, inv) => n + inv.violations, 0)
  // A level that never fired has been seen a few times around a worker kill and a Redis restart; what
  // the service holds for its chat tells a timer never added from one that ran and judged itself stale.
  const slaDiagnostics = await Promise.all(
    (checked.invariants.sla?.examples ?? [])
      .filter((e) => e.includes('never fired'))
      .slice(0, 3)
      .map((e) => diagnoseLevel(e, s, hooks).catch((err: unknown) => ({ example: e, error: String(err) }))),
  )
  const recoveries = watch.recoveryTimes()
  const recoveryMs = recoveries.map((r) => r.recoveryMs).filter((v): v is number => v !== null)
  const usedChats = [...truth.messages.values()].filter((m) => m.length > 0).length
  return {
    ok: violations === 0 && drained,
    violations,
    drained,
    undrained,
    ...(slaDiagnostics.length ? { slaDiagnostics } : {}),
    options: { ...o, slaLevels: o.slaLevels.map((ms) => ms / 1000) },
    load,
    faults: {
      ...faults,
      recoveryAfterKillMs: {
        each: recoveries.map((r) => r.recoveryMs),
        max: recoveryMs.length ? Math.max(...recoveryMs) : null,
        unrecovered: recoveries.filter((r) => r.recoveryMs === null).length,
      },
      windows: truth.faults.length,
      /** What made verdicts inexact: the fault windows by kind, with their total length in seconds. */
      windowsByKind: windowsByKind(truth.faults),
    },
    invariants: checked.invariants,
    sessionCost,
    measured: {
      ...checked.measured,
      ingestLagMs: {
        p50: Math.round(percentile(watch.lagSamples, 50)),
        p99: Math.round(percentile(watch.lagSamples, 99)),
        max: watch.lagSamples.reduce((m, v) => Math.max(m, v), 0),
      },
      drainMs,
      redisBytesPerChat: o.cluster ? null : Math.round((memoryAfterLoad - baseline) / Math.max(1, usedChats)),
      messagesPerChat: Math.round(
        (load.sent.customer + load.sent.answer + load.sent.bot) / Math.max(1, usedChats),
      ),
      redisBytesPerChatByKind: o.cluster
        ? null
        : itemise(
            baselineByKind,
            afterLoadByKind,
            memoryAfterLoad - baseline,
            usedChats,
            baselineOverhead,
            afterLoadOverhead,
          ),
      cpuDuringLoad: (cpuFrom && cpuTo && faults.redisRestarts.length === 0
        ? cpuDuringLoad(cpuFrom, cpuTo, load.sent.customer)
        : null) ?? {
        skipped: 'a worker was killed or Redis restarted: their CPU counters do not cover the load',
      },
      redisCost:
        costBefore && costAfter && faults.redisRestarts.length === 0
          ? {
              ...costPerMessage(costBefore, costAfter, load.sent.customer, {
                idle: idleCost(idleFrom!, costBefore, 5000),
                spanMs: costSpanMs,
              }),
              includes: `load and drain, every automation on; plus the harness: one XADD per message into the sim inbound stream and the session watch polls${commandProfile ? '; and the command profile (SLOWLOG of every command while it ran)' : ''}`,
            }
          : {
              skipped: o.cluster
                ? 'cluster: counters are per node'
                : 'Redis restarted: its counters were reset',
            },
      ...(commandProfile ? { commandProfile } : {}),
      hubspotCalls: hubspot.stats(),
    },
    workerExits: pool.exited.filter((e) => e.code !== null && e.code !== 0),
  }
}

function rulesYaml(
  sessions: Array<{ id: string; defaultOwner: string | null }>,
  users: Array<{ id: string; supervises: string[]; takesNewClients: boolean }>,
  levelsMs: number[],
  hookUrl: string,
): string {
  const lines = [
    'version: 1',
    'orgs:',
    '  - id: soak',
    '    hubspot: { timeZone: UTC }',
    'sessions:',
    ...sessions.map((x) => `  - { id: ${x.id}, org: soak, defaultOwner: ${x.defaultOwner ?? 'null'} }`),
    'users:',
    ...users.map(
      (u, i) =>
        `  - { id: ${u.id}, org: soak, role: ${u.supervises.length ? 'supervisor' : 'agent'}, hubspotOwnerId: "${9001 + i}", takesNewClients: ${u.takesNewClients}${u.supervises.length ? `, supervises: [${u.supervises.join(', ')}]` : ''} }`,
    ),
    'seen:',
    '  defaults:',
    '    policy: auto',
    '    markSeenBeforeReply: true',
    '    delay: { baseMin: 300ms, baseMax: 1500ms, max: 4s, wordsPerMinute: 600, jitter: 0.2 }',
    'reminders:',
    '  defaults: { cancelOn: [inbound], clearFirst: true }',
    'sla:',
    '  policies:',
    '    - id: soak',
    `      firstResponse: ${levelsMs.at(-1)}ms`,
    '      levels:',
    ...levelsMs.flatMap((ms, i) => [
      `        - after: ${ms}ms`,
      '          actions:',
      `            - setState: ${i === levelsMs.length - 1 ? 'breached' : 'warning'}`,
      ...(i === levelsMs.length - 1
        ? ['            - crmTask: { assignTo: owner, subject: "Soak: SLA breached" }']
        : []),
      `            - webhook: { url: "${hookUrl}" }`,
    ]),
    'counters:',
    '  botRepliesCount: false',
    '  crmSync: { debounce: 1s }',
  ]
  return `${lines.join('\n')}\n`
}

/**
 * Bytes by key kind under the soak's prefix (`{sid}:chat:<jid>` -> `{}:chat`, a BullMQ job hash ->
 * `{}-wa:<job or id>`), from MEMORY USAGE. The sim's own streams (WhatsApp's side) are left out.
 */
async function memoryByKind(
  redis: ReturnType<typeof createRedis>,
  prefix: string,
): Promise<Map<string, number>> {
  const totals = new Map<string, number>()
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    const sizes = await Promise.all(keys.map((k) => redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')))
    keys.forEach((key, i) => {
      const parts = key
        .slice(prefix.length + 1)
        .replace(/\{[^}]*\}/, '{}')
        .split(':')
      const kind = `${parts[0]}:${/^(\d+|\d.*@.*|sla-.*|seen-.*|r[0-9a-f]{16}.*)$/.test(parts[1] ?? '') ? '<job or id>' : (parts[1] ?? '')}`
      if (kind.startsWith('{}:sim')) return
      totals.set(kind, (totals.get(kind) ?? 0) + Number(sizes[i] ?? 0))
    })
  } while (cursor !== '0')
  return totals
}

/**
 * What Redis holds outside any key, from `MEMORY STATS`: the keyspace's own tables (a dictionary entry
 * per key, and per key with a TTL), the clients' buffers (one per connection, so per worker and session,
 * not per chat), the AOF buffer and the Lua script cache.
 */
async function memoryOverhead(redis: ReturnType<typeof createRedis>): Promise<Map<string, number>> {
  const flat = (await redis.call('MEMORY', 'STATS')) as unknown[]
  const stats = new Map<string, unknown>()
  for (let i = 0; i < flat.length; i += 2) stats.set(String(flat[i]), flat[i + 1])
  let keyTables = 0
  for (const [name, v] of stats) {
    if (!/^db\.\d+$/.test(name) || !Array.isArray(v)) continue
    for (let i = 0; i < v.length; i += 2) keyTables += Number(v[i + 1] ?? 0)
  }
  const n = (name: string) => Number(stats.get(name) ?? 0)
  return new Map([
    ['(redis: key tables)', keyTables],
    ['(redis: client connections)', n('clients.normal')],
    ['(redis: AOF buffer)', n('aof.buffer')],
    ['(redis: Lua scripts)', n('lua.caches')],
  ])
}

/**
 * Memory per chat that the load added, by key kind, largest first, then what Redis holds outside the
 * keys (see memoryOverhead), and the rest (`(allocator rounding and the rest)`), so the parts add up to
 * `redisBytesPerChat`.
 */
function itemise(
  before: Map<string, number>,
  after: Map<string, number>,
  addedBytes: number,
  chats: number,
  overheadBefore: Map<string, number>,
  overheadAfter: Map<string, number>,
): Record<string, number> {
  const n = Math.max(1, chats)
  const delta = (a: Map<string, number>, b: Map<string, number>) =>
    [...new Set([...a.keys(), ...b.keys()])]
      .map((kind) => [kind, (b.get(kind) ?? 0) - (a.get(kind) ?? 0)] as const)
      .filter(([, bytes]) => bytes !== 0)
  const added = delta(before, after).sort((a, b) => b[1] - a[1])
  const overhead = delta(overheadBefore, overheadAfter)
  const itemised = [...added, ...overhead].reduce((sum, [, bytes]) => sum + bytes, 0)
  return Object.fromEntries([
    ...added.map(([kind, bytes]) => [kind, Math.round(bytes / n)]),
    ...overhead.map(([kind, bytes]) => [kind, Math.round(bytes / n)]),
    ['(allocator rounding and the rest)', Math.round((addedBytes - itemised) / n)],
  ])
}

/** Every queue that still holds work, with a few of its jobs, and the CRM chats still waiting to be written. */
async function leftAfterDrain(
  redis: ReturnType<typeof createRedis>,
  queues: Queue[],
  s: Services,
): Promise<{ queues: Record<string, unknown>; crmDirty: unknown }> {
  const states = ['active', 'wait', 'delayed', 'prioritized'] as const
  const left: Record<string, unknown> = {}
  for (const q of queues) {
    const counts = await q.getJobCounts(...states)
    if (Object.values(counts).every((n) => !n)) continue
    const jobs = await q.getJobs([...states], 0, 4)
    left[q.name] = {
      counts,
      jobs: jobs.map((j) => ({
        id: j.id,
        name: j.name,
        attemptsMade: j.attemptsMade,
        createdAt: new Date(j.timestamp).toISOString(),
        /** The last delay or backoff it was given, ms. */
        delayMs: j.delay,
        processedOn: j.processedOn ? new Date(j.processedOn).toISOString() : null,
        lastError: j.failedReason || null,
        data: j.data,
      })),
    }
  }
  const dirty = s.keys.global('crm:dirty')
  const inflight = s.keys.global('crm:inflight')
  const sample = async (key: string) => {
    const flat = await redis.zrange(key, 0, 4, 'WITHSCORES')
    const out: Array<[member: string, dueAt: string]> = []
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, new Date(Number(flat[i + 1])).toISOString()])
    return out
  }
  return {
    queues: left,
    crmDirty: {
      dirty: await redis.zcard(dirty),
      inflight: await redis.zcard(inflight),
      dirtySample: await sample(dirty),
      inflightSample: await sample(inflight),
    },
  }
}

function windowsByKind(windows: Array<{ from: number; to: number; what: string }>) {
  const out: Record<string, { count: number; seconds: number }> = {}
  for (const w of windows) {
    const k = out[w.what] ?? { count: 0, seconds: 0 }
    out[w.what] = k
    k.count++
    k.seconds = Math.round((k.seconds + (w.to - w.from) / 1000) * 10) / 10
  }
  return out
}

/**
 * For a "never fired" SLA verdict (`sid|jid|since|level: …`): the chat's state, its clock record and
 * fired-levels hash, the breach log's entries and the webhooks received for the chat.
 */
async function diagnoseLevel(example: string, s: Services, hooks: WebhookDelivery[]) {
  const [sid, jid] = example.split('|') as [string, string]
  const org = s.rules.current().sessions.get(sid)?.org ?? ''
  const events = await s.sla.events(org, { sessionId: sid, limit: 10_000 })
  return {
    example,
    chat: await s.inbox.getChat(sid, jid),
    clock: await s.redis.hgetall(s.keys.slaClock(sid, jid)),
    fired: await s.redis.hgetall(s.keys.slaFired(sid, jid)),
    breachLog: events.items.filter((e) => e.chatJid === jid),
    webhooks: hooks.filter((h) => h.event.chatJid === jid && h.event.sessionId === sid).map((h) => h.event),
  }
}

async function clientsAndMemory(redis: ReturnType<typeof createRedis>) {
  const info = `${await redis.info('clients')}\n${await redis.info('memory')}`
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0)
  // The sim's readers stand in for WhatsApp's servers (a Baileys session has a WebSocket instead).
  const list = (await redis.client('LIST')) as string
  return {
    connected: field('connected_clients'),
    blocked: field('blocked_clients'),
    usedMemory: field('used_memory'),
    simReaders: list.split('\n').filter((line) => line.includes(' name=sim-reader:')).length,
  }
}

async function sleepUntil(at: number, stop: () => boolean): Promise<void> {
  while (Date.now() < at && !stop()) await new Promise((r) => setTimeout(r, Math.min(250, at - Date.now())))
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}
