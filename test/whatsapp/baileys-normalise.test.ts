import { type BaileysEventMap, type Contact, proto, WAMessageStubType } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import { inboxEventSchema } from '../../src/domain/events.js'
import {
  fromChatsUpdate,
  fromContacts,
  fromHistorySet,
  fromLidMapping,
  fromMessagesUpdate,
  fromMessagesUpsert,
  type NormaliseContext,
  normaliseBatch,
  normaliseMessage,
  timestampMs,
} from '../../src/whatsapp/baileys/normalise.js'
import { T0 } from '../helpers/events.js'
import { waMessage } from '../helpers/fake-wa-socket.js'

const SID = 'sales-de'
const NOW = T0 + 60_000
const ctx: NormaliseContext = {
  sessionId: SID,
  now: NOW,
  self: ['4915100000001:7@s.whatsapp.net', '99900000000001@lid'],
}
const TS = String(T0 / 1000)

const CUSTOMER_PN = '4915112345678@s.whatsapp.net'
const CUSTOMER_LID = '123456789012345@lid'
const GROUP = '120363000000000042@g.us'

function upsert(
  messages: BaileysEventMap['messages.upsert']['messages'],
  type: 'notify' | 'append' = 'notify',
): BaileysEventMap['messages.upsert'] {
  return { messages, type }
}

/** Every event must be one the ingestor accepts. */
function expectValid(events: unknown[]): void {
  for (const e of events) {
    const parsed = inboxEventSchema.safeParse(e)
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true)
  }
}

describe('messages.upsert', () => {
  it('turns a live LID chat message into a message event with its phone-number alt and a ms timestamp', () => {
    const msg = waMessage({
      key: {
        remoteJid: CUSTOMER_LID,
        remoteJidAlt: CUSTOMER_PN,
        fromMe: false,
        id: '3EB0A1',
        addressingMode: 'lid',
      },
      messageTimestamp: TS,
      pushName: 'Jana',
      message: { conversation: 'Hallo, ist meine Bestellung unterwegs?' },
    })
    // Baileys' decoded messages carry the timestamp as a protobuf Long.
    expect(typeof msg.messageTimestamp).toBe('object')
    const events = fromMessagesUpsert(ctx, upsert([msg]))
    expect(events).toEqual([
      {
        type: 'message',
        sessionId: SID,
        key: { remoteJid: CUSTOMER_LID, fromMe: false, id: '3EB0A1' },
        chatJidAlt: CUSTOMER_PN,
        timestamp: T0,
        text: 'Hallo, ist meine Bestellung unterwegs?',
        pushName: 'Jana',
        origin: 'customer',
        delivery: 'live',
      },
    ])
    expectValid(events)
  })

  it('marks append (offline backlog) as backlog and reads a plain-number timestamp', () => {
    const msg = waMessage({
      key: { remoteJid: CUSTOMER_PN, fromMe: false, id: 'ABC' },
      message: { extendedTextMessage: { text: 'see https://example.com' } },
    })
    msg.messageTimestamp = T0 / 1000
    const [e] = fromMessagesUpsert(ctx, upsert([msg], 'append'))
    expect(e).toMatchObject({ delivery: 'backlog', timestamp: T0, text: 'see https://example.com' })
  })

  it('keeps a group key with its participant and participantAlt as received', () => {
    const msg = waMessage({
      key: {
        remoteJid: GROUP,
        fromMe: false,
        id: '3A5F00C0FFEE',
        participant: '777777777777777@lid',
        participantAlt: '4917611112222@s.whatsapp.net',
      },
      messageTimestamp: TS,
      message: { imageMessage: { caption: 'the broken part', mimetype: 'image/jpeg' } },
    })
    const events = fromMessagesUpsert(ctx, upsert([msg]))
    expect(events).toEqual([
      expect.objectContaining({
        key: { remoteJid: GROUP, fromMe: false, id: '3A5F00C0FFEE', participant: '777777777777777@lid' },
        participantAlt: '4917611112222@s.whatsapp.net',
        text: 'the broken part',
        media: 'image',
      }),
    ])
    expect(events[0]).not.toHaveProperty('chatJidAlt')
    expectValid(events)
  })

  it('treats fromMe as an answer from the phone and never takes our own number for the chat alt', () => {
    const own = waMessage({
      key: {
        remoteJid: CUSTOMER_PN,
        // Baileys fills remoteJidAlt from the stanza's sender: for our own message, that is us.
        remoteJidAlt: '99900000000001@lid',
        fromMe: true,
        id: '3EB0REPLY',
      },
      messageTimestamp: TS,
      message: { conversation: 'Ja, heute!' },
    })
    const [e] = fromMessagesUpsert(ctx, upsert([own], 'append'))
    expect(e).toMatchObject({ key: { fromMe: true }, origin: 'phone', delivery: 'backlog' })
    expect(e).not.toHaveProperty('chatJidAlt')
    expectValid([e])

    // Without knowing our own jids, a fromMe alt cannot be trusted at all.
    const [blind] = fromMessagesUpsert({ sessionId: SID, now: NOW }, upsert([own]))
    expect(blind).not.toHaveProperty('chatJidAlt')
    // An injected origin classifier wins over the default.
    const [bot] = fromMessagesUpsert({ ...ctx, fromMeOrigin: () => 'bot' }, upsert([own]))
    expect(bot).toMatchObject({ origin: 'bot' })
  })

  it('unwraps ephemeral and view-once content and names media kinds', () => {
    const cases: Array<[proto.IMessage, object]> = [
      [{ ephemeralMessage: { message: { conversation: 'disappearing' } } }, { text: 'disappearing' }],
      [
        { viewOnceMessageV2: { message: { videoMessage: { caption: 'once' } } } },
        { text: 'once', media: 'video' },
      ],
      [{ audioMessage: { ptt: true, seconds: 3 } }, { media: 'audio' }],
      [
        { documentWithCaptionMessage: { message: { documentMessage: { caption: 'invoice' } } } },
        { media: 'document', text: 'invoice' },
      ],
      [{ stickerMessage: {} }, { media: 'sticker' }],
      [{ locationMessage: { degreesLatitude: 52.5, degreesLongitude: 13.4 } }, { media: 'other' }],
    ]
    for (const [message, expected] of cases) {
      const [e] = fromMessagesUpsert(
        ctx,
        upsert([
          waMessage({
            key: { remoteJid: CUSTOMER_PN, fromMe: false, id: 'M1' },
            messageTimestamp: TS,
            message,
          }),
        ]),
      )
      expect(e, JSON.stringify(message)).toMatchObject(expected)
    }
  })

  it('skips what is not a conversation message, saying why', () => {
    const base = { fromMe: false, id: 'X1' }
    const cases: Array<[ReturnType<typeof waMessage>, string]> = [
      [
        waMessage({
          key: { ...base, remoteJid: 'status@broadcast', participant: CUSTOMER_PN },
          message: { conversation: 's' },
        }),
        'status',
      ],
      [
        waMessage({
          key: { ...base, remoteJid: '120363111111111111@newsletter' },
          message: { conversation: 'n' },
        }),
        'newsletter',
      ],
      [
        waMessage({ key: { ...base, remoteJid: '1234567890@broadcast' }, message: { conversation: 'b' } }),
        'broadcast',
      ],
      [
        waMessage({
          key: { ...base, remoteJid: CUSTOMER_PN },
          message: {
            protocolMessage: { type: proto.Message.ProtocolMessage.Type.REVOKE, key: { id: 'OLD' } },
          },
        }),
        'protocol',
      ],
      [
        waMessage({
          key: { ...base, remoteJid: CUSTOMER_PN },
          message: {
            reactionMessage: { key: { remoteJid: CUSTOMER_PN, id: 'OLD', fromMe: true }, text: '👍' },
          },
        }),
        'reaction',
      ],
      [
        waMessage({
          key: { ...base, remoteJid: GROUP, participant: CUSTOMER_PN },
          messageStubType: WAMessageStubType.GROUP_PARTICIPANT_ADD,
          messageStubParameters: [CUSTOMER_PN],
        }),
        'stub',
      ],
      [
        // Our own undecryptable message (a customer's counts: test/whatsapp/baileys-ciphertext.test.ts).
        waMessage({
          key: { ...base, remoteJid: CUSTOMER_PN, fromMe: true },
          messageStubType: WAMessageStubType.CIPHERTEXT,
        }),
        'stub',
      ],
      [
        waMessage({
          key: { ...base, remoteJid: CUSTOMER_PN },
          message: { senderKeyDistributionMessage: {} },
        }),
        'no-content',
      ],
      [
        waMessage({ key: { remoteJid: CUSTOMER_PN, fromMe: false }, message: { conversation: 'no id' } }),
        'no-id',
      ],
    ]
    for (const [msg, reason] of cases) {
      expect(normaliseMessage(ctx, msg, 'notify'), reason).toEqual({ ok: false, reason })
    }
    const { events, skipped } = normaliseBatch(ctx, { 'messages.upsert': upsert(cases.map(([m]) => m)) })
    expect(events).toEqual([])
    expect(skipped.map((s) => s.reason)).toEqual(cases.map(([, r]) => r))
  })

  it('falls back to now for a missing timestamp and drops alts that are not jids', () => {
    const msg = waMessage({
      key: { remoteJid: CUSTOMER_LID, remoteJidAlt: 'garbage', fromMe: false, id: 'T1' },
      message: { conversation: 'hi' },
    })
    const [e] = fromMessagesUpsert(ctx, upsert([msg]))
    expect(e).toMatchObject({ timestamp: NOW })
    expect(e).not.toHaveProperty('chatJidAlt')
  })
})

describe('chats.update', () => {
  it('0 = read, -1 = marked unread, positive deltas ignored, archive and name = meta', () => {
    const updates: BaileysEventMap['chats.update'] = [
      { id: CUSTOMER_LID, unreadCount: 0 },
      { id: CUSTOMER_PN, unreadCount: -1 },
      { id: GROUP, unreadCount: 1, conversationTimestamp: T0 / 1000 },
      { id: '4915199999999@s.whatsapp.net', unreadCount: null },
      { id: CUSTOMER_PN, archived: true },
      { id: GROUP, name: 'Lieferanten' },
    ]
    const events = fromChatsUpdate(ctx, updates)
    expect(events).toEqual([
      { type: 'chat.read', sessionId: SID, chatJid: CUSTOMER_LID, at: NOW },
      { type: 'chat.markedUnread', sessionId: SID, chatJid: CUSTOMER_PN, at: NOW },
      { type: 'chat.meta', sessionId: SID, chatJid: CUSTOMER_PN, archived: true },
      { type: 'chat.meta', sessionId: SID, chatJid: GROUP, name: 'Lieferanten' },
    ])
    expectValid(events)
  })
})

describe('lid-mapping.update and contacts', () => {
  it('maps Baileys LIDMapping {lid, pn} (device parts stripped, swapped forms fixed)', () => {
    const payload: BaileysEventMap['lid-mapping.update'] = {
      lid: CUSTOMER_LID,
      pn: '4915112345678:3@s.whatsapp.net',
    }
    expect(fromLidMapping(ctx, payload)).toEqual([
      { type: 'lid.mapping', sessionId: SID, lid: CUSTOMER_LID, pn: CUSTOMER_PN },
    ])
    expect(fromLidMapping(ctx, { lid: CUSTOMER_PN, pn: CUSTOMER_LID })).toEqual([
      { type: 'lid.mapping', sessionId: SID, lid: CUSTOMER_LID, pn: CUSTOMER_PN },
    ])
    expect(fromLidMapping(ctx, { lid: CUSTOMER_LID })).toEqual([])
  })

  it('maps contacts by id with the other form, the saved name and the push name apart', () => {
    const contacts: Contact[] = [
      { id: CUSTOMER_LID, phoneNumber: CUSTOMER_PN, name: 'Jana Becker', notify: 'Jana' },
      { id: '4917611112222@s.whatsapp.net', lid: '777777777777777@lid', notify: 'Tom' },
      { id: '4917633334444@s.whatsapp.net', verifiedName: 'Muster GmbH' },
      { id: GROUP, name: 'a group is no contact' },
    ]
    const events = fromContacts(ctx, contacts)
    expect(events).toEqual([
      {
        type: 'contact',
        sessionId: SID,
        jid: CUSTOMER_LID,
        jidAlt: CUSTOMER_PN,
        name: 'Jana Becker',
        pushName: 'Jana',
      },
      {
        type: 'contact',
        sessionId: SID,
        jid: '4917611112222@s.whatsapp.net',
        jidAlt: '777777777777777@lid',
        pushName: 'Tom',
      },
      // A verified business name is not a saved name (issue 24, fault 5).
      {
        type: 'contact',
        sessionId: SID,
        jid: '4917633334444@s.whatsapp.net',
        verifiedName: 'Muster GmbH',
      },
    ])
    expectValid(events)
    // contacts.update carries partial contacts (Baileys emits { id, notify } for every pushName it sees).
    expect(fromContacts(ctx, [{ id: CUSTOMER_PN, notify: 'Jana' }])).toEqual([
      { type: 'contact', sessionId: SID, jid: CUSTOMER_PN, pushName: 'Jana' },
    ])
  })

  it('takes LID mappings and contacts, not messages, from a history sync', () => {
    const history: BaileysEventMap['messaging-history.set'] = {
      chats: [{ id: CUSTOMER_LID, unreadCount: 4 }],
      contacts: [{ id: CUSTOMER_LID, phoneNumber: CUSTOMER_PN, name: 'Jana Becker' }],
      messages: [
        waMessage({
          key: { remoteJid: CUSTOMER_LID, fromMe: false, id: 'OLD1' },
          message: { conversation: 'old' },
        }),
      ],
      lidPnMappings: [{ lid: CUSTOMER_LID, pn: CUSTOMER_PN }],
      isLatest: true,
    }
    expect(fromHistorySet(ctx, history).map((e) => e.type)).toEqual(['lid.mapping', 'contact'])
  })

  it('messages.update yields nothing (edits, revokes, statuses)', () => {
    expect(
      fromMessagesUpdate(ctx, [
        { key: { remoteJid: CUSTOMER_PN, id: 'A', fromMe: true }, update: { status: 4 } },
      ]),
    ).toEqual([])
  })
})

describe('batches and malformed input', () => {
  it('orders a batch: mappings and contacts, then messages, then chat state', () => {
    const { events } = normaliseBatch(ctx, {
      'chats.update': [{ id: CUSTOMER_LID, unreadCount: 0 }],
      'messages.upsert': upsert([
        waMessage({
          key: { remoteJid: CUSTOMER_LID, fromMe: false, id: 'B1' },
          messageTimestamp: TS,
          message: { conversation: 'x' },
        }),
      ]),
      'contacts.update': [{ id: CUSTOMER_LID, notify: 'Jana' }],
      'creds.update': {},
      'presence.update': { id: CUSTOMER_LID, presences: {} },
    } satisfies Partial<BaileysEventMap>)
    expect(events.map((e) => e.type)).toEqual(['contact', 'message', 'chat.read'])
  })

  it('never throws: malformed input gives no events and is reported as skipped', () => {
    const junk: unknown[] = [
      null,
      undefined,
      42,
      'x',
      [],
      {},
      { messages: 'no' },
      { messages: [null, 7, {}], type: 'notify' },
    ]
    for (const j of junk) {
      expect(() => fromMessagesUpsert(ctx, j)).not.toThrow()
      expect(fromMessagesUpsert(ctx, j)).toEqual([])
      expect(fromChatsUpdate(ctx, j)).toEqual([])
      expect(fromLidMapping(ctx, j)).toEqual([])
      expect(fromContacts(ctx, j)).toEqual([])
      expect(fromHistorySet(ctx, j)).toEqual([])
      expect(normaliseBatch(ctx, j).events).toEqual([])
    }
    expect(normaliseMessage(ctx, waMessage({ key: { remoteJid: CUSTOMER_PN, id: 'Q' } }), 'bogus')).toEqual({
      ok: false,
      reason: 'malformed',
    })
    const { skipped } = normaliseBatch(ctx, {
      'messages.upsert': { messages: 'no', type: 'notify' },
      'lid-mapping.update': { lid: 1 },
      'brand-new.event': {},
    })
    expect(skipped).toEqual([
      { event: 'lid-mapping.update', reason: 'malformed' },
      { event: 'messages.upsert', reason: 'malformed' },
      { event: 'brand-new.event', reason: 'unknown-type' },
    ])
  })

  it('reads protobuf timestamps in every form Baileys hands out', () => {
    const long = proto.WebMessageInfo.fromObject({ messageTimestamp: TS }).messageTimestamp
    expect(timestampMs(long)).toBe(T0)
    expect(timestampMs(T0 / 1000)).toBe(T0)
    expect(timestampMs(TS)).toBe(T0)
    expect(timestampMs(BigInt(T0 / 1000))).toBe(T0)
    expect(timestampMs({ low: T0 / 1000, high: 0, unsigned: true })).toBe(T0)
    expect(timestampMs(0)).toBeUndefined()
    expect(timestampMs(null)).toBeUndefined()
    expect(timestampMs(-5)).toBeUndefined()
  })
})
