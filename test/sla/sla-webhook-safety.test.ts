import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ConnectionOptions, type Job, QueueEvents, Worker } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalog, globalRunner, JobProducer, task, taskList } from '../../jobs/catalog.js'
import { slaWebhookProcessor } from '../../jobs/sla-webhook.js'
import { systemClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { createGlobalQueues, GLOBAL_QUEUES } from '../../src/queues.js'
import { RulesError } from '../../src/rules/store.js'
import { createServices, type Services } from '../../src/services.js'
import { SessionQueues } from '../../src/worker/session-queues.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'

const r = testRedis('sla-webhook-safety')
const opened: Services[] = []
afterAll(async () => {
  for (const s of opened) await s.close()
  await r.cleanup()
})

const SECRET_PATH = 'sla.policies[0].levels[0].actions[1].webhook.secretEnv'

const rulesText = (secretEnv: string) => `version: 1
orgs: [{ id: o }]
sessions: [{ id: desk, org: o }]
sla:
  policies:
    - id: p
      firstResponse: 10m
      levels:
        - after: 10m
          actions: [{ setState: breached }, { webhook: { url: "https://hooks.example.com/sla", secretEnv: ${secretEnv} } }]
`

async function rulesFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'tb-hook-rules-')), 'rules.yaml')
  await writeFile(file, text)
  return file
}

async function open(rulesPath: string, secretEnv: Record<string, string | undefined>): Promise<Services> {
  const env = parseEnv({ REDIS_URL, TICKBRIDGE_PREFIX: r.prefix, WA_TRANSPORT: 'sim', LOG_LEVEL: 'silent' })
  const s = await createServices({
    env,
    log: createLogger({ level: 'silent' }),
    clock: systemClock,
    rulesPath,
    watchRules: false,
    redis: r.redis.duplicate(),
    secretEnv,
  })
  opened.push(s)
  return s
}

describe('a webhook secretEnv naming an unset variable', () => {
  it('refuses the rules at start, naming the field and why', async () => {
    const path = await rulesFile(rulesText('HOOK_SECRET'))
    const refused = await open(path, { OTHER: 'x' }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(RulesError)
    expect((refused as RulesError).problems).toEqual([
      `${SECRET_PATH}: the environment variable HOOK_SECRET is not set, so this webhook would go out unsigned (set it, or remove secretEnv to send unsigned)`,
    ])
    const empty = await open(path, { HOOK_SECRET: '' }).catch((e: unknown) => e)
    expect((empty as RulesError).problems).toEqual([
      `${SECRET_PATH}: the environment variable HOOK_SECRET is empty; an empty HMAC secret signs nothing`,
    ])
  })

  it('refuses a reload that introduces one; the previous rules stay in force', async () => {
    const path = await rulesFile(rulesText('HOOK_SECRET'))
    const s = await open(path, { HOOK_SECRET: 'whsec_1' })
    const before = s.rules.current()
    await writeFile(path, rulesText('NEW_HOOK_SECRET'))
    const reload = await s.rules.reload()
    expect(reload.applied).toBe(false)
    expect(reload.problems).toEqual([
      `${SECRET_PATH}: the environment variable NEW_HOOK_SECRET is not set, so this webhook would go out unsigned (set it, or remove secretEnv to send unsigned)`,
    ])
    expect(s.rules.current()).toBe(before)
  })
})

describe('the webhook sender and redirects', () => {
  type Seen = { method: string | undefined; url: string | undefined; headers: IncomingMessage['headers'] }
  const servers: Server[] = []
  const listen = async (handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) => {
    const server = createServer(handler)
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`
  }
  /** Where the redirect points: an "internal" service that must never get the worker's POST. */
  const internal: Seen[] = []
  let internalUrl = ''
  let redirectingUrl = ''
  const receiver: Seen[] = []
  let receiverUrl = ''

  const sessionQueues = new SessionQueues(r.redis, r.prefix)
  const globalQueues = createGlobalQueues(r.redis, r.prefix)
  const jobs = JobProducer.over(sessionQueues, globalQueues)
  const connection = () => r.redis.duplicate({ maxRetriesPerRequest: null }) as unknown as ConnectionOptions
  let worker: Worker
  let events: QueueEvents

  beforeAll(async () => {
    internalUrl = await listen((req, res) => {
      internal.push({ method: req.method, url: req.url, headers: req.headers })
      req.resume()
      res.writeHead(200).end('thanks')
    })
    redirectingUrl = await listen((req, res) => {
      req.resume()
      res.writeHead(302, { location: `${internalUrl}/admin/delete-everything` }).end()
    })
    receiverUrl = await listen((req, res) => {
      receiver.push({ method: req.method, url: req.url, headers: req.headers })
      req.resume()
      res.writeHead(204).end()
    })
    const processor = slaWebhookProcessor({ env: { HOOK_SECRET: 'whsec_test' }, timeoutMs: 5000 })
    worker = new Worker(GLOBAL_QUEUES.webhooks, globalRunner(taskList(task(catalog.slaWebhook, processor))), {
      connection: connection(),
      prefix: r.prefix,
    })
    events = new QueueEvents(GLOBAL_QUEUES.webhooks, { connection: connection(), prefix: r.prefix })
    await Promise.all([worker.waitUntilReady(), events.waitUntilReady()])
  })
  afterAll(async () => {
    await worker.close()
    await events.close()
    await sessionQueues.close()
    await globalQueues.close()
    for (const s of servers) s.close()
  })

  const send = (url: string, n: number, secretEnv = 'HOOK_SECRET'): Promise<Job> =>
    jobs.add(
      catalog.slaWebhook,
      { url, secretEnv, event: { id: `ev-${n}`, type: 'sla.level' } },
      {
        key: { sessionId: 'desk', chatJid: '4915112345678@s.whatsapp.net', waitSeq: n, level: 1, action: 0 },
      },
    )

  it('does not follow a 302: the job fails at once, naming the redirect; the target gets nothing', async () => {
    const job = await send(`${redirectingUrl}/hook`, 1)
    const reason = await job.waitUntilFinished(events).then(
      () => 'completed',
      (e: Error) => e.message,
    )
    const host = new URL(internalUrl).host
    expect(reason).toBe(
      `webhook ${new URL(redirectingUrl).host} answered 302 redirecting to ${host}; redirects are not followed (put the final address in the rules)`,
    )
    const failed = await globalQueues.webhooks.getJob(job.id!)
    expect(failed?.attemptsMade).toBe(1) // not retried 10 times: retrying cannot fix an address
    expect(internal).toEqual([])
  })

  it('still delivers, signed, to a receiver that answers 2xx', async () => {
    const job = await send(`${receiverUrl}/hook`, 2)
    expect(await job.waitUntilFinished(events)).toEqual({ status: 204 })
    expect(receiver).toHaveLength(1)
    expect(receiver[0]?.headers['x-tickbridge-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/)
    expect(internal).toEqual([])
  })

  it('never sends unsigned when the secret is missing in the sending process', async () => {
    const job = await send(`${receiverUrl}/hook`, 3, 'GONE_SECRET')
    const reason = await job.waitUntilFinished(events).then(
      () => 'completed',
      (e: Error) => e.message,
    )
    expect(reason).toBe('webhook not sent: the environment variable GONE_SECRET is not set')
    expect(receiver).toHaveLength(1)
  })
})
