import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { catalog } from '../../jobs/catalog.js'
import { systemClock } from '../../src/clock.js'
import { messageEventSchema } from '../../src/domain/events.js'
import type { RecordedSimAction } from '../../src/whatsapp/sim/network.js'
import { startWorker, type Worker } from '../../src/worker/worker.js'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { group, lid, pn } from '../helpers/events.js'

const RULES = fileURLToPath(new URL('../fixtures/rules.receipts.yaml', import.meta.url))
let f: Awaited<ReturnType<typeof appFixture<typeof systemClock>>>
let worker: Worker
beforeAll(async () => {
  f = await appFixture('receipts-e2e', { rulesPath: RULES, clock: systemClock })
  worker = await startWorker(f.services, { timings: { tickMs: 100, leaseMs: 1000, workerTtlMs: 500 } })
  await vi.waitFor(() => expect(worker.ownership.sessionIds()).toHaveLength(3))
})
afterAll(async () => {
  await worker.close()
  await f.cleanup()
})

type Read = Extract<RecordedSimAction, { kind: 'read' }>
const reads = async (sid: string, chat: string): Promise<Read[]> =>
  (await f.services.sim!.actions(sid)).filter(
    (a): a is Read => a.kind === 'read' && a.keys.some((k) => k.remoteJid === chat),
  )

/** Injects as WhatsApp would and resolves once the inbox has applied the message. */
async function customerWrites(
  sid: string,
  chatId: string,
  text: string,
  extra: Record<string, unknown> = {},
) {
  const applied = new Promise<void>((resolve) => {
    const off = f.services.ingestor.onApplied((e) => {
      if (e.type === 'message' && e.key.remoteJid === chatId && 'text' in e && e.text === text) {
        off()
        resolve()
      }
    })
  })
  const event = (await f.services.sim!.injectMessage(sid, { chatId, text, ...extra })) as {
    key: { id: string }
  }
  await applied
  return event.key.id
}

describe('human-like seen receipts (auto policy)', () => {
  it('2.3 POST /sim/.../messages then the automatic receipt: the overview shows unreadCount 0', async () => {
    const chat = pn(5099)
    const posted = await f.app.inject({
      method: 'POST',
      url: '/v1/sim/sessions/bot-line/messages',
      headers: bearer(KEYS.acmeAdmin),
      payload: { chatId: chat, text: 'is my order on its way?' },
    })
    expect(posted.statusCode).toBe(202)
    const overview = async () => {
      const res = await f.app.inject({
        method: 'GET',
        url: '/v1/sessions/bot-line/chats/overview?limit=100',
        headers: bearer(KEYS.acmeAdmin),
      })
      return (res.json() as { items: Array<{ jid: string; unreadCount: number }> }).items.find(
        (c) => c.jid === chat,
      )
    }
    await expect.poll(overview, { timeout: 5000 }).toMatchObject({ unreadCount: 1 })
    await expect.poll(() => reads('bot-line', chat), { timeout: 5000 }).toHaveLength(1)
    await expect.poll(overview, { timeout: 5000 }).toMatchObject({ unreadCount: 0 })
  })

  it('5 messages within the window produce exactly one receipt carrying all 5 keys', async () => {
    const chat = pn(5001)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await customerWrites('bot-line', chat, `question ${i}`))
    await expect.poll(() => reads('bot-line', chat), { timeout: 5000 }).toHaveLength(1)
    const [receipt] = await reads('bot-line', chat)
    expect(receipt!.keys.map((k) => k.id).sort()).toEqual([...ids].sort())
    expect(receipt!.keys.every((k) => k.remoteJid === chat && !k.fromMe)).toBe(true)
    // Nothing left to send once the job has recorded the receipt (just after WhatsApp took it).
    await expect.poll(() => f.services.receipts.pending('bot-line', chat), { timeout: 5000 }).toEqual([])
    expect(await reads('bot-line', chat)).toHaveLength(1)
  })

  it('a worker killed between the batch and its job: the redelivered message still gets its receipt', async () => {
    const chat = pn(5002)
    const now = Date.now()
    const event = messageEventSchema.parse({
      type: 'message',
      sessionId: 'bot-line',
      key: { remoteJid: chat, fromMe: false, id: 'CRASHED1' },
      timestamp: now,
      text: 'hello?',
      origin: 'customer',
    })
    // What the dead worker got done: the chat state and the receipt batch, but not the batch's job.
    await f.services.inbox.applyMessage(event, { countsAsAnswer: false, defaultOwner: null, now })
    const r = await f.services.receipts.enqueue(
      'bot-line',
      chat,
      { key: event.key, timestamp: now, arrivedAt: now },
      {
        now,
        firstDelayMs: 300,
        extendMs: 0,
        maxMs: 1500,
        schedule: true,
      },
    )
    expect(r.kind).toBe('new')
    // The transport delivers it again (its offset never moved past it): a duplicate for the inbox.
    await f.services.sim!.injectMessage('bot-line', {
      chatId: chat,
      text: 'hello?',
      id: 'CRASHED1',
      timestamp: now,
    })
    await expect.poll(() => reads('bot-line', chat), { timeout: 5000 }).toHaveLength(1)
    expect((await reads('bot-line', chat))[0]!.keys.map((k) => k.id)).toEqual(['CRASHED1'])
    expect((await f.services.inbox.getChat('bot-line', chat))?.unanswered).toBe(1)
  })

  it('a group receipt carries each sender as participant; our own messages never appear', async () => {
    const g = group(77)
    const a = await customerWrites('bot-line', g, 'hi from Ana', { participant: pn(6001) })
    await f.services.sim!.injectMessage('bot-line', {
      chatId: g,
      text: 'our reply',
      fromMe: true,
      origin: 'phone',
    })
    const b = await customerWrites('bot-line', g, 'hi from Ben', { participant: lid(6002) })
    await expect.poll(() => reads('bot-line', g), { timeout: 5000 }).toHaveLength(1)
    const [receipt] = await reads('bot-line', g)
    expect(receipt!.keys).toHaveLength(2)
    expect(receipt!.keys).toEqual(
      expect.arrayContaining([
        { remoteJid: g, fromMe: false, id: a, participant: pn(6001) },
        { remoteJid: g, fromMe: false, id: b, participant: lid(6002) },
      ]),
    )
  })

  it('plans a human delay for live messages and only the catch-up spread for a backlog', async () => {
    const live = pn(5101)
    const before = Date.now()
    await customerWrites('bot-line', live, 'Hello')
    const dueLive = await f.services.receipts.dueAt('bot-line', live)
    expect(dueLive! - before).toBeGreaterThanOrEqual(300 * 0.9)
    expect(dueLive! - Date.now()).toBeLessThanOrEqual(1500)

    const old = pn(5102)
    const t = Date.now()
    await customerWrites('bot-line', old, 'sent while we were offline', {
      timestamp: t - 5 * 60_000,
    })
    const dueOld = await f.services.receipts.dueAt('bot-line', old)
    // No reading time when catching up, only the catch-up spread (clamped to this session's max 1.5 s).
    if (dueOld !== null) expect(dueOld).toBeLessThanOrEqual(Date.now() + 1_500)
    await expect.poll(() => reads('bot-line', old), { timeout: 5000 }).toHaveLength(1)
  })

  it('a chat read on the phone first cancels the pending receipt', async () => {
    const chat = pn(5201)
    await customerWrites('bot-line', chat, 'Are you there?')
    const gen = Number(await f.redis.hget(f.services.keys.seenMeta('bot-line', chat), 'gen'))
    const queue = f.services.sessionQueues.get('bot-line')
    expect(await queue.getJobState(catalog.seenReceipt.jobId({ chatJid: chat, gen }))).toBe('delayed')
    // The agent opens the chat on the phone before the human delay has passed.
    const applied = new Promise<void>((resolve) => {
      const off = f.services.ingestor.onApplied((e) => {
        if (e.type === 'chat.read' && e.chatJid === chat) {
          off()
          resolve()
        }
      })
    })
    await f.services.sim!.injectEvent('bot-line', {
      type: 'chat.read',
      sessionId: 'bot-line',
      chatJid: chat,
      at: Date.now(),
    })
    await applied
    expect(await queue.getJobState(catalog.seenReceipt.jobId({ chatJid: chat, gen }))).toBe('unknown')
    expect(await f.services.receipts.pending('bot-line', chat)).toEqual([])
    expect(await reads('bot-line', chat)).toEqual([])
  })

  it('a reply from our side (bot/CRM) reads the chat first', async () => {
    const chat = pn(5301)
    const id = await customerWrites('bot-line', chat, 'Need help with my order number 4711 please')
    await f.services.sim!.injectMessage('bot-line', {
      chatId: chat,
      text: 'On it!',
      fromMe: true,
      origin: 'bot',
    })
    await expect.poll(() => reads('bot-line', chat), { timeout: 3000 }).toHaveLength(1)
    expect((await reads('bot-line', chat))[0]!.keys.map((k) => k.id)).toEqual([id])
  })
})

describe('POST /v1/sessions/:sid/seen', () => {
  const post = (sid: string, body: unknown) =>
    f.app.inject({
      method: 'POST',
      url: `/v1/sessions/${sid}/seen`,
      headers: bearer(KEYS.acmeAdmin),
      payload: body as object,
    })

  it('under the manual policy, receipts only what is asked, in one receipt', async () => {
    const chat = pn(5401)
    const a = await customerWrites('manual-line', chat, 'one')
    const b = await customerWrites('manual-line', chat, 'two')
    const c = await customerWrites('manual-line', chat, 'three')
    expect(await reads('manual-line', chat)).toEqual([])
    const res = await post('manual-line', { chatId: chat, messageIds: [a, b], delay: 'none' })
    expect(res.statusCode).toBe(202)
    expect(res.json()).toMatchObject({ chatId: chat, messageIds: [a, b] })
    await expect.poll(() => reads('manual-line', chat), { timeout: 3000 }).toHaveLength(1)
    expect((await reads('manual-line', chat))[0]!.keys.map((k) => k.id).sort()).toEqual([a, b].sort())
    // The job records each receipt just after WhatsApp took it: wait for that before asking again.
    const waiting = async () => (await f.services.receipts.pending('manual-line', chat)).map((e) => e.key.id)
    await expect.poll(waiting, { timeout: 3000 }).toEqual([c])
    // Without ids: everything still waiting (only c), and a repeat finds nothing left to do.
    expect((await post('manual-line', { chatId: chat, delay: 'none' })).json().messageIds).toEqual([c])
    await expect.poll(() => reads('manual-line', chat), { timeout: 3000 }).toHaveLength(2)
    await expect.poll(waiting, { timeout: 3000 }).toEqual([])
    const again = await post('manual-line', { chatId: chat, delay: 'none' })
    expect(again.json()).toEqual({ chatId: chat, messageIds: [], plannedAt: null })
  })

  it('answers the errors a bot can act on', async () => {
    await customerWrites('quiet-line', pn(5501), 'hello')
    const off = await post('quiet-line', { chatId: pn(5501) })
    expect(off.statusCode).toBe(409)
    expect(off.json().error.code).toBe('conflict')
    expect((await post('manual-line', { chatId: pn(5999) })).statusCode).toBe(404)
    const bad = await post('manual-line', { chatId: group(1), messageIds: ['X1'] })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.details.fields).toEqual([
      { field: 'body.participant', message: 'required with messageIds in a group chat' },
    ])
    const badDelay = await post('manual-line', { chatId: pn(5501), delay: 'slow' })
    expect(badDelay.json().error.details.fields).toEqual([
      { field: 'body.delay', message: 'expected one of human, none' },
    ])
  })
})
