import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { catalog } from '../../jobs/catalog.js'
import { systemClock } from '../../src/clock.js'
import type { RecordedSimAction } from '../../src/whatsapp/sim/network.js'
import { startWorker, type Worker } from '../../src/worker/worker.js'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { group, pn } from '../helpers/events.js'

const RULES = fileURLToPath(new URL('../fixtures/rules.reminders.yaml', import.meta.url))
let f: Awaited<ReturnType<typeof appFixture<typeof systemClock>>>
let worker: Worker
beforeAll(async () => {
  f = await appFixture('reminders-e2e', { rulesPath: RULES, clock: systemClock })
  worker = await startWorker(f.services, { timings: { tickMs: 100, leaseMs: 1000, workerTtlMs: 500 } })
  await vi.waitFor(async () => expect((await f.services.statuses.get('desk')).status).toBe('WORKING'))
})
afterAll(async () => {
  await worker.close()
  await f.cleanup()
})

const auth = bearer(KEYS.acmeAdmin)
const unread = (jid: string, body: object = {}) =>
  f.app.inject({ method: 'POST', url: `/v1/sessions/desk/chats/${jid}/unread`, headers: auth, payload: body })
type Modify = Extract<RecordedSimAction, { kind: 'chatModify' }>
const modifications = async (jid: string) =>
  (await f.services.sim!.actions('desk')).filter((a): a is Modify => a.kind === 'chatModify' && a.jid === jid)

/** A customer message, applied to the inbox (as WhatsApp would deliver it). */
async function customerWrites(chatId: string, text = 'Hello?', extra: Record<string, unknown> = {}) {
  const r = await f.services.ingestor.ingest({
    type: 'message',
    sessionId: 'desk',
    key: {
      remoteJid: chatId,
      fromMe: false,
      id: `M${Math.random().toString(16).slice(2, 14).toUpperCase()}`,
      ...extra,
    },
    timestamp: Date.now(),
    text,
    origin: 'customer',
  })
  if (!r.ok) throw new Error(r.problems.join('; '))
  return r
}

const reminderOf = async (jid: string, rid: string) =>
  (await f.app.inject({ url: `/v1/sessions/desk/chats/${jid}/reminders`, headers: auth }))
    .json()
    .items.find((r: { reminderId: string }) => r.reminderId === rid)

describe('mark unread now', () => {
  it('clears the real unread count first, then marks unread, with the last message; 200 with the chat', async () => {
    const chat = pn(8001)
    await customerWrites(chat, 'first')
    const last = await customerWrites(chat, 'second')
    const res = await unread(chat)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ jid: chat, markedUnread: true, unreadCount: 0 })
    const mods = await modifications(chat)
    expect(mods.map((m) => m.modification)).toEqual(['markRead', 'markUnread'])
    expect(mods[1]!.lastMessage.key).toEqual({
      remoteJid: chat,
      fromMe: false,
      id: last.ok ? (last.event as { key: { id: string } }).key.id : '',
    })
  })

  it('each change reaches our inbox once, before the reminder is done: a caller then never finds the dot gone', async () => {
    // The API answers with the chat as soon as it sees the reminder done. Anything of ours that
    // reaches the inbox after that moment (a second "read") takes the dot off under the caller's eyes.
    const chat = pn(8002)
    await customerWrites(chat, 'where is my order?')
    const seen: string[] = []
    const ingestor = f.services.ingestor
    const ingest = ingestor.ingest.bind(ingestor)
    const store = f.services.reminderStore
    const transition = store.transition.bind(store)
    vi.spyOn(ingestor, 'ingest').mockImplementation(async (event) => {
      const e = event as { type?: string; chatJid?: string }
      if (e.chatJid === chat) seen.push(e.type!)
      return ingest(event)
    })
    vi.spyOn(store, 'transition').mockImplementation(async (...args) => {
      if (args[1] === chat && args[3] === 'done') seen.push('(reminder done)')
      return transition(...args)
    })
    try {
      expect((await unread(chat)).statusCode).toBe(200)
      // The job may still run after the API answered: wait until it has finished.
      const [{ reminderId }] = (
        await f.app.inject({ url: `/v1/sessions/desk/chats/${chat}/reminders`, headers: auth })
      ).json().items
      const queue = f.services.jobs.queueOf(catalog.unreadReminder, 'desk')
      const id = f.services.jobs.jobId(catalog.unreadReminder, { reminderId })
      await vi.waitFor(async () => {
        const job = await queue.getJob(id)
        expect(job === undefined || (await job.isCompleted())).toBe(true)
      })
    } finally {
      vi.restoreAllMocks()
    }
    expect(seen).toEqual(['chat.read', 'chat.markedUnread', '(reminder done)'])
    const after = await f.app.inject({ url: `/v1/sessions/desk/chats/${chat}`, headers: auth })
    expect(after.json()).toMatchObject({ markedUnread: true, unreadCount: 0 })
  })

  it('without clearFirst only marks unread; a group chat uses its last key with participant', async () => {
    const g = group(801)
    await customerWrites(g, 'hi all', { participant: pn(8101) })
    expect((await unread(g, { clearFirst: false })).statusCode).toBe(200)
    const mods = await modifications(g)
    expect(mods.map((m) => m.modification)).toEqual(['markUnread'])
    expect(mods[0]!.lastMessage.key.participant).toBe(pn(8101))
  })

  it('answers 409 when the chat has no stored last message, 404 when unknown', async () => {
    await f.services.ingestor.ingest({
      type: 'chat.meta',
      sessionId: 'desk',
      chatJid: group(802),
      name: 'New group',
    })
    const res = await unread(group(802))
    expect(res.statusCode).toBe(409)
    expect(res.json().error).toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('no stored last message'),
    })
    expect((await unread(pn(8999))).statusCode).toBe(404)
  })
})

describe('reminders later', () => {
  it('fires at the due time: 202 with the reminder, then read-then-unread, and our state follows', async () => {
    const chat = pn(8201)
    await customerWrites(chat)
    const res = await unread(chat, { in: '700ms', note: 'follow up' })
    expect(res.statusCode).toBe(202)
    const r = res.json()
    expect(r).toMatchObject({
      status: 'scheduled',
      note: 'follow up',
      cancelOn: ['inbound'],
      clearFirst: true,
    })
    // The overview shows it pending.
    const overview = await f.app.inject({ url: '/v1/sessions/desk/chats/overview', headers: auth })
    expect(overview.json().items.find((c: { jid: string }) => c.jid === chat).reminder).toEqual({
      id: r.reminderId,
      dueAt: r.dueAt,
      status: 'scheduled',
    })
    await vi.waitFor(async () => expect((await reminderOf(chat, r.reminderId)).status).toBe('done'), {
      timeout: 5000,
    })
    expect((await modifications(chat)).map((m) => m.modification)).toEqual(['markRead', 'markUnread'])
    const after = (await f.app.inject({ url: `/v1/sessions/desk/chats/${chat}`, headers: auth })).json()
    expect(after).toMatchObject({ markedUnread: true, unreadCount: 0, reminder: null })
  })

  it('snooze archives now, then unarchives and marks unread at the due time', async () => {
    const chat = pn(8301)
    await customerWrites(chat)
    const r = (await unread(chat, { in: '800ms', snooze: true })).json()
    await vi.waitFor(async () =>
      expect((await modifications(chat)).map((m) => m.modification)).toEqual(['archive']),
    )
    await vi.waitFor(async () => expect((await reminderOf(chat, r.reminderId)).status).toBe('done'), {
      timeout: 5000,
    })
    expect((await modifications(chat)).map((m) => m.modification)).toEqual([
      'archive',
      'unarchive',
      'markRead',
      'markUnread',
    ])
  })

  it.each([
    [
      'inbound',
      async (chat: string) => customerWrites(chat, 'actually, one more thing'),
      'the customer wrote again',
    ],
    [
      'outbound',
      async (chat: string) =>
        f.services.ingestor.ingest({
          type: 'message',
          sessionId: 'desk',
          key: { remoteJid: chat, fromMe: true, id: `O${Date.now()}` },
          timestamp: Date.now(),
          text: 'Done!',
          origin: 'phone',
        }),
      'someone replied',
    ],
  ] as const)('is cancelled when the conversation moves on (%s)', async (trigger, moveOn, why) => {
    const chat = pn(trigger === 'inbound' ? 8401 : 8402)
    await customerWrites(chat)
    const r = (await unread(chat, { in: '1h', cancelOn: [trigger] })).json()
    const queue = f.services.sessionQueues.get('desk')
    expect(await queue.getJobState(catalog.unreadReminder.jobId({ reminderId: r.reminderId }))).toBe(
      'delayed',
    )
    await moveOn(chat)
    expect(await reminderOf(chat, r.reminderId)).toMatchObject({ status: 'cancelled', detail: why })
    expect(await queue.getJobState(catalog.unreadReminder.jobId({ reminderId: r.reminderId }))).toBe(
      'unknown',
    )
  })

  it('a new reminder replaces the pending one; DELETE cancels; unknown ids are 404', async () => {
    const chat = pn(8501)
    await customerWrites(chat)
    const first = (await unread(chat, { in: '2h' })).json()
    const second = (await unread(chat, { at: new Date(Date.now() + 3 * 3600_000).toISOString() })).json()
    expect(await reminderOf(chat, first.reminderId)).toMatchObject({ status: 'replaced' })
    const url = `/v1/sessions/desk/chats/${chat}/reminders`
    expect(
      (await f.app.inject({ method: 'DELETE', url: `${url}/${second.reminderId}`, headers: auth }))
        .statusCode,
    ).toBe(204)
    expect(await reminderOf(chat, second.reminderId)).toMatchObject({ status: 'cancelled' })
    const again = await f.app.inject({ method: 'DELETE', url: `${url}/${second.reminderId}`, headers: auth })
    expect(again.statusCode).toBe(409)
    const unknown = await f.app.inject({ method: 'DELETE', url: `${url}/r0123456789abcdef`, headers: auth })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().error.code).toBe('not_found')
  })

  it('retries while WhatsApp lacks the app-state key, showing it, then succeeds', async () => {
    const chat = pn(8601)
    await customerWrites(chat)
    await f.services.sim!.injectFault('desk', 'app_state_missing', 1)
    const res = await unread(chat, { in: '300ms', clearFirst: false })
    const rid = res.json().reminderId
    await vi.waitFor(
      async () =>
        expect(await reminderOf(chat, rid)).toMatchObject({ status: 'waiting_for_app_state', attempts: 1 }),
      {
        timeout: 3000,
      },
    )
    await vi.waitFor(async () => expect((await reminderOf(chat, rid)).status).toBe('done'), { timeout: 8000 })
    expect((await modifications(chat)).map((m) => m.modification)).toEqual(['markUnread'])
    expect(
      await f.services.metrics.registry.getSingleMetricAsString('tickbridge_reminder_app_state_waits_total'),
    ).toMatch(/tickbridge_reminder_app_state_waits_total [1-9]/)
  })

  it('rejects bad times with the field named', async () => {
    const chat = pn(8701)
    await customerWrites(chat)
    const cases: Array<[object, string, string]> = [
      [{ at: new Date(Date.now() - 60_000).toISOString() }, 'body.at', 'must be in the future'],
      [{ at: 'next tuesday' }, 'body.at', 'expected a valid datetime'],
      [{ in: 'soon' }, 'body.in', 'expected a duration like 2h'],
      [{ in: '400d' }, 'body.in', 'must be at most a year ahead'],
      [
        { at: new Date(Date.now() + 400 * 86_400_000).toISOString() },
        'body.at',
        'must be at most a year ahead',
      ],
      [
        { at: new Date(Date.now() + 60_000).toISOString(), in: '1h' },
        'body.in',
        'give either at or in, not both',
      ],
      [{ snooze: true }, 'body.snooze', 'a snooze needs a due time (at or in)'],
    ]
    for (const [body, field, message] of cases) {
      const res = await unread(chat, body)
      expect(res.statusCode, JSON.stringify(body)).toBe(400)
      expect(res.json().error.details.fields).toEqual([{ field, message }])
    }
  })
})
