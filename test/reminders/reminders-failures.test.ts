import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { createServices, type Services } from '../../src/services.js'
import { startWorker } from '../../src/worker/worker.js'
import { pn } from '../helpers/events.js'
import { type Spawned, spawnWorker } from '../helpers/process.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'

const r = testRedis('reminders-failures')
const procs: Spawned[] = []
const opened: Services[] = []
afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL')
  for (const s of opened) await s.close()
  await r.cleanup()
})

async function rulesFile(extra: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tb-reminders-'))
  const file = join(dir, 'rules.yaml')
  await writeFile(file, `version: 1\norgs: [{ id: o }]\nsessions: [{ id: desk, org: o }]\n${extra}`)
  return file
}

async function services(rulesPath: string): Promise<Services> {
  const env = parseEnv({ REDIS_URL, TICKBRIDGE_PREFIX: r.prefix, WA_TRANSPORT: 'sim', LOG_LEVEL: 'silent' })
  const s = await createServices({
    env,
    log: createLogger({ level: 'silent' }),
    clock: systemClock,
    rulesPath,
    watchRules: false,
  })
  opened.push(s)
  return s
}

async function chatWithMessage(s: Services, chat: string): Promise<void> {
  const res = await s.ingestor.ingest({
    type: 'message',
    sessionId: 'desk',
    key: { remoteJid: chat, fromMe: false, id: `M${chat.slice(0, 8)}` },
    timestamp: Date.now(),
    text: 'Can you call me back?',
    origin: 'customer',
  })
  expect(res.ok).toBe(true)
}

describe('reminders when things go wrong', () => {
  it('fails visibly (status, metric, log) when the app-state key never arrives within the horizon', async () => {
    const s = await services(await rulesFile('reminders: { defaults: { appStateRetryHorizon: 1s } }\n'))
    const worker = await startWorker(s, { timings: { tickMs: 100, leaseMs: 1000, workerTtlMs: 500 } })
    try {
      const chat = pn(9301)
      await chatWithMessage(s, chat)
      await vi.waitFor(async () => expect((await s.statuses.get('desk')).status).toBe('WORKING'))
      await s.sim!.injectFault('desk', 'app_state_missing', 50)
      const reminder = await s.reminders.create('desk', chat, { dueAt: Date.now() })
      await vi.waitFor(
        async () => expect((await s.reminderStore.get('desk', reminder.id))?.status).toBe('failed'),
        { timeout: 10_000, interval: 100 },
      )
      const failed = await s.reminderStore.get('desk', reminder.id)
      expect(failed?.detail).toMatch(/phone never shared its app-state key/)
      expect(await s.metrics.registry.getSingleMetricAsString('tickbridge_reminders_total')).toMatch(
        /tickbridge_reminders_total\{outcome="failed"\} 1/,
      )
      expect(await s.reminderStore.pendingOf('desk', chat)).toBeNull()
    } finally {
      await worker.close()
      await r.redis.del(`${r.keys.simActions('desk')}:faults`)
    }
  })

  it('a worker killed before the due time: the reminder still fires exactly once after restart', async () => {
    const rules = await rulesFile('')
    const s = await services(rules)
    const first = spawnWorker(rules, r.prefix)
    procs.push(first)
    await first.waitFor(/"msg":"session taken"/, 20_000)
    const chat = pn(9401)
    await chatWithMessage(s, chat)
    const reminder = await s.reminders.create('desk', chat, { dueAt: Date.now() + 3000 })
    first.child.kill('SIGKILL')
    await first.exited
    const second = spawnWorker(rules, r.prefix)
    procs.push(second)
    await vi.waitFor(
      async () => expect((await s.reminderStore.get('desk', reminder.id))?.status).toBe('done'),
      {
        timeout: 30_000,
        interval: 200,
      },
    )
    const mods = (await s.sim!.actions('desk')).filter((a) => a.kind === 'chatModify' && a.jid === chat)
    expect(mods.map((m) => (m.kind === 'chatModify' ? m.modification : ''))).toEqual([
      'markRead',
      'markUnread',
    ])
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 60_000)
})
