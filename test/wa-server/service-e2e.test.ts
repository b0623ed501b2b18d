// The service end to end on the box: createServices + startWorker with WA_TRANSPORT=baileys, real Redis,
// real BullMQ, and the real Baileys socket of the service's BaileysTransport logged in to the box. What is
// asserted is what the customer's and our phone's WhatsApp show (the box's inspection API) and what the
// inbox API shows.

import { fileURLToPath } from 'node:url'
import { makeWASocket } from '@whiskeysockets/baileys'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { catalog } from '../../jobs/catalog.js'
import { systemClock } from '../../src/clock.js'
import type { InboxEvent } from '../../src/domain/events.js'
import { authKeys, useRedisAuthState } from '../../src/whatsapp/baileys/auth-state.js'
import { startWorker, type Worker } from '../../src/worker/worker.js'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { type Box, startBox } from './box.js'
import { boxSocketConfig, memoryAuth } from './client.js'
import type { Customer } from './people.js'

const RULES = fileURLToPath(new URL('../fixtures/rules.box.yaml', import.meta.url))
const SID = 'box-line'
/** rules.box.yaml: seen delay baseMin 1 s with jitter 0.1, so no receipt is planned before 0.9 s. */
const DELAY_LOWER_BOUND_MS = 900

let f: Awaited<ReturnType<typeof appFixture<typeof systemClock>>>
let box: Box
let worker: Worker
let ourDevice: string

beforeAll(async () => {
  box = await startBox()
  f = await appFixture('box-e2e', { rulesPath: RULES, clock: systemClock, env: { WA_TRANSPORT: 'baileys' } })
  // The session's creds in Redis, linked to the box's phone (box-side registration), as a session paired
  // earlier would have them; `accountSyncCounter` 1: its first history sync is long done.
  const auth = await useRedisAuthState(f.redis, f.services.keys, SID)
  box.phone.link(auth.state.creds)
  auth.state.creds.accountSyncCounter = 1
  await auth.saveCreds()
  ourDevice = auth.state.creds.me!.id
  // The transport's own socket config, pointed at the box (the rest is the service's, unchanged).
  const { waWebSocketUrl, version } = boxSocketConfig(box, memoryAuth().state)
  worker = await startWorker(f.services, {
    timings: { tickMs: 100, leaseMs: 2000, workerTtlMs: 1000 },
    baileys: {
      waVersion: async () => version,
      socketFactory: (config) => makeWASocket({ ...config, waWebSocketUrl }),
    },
  })
  await vi.waitFor(async () => expect((await f.services.statuses.get(SID)).status).toBe('WORKING'), {
    timeout: 15_000,
    interval: 50,
  })
}, 30_000)

afterAll(async () => {
  await worker?.close()
  await f?.cleanup()
  await box?.close()
})

/** Resolves with the first inbox event (after it was applied) that matches. */
function applied<E extends InboxEvent>(match: (e: InboxEvent) => e is E): Promise<E>
function applied(match: (e: InboxEvent) => boolean): Promise<InboxEvent>
function applied(match: (e: InboxEvent) => boolean): Promise<InboxEvent> {
  return new Promise((resolve) => {
    const off = f.services.ingestor.onApplied((e) => {
      if (!match(e)) return
      off()
      resolve(e)
    })
  })
}

/** The customer writes on the box; resolves with the message id and when it was sent, once the inbox has it. */
async function customerWrites(customer: Customer, text: string) {
  const inInbox = applied((e) => e.type === 'message' && 'text' in e && e.text === text)
  const sentAt = Date.now()
  const id = await customer.sendText(text)
  const event = await inInbox
  return { id, sentAt, chatJid: event.type === 'message' ? event.key.remoteJid : '' }
}

/** The read receipts our linked device (not the phone) sent into the customer's chat. */
const ourReads = (customer: Customer) =>
  box.inspect.receiptsTo(customer).filter((r) => r.type === 'read' && r.fromDevice === ourDevice)

/**
 * The phone shares its app-state key (again: the same key) with our device; resolves once the session has
 * saved it (Baileys stores it and emits `creds.update { myAppStateKeyId }`, the service saves creds).
 */
async function appStateKeyShared() {
  const keyId = await box.phone.shareAppStateKey()
  const credsKey = authKeys(f.services.keys, SID).creds
  await vi.waitFor(async () =>
    expect(JSON.parse((await f.redis.get(credsKey)) ?? '{}').myAppStateKeyId).toBe(keyId),
  )
}

async function overviewOf(chatJid: string) {
  const res = await f.app.inject({
    method: 'GET',
    url: `/v1/sessions/${SID}/chats/overview?limit=100`,
    headers: bearer(KEYS.acmeAdmin),
  })
  expect(res.statusCode).toBe(200)
  return (res.json() as { items: Array<Record<string, unknown>> }).items.find((c) => c.jid === chatJid)
}

describe('the service on the box (real Baileys, Redis, BullMQ)', () => {
  it('auto seen policy: three customer messages get one read receipt, blue ticks after a human delay; the inbox counts them unanswered', async () => {
    const anna = box.customers.add('4917611110001', 'Anna')
    const first = await customerWrites(anna, 'Hallo')
    const second = await customerWrites(anna, 'ist meine Bestellung unterwegs?')
    const third = await customerWrites(anna, 'Nummer 4711')
    const ids = [first.id, second.id, third.id]

    const ticks = await box.records.waitFor(
      () => box.inspect.blueTicks(anna).size >= 3 && box.inspect.blueTicks(anna),
    )
    expect([...ticks.keys()].sort()).toEqual([...ids].sort())
    const receipts = ourReads(anna)
    expect(receipts).toHaveLength(1)
    expect(receipts[0]!.at - first.sentAt).toBeGreaterThanOrEqual(DELAY_LOWER_BOUND_MS)

    expect(box.inspect.chat(anna).unreadCount).toBe(0)
    await vi.waitFor(async () =>
      expect(await overviewOf(first.chatJid)).toMatchObject({ unreadCount: 0, unanswered: 3 }),
    )
  })

  it('a read on the phone before the receipt is due cancels it: our device never reads those messages, the chat shows read', async () => {
    const bea = box.customers.add('4917611110002', 'Bea')
    const a = await customerWrites(bea, 'Hi')
    const b = await customerWrites(bea, 'Rückruf?')
    const chat = a.chatJid
    const gen = Number(await f.redis.hget(f.services.keys.seenMeta(SID, chat), 'gen'))
    const jobId = catalog.seenReceipt.jobId({ chatJid: chat, gen })
    const queue = f.services.sessionQueues.get(SID)
    expect(await queue.getJobState(jobId)).toBe('delayed')
    const cancelledDue = (await f.services.receipts.dueAt(SID, chat))!

    // The agent opens the chat on our phone before the human delay has passed.
    const readApplied = applied((e) => e.type === 'chat.read' && e.chatJid === chat)
    box.phone.readChat(bea, [a.id, b.id])
    await readApplied
    expect(Date.now()).toBeLessThan(cancelledDue)
    // The batch's job is gone (removed, not run), nothing waits to be read.
    expect(await queue.getJobState(jobId)).toBe('unknown')
    expect(await f.services.receipts.pending(SID, chat)).toEqual([])
    expect(await overviewOf(chat)).toMatchObject({ unreadCount: 0, unanswered: 2 })
    expect(box.inspect.chat(bea).unreadCount).toBe(0)

    // Bea writes again, long enough (reading time) that its receipt comes after the cancelled due time:
    // the one read receipt our device sends in this chat carries only the new message.
    const c = await customerWrites(
      bea,
      'Ich habe noch eine Frage zu der Rechnung vom letzten Monat, da steht ein Betrag, den ich nicht verstehe, bitte melden',
    )
    const [receipt] = await box.records.waitFor(() => ourReads(bea).length > 0 && ourReads(bea))
    expect(receipt!.ids).toEqual([c.id])
    expect(receipt!.at).toBeGreaterThan(cancelledDue)
    expect(ourReads(bea)).toHaveLength(1)
  })

  it("the phone shares its app-state key; POST …/unread puts the unread dot on the chat in the phone's app state, a snooze archives it until due", async () => {
    await appStateKeyShared()
    const carl = box.customers.add('4917611110003', 'Carl')
    const { chatJid } = await customerWrites(carl, 'Bitte um Rückruf morgen')
    const unread = await f.app.inject({
      method: 'POST',
      url: `/v1/sessions/${SID}/chats/${encodeURIComponent(chatJid)}/unread`,
      headers: bearer(KEYS.acmeAdmin),
      payload: {},
    })
    expect(unread.statusCode, unread.body).toBe(200)
    expect(unread.json()).toMatchObject({ jid: chatJid, markedUnread: true })
    expect(await box.inspect.appStateOf(carl)).toMatchObject({ markedRead: false })

    const dora = box.customers.add('4917611110004', 'Dora')
    const d = await customerWrites(dora, 'Melde mich nächste Woche')
    const snooze = await f.app.inject({
      method: 'POST',
      url: `/v1/sessions/${SID}/chats/${encodeURIComponent(d.chatJid)}/unread`,
      headers: bearer(KEYS.acmeAdmin),
      payload: { in: '3s', snooze: true },
    })
    expect(snooze.statusCode, snooze.body).toBe(202)
    await vi.waitFor(async () => expect(await box.inspect.appStateOf(dora)).toMatchObject({ archived: true }))
    await vi.waitFor(
      async () => expect(await box.inspect.appStateOf(dora)).toEqual({ archived: false, markedRead: false }),
      { timeout: 8000, interval: 100 },
    )
    expect(await overviewOf(d.chatJid)).toMatchObject({ archived: false, markedUnread: true })
  })

  it("SLA level 1 (5 s unanswered) puts the unread dot on the chat in the phone's app state", async () => {
    await appStateKeyShared()
    const emil = box.customers.add('4917611110005', 'Emil')
    const { chatJid, sentAt } = await customerWrites(emil, 'Hallo, ist jemand da?')
    expect(await box.inspect.appStateOf(emil)).toEqual({})
    await vi.waitFor(
      async () => expect(await box.inspect.appStateOf(emil)).toMatchObject({ markedRead: false }),
      {
        timeout: 10_000,
        interval: 100,
      },
    )
    // Timed from the message's WhatsApp timestamp, which has second resolution (`t`).
    expect(Date.now() - Math.floor(sentAt / 1000) * 1000).toBeGreaterThanOrEqual(5_000)
    await vi.waitFor(async () =>
      expect(await overviewOf(chatJid)).toMatchObject({ markedUnread: true, unanswered: 1 }),
    )
  })
})
