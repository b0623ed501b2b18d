import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { BaileysTransport } from '../../src/whatsapp/baileys/transport.js'
import type { EventSink } from '../../src/whatsapp/port.js'
import { baileysDeps } from '../../src/worker/worker.js'
import { appFixture } from '../helpers/app.js'
import { pn, T0 } from '../helpers/events.js'
import { FAKE_ME, fakeSocketFactory, memoryAuth, waMessage } from '../helpers/fake-wa-socket.js'

/**
 * Issue 24, faults 10 and 12 on the Baileys transport as the worker wires it (`baileysDeps`: the rules'
 * `counters.*` read at each message): our own messages reach a linked device as `fromMe` upserts
 * (Socket/messages-recv `handleMessage`), and WhatsApp says neither which of our devices sent one nor
 * whether the WhatsApp Business app sent it automatically.
 */
const RULES = fileURLToPath(new URL('../fixtures/rules.origin.yaml', import.meta.url))
const SID = 'origin-line'
const GREETING = 'Thanks for writing to Velo Store! We answer within one business day.'
let f: Awaited<ReturnType<typeof appFixture>>
beforeAll(async () => {
  f = await appFixture('wa-origin', { rulesPath: RULES })
})
afterAll(async () => {
  await f.cleanup()
})

async function working() {
  const sink: EventSink = async (raw) => {
    const out = await f.services.ingestor.ingest(raw)
    if (!out.ok) throw new Error(`ingest refused ${JSON.stringify(raw)}: ${out.problems.join('; ')}`)
  }
  const sockets = fakeSocketFactory()
  const auth = memoryAuth()
  auth.state.creds.me = { ...FAKE_ME }
  const transport = new BaileysTransport({
    ...baileysDeps(f.services, async () => {}),
    // Only the socket, its auth and the log are the test's; the rest is the worker's wiring.
    socketFactory: sockets.factory,
    authState: async () => auth,
    log: pino({ level: 'silent' }),
    waVersion: async () => undefined,
  })
  const session = await transport.open(SID, sink)
  const sock = sockets.last()
  sock.open()
  await vi.waitFor(() => expect(session.status()).toBe('WORKING'))
  return { session, sock }
}

const msg = (chat: string, id: string, fromMe: boolean, ms: number, text: string) =>
  waMessage({
    key: { remoteJid: chat, fromMe, id },
    messageTimestamp: ms / 1000,
    message: { conversation: text },
  })

const chat = (jid: string) => f.services.inbox.getChat(SID, jid)

describe('our own messages on a linked device (issue 24, faults 10 and 12)', () => {
  it('fault 10: with botRepliesCount false, a bot reply (its id prefix) leaves the chat waiting; a person’s reply answers it', async () => {
    const { session, sock } = await working()
    const jid = pn(9501)
    await sock.receive([msg(jid, 'C1', false, T0, 'Do you ship to Austria?')])
    await vi.waitFor(async () => expect(await chat(jid)).toMatchObject({ unanswered: 1 }))
    // The bot, on another linked device, answers with its own id prefix.
    await sock.receive([msg(jid, 'BOT7F3A21', true, T0 + 5_000, 'Bot: yes, within 3 days.')], 'append')
    await vi.waitFor(async () => expect(await chat(jid)).toMatchObject({ lastOutboundAt: T0 + 5_000 }))
    expect(await chat(jid)).toMatchObject({ unanswered: 1 })
    await sock.receive([msg(jid, '3A4F0C2B9D', true, T0 + 60_000, 'Hi, Jens here: yes, we do!')], 'append')
    await vi.waitFor(async () => expect(await chat(jid)).toMatchObject({ unanswered: 0 }))
    await session.close()
  })

  it('fault 12: a WhatsApp Business greeting/away message does not answer the customer', async () => {
    const { session, sock } = await working()
    const jid = pn(9502)
    await sock.receive([msg(jid, 'C2', false, T0, 'Hello?')])
    await vi.waitFor(async () => expect(await chat(jid)).toMatchObject({ unanswered: 1 }))
    // Sent by the Business app itself, as the account (whitespace may differ from the rules' text).
    await sock.receive(
      [msg(jid, '3A99AAA001', true, T0 + 1_000, ` ${GREETING.replace('! ', '!\n')} `)],
      'append',
    )
    await vi.waitFor(async () => expect(await chat(jid)).toMatchObject({ lastOutboundAt: T0 + 1_000 }))
    expect(await chat(jid)).toMatchObject({ unanswered: 1 })
    await session.close()
  })
})
