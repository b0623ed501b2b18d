import type { ChatDto, ContactDto, SessionDetailDto, SessionDto, SimActionDto } from '../http/schemas.js'
import { errorFromResponse, NetworkError } from './errors.js'

export * from './errors.js'
export type { ChatDto, ContactDto, SessionDetailDto, SessionDto, SimActionDto }

export interface ReminderDto {
  reminderId: string
  chatJid: string
  dueAt: string
  status: 'scheduled' | 'waiting_for_app_state' | 'done' | 'failed' | 'cancelled' | 'replaced'
  clearFirst: boolean
  snooze: boolean
  note: string | null
  cancelOn: Array<'inbound' | 'outbound'>
  createdAt: string
  attempts: number
  detail: string | null
}

/** Wazzup's envelope, used by the counter routes. */
export interface Envelope<T> {
  data: T
  meta: { timestamp: string }
}

export interface UnansweredCounterDto {
  /** `red` when the user has any red, else `grey`. */
  counter: number
  type: 'red' | 'grey'
  red: number
  grey: number
}

export interface UnansweredResetDto {
  account_id: string
  cleared: true
  chats: number
  messages: number
}

export interface ClientOptions {
  /** e.g. http://127.0.0.1:3000 */
  baseUrl: string
  apiKey: string
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number
  fetch?: typeof fetch
}

export interface Page<T> {
  items: T[]
  nextCursor: string
}

export type PresenceState = 'composing' | 'recording' | 'paused'

export interface SimMessage {
  chatId: string
  chatIdAlt?: string
  fromMe?: boolean
  participant?: string
  text: string
  id?: string
  /** ISO 8601; default now. */
  timestamp?: string
  pushName?: string
  origin?: 'customer' | 'phone' | 'bot' | 'crm' | 'api'
}

/**
 * Typed client for bots and CRM integrations. Every method maps to one route; errors are thrown as
 * the typed classes in ./errors (ValidationError, NotFoundError, RateLimitedError, …).
 */
export class TickbridgeClient {
  private readonly base: string
  private readonly doFetch: typeof fetch

  constructor(private readonly opts: ClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '')
    this.doFetch = opts.fetch ?? fetch
  }

  listSessions(): Promise<SessionDto[]> {
    return this.request<{ items: SessionDto[] }>('GET', '/v1/sessions').then((r) => r.items)
  }

  getSession(sessionId: string): Promise<SessionDetailDto> {
    return this.request('GET', `/v1/sessions/${enc(sessionId)}`)
  }

  chatsOverview(
    sessionId: string,
    query: { limit?: number; cursor?: string; filter?: 'unread' | 'unanswered' } = {},
  ): Promise<Page<ChatDto>> {
    return this.request('GET', `/v1/sessions/${enc(sessionId)}/chats/overview`, { query })
  }

  /** Every chat of the overview, page after page. */
  async *allChats(sessionId: string, query: { filter?: 'unread' | 'unanswered'; pageSize?: number } = {}) {
    let cursor: string | undefined
    do {
      const page = await this.chatsOverview(sessionId, {
        limit: query.pageSize ?? 200,
        ...(query.filter ? { filter: query.filter } : {}),
        ...(cursor ? { cursor } : {}),
      })
      yield* page.items
      cursor = page.nextCursor || undefined
    } while (cursor)
  }

  getChat(sessionId: string, jid: string): Promise<ChatDto> {
    return this.request('GET', chatPath(sessionId, jid))
  }

  contacts(
    sessionId: string,
    query: { source?: 'dm' | 'group'; group?: string; q?: string; limit?: number; cursor?: string } = {},
  ): Promise<Page<ContactDto>> {
    return this.request('GET', `/v1/sessions/${enc(sessionId)}/contacts`, { query })
  }

  /** Clears our unread state for the chat (local, idempotent). */
  markRead(sessionId: string, jid: string): Promise<ChatDto> {
    return this.request('POST', `${chatPath(sessionId, jid)}/read`)
  }

  noReplyNeeded(sessionId: string, jid: string): Promise<ChatDto> {
    return this.request('POST', `${chatPath(sessionId, jid)}/no-reply-needed`)
  }

  /**
   * Blue ticks for a chat's customer messages (all still waiting, or the given ids), after a human-like
   * delay (default) or now. One receipt per chat; `plannedAt` is null when nothing was waiting.
   */
  markSeen(
    sessionId: string,
    chatId: string,
    opts: { messageIds?: string[]; participant?: string; delay?: 'human' | 'none' } = {},
  ): Promise<{ chatId: string; messageIds: string[]; plannedAt: string | null }> {
    return this.request('POST', `/v1/sessions/${enc(sessionId)}/seen`, { body: { chatId, ...opts } })
  }

  /**
   * Puts the unread dot on a chat: now (resolves with the chat once done, or the reminder while WhatsApp
   * is not ready) or `at`/`in` a time (resolves with the reminder). `snooze` archives the chat meanwhile.
   * ConflictError when the chat has no stored last message yet.
   */
  markUnread(
    sessionId: string,
    jid: string,
    opts: {
      at?: string
      in?: string
      clearFirst?: boolean
      snooze?: boolean
      note?: string
      cancelOn?: Array<'inbound' | 'outbound'>
    } = {},
  ): Promise<ChatDto | ReminderDto> {
    return this.request('POST', `${chatPath(sessionId, jid)}/unread`, { body: opts })
  }

  reminders(sessionId: string, jid: string): Promise<ReminderDto[]> {
    return this.request<{ items: ReminderDto[] }>('GET', `${chatPath(sessionId, jid)}/reminders`).then(
      (r) => r.items,
    )
  }

  /** NotFoundError for an unknown id; ConflictError when it already fired or was cancelled. */
  async cancelReminder(sessionId: string, jid: string, reminderId: string): Promise<void> {
    await this.request('DELETE', `${chatPath(sessionId, jid)}/reminders/${enc(reminderId)}`)
  }

  /** The org's SLA breach log, oldest first: every level fired with its actions' outcomes. */
  slaEvents(query: { since?: string; sessionId?: string; limit?: number; cursor?: string } = {}): Promise<
    Page<{
      id: string
      sessionId: string
      chatJid: string
      policyId: string
      /** As the rules number it: 1 is the policy's first level. */
      level: number
      kind: 'first' | 'next'
      waitingSince: string
      dueAt: string
      deadline: string
      firedAt: string
      actions: Array<{ action: string; outcome: string; ok: boolean }>
    }>
  > {
    return this.request('GET', '/v1/sla/events', { query })
  }

  /** Throws NotImplementedError when the session has no live WhatsApp client. */
  async setPresence(sessionId: string, jid: string, state: PresenceState): Promise<void> {
    await this.request('PUT', `${chatPath(sessionId, jid)}/presence`, { body: { state } })
  }

  /**
   * A CRM user's unanswered counters (Wazzup's shape): red = own chats (plus unassigned ones for users
   * who take new clients), grey = chats of the people they supervise. NotFoundError for an unknown user.
   */
  unansweredCounter(userId: string): Promise<Envelope<UnansweredCounterDto>> {
    return this.request('GET', `/v1/counters/unanswered/${enc(userId)}`)
  }

  /**
   * Resets unanswered counters (needs `admin`): every chat of the key's org, or one session's, and/or
   * only the chats a user owns. `data.chats` says how many chats were cleared.
   */
  resetUnanswered(
    scope: { sessionId?: string; userId?: string } = {},
  ): Promise<Envelope<UnansweredResetDto>> {
    return this.request('DELETE', '/v1/chats/unanswered', { query: scope })
  }

  /** The simulated WhatsApp (only on a service running WA_TRANSPORT=sim). */
  readonly sim = {
    injectMessage: (sessionId: string, message: SimMessage) =>
      this.request<{ accepted: true; messageId: string; timestamp: string }>(
        'POST',
        `/v1/sim/sessions/${enc(sessionId)}/messages`,
        { body: message },
      ),
    injectFault: (sessionId: string, fault: 'app_state_missing', times: number) =>
      this.request<void>('POST', `/v1/sim/sessions/${enc(sessionId)}/faults`, { body: { fault, times } }),
    actions: (sessionId: string, query: { after?: string; limit?: number } = {}) =>
      this.request<{ items: SimActionDto[]; lastSeq: string | null }>(
        'GET',
        `/v1/sim/sessions/${enc(sessionId)}/actions`,
        { query },
      ),
  }

  private async request<T>(
    method: string,
    path: string,
    opts: { query?: Record<string, string | number | undefined>; body?: unknown } = {},
  ): Promise<T> {
    const url = new URL(this.base + path)
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v))
    let res: Response
    try {
      res = await this.doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.opts.apiKey}`,
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      })
    } catch (err) {
      throw NetworkError.from(`${method} ${path}`, err)
    }
    if (res.status === 204) return undefined as T
    const text = await res.text()
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = undefined
    }
    if (!res.ok) throw errorFromResponse(res.status, body)
    return body as T
  }
}

const enc = encodeURIComponent
const chatPath = (sid: string, jid: string) => `/v1/sessions/${enc(sid)}/chats/${enc(jid)}`
