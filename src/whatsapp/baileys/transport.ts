import {
  type AuthenticationState,
  type BaileysEventMap,
  DisconnectReason,
  initAuthCreds,
  isJidBroadcast,
  isJidNewsletter,
  isMissingKeyError,
  makeCacheableSignalKeyStore,
  makeWASocket,
  type proto,
  type UserFacingSocketConfig,
  type WAMessageKey,
  type WASocket,
  type WAVersion,
} from '@whiskeysockets/baileys'
import type { Logger } from 'pino'
import { type Clock, systemClock } from '../../clock.js'
import type { MessageKey } from '../../domain/events.js'
import { describeCause, OutageLog } from '../../outage.js'
import { type OwnAction, ownActionEvents } from '../own-actions.js'
import {
  AppStateKeyMissingError,
  type ChatRef,
  type EventSink,
  PresenceNotShownError,
  type PresenceState,
  SessionNotLiveError,
  type SessionStatus,
  type StatusListener,
  type WhatsAppSession,
  type WhatsAppTransport,
} from '../port.js'
import { MemoryTokenStore, type SendRate, type TokenStore } from '../send-budget.js'
import { closeCause, decideOnClose, disconnectStatusCode } from './lifecycle.js'
import { LoginGuard, type LoginGuardOptions, loginStormDetail } from './login-guard.js'
import { type NormaliseContext, normaliseBatch, type RawInboxEvent, type Skipped } from './normalise.js'
import { RetryCounterCache, signalKeyCache, type TtlCache } from './retry-cache.js'
import { type ReadAction, readActionOf, tapSyncActions } from './sync-action-tap.js'
import { learnWaWebVersion } from './wa-version.js'

/**
 * The Baileys adapter behind our WhatsApp port. One `BaileysSession` per WhatsApp number, held by exactly
 * one process (the lease is the caller's business). It
 * - opens a socket with `markOnlineOnConnect: false`, `syncFullHistory: false`, history sync otherwise on,
 *   `getMessage` from our store, and reopens it by disconnect reason (see ./lifecycle.ts) with the SAME
 *   auth state object;
 * - serialises Baileys' events (whose `ev.process` handlers Baileys does not await) behind its own FIFO,
 *   normalised to domain events and delivered to the sink one at a time, in order;
 * - bounds every send with a timeout, rate-limits receipts, chat modifications and presence per session,
 *   and maps Baileys' errors onto the port's (`AppStateKeyMissingError`, `SessionNotLiveError`).
 */

/** The part of Baileys' socket the adapter uses; `makeWASocket` returns a superset of it. */
export type BaileysSocket = Pick<
  WASocket,
  | 'ev'
  | 'authState'
  | 'readMessages'
  | 'chatModify'
  | 'sendPresenceUpdate'
  | 'end'
  | 'logout'
  | 'requestPairingCode'
  | 'groupMetadata'
  | 'fetchPrivacySettings'
>

/** A session's durable auth (src/whatsapp/baileys/auth-state.ts `useRedisAuthState` fits). */
export interface BaileysAuthHandle {
  state: AuthenticationState
  saveCreds: () => Promise<void>
  wipe: () => Promise<unknown>
}

export type { StatusListener } from '../port.js'
export type { SendRate } from '../send-budget.js'

export interface BaileysTransportDeps {
  /** Defaults to Baileys' `makeWASocket`. */
  socketFactory?: (config: UserFacingSocketConfig) => BaileysSocket
  authState: (sessionId: string) => Promise<BaileysAuthHandle>
  log: Logger
  /** Every status change, in order (one call at a time per session). */
  onStatus: StatusListener
  /** A message we hold, for Baileys' retries ("waiting for this message"). */
  getMessage?: (sessionId: string, key: WAMessageKey) => Promise<proto.IMessage | undefined>
  /** Upper bound of every send (receipts, chat modifications, presence, pairing code). Default 15 s. */
  sendTimeoutMs?: number
  /**
   * Per-session budget of stanzas (`max` per `per` ms); undefined = unlimited. Read at every send. One
   * `readMessages` for N senders counts N receipts.
   */
  sendRate?: (sessionId: string) => SendRate | undefined
  /** Where a session's tokens live (Redis in production: see ../send-budget.ts). Default in-process. */
  sendTokens?: (sessionId: string) => TokenStore
  clock?: Clock
  /** Jitter source for reconnect backoff. Default Math.random. */
  rand?: () => number
  /** Who wrote a fromMe message (e.g. ids our API sent); `phone` by default. */
  fromMeOrigin?: NormaliseContext['fromMeOrigin']
  /** What normalisation skipped (for metrics); called synchronously inside the event handler. */
  onSkipped?: (sessionId: string, skipped: Skipped[]) => void
  /** Extra socket options (browser, version, timeouts); the adapter's own settings win. */
  socketConfig?: Omit<Partial<UserFacingSocketConfig>, 'auth'>
  /** How long `requestPairingCode` waits for the socket to reach the pairing stage. Default 30 s. */
  pairingWaitMs?: number
  /**
   * Sockets that showed QR codes and closed unpaired before the session stops (STOPPED, "not paired: QR
   * not scanned") instead of cycling QR codes forever. Default 3 (Baileys ends each after its QR refs).
   */
  maxQrRounds?: number
  /** After a chat state, how long until we go back to `unavailable` if nothing follows. Default 10 s. */
  presenceIdleMs?: number
  /**
   * The WhatsApp Web version to announce; undefined = Baileys' bundled one. Asked once per transport
   * (default: Baileys' `fetchLatestWaWebVersion`, bounded to 3 s, see ./wa-version.ts).
   */
  waVersion?: () => Promise<WAVersion | undefined>
  /**
   * Login storm bounds (./login-guard.ts): the backoff starts over only after a connection stayed open
   * `stableAfterMs` (default 60 s); past `maxLoginsPerHour` logins (default 10) the session FAILs.
   * Read when a session starts.
   */
  logins?: LoginGuardOptions | (() => LoginGuardOptions)
  /**
   * Whether a group chat still lacks a name (so its metadata is worth a stanza); default: ask for every
   * group once per session. The worker answers from the inbox.
   */
  groupNeedsName?: (sessionId: string, groupJid: string) => Promise<boolean>
  /**
   * Whether the account hides its read receipts (then Baileys' `readMessages` sends `read-self`: the
   * customer sees no blue ticks). Called when it is first learnt and whenever it changes.
   */
  onReadReceiptsHidden?: (sessionId: string, hidden: boolean) => void
  /** Every login (`connection: 'open'`), for a logins-per-session metric. */
  onLogin?: (sessionId: string) => void
}

/**
 * Jids whose stanzas Baileys drops before decrypting them (Socket/messages-recv: `shouldIgnoreJid` ->
 * ack only): status updates, broadcast lists and newsletters are neither decrypted nor read by us.
 */
export function ignoredJid(jid: string): boolean {
  return Boolean(isJidBroadcast(jid) || isJidNewsletter(jid))
}

export const DEFAULT_SEND_TIMEOUT_MS = 15_000
export const DEFAULT_MAX_QR_ROUNDS = 3
export const DEFAULT_PRESENCE_IDLE_MS = 10_000
const SINK_RETRY_MS = 250
const QUEUE_WARN_AT = 1_000

export class SendTimeoutError extends Error {
  constructor(
    readonly action: string,
    readonly timeoutMs: number,
  ) {
    super(`${action} timed out after ${timeoutMs} ms: the WhatsApp socket did not answer`)
    this.name = 'SendTimeoutError'
  }
}

/** Whether a Baileys error means the app-state key has not been shared by the phone (or was lost). */
export function isAppStateKeyMissing(err: unknown): boolean {
  if (isMissingKeyError(err)) return true
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : ''
  // Socket/chats.js appPatch: 'App state key not present!'; Utils/chat-utils.js encodeSyncdPatch:
  // 'myAppStateKey ("<id>") not present' (data.isMissingKey, checked above).
  return message.includes('App state key not present') || /myAppStateKey \(.*\) not present/.test(message)
}

/** Baileys' own "socket is closed" error (`Boom('Connection Closed', 428)`). */
function isConnectionClosed(err: unknown): boolean {
  return (
    disconnectStatusCode(err) === DisconnectReason.connectionClosed &&
    err instanceof Error &&
    err.message === 'Connection Closed'
  )
}

/** A send bounded in time; a stalled promise is abandoned (its late outcome is swallowed). */
export function withTimeout<T>(work: () => Promise<T>, ms: number, action: string): Promise<T> {
  let p: Promise<T>
  try {
    p = work()
  } catch (err) {
    return Promise.reject(err)
  }
  p.catch(() => {})
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SendTimeoutError(action, ms)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** Epoch ms (our domain) to the seconds WhatsApp's app-state wants; a value already in seconds is kept. */
export function toSeconds(ts: number): number {
  return ts >= 100_000_000_000 ? Math.floor(ts / 1000) : Math.floor(ts)
}

function toWAKey(k: MessageKey): WAMessageKey {
  return {
    remoteJid: k.remoteJid,
    fromMe: k.fromMe,
    id: k.id,
    ...(k.participant ? { participant: k.participant } : {}),
  }
}

/** Baileys mutates the keys of `lastMessages` (it normalises `participant`): hand it fresh copies. */
function lastMessagesOf(chat: ChatRef): Array<{ key: WAMessageKey; messageTimestamp: number }> {
  return [{ key: toWAKey(chat.lastMessage.key), messageTimestamp: toSeconds(chat.lastMessage.timestamp) }]
}

/**
 * The session's send budget: callers wait in FIFO order for their tokens rather than fail. Where the
 * tokens live is the store's business (in Redis in production, so a restart does not start with a full
 * burst). The limit is read at every use, so rule reloads apply; no limit = no waiting. A store that
 * fails (Redis away) falls back to an in-process bucket, so sends stay limited.
 */
export class TokenBucket {
  private chain: Promise<void> = Promise.resolve()
  private generation = 0
  private pending = 0
  private cancelled: unknown
  private readonly sleepers = new Set<{
    timer: ReturnType<typeof setTimeout>
    reject: (e: unknown) => void
  }>()
  private readonly fallback: TokenStore

  constructor(
    private readonly limit: () => SendRate | undefined,
    clock: Clock,
    private readonly store: TokenStore = new MemoryTokenStore(clock),
    private readonly onStoreError: (err: unknown) => void = () => {},
  ) {
    this.fallback = store instanceof MemoryTokenStore ? store : new MemoryTokenStore(clock)
  }

  /** Sends waiting for tokens. */
  get waiting(): number {
    return this.pending
  }

  /** Waits until `cost` tokens (stanzas) may go out. */
  take(cost = 1): Promise<void> {
    const generation = this.generation
    this.pending += 1
    const turn = this.chain.then(() => this.acquire(Math.max(1, cost), generation))
    this.chain = turn.catch(() => {})
    return turn.finally(() => {
      this.pending -= 1
    })
  }

  /** Rejects every waiting send (the session is closing or lost its socket). */
  cancel(err: unknown): void {
    this.generation += 1
    this.cancelled = err
    for (const s of this.sleepers) {
      clearTimeout(s.timer)
      s.reject(err)
    }
    this.sleepers.clear()
  }

  private current(): SendRate | undefined {
    const lim = this.limit()
    if (!lim || !Number.isFinite(lim.max) || !Number.isFinite(lim.per) || lim.max < 1 || lim.per <= 0) {
      return undefined
    }
    return lim
  }

  private async acquire(cost: number, generation: number): Promise<void> {
    for (;;) {
      if (generation !== this.generation) throw this.cancelled
      const lim = this.current()
      if (!lim) return
      let wait: number
      try {
        wait = await this.store.take(cost, lim)
      } catch (err) {
        this.onStoreError(err)
        wait = await this.fallback.take(cost, lim)
      }
      if (generation !== this.generation) throw this.cancelled
      if (wait <= 0) return
      await new Promise<void>((resolve, reject) => {
        const sleeper = {
          timer: setTimeout(() => {
            this.sleepers.delete(sleeper)
            resolve()
          }, wait),
          reject,
        }
        this.sleepers.add(sleeper)
      })
    }
  }
}

/**
 * Stanzas a `readMessages` call sends: Baileys groups the keys not from us by chat and participant and
 * sends one receipt per group (Socket/messages-send `readMessages` -> `aggregateMessageKeysNotFromMe`).
 */
export function receiptStanzas(keys: MessageKey[]): number {
  const groups = new Set<string>()
  for (const k of keys) if (!k.fromMe) groups.add(`${k.remoteJid}\u0000${k.participant ?? ''}`)
  return groups.size
}

export class BaileysTransport implements WhatsAppTransport {
  readonly kind = 'baileys' as const
  private version: Promise<WAVersion | undefined> | undefined

  constructor(private readonly deps: BaileysTransportDeps) {}

  async open(sessionId: string, sink: EventSink): Promise<BaileysSession> {
    const auth = await this.deps.authState(sessionId)
    this.version ??= this.deps.socketConfig?.version
      ? Promise.resolve(this.deps.socketConfig.version)
      : (this.deps.waVersion ?? (() => learnWaWebVersion({ log: this.deps.log })))().catch(() => undefined)
    const version = await this.version
    const deps = version ? { ...this.deps, socketConfig: { ...this.deps.socketConfig, version } } : this.deps
    const session = new BaileysSession(sessionId, sink, auth, deps)
    session.start()
    return session
  }
}

export class BaileysSession implements WhatsAppSession {
  private state: SessionStatus = 'STARTING'
  private sock: BaileysSocket | undefined
  /** close()/logout() was called: no new socket, no new events. */
  private closing = false
  /** A terminal close (logged out, replaced): no reconnect. */
  private stopped = false
  private wiped = false
  /** Closes since a connection last stayed open long enough (./login-guard.ts), for the backoff. */
  private attempt = 0
  private readonly loginGuard: LoginGuard
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private readonly queue: Array<{ event: RawInboxEvent; delivered?: () => void }> = []
  /**
   * Read/unread signals per chat as Baileys emitted them into its event buffer, taken when the batch
   * carrying that chat's (merged) `chats.update` reaches us.
   */
  private readonly chatSignals = new Map<string, RawInboxEvent[]>()
  private draining: Promise<void> | undefined
  private queueWarned = false
  private statusChain: Promise<void> = Promise.resolve()
  private credsChain: Promise<void> = Promise.resolve()
  private closed: Promise<void> | undefined
  private readonly bucket: TokenBucket
  /** The auth every socket of this session gets: the same object across restarts and reconnects. */
  private readonly socketAuth: AuthenticationState
  private readonly log: Logger
  private readonly baileysLog: Logger
  /** WhatsApp unreachable: the cause once, then counted repeats, then one line when connected again. */
  private readonly outage: OutageLog
  private readonly clock: Clock
  private readonly timeoutMs: number
  /** One retry counter cache for every socket of the session (fault 2.9). */
  private readonly msgRetryCounterCache: RetryCounterCache
  /** The Signal key cache of every socket of the session; timer-free, emptied when the session stops. */
  private readonly keyCache: TtlCache
  /** The current socket showed a QR code (it is pairing). */
  private showedQr = false
  /** Sockets that showed QR codes and closed unpaired, since the last open. */
  private qrRounds = 0
  /** The app-state read Baileys is about to emit as `chats.update { unreadCount: 0 }`, with its own time. */
  private lastReadAction: ReadAction | undefined
  /** Groups whose metadata (subject) this session asked for, or is asking for: once each. */
  private readonly groupsLookedUp = new Set<string>()
  /** The account hides its read receipts (learnt at our first receipt); undefined until known. */
  private receiptsHidden: boolean | undefined
  /** We logged once that chat states cannot show (no push name). */
  private warnedNoName = false
  /** We announced `available` on the current socket (a chat state shows only then). */
  private available = false
  private presenceIdle: ReturnType<typeof setTimeout> | undefined
  /** Pairing by phone number: every new socket asks for a fresh code until the phone has linked. */
  private pairing:
    | { digits: string; waiters: Array<(r: { code?: string; err?: unknown }) => void> }
    | undefined

  constructor(
    readonly sessionId: string,
    private readonly sink: EventSink,
    private readonly auth: BaileysAuthHandle,
    private readonly deps: BaileysTransportDeps,
  ) {
    this.log = deps.log.child({ sessionId, component: 'baileys-session' })
    // Baileys is chatty below warn; a quieter parent (e.g. silent in tests) stays quieter.
    const quieter = deps.log.levelVal > deps.log.levels.values.warn!
    this.baileysLog = deps.log.child(
      { sessionId, component: 'baileys' },
      { level: quieter ? deps.log.level : 'warn' },
    )
    this.outage = new OutageLog({ name: 'whatsapp', log: this.log, summaryEveryMs: 60_000, settleMs: 0 })
    this.clock = deps.clock ?? systemClock
    this.timeoutMs = deps.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS
    this.bucket = new TokenBucket(
      () => deps.sendRate?.(sessionId),
      this.clock,
      deps.sendTokens?.(sessionId) ?? new MemoryTokenStore(this.clock),
      (err) => this.log.warn({ err }, 'the shared send budget is unreachable; limiting in this process'),
    )
    this.msgRetryCounterCache = new RetryCounterCache(this.clock)
    this.keyCache = signalKeyCache(this.clock)
    this.loginGuard = new LoginGuard(
      this.clock,
      typeof deps.logins === 'function' ? deps.logins() : deps.logins,
    )
    this.socketAuth = {
      creds: auth.state.creds,
      // Our own cache: Baileys' default NodeCache starts an interval per call that nobody closes (fault 9).
      keys: makeCacheableSignalKeyStore(auth.state.keys, this.baileysLog, this.keyCache),
    }
  }

  status(): SessionStatus {
    return this.state
  }

  /** Events normalised but not yet handed to the sink (the one in flight included). */
  pendingEvents(): number {
    return this.queue.length + (this.draining ? 1 : 0)
  }

  /** Opens the first socket; throws when Baileys refuses the config. */
  start(): void {
    this.setStatus('STARTING', { detail: 'connecting to WhatsApp' })
    this.connect()
  }

  // ---- connection ----------------------------------------------------------------------------------

  private connect(): void {
    const factory = this.deps.socketFactory ?? makeWASocket
    const { getMessage } = this.deps
    const sock = factory({
      ...this.deps.socketConfig,
      auth: this.socketAuth,
      // Hands us each app-state action Baileys processes (./sync-action-tap.ts), for the time of a read.
      logger: tapSyncActions(this.baileysLog, (traced) => {
        this.lastReadAction = readActionOf(traced)
      }),
      printQRInTerminal: false,
      markOnlineOnConnect: false,
      syncFullHistory: false,
      // Our own chat modifications would come back as chats.update, indistinguishable from a person
      // reading on the phone (Socket/chats appPatch); we report our accepted actions ourselves instead.
      emitOwnEvents: false,
      msgRetryCounterCache: this.msgRetryCounterCache,
      shouldIgnoreJid: ignoredJid,
      getMessage: async (key) => (getMessage ? getMessage(this.sessionId, key) : undefined),
    })
    this.sock = sock
    this.showedQr = false
    this.available = false
    this.tapEmits(sock)
    sock.ev.process(async (events) => {
      try {
        await this.onEvents(sock, events)
      } catch (err) {
        this.log.error({ err }, 'handling a Baileys event batch failed')
      }
    })
  }

  /**
   * Sees every event as Baileys emits it, before its buffer merges it (Baileys' internals call the same
   * `ev.emit`). Needed because `concatChats` (Utils/event-buffer) sums the `unreadCount` of buffered
   * chats.updates: a read (0) followed by a message (+1) would flush as +1 and the read would be lost.
   */
  private tapEmits(sock: BaileysSocket): void {
    const ev = sock.ev
    const emit = ev.emit.bind(ev)
    ev.emit = ((event: keyof BaileysEventMap, data: unknown) => {
      if (event === 'chats.update' && Array.isArray(data)) this.recordChatSignals(data)
      // Baileys' `end` emits the close and then destroys the buffer with whatever it still holds
      // (Socket/socket.js `end` -> `ev.destroy`): hand those events over first (fault 2.8).
      if (event === 'connection.update' && (data as { connection?: string })?.connection === 'close') {
        ev.flush()
      }
      return emit(event, data as never)
    }) as typeof ev.emit
  }

  private recordChatSignals(updates: unknown[]): void {
    const at = this.clock.now()
    // A conditional update Baileys never releases leaves its signal behind: forget stale ones.
    if (this.chatSignals.size > 1_000) {
      for (const [jid, signals] of this.chatSignals) {
        const last = (signals.at(-1) as { at?: number } | undefined)?.at ?? 0
        if (last < at - 300_000) this.chatSignals.delete(jid)
      }
    }
    for (const u of updates) {
      if (typeof u !== 'object' || u === null) continue
      const { id, unreadCount, conditional } = u as {
        id?: unknown
        unreadCount?: unknown
        conditional?: unknown
      }
      // An initial-sync change (Utils/chat-utils processSyncAction: `conditional` only then) is held by
      // Baileys until its chat appears and is then folded into the history chat, or released merged:
      // its state comes with that chat (normalise.ts historyChats) or in the released update itself.
      // Recording it would leave a signal pending for the next, unrelated update of the chat (fault 8).
      if (typeof conditional === 'function') continue
      if (typeof id !== 'string' || (unreadCount !== 0 && unreadCount !== -1)) continue
      // A read made on the phone while we were offline covers what it had then, not what came since.
      const read = this.lastReadAction?.chatJid === id ? this.lastReadAction : undefined
      if (read) this.lastReadAction = undefined
      const base = { sessionId: this.sessionId, chatJid: id, at: unreadCount === 0 && read ? read.at : at }
      const signal: RawInboxEvent =
        unreadCount === 0 ? { ...base, type: 'chat.read' } : { ...base, type: 'chat.markedUnread' }
      this.chatSignals.set(id, [...(this.chatSignals.get(id) ?? []), signal])
    }
  }

  /** The signals recorded for a chat, taken; undefined when none (the merged update is then read). */
  private takeChatSignals = (chatJid: string): RawInboxEvent[] | undefined => {
    const taken = this.chatSignals.get(chatJid)
    this.chatSignals.delete(chatJid)
    return taken
  }

  private async onEvents(sock: BaileysSocket, events: Partial<BaileysEventMap>): Promise<void> {
    if (events['creds.update'] && !this.wiped) {
      this.credsChain = this.credsChain
        .then(() => this.auth.saveCreds())
        .catch((err: unknown) => this.log.error({ err }, 'saving Baileys creds failed'))
    }
    if (events['connection.update']) this.onConnectionUpdate(sock, events['connection.update'])
    if (this.closing) return
    const me = this.socketAuth.creds.me
    const { events: out, skipped } = normaliseBatch(
      {
        sessionId: this.sessionId,
        now: this.clock.now(),
        self: [me?.id, me?.lid],
        chatSignals: this.takeChatSignals,
        ...(this.deps.fromMeOrigin ? { fromMeOrigin: this.deps.fromMeOrigin } : {}),
      },
      events,
    )
    if (skipped.length) {
      this.deps.onSkipped?.(this.sessionId, skipped)
      this.log.debug({ skipped }, 'Baileys events without a domain event')
    }
    if (out.length) this.enqueue(out)
    this.nameNewGroups(sock, out)
  }

  /**
   * A group we see for the first time in this session gets its name from its metadata (Socket/groups
   * `groupMetadata`: an IQ to WhatsApp, so it takes a send token). Once per group and session; a group
   * named since (groups.update, history) is simply named again with the same subject.
   */
  private nameNewGroups(sock: BaileysSocket, events: RawInboxEvent[]): void {
    for (const e of events) {
      if (e.type !== 'message' || !e.key.remoteJid.endsWith('@g.us')) continue
      const jid = e.key.remoteJid
      if (this.groupsLookedUp.has(jid) || this.groupsLookedUp.size >= 10_000) continue
      this.groupsLookedUp.add(jid)
      const needs = this.deps.groupNeedsName
      // After the message itself reached the inbox (the FIFO is ordered), so the answer knows the chat.
      void this.whenDelivered()
        .then(() => (needs ? needs(this.sessionId, jid) : true))
        .then(async (needed) => {
          if (!needed) return undefined
          await this.bucket.take(1)
          if (sock !== this.sock || this.closing) throw new SessionNotLiveError(this.sessionId)
          return withTimeout(() => sock.groupMetadata(jid), this.timeoutMs, 'groupMetadata')
        })
        .then((meta) => {
          const name = typeof meta?.subject === 'string' ? meta.subject.slice(0, 256) : ''
          if (name && !this.closing) {
            this.enqueue([{ type: 'chat.meta', sessionId: this.sessionId, chatJid: jid, name }])
          }
        })
        .catch((err: unknown) => {
          // Asked again on the next message of that group (after a reconnect, for instance).
          this.groupsLookedUp.delete(jid)
          if (!(err instanceof SessionNotLiveError))
            this.log.debug({ err, jid }, 'group metadata not available')
        })
    }
  }

  private onConnectionUpdate(sock: BaileysSocket, u: BaileysEventMap['connection.update']): void {
    // A socket we replaced or ended (including by close()/logout()) no longer speaks for the session.
    if (sock !== this.sock || this.closing || this.stopped) return
    if (u.qr) {
      const first = !this.showedQr
      this.showedQr = true
      if (this.pairing && first) this.requestCodeOn(sock, this.pairing.digits)
      else if (!this.pairing) {
        this.setStatus('SCAN_QR_CODE', { qr: u.qr, detail: 'scan the QR code with the phone' })
      }
    }
    if (u.connection === 'open') {
      this.outage.recovered()
      // No backoff reset here: WhatsApp may end the socket right after `open` (see ./login-guard.ts).
      this.loginGuard.opened()
      this.deps.onLogin?.(this.sessionId)
      this.qrRounds = 0
      this.endPairing({ err: new Error('already paired') })
      this.setStatus('WORKING', { detail: this.workingDetail() })
    }
    if (u.connection === 'close')
      this.onClose(disconnectStatusCode(u.lastDisconnect?.error), u.lastDisconnect?.error)
  }

  private onClose(statusCode: number | undefined, error?: unknown): void {
    const verdict = this.loginGuard.closed(whatsAppCause(statusCode, error))
    if (verdict.stable) this.attempt = 0
    const decision = decideOnClose(statusCode, this.attempt, this.deps.rand ?? Math.random, closeCause(error))
    this.attempt += 1
    this.sock = undefined
    this.available = false
    if (this.presenceIdle) clearTimeout(this.presenceIdle)
    this.resetHalfWrittenCreds()
    // A QR socket that closed without pairing (515 is the restart right after a successful scan).
    if (
      this.showedQr &&
      statusCode !== DisconnectReason.restartRequired &&
      !this.socketAuth.creds.registered
    ) {
      this.qrRounds += 1
      if (this.qrRounds >= (this.deps.maxQrRounds ?? DEFAULT_MAX_QR_ROUNDS)) {
        this.log.warn({ qrRounds: this.qrRounds }, 'nobody scanned the QR codes; stopping the session')
        this.stopped = true
        this.setStatus('STOPPED', { detail: 'not paired: QR not scanned' })
        this.bucket.cancel(new SessionNotLiveError(this.sessionId))
        return
      }
    }
    const logFields = { statusCode, action: decision.action, delayMs: decision.delayMs }
    if ((decision.action === 'restart' || decision.action === 'reconnect') && verdict.exhausted) {
      const causes = this.loginGuard.lastCauses()
      this.log.error(
        { ...logFields, loginsLastHour: verdict.loginsLastHour, causes },
        'WhatsApp keeps dropping the connection after login; not reconnecting',
      )
      this.stopped = true
      this.setStatus('FAILED', {
        detail: loginStormDetail(verdict, this.loginGuard.maxLoginsPerHour, causes),
      })
      this.bucket.cancel(new SessionNotLiveError(this.sessionId))
      return
    }
    switch (decision.action) {
      case 'restart':
      case 'reconnect':
        // 515 after pairing is routine; anything else is WhatsApp being unreachable, told once.
        if (decision.action === 'restart')
          this.log.info(logFields, 'WhatsApp connection closed; reconnecting')
        else this.outage.failed(whatsAppCause(statusCode, error), `reconnect in ${decision.delayMs} ms`)
        this.setStatus(decision.status, { detail: decision.detail })
        this.reconnectTimer = setTimeout(() => this.reconnect(), decision.delayMs)
        break
      case 'logged-out':
        this.log.warn(logFields, 'WhatsApp logged this device out; wiping its auth')
        this.stopped = true
        this.setStatus(decision.status, { detail: decision.detail }, () => this.wipeAuth())
        break
      case 'replaced':
        this.log.warn(logFields, 'another client took over this WhatsApp session; not reconnecting')
        this.stopped = true
        this.setStatus(decision.status, { detail: decision.detail })
        break
      case 'forbidden':
        this.log.error(logFields, 'WhatsApp refused this number (403); not reconnecting')
        this.stopped = true
        this.setStatus(decision.status, { detail: decision.detail })
        break
      case 'mismatch':
        this.log.error(logFields, 'WhatsApp refused this linked device (411); not reconnecting')
        this.stopped = true
        this.setStatus(decision.status, { detail: decision.detail })
        break
    }
    this.bucket.cancel(new SessionNotLiveError(this.sessionId))
  }

  private reconnect(): void {
    this.reconnectTimer = undefined
    if (this.closing || this.stopped) return
    // A creds reset (or save) in flight must land before the next socket reads the creds.
    void this.credsChain.then(() => {
      if (this.closing || this.stopped || this.sock) return
      try {
        this.connect()
      } catch (err) {
        this.log.error({ err }, 'creating a Baileys socket failed')
        this.onClose(undefined)
      }
    })
  }

  /**
   * Baileys' `requestPairingCode` writes `creds.me` (and a pairing code) at once, long before the phone
   * confirms (`creds.registered`). A socket that ends in between leaves half-written creds, and the next
   * socket would log in with them (Socket/socket.js: `creds.me` set -> login node) and fail. Reset them
   * to fresh ones (same object, the sockets share it) and drop the keys before the next socket.
   */
  private resetHalfWrittenCreds(): void {
    const creds = this.socketAuth.creds
    if (creds.registered || !creds.pairingCode) return
    this.log.warn('the socket closed during pairing by code: resetting the half-written creds')
    const fresh = initAuthCreds()
    for (const key of Object.keys(creds)) delete (creds as unknown as Record<string, unknown>)[key]
    Object.assign(creds, fresh)
    this.credsChain = this.credsChain
      .then(async () => {
        await this.auth.wipe()
        await this.auth.saveCreds()
      })
      .catch((err: unknown) => this.log.error({ err }, 'resetting half-written creds failed'))
  }

  /** Deletes the session's auth once pending creds writes are done, and stops saving creds. */
  private async wipeAuth(): Promise<void> {
    this.wiped = true
    await this.credsChain
    await this.auth.wipe()
  }

  /**
   * Records a status and reports it (reports are chained, so they reach `onStatus` in order). `before`
   * runs in the chain first (e.g. the wipe of a logout); its failure is logged, never thrown.
   */
  private setStatus(
    status: SessionStatus,
    extra: { qr?: string; detail?: string },
    before?: () => Promise<void>,
  ): Promise<void> {
    this.state = status
    this.statusChain = this.statusChain
      .then(async () => {
        if (before) {
          try {
            await before()
          } catch (err) {
            this.log.error({ err }, 'preparing a status change failed')
          }
        }
        await this.deps.onStatus(this.sessionId, status, extra)
      })
      .catch((err: unknown) => this.log.error({ err, status }, 'reporting a session status failed'))
    return this.statusChain
  }

  // ---- event FIFO ----------------------------------------------------------------------------------

  private enqueue(events: RawInboxEvent[], delivered?: () => void): void {
    events.forEach((event, i) => {
      this.queue.push({ event, ...(delivered && i === events.length - 1 ? { delivered } : {}) })
    })
    if (this.queue.length >= QUEUE_WARN_AT && !this.queueWarned) {
      this.queueWarned = true
      this.log.warn({ pending: this.queue.length }, 'WhatsApp events are piling up behind a slow sink')
    }
    if (!this.draining) this.draining = this.drain()
  }

  /** Resolves once everything queued so far has been handed to the sink. */
  private whenDelivered(): Promise<void> {
    const last = this.queue.at(-1)
    if (!last) return this.draining ?? Promise.resolve()
    return new Promise<void>((resolve) => {
      const before = last.delivered
      last.delivered = () => {
        before?.()
        resolve()
      }
    })
  }

  /** Hands queued events to the sink one at a time, in order, until the queue is empty. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const { event, delivered } = this.queue.shift()!
        await this.deliver(event)
        delivered?.()
        if (this.queue.length < QUEUE_WARN_AT / 2) this.queueWarned = false
      }
    } finally {
      // Synchronously after the emptiness check: an event enqueued from now on starts a new drain.
      this.draining = undefined
    }
  }

  /**
   * Retries while the sink fails (Redis down): Baileys has already acknowledged the message to WhatsApp,
   * so dropping it would lose it. While closing, a failure drops the event (logged) so close() ends.
   */
  private async deliver(event: RawInboxEvent): Promise<void> {
    for (;;) {
      try {
        await this.sink(event)
        return
      } catch (err) {
        if (this.closing) {
          this.log.error(
            { err, eventType: event.type },
            'dropped a WhatsApp event while closing: the sink failed',
          )
          return
        }
        this.log.error({ err, eventType: event.type }, 'handling a WhatsApp event failed; retrying')
        await new Promise((resolve) => setTimeout(resolve, SINK_RETRY_MS))
      }
    }
  }

  // ---- actions -------------------------------------------------------------------------------------

  private live(): BaileysSocket {
    if (this.state !== 'WORKING' || !this.sock || this.closing) throw new SessionNotLiveError(this.sessionId)
    return this.sock
  }

  /** Waits for a send token, then runs one send bounded by the timeout, mapping Baileys' errors. */
  private async act(
    action: string,
    send: (sock: BaileysSocket) => Promise<void>,
    stanzas = 1,
  ): Promise<void> {
    this.live()
    await this.bucket.take(stanzas)
    const sock = this.live()
    try {
      await withTimeout(() => send(sock), this.timeoutMs, action)
    } catch (err) {
      if (isAppStateKeyMissing(err)) throw new AppStateKeyMissingError()
      if (isConnectionClosed(err)) throw new SessionNotLiveError(this.sessionId)
      throw err
    }
  }

  /**
   * Once WhatsApp accepted one of our actions, the inbox follows (through the same FIFO as incoming
   * events, so it is ordered with them); resolves when delivered, or at once while closing.
   */
  private reflect(action: OwnAction): Promise<void> {
    const events = ownActionEvents(this.sessionId, action, this.clock.now())
    if (events.length === 0 || this.closing) return Promise.resolve()
    return new Promise<void>((resolve) => this.enqueue(events, resolve))
  }

  async readMessages(keys: MessageKey[]): Promise<void> {
    if (keys.length === 0) return
    const waKeys = keys.map(toWAKey)
    let hidden: boolean | undefined
    await this.act(
      'readMessages',
      async (sock) => {
        await sock.readMessages(waKeys)
        // What `readMessages` just decided on (Socket/messages-send: `fetchPrivacySettings()`, cached per
        // socket, `readreceipts === 'all' ? 'read' : 'read-self'`): asking again costs no stanza.
        hidden = await sock.fetchPrivacySettings().then(
          (p) => p.readreceipts !== 'all',
          () => undefined,
        )
      },
      receiptStanzas(keys),
    )
    if (hidden !== undefined) this.noteReadReceipts(hidden)
    await this.reflect({ kind: 'read', keys })
  }

  /**
   * Hidden read receipts are silent on WhatsApp's side (the receipt is accepted as `read-self`): say so
   * once per change, in the status detail, the log and through `onReadReceiptsHidden` (a metric).
   */
  private noteReadReceipts(hidden: boolean): void {
    if (this.receiptsHidden === hidden) return
    const first = this.receiptsHidden === undefined
    this.receiptsHidden = hidden
    this.deps.onReadReceiptsHidden?.(this.sessionId, hidden)
    if (hidden) {
      this.log.warn(
        'this WhatsApp account hides its read receipts: receipts go out as read-self and customers see no blue ticks (turn on WhatsApp > Settings > Privacy > Read receipts)',
      )
    } else if (!first) this.log.info('read receipts are shown again: customers see blue ticks')
    if ((hidden || !first) && this.state === 'WORKING')
      this.setStatus('WORKING', { detail: this.workingDetail() })
  }

  private workingDetail(): string {
    return this.receiptsHidden
      ? 'connected; read receipts are hidden on this account (Privacy > Read receipts): customers see no blue ticks'
      : 'connected'
  }

  async markChatRead(chat: ChatRef): Promise<void> {
    await this.act('chatModify markRead', (sock) =>
      sock.chatModify({ markRead: true, lastMessages: lastMessagesOf(chat) }, chat.jid),
    )
    await this.reflect({ kind: 'markRead', chat })
  }

  async markChatUnread(chat: ChatRef): Promise<void> {
    await this.act('chatModify markUnread', (sock) =>
      sock.chatModify({ markRead: false, lastMessages: lastMessagesOf(chat) }, chat.jid),
    )
    await this.reflect({ kind: 'markUnread', chat })
  }

  async setArchived(chat: ChatRef, archived: boolean): Promise<void> {
    await this.act(archived ? 'chatModify archive' : 'chatModify unarchive', (sock) =>
      sock.chatModify({ archive: archived, lastMessages: lastMessagesOf(chat) }, chat.jid),
    )
    await this.reflect({ kind: archived ? 'archive' : 'unarchive', chat })
  }

  /**
   * With `markOnlineOnConnect: false` Baileys announces `unavailable`, and WhatsApp then shows no chat
   * state: typing/recording needs `available` first (Baileys README, "presence"; Socket/chats
   * `sendPresenceUpdate`). We go back to `unavailable` on `paused`, or after `presenceIdleMs` without a
   * new chat state, so the phone keeps getting notifications. Each stanza takes a send token.
   */
  async sendPresence(jid: string, state: PresenceState): Promise<void> {
    if (this.presenceIdle) clearTimeout(this.presenceIdle)
    this.presenceIdle = undefined
    if (state !== 'paused' && !this.socketAuth.creds.me?.name) {
      // Baileys would drop our `available` silently and the chat state would show nowhere: say so
      // instead of spending stanzas on it and believing we are available.
      this.live()
      if (!this.warnedNoName) {
        this.warnedNoName = true
        this.log.warn('typing cannot show: this WhatsApp account has no profile (push) name')
      }
      throw new PresenceNotShownError(this.sessionId)
    }
    if (state !== 'paused' && !this.available) {
      await this.act('sendPresenceUpdate available', (sock) => sock.sendPresenceUpdate('available'))
      this.available = true
    }
    await this.act(`sendPresenceUpdate ${state}`, (sock) => sock.sendPresenceUpdate(state, jid))
    if (state === 'paused') await this.goUnavailable()
    else {
      this.presenceIdle = setTimeout(() => {
        this.presenceIdle = undefined
        this.goUnavailable().catch((err: unknown) => this.log.warn({ err }, 'going unavailable failed'))
      }, this.deps.presenceIdleMs ?? DEFAULT_PRESENCE_IDLE_MS)
    }
  }

  private async goUnavailable(): Promise<void> {
    if (!this.available || this.closing || !this.sock) return
    this.available = false
    await this.act('sendPresenceUpdate unavailable', (sock) => sock.sendPresenceUpdate('unavailable'))
  }

  /**
   * A phone pairing code (the alternative to the QR) for `phone` in international format. The code is
   * requested on a FRESH socket (the current one is replaced) once it reaches the pairing stage; each
   * later socket asks again, until the phone has linked, and reports its code in the status detail.
   */
  async requestPairingCode(phone: string): Promise<string> {
    const digits = phone.replace(/[\s+()-]/g, '')
    if (!/^\d{6,15}$/.test(digits)) {
      throw new Error('expected a phone number in international format, e.g. +4915112345678')
    }
    if (this.state === 'WORKING') throw new Error(`session ${this.sessionId} is already paired and connected`)
    if (this.closing || this.stopped) throw new SessionNotLiveError(this.sessionId)
    const result = new Promise<string>((resolve, reject) => {
      const waiters = this.pairing?.waiters ?? []
      waiters.push((r) => (r.code !== undefined ? resolve(r.code) : reject(r.err)))
      this.pairing = { digits, waiters }
    })
    const timer = setTimeout(
      () => this.endPairingWaiters({ err: new Error('WhatsApp did not reach the pairing stage in time') }),
      this.deps.pairingWaitMs ?? 30_000,
    )
    this.freshSocket()
    try {
      return await result
    } finally {
      clearTimeout(timer)
    }
  }

  /** Replaces the current socket by a new one (same auth); the old one's close is ignored. */
  private freshSocket(): void {
    const old = this.sock
    this.sock = undefined
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
    if (old) void withTimeout(() => old.end(undefined), this.timeoutMs, 'end').catch(() => {})
    this.resetHalfWrittenCreds()
    this.setStatus('STARTING', { detail: 'opening a fresh socket for pairing by phone number' })
    this.reconnect()
  }

  private requestCodeOn(sock: BaileysSocket, digits: string): void {
    withTimeout(() => sock.requestPairingCode(digits), this.timeoutMs, 'requestPairingCode').then(
      (code) => {
        if (sock !== this.sock) return
        this.setStatus('SCAN_QR_CODE', {
          detail: `pairing code for +${digits}: ${code} (WhatsApp > Linked devices > Link with phone number)`,
        })
        this.endPairingWaiters({ code })
      },
      (err: unknown) => {
        this.log.warn({ err }, 'requesting a pairing code failed')
        this.endPairingWaiters({ err })
      },
    )
  }

  private endPairingWaiters(r: { code?: string; err?: unknown }): void {
    for (const w of this.pairing?.waiters.splice(0) ?? []) w(r)
  }

  private endPairing(r: { code?: string; err?: unknown }): void {
    this.endPairingWaiters(r)
    this.pairing = undefined
  }

  /** Unlinks this device on the phone (`sock.logout`), then wipes the session's auth; status STOPPED. */
  async logout(): Promise<void> {
    if (this.closed) return this.closed
    // No reconnect and no FAILED for the 401 close our own logout causes.
    this.stopped = true
    const sock = this.sock
    this.sock = undefined
    if (sock) {
      try {
        await withTimeout(() => sock.logout(), this.timeoutMs, 'logout')
      } catch (err) {
        this.log.warn({ err }, 'logging out on WhatsApp failed; wiping the local auth anyway')
        await sock.end(undefined).catch(() => {})
      }
    }
    try {
      await this.wipeAuth()
    } catch (err) {
      this.log.error({ err }, 'wiping the auth after logout failed')
      throw err
    } finally {
      await this.shutdown(undefined, 'logged out: pair again')
    }
  }

  /** Stops reconnecting, ends the socket, delivers the queued events, then reports STOPPED. */
  close(): Promise<void> {
    if (!this.closed) {
      const sock = this.sock
      this.sock = undefined
      this.closed = this.shutdown(sock, 'closed')
    }
    return this.closed
  }

  private shutdown(sock: BaileysSocket | undefined, detail: string): Promise<void> {
    if (this.closed) return this.closed
    // What Baileys' buffer still holds is delivered, not dropped (fault 2.8): flush before we stop
    // taking events, and before `end` destroys the buffer.
    try {
      sock?.ev.flush()
    } catch (err) {
      this.log.warn({ err }, 'flushing the Baileys event buffer failed')
    }
    this.closing = true
    if (this.presenceIdle) clearTimeout(this.presenceIdle)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
    const notLive = new SessionNotLiveError(this.sessionId)
    this.endPairing({ err: notLive })
    this.bucket.cancel(notLive)
    this.outage.close()
    this.closed = (async () => {
      if (sock) {
        try {
          await withTimeout(() => sock.end(undefined), this.timeoutMs, 'end')
        } catch (err) {
          this.log.warn({ err }, 'ending the Baileys socket failed')
        }
      }
      await this.draining
      await this.credsChain
      this.keyCache.flushAll()
      await this.setStatus('STOPPED', { detail })
    })()
    return this.closed
  }
}

/** The real cause of a disconnect: the status code and, below Baileys' Boom, the socket error (DNS, TLS). */
function whatsAppCause(statusCode: number | undefined, error: unknown): string {
  const inner = (error as { data?: unknown } | undefined)?.data
  const below = inner instanceof Error ? describeCause(inner) : undefined
  const message = error instanceof Error ? error.message : undefined
  return [statusCode ?? 'no status', message, below && below !== message ? below : undefined]
    .filter(Boolean)
    .join(': ')
}
