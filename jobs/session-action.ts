import type { Redis } from 'ioredis'
import type { Keys } from '../src/keys.js'
import type { ActionOptions, WhatsAppSession } from '../src/whatsapp/port.js'
import type { catalog, Processor, SessionAction } from './catalog.js'

/**
 * `session-action`: one thing done to WhatsApp on a session's socket (read receipts, chat
 * modifications, presence). It runs in the session's own queue, which only the process holding the
 * session consumes, one job at a time: so actions reach the right socket, in order.
 */

/**
 * How long a performed job is remembered, so a redelivered copy is skipped. A crash between performing
 * and remembering still resends (at-least-once); the idempotency key lets WhatsApp (and the sim) ignore it.
 */
const DONE_TTL_S = 7 * 24 * 3600

export function sessionActionProcessor(deps: {
  redis: Redis
  keys: Keys
}): Processor<typeof catalog.sessionAction> {
  return async (action, job, { sessionId, session }) => {
    const doneKey = `${deps.keys.session(sessionId)}done:${job.id}`
    if (await deps.redis.exists(doneKey)) return { performed: false }
    await perform(session, action, { idempotencyKey: `${sessionId}/${job.id}` })
    await deps.redis.set(doneKey, '1', 'EX', DONE_TTL_S)
    return { performed: true }
  }
}

function perform(session: WhatsAppSession, a: SessionAction, opts: ActionOptions): Promise<void> {
  switch (a.action) {
    case 'read':
      return session.readMessages(a.keys, opts)
    case 'markRead':
      return session.markChatRead(a.chat, opts)
    case 'markUnread':
      return session.markChatUnread(a.chat, opts)
    case 'archive':
      return session.setArchived(a.chat, true, opts)
    case 'unarchive':
      return session.setArchived(a.chat, false, opts)
    case 'presence':
      return session.sendPresence(a.jid, a.state, opts)
  }
}
