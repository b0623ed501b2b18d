import { afterAll, describe, expect, it } from 'vitest'
import type { InboxEventInput } from '../../src/domain/events.js'
import { chatTypeOf } from '../../src/domain/jid.js'
import { ChatModel } from '../../src/dryrun/chat-model.js'
import type { ChatTransition } from '../../src/inbox/chat.js'
import { countsAsAnswer } from '../../src/inbox/ingest.js'
import { mulberry32 } from '../../src/receipts/delay-model.js'
import { group, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

// The dry-run's chat model must agree with the Lua transitions: random sequences (out-of-order
// timestamps, duplicates, bot replies, owner changes, resets) go through both, and every transition
// and the final state must be identical.

const defaultOwners = new Map<string, string | null>()
let botRepliesCount = true
const f = inboxFixture('chat-model', {
  defaultOwnerOf: (sid) => defaultOwners.get(sid) ?? null,
  botRepliesCount: () => botRepliesCount,
})
afterAll(() => f.cleanup())

const CHATS = [pn(71), pn(72), group(73)]
const OWNERS = ['anna', 'ben', 'carla', null] as const

type Step =
  | { kind: 'in' | 'out'; event: InboxEventInput & { type: 'message' } }
  | { kind: 'noReply'; chat: string; at: number }
  | { kind: 'owner'; chat: string; owner: string | null }
  | { kind: 'resetChat'; chat: string; at: number; owner?: string }
  | { kind: 'resetSession'; at: number; owner?: string }
  | { kind: 'read'; chat: string; at: number }
  | { kind: 'markUnread'; chat: string; at: number }

function randomSequence(seed: number, sid: string): Step[] {
  const rand = mulberry32(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!
  const steps: Step[] = []
  const inIds: string[] = []
  const outIds: string[] = []
  let clock = T0
  const length = 5 + Math.floor(rand() * 40)
  for (let i = 0; i < length; i++) {
    // Whole seconds, so equal timestamps (a reply in the same second as a message) happen often.
    clock += Math.floor(rand() * 6) * 1000
    // Out of order: up to 20 s in the past, as a late delivery or a backlog would be.
    const ts = clock - (rand() < 0.3 ? Math.floor(rand() * 20) * 1000 : 0)
    const chat = pick(CHATS)
    const r = rand()
    if (r < 0.4) {
      const dup = inIds.length > 0 && rand() < 0.15
      const id = dup ? pick(inIds) : `I${seed}x${i}`
      if (!dup) inIds.push(id)
      const event = {
        type: 'message' as const,
        sessionId: sid,
        key: {
          remoteJid: chat,
          fromMe: false,
          id,
          ...(chatTypeOf(chat) === 'group' ? { participant: pick([pn(81), pn(82)]) } : {}),
        },
        timestamp: ts,
        text: 'hello',
        origin: 'customer' as const,
        ...(rand() < 0.5 ? { pushName: pick(['Maria', 'Jon']) } : {}),
      }
      steps.push({ kind: 'in', event })
    } else if (r < 0.62) {
      const dup = outIds.length > 0 && rand() < 0.15
      const id = dup ? pick(outIds) : `O${seed}x${i}`
      if (!dup) outIds.push(id)
      const origin = pick(['phone', 'bot', 'bot', 'crm', 'api'] as const)
      steps.push({
        kind: 'out',
        event: {
          type: 'message',
          sessionId: sid,
          key: { remoteJid: chat, fromMe: true, id },
          timestamp: ts,
          text: 'reply',
          origin,
        },
      })
    } else if (r < 0.7) steps.push({ kind: 'noReply', chat, at: ts })
    else if (r < 0.8) steps.push({ kind: 'owner', chat, owner: pick(OWNERS) })
    else if (r < 0.86) {
      const owner = rand() < 0.5 ? pick(['anna', 'ben'] as const) : undefined
      steps.push({ kind: 'resetChat', chat, at: ts, ...(owner ? { owner } : {}) })
    } else if (r < 0.9) {
      const owner = rand() < 0.5 ? pick(['anna', 'ben'] as const) : undefined
      steps.push({ kind: 'resetSession', at: ts, ...(owner ? { owner } : {}) })
    } else if (r < 0.96) steps.push({ kind: 'read', chat, at: ts })
    else steps.push({ kind: 'markUnread', chat, at: ts })
  }
  return steps
}

/** Applies one step to the real Lua (through the Ingestor) and to the model; returns both transitions. */
async function applyBoth(
  sid: string,
  model: ChatModel,
  step: Step,
): Promise<[ChatTransition | ChatTransition[] | null, ChatTransition | ChatTransition[] | null]> {
  const rules = { hasSession: () => true, defaultOwnerOf: () => null, botRepliesCount: () => botRepliesCount }
  const ingest = async (event: InboxEventInput) => {
    const out = await f.ingestor.ingest(event)
    if (!out.ok) throw new Error(out.problems.join('; '))
    return out.transition
  }
  switch (step.kind) {
    case 'in':
    case 'out': {
      const e = step.event
      const live = await ingest(e)
      const m = model.message({
        jid: e.key.remoteJid,
        type: chatTypeOf(e.key.remoteJid),
        id: e.key.id,
        fromMe: e.key.fromMe,
        timestamp: e.timestamp,
        countsAsAnswer: countsAsAnswer({ key: e.key, origin: e.origin }, rules),
        ...(e.pushName ? { pushName: e.pushName } : {}),
        defaultOwner: defaultOwners.get(sid) ?? null,
        now: T0,
      })
      return [live, m]
    }
    case 'noReply':
      return [
        await ingest({ type: 'chat.noReplyNeeded', sessionId: sid, chatJid: step.chat, at: step.at }),
        model.noReplyNeeded(step.chat, step.at),
      ]
    case 'owner':
      return [
        await ingest({ type: 'chat.owner', sessionId: sid, chatJid: step.chat, owner: step.owner }),
        model.setOwner(step.chat, step.owner),
      ]
    case 'resetChat': {
      const only = step.owner ? { owner: step.owner } : {}
      return [
        await ingest({ type: 'counters.reset', sessionId: sid, chatJid: step.chat, at: step.at, ...only }),
        model.clearUnanswered(step.chat, step.at, only),
      ]
    }
    case 'resetSession': {
      const only = step.owner ? { owner: step.owner } : {}
      const live = await f.store.clearSession(sid, step.at, only)
      const byJid = (a: ChatTransition, b: ChatTransition) => a.jid.localeCompare(b.jid)
      return [live.sort(byJid), model.reset(step.at, only).sort(byJid)]
    }
    case 'read':
      return [
        await ingest({ type: 'chat.read', sessionId: sid, chatJid: step.chat, at: step.at, source: 'api' }),
        model.markRead(step.chat, step.at),
      ]
    case 'markUnread':
      return [
        await ingest({ type: 'chat.markedUnread', sessionId: sid, chatJid: step.chat, at: step.at }),
        model.setMarkedUnread(step.chat, true),
      ]
  }
}

describe('dry-run chat model vs the Lua transitions', () => {
  it('agrees on 200 random seeded sequences, after every step and at the end', async () => {
    let steps = 0
    let waitSeqMax = 0
    let duplicates = 0
    for (let seed = 1; seed <= 200; seed++) {
      const sid = `prop${seed}`
      const rand = mulberry32(seed * 7919)
      botRepliesCount = rand() < 0.5
      defaultOwners.set(sid, OWNERS[Math.floor(rand() * OWNERS.length)]!)
      const model = new ChatModel()
      for (const [i, step] of randomSequence(seed, sid).entries()) {
        const [live, modelled] = await applyBoth(sid, model, step)
        expect(modelled, `seed ${seed}, step ${i} (${step.kind})`).toEqual(live)
        if (!Array.isArray(live) && live?.duplicate) duplicates++
        steps++
      }
      for (const jid of CHATS) {
        const live = await f.store.getChat(sid, jid)
        const m = model.getChat(jid)
        expect(m === null, `seed ${seed}: ${jid} exists in one only`).toBe(live === null)
        if (!live || !m) continue
        waitSeqMax = Math.max(waitSeqMax, live.waitSeq)
        expect(
          {
            unanswered: m.unanswered,
            waitingSince: m.waitingSince,
            waitSeq: m.waitSeq,
            owner: m.owner,
            unreadCount: m.unreadCount,
            markedUnread: m.markedUnread,
            name: m.name,
            lastInboundAt: m.lastInboundAt || null,
            lastOutboundAt: m.lastOutboundAt || null,
            lastReadAt: m.lastReadAt || null,
            lastActivity: m.lastActivity,
            lastMessage: m.lastMessage && { id: m.lastMessage.id, fromMe: m.lastMessage.fromMe },
          },
          `seed ${seed}: ${jid}`,
        ).toEqual({
          unanswered: live.unanswered,
          waitingSince: live.waitingSince,
          waitSeq: live.waitSeq,
          owner: live.owner,
          unreadCount: live.unreadCount,
          markedUnread: live.markedUnread,
          name: live.name,
          lastInboundAt: live.lastInboundAt,
          lastOutboundAt: live.lastOutboundAt,
          lastReadAt: live.lastReadAt,
          lastActivity: live.lastActivity,
          lastMessage: live.lastMessage && { id: live.lastMessage.id, fromMe: live.lastMessage.fromMe },
        })
      }
      expect(model.ownerTotals(), `seed ${seed}: owner totals`).toEqual(await f.store.ownerTotals(sid))
    }
    // The sequences did exercise what they are meant to.
    expect(steps).toBeGreaterThan(2000)
    expect(duplicates).toBeGreaterThan(20)
    expect(waitSeqMax).toBeGreaterThan(3)
  })
})
