import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../src/clock.js'
import type { InboxEventInput } from '../../src/domain/events.js'
import { dryRun } from '../../src/dryrun/dry-run.js'
import { parseScenarioText, type ScenarioEvent } from '../../src/dryrun/scenario.js'
import { userCounters } from '../../src/inbox/counters.js'
import { loadRulesFile } from '../../src/rules/load.js'
import { startWorker, type Worker } from '../../src/worker/worker.js'
import { appFixture } from '../helpers/app.js'

// The dry-run and the live service share the decision code; only the clock and the scheduler differ.
// This runs one scenario both ways (live: real Redis, sim transport, an in-process worker, real time
// with millisecond thresholds) and compares what each did, in order: receipts and SLA levels.

const RULES = `version: 1
orgs: [{ id: o }]
sessions:
  - id: live
    org: o
    defaultOwner: agent-a
    seen:
      policy: auto
      # deterministic: no jitter, one base delay, reading time next to nothing
      delay: { baseMin: 400ms, baseMax: 400ms, jitter: 0, wordsPerMinute: 60000, max: 3s }
users:
  - { id: agent-a, org: o, role: agent }
  - { id: sup-s, org: o, role: supervisor, supervises: [agent-a] }
sla:
  policies:
    - id: fast
      match: { sessions: [live] }
      firstResponse: 2400ms
      levels:
        - after: 1200ms
          actions: [{ markUnread: true }, { setState: warning }]
        - after: 2400ms
          actions: [{ setState: breached }, { reassign: { to: supervisor } }]
        - after: 3600ms
          actions: [{ crmTask: { assignTo: owner, subject: "Reply to {{contact}}" } }]
`

// A: three levels fire (the second reassigns), a later message gets its own receipt, a bot answers.
// B: level 1 fires, the phone's reply cuts levels 2 and 3. C: the CRM's reply reads the chat first.
// Distinct actions are at least 200 ms apart, so live timing noise cannot reorder them.
const SCENARIO = `start: 2026-01-05T09:00:00Z
session: live
events:
  - { at: +0ms, type: customer, chat: "4915100000001", text: hi }
  - { at: +200ms, type: customer, chat: "4915100000002", text: hello }
  - { at: +1800ms, type: reply, from: phone, chat: "4915100000002", text: sorry }
  - { at: +2900ms, type: customer, chat: "4915100000001", text: still there? }
  - { at: +4000ms, type: reply, from: bot, chat: "4915100000001", text: on it }
  - { at: +4200ms, type: customer, chat: "4915100000003", text: ping }
  - { at: +4400ms, type: reply, from: crm, chat: "4915100000003", text: pong }
`

type Action =
  | { kind: 'receipt'; chat: string; messages: number }
  | { kind: 'sla-level'; chat: string; level: number }

let dir: string
let f: Awaited<ReturnType<typeof appFixture<typeof systemClock>>>
let worker: Worker

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-live-dry-'))
  await writeFile(join(dir, 'rules.yaml'), RULES)
  f = await appFixture('live-vs-dry', { rulesPath: join(dir, 'rules.yaml'), clock: systemClock })
  worker = await startWorker(f.services, { timings: { tickMs: 100, leaseMs: 1000, workerTtlMs: 500 } })
  await vi.waitFor(async () => expect((await f.services.statuses.get('live')).status).toBe('WORKING'), {
    timeout: 10_000,
  })
})
afterAll(async () => {
  await worker?.close()
  await f?.cleanup()
  await rm(dir, { recursive: true, force: true })
})

/** The scenario event as a transport would deliver it, at the real instant `now`. */
function toInboxEvent(sid: string, e: ScenarioEvent, now: number): InboxEventInput {
  switch (e.type) {
    case 'customer':
      return {
        type: 'message',
        sessionId: sid,
        key: {
          remoteJid: e.chat,
          fromMe: false,
          id: e.id,
          ...(e.participant ? { participant: e.participant } : {}),
        },
        timestamp: now + (e.sentAt - e.at),
        ...(e.text ? { text: e.text } : {}),
        ...(e.name ? { pushName: e.name } : {}),
        origin: 'customer',
      }
    case 'reply':
      return {
        type: 'message',
        sessionId: sid,
        key: { remoteJid: e.chat, fromMe: true, id: e.id },
        timestamp: now,
        ...(e.text ? { text: e.text } : {}),
        origin: e.from,
      }
    case 'no-reply-needed':
      return { type: 'chat.noReplyNeeded', sessionId: sid, chatJid: e.chat, at: now }
    case 'owner':
      return { type: 'chat.owner', sessionId: sid, chatJid: e.chat, owner: e.owner }
    case 'reset':
      return {
        type: 'counters.reset',
        sessionId: sid,
        at: now,
        ...(e.chat ? { chatJid: e.chat } : {}),
        ...(e.owner ? { owner: e.owner } : {}),
      }
    case 'read':
      return { type: 'chat.read', sessionId: sid, chatJid: e.chat, at: now, source: 'whatsapp' }
    case 'remind':
      throw new Error('reminders are not part of this comparison')
  }
}

async function liveActions(sid: string, org: string): Promise<Array<Action & { at: number }>> {
  const reads = (await f.services.sim!.actions(sid)).flatMap((a) =>
    a.kind === 'read'
      ? [{ kind: 'receipt' as const, chat: a.keys[0]!.remoteJid, messages: a.keys.length, at: a.at }]
      : [],
  )
  const levels = (await f.services.sla.events(org, { sessionId: sid, limit: 100 })).items.map((e) => ({
    kind: 'sla-level' as const,
    chat: e.chatJid,
    level: e.level,
    at: e.firedAt,
  }))
  return [...reads, ...levels].sort((a, b) => a.at - b.at)
}

describe('live vs dry-run', () => {
  it('one scenario, both ways: the same actions in the same order', async () => {
    const parsed = parseScenarioText(SCENARIO)
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
    const scenario = parsed.scenario
    const loaded = await loadRulesFile(join(dir, 'rules.yaml'))
    if (!loaded.ok) throw new Error(loaded.problems.join('\n'))
    const rules = loaded.rules

    // Dry-run: virtual time, instant.
    const result = dryRun(rules, scenario)
    const expected: Action[] = result.timeline.flatMap((e): Action[] =>
      e.kind === 'receipt'
        ? [{ kind: 'receipt', chat: e.chat, messages: e.messageIds.length }]
        : e.kind === 'sla-level'
          ? [{ kind: 'sla-level', chat: e.chat, level: e.level }]
          : [],
    )
    expect(expected.map((a) => `${a.kind} ${a.chat.slice(11, 13)} ${'level' in a ? a.level : ''}`)).toEqual([
      'receipt 01 ',
      'receipt 02 ',
      'sla-level 01 0',
      'sla-level 02 0',
      'sla-level 01 1',
      'receipt 01 ',
      'sla-level 01 2',
      'receipt 03 ',
    ])

    // Live: the same events through the Ingestor at the same offsets, in real time.
    const t0 = Date.now()
    for (const e of scenario.events) {
      const wait = t0 + (e.at - scenario.start) - Date.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const out = await f.services.ingestor.ingest(toInboxEvent('live', e, Date.now()))
      if (!out.ok) throw new Error(out.problems.join('; '))
    }
    await vi.waitFor(async () => expect((await liveActions('live', 'o')).length).toBe(expected.length), {
      timeout: 5000,
      interval: 100,
    })
    // Nothing more is coming (a level that should have been cut would fire by now).
    await new Promise((r) => setTimeout(r, 400))
    const live = await liveActions('live', 'o')
    expect(live.map(({ at: _at, ...a }) => a)).toEqual(expected)

    // Timing agrees too, within scheduling noise: each action at its offset from the start.
    const dryTimes = result.timeline
      .filter((e) => e.kind === 'receipt' || e.kind === 'sla-level')
      .map((e) => e.at - scenario.start)
    live.forEach((a, i) => {
      expect(a.at - t0).toBeGreaterThanOrEqual(dryTimes[i]! - 50)
      expect(a.at - t0).toBeLessThanOrEqual(dryTimes[i]! + 400)
    })

    // And the end state: the chat moved to the supervisor, every counter back to zero.
    const last = result.timeline.filter((e) => e.kind === 'event').at(-1)!
    if (last.kind !== 'event') throw new Error('unreachable')
    for (const c of last.counters.chats) {
      const chat = await f.services.inbox.getChat('live', c.chat)
      expect({ owner: chat?.owner, unanswered: chat?.unanswered }).toEqual({
        owner: c.owner,
        unanswered: c.unanswered,
      })
    }
    expect(last.counters.chats.find((c) => c.chat.startsWith('4915100000001'))?.owner).toBe('sup-s')
    for (const u of last.counters.users) {
      expect(await userCounters(f.services.inbox, f.services.rules.current(), u.userId)).toEqual(u)
    }
  })
})
