import { DelayedError, type Job, UnrecoverableError } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { z } from 'zod'
import { chatJidSchema, epochMsSchema, messageKeySchema } from '../src/domain/events.js'
import type { Keys } from '../src/keys.js'
import type { ActionOptions, WhatsAppSession } from '../src/whatsapp/port.js'

/**
 * `session-action`: one thing done to WhatsApp on a session's socket (read receipts, chat
 * modifications, presence). It runs in the session's own queue, which only the process holding the
 * session consumes, one job at a time: so actions reach the right socket, in order.
 */
const chatRefSchema = z.object({
  jid: chatJidSchema,
  lastMessage: z.object({ key: messageKeySchema, timestamp: epochMsSchema }),
})

export const sessionActionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('read'), keys: z.array(messageKeySchema).min(1).max(1000) }),
  z.object({ action: z.enum(['markRead', 'markUnread', 'archive', 'unarchive']), chat: chatRefSchema }),
  z.object({
    action: z.literal('presence'),
    jid: chatJidSchema,
    state: z.enum(['composing', 'recording', 'paused']),
  }),
])
export type SessionAction = z.infer<typeof sessionActionSchema>

export const SESSION_ACTION = 'session-action'

/**
 * How long a performed job is remembered, so a redelivered copy is skipped. A crash between performing
 * and remembering still resends (at-least-once); the idempotency key lets WhatsApp (and the sim) ignore it.
 */
const DONE_TTL_S = 7 * 24 * 3600
/** While the session is reconnecting or moving, jobs step back this long instead of failing. */
const WAIT_MS = 1000

export interface SessionActionDeps {
  sessionId: string
  session: () => WhatsAppSession | undefined
  redis: Redis
  keys: Keys
  log: Logger
}

export async function processSessionAction(
  job: Job,
  token: string | undefined,
  deps: SessionActionDeps,
): Promise<{ performed: boolean }> {
  const parsed = sessionActionSchema.safeParse(job.data)
  if (!parsed.success) {
    // A malformed payload will never succeed: fail it at once with the reason, no retries.
    const reason = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new UnrecoverableError(`invalid session-action payload: ${reason}`)
  }
  const doneKey = `${deps.keys.session(deps.sessionId)}done:${job.id}`
  if (await deps.redis.exists(doneKey)) return { performed: false }

  const session = deps.session()
  if (session?.status() !== 'WORKING') {
    await job.moveToDelayed(Date.now() + WAIT_MS, token)
    throw new DelayedError()
  }
  await perform(session, parsed.data, { idempotencyKey: `${deps.sessionId}/${job.id}` })
  await deps.redis.set(doneKey, '1', 'EX', DONE_TTL_S)
  return { performed: true }
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
