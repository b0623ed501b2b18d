import type { InboxEventInput } from '../../src/domain/events.js'

/** Builders for domain events with real WhatsApp jid shapes. */
export const T0 = Date.UTC(2026, 10, 20, 9, 0, 0)

export const pn = (n: number | string) => `${String(n).padStart(11, '49')}@s.whatsapp.net`
export const lid = (n: number | string) => `${String(n).padStart(14, '1')}@lid`
export const group = (n: number | string) => `120363${String(n).padStart(12, '0')}@g.us`

let seq = 0
export const msgId = () => `3EB0${(++seq).toString(16).toUpperCase().padStart(16, '0')}`

export function inbound(
  sessionId: string,
  chatJid: string,
  opts: Partial<{
    id: string
    ts: number
    text: string
    alt: string
    participant: string
    pushName: string
    delivery: 'live' | 'backlog'
  }> = {},
): InboxEventInput {
  return {
    type: 'message',
    sessionId,
    key: {
      remoteJid: chatJid,
      fromMe: false,
      id: opts.id ?? msgId(),
      ...(opts.participant ? { participant: opts.participant } : {}),
    },
    ...(opts.alt ? { chatJidAlt: opts.alt } : {}),
    timestamp: opts.ts ?? T0,
    text: opts.text ?? 'Hello, is anyone there?',
    ...(opts.pushName ? { pushName: opts.pushName } : {}),
    origin: 'customer',
    delivery: opts.delivery ?? 'live',
  }
}

export function outbound(
  sessionId: string,
  chatJid: string,
  opts: Partial<{ id: string; ts: number; text: string; origin: 'phone' | 'bot' | 'crm' | 'api' }> = {},
): InboxEventInput {
  return {
    type: 'message',
    sessionId,
    key: { remoteJid: chatJid, fromMe: true, id: opts.id ?? msgId() },
    timestamp: opts.ts ?? T0,
    text: opts.text ?? 'Thanks, we are on it.',
    origin: opts.origin ?? 'phone',
    delivery: 'live',
  }
}
