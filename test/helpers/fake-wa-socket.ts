import { randomBytes } from 'node:crypto'
import {
  addTransactionCapability,
  type BaileysEventMap,
  type ChatModification,
  chatModificationToAppPatch,
  DEFAULT_CONNECTION_CONFIG,
  DisconnectReason,
  decodePatches,
  encodeSyncdPatch,
  type GroupMetadata,
  initAuthCreds,
  isJidGroup,
  jidNormalizedUser,
  type LTHashState,
  makeEventBuffer,
  newLTHashState,
  processSyncAction,
  proto,
  type SignalKeyStore,
  type UserFacingSocketConfig,
  type WAMessage,
  type WAMessageKey,
  WAMessageStatus,
  type WAPatchCreate,
  type WAPresence,
  type WASocket,
} from '@whiskeysockets/baileys'
import processMessage from '@whiskeysockets/baileys/lib/Utils/process-message.js'
import { pino } from 'pino'
import {
  type BaileysSocket,
  BaileysTransport,
  type BaileysTransportDeps,
} from '../../src/whatsapp/baileys/transport.js'
import type { SessionStatus } from '../../src/whatsapp/port.js'

/**
 * A stand-in for Baileys' socket, typed against Baileys' own `WASocket`: it implements exactly the members
 * the adapter uses, and produces events the way Baileys 7.0.0-rc14 does, with Baileys' own code wherever it
 * runs without a server:
 * - `ev` is Baileys' real event buffer (`Utils/event-buffer` `makeEventBuffer`): `ev.process` handlers are
 *   called, never awaited, and buffered events are merged by its rules (`concatChats` SUMS the
 *   `unreadCount` of buffered `chats.update`s of one chat: a read, 0, then a message, +1, flushes as +1).
 * - incoming messages (`receive`) go through Baileys' `upsertMessage` path (Socket/chats, a buffered
 *   function) and Baileys' real `processMessage` (Utils/process-message), which emits the +1 chats.update.
 * - our own `chatModify` is encoded and decoded with Baileys' real app-state codec (Utils/chat-utils
 *   `chatModificationToAppPatch`, `encodeSyncdPatch`, `decodePatches`, `processSyncAction`) and comes back
 *   as `chats.update` unless the config says `emitOwnEvents: false` (Socket/chats `appPatch`).
 * - changes made on our other devices (`otherDeviceModifies`) arrive as decoded app-state patches
 *   (Socket/chats `resyncAppState`), and reads there as receipts (`otherDeviceReads`, Socket/messages-recv
 *   `handleReceipt`): `messages.update` status READ in 1:1 chats, `message-receipt.update` in groups.
 * Tests read what the adapter asked of it from `calls`; `impl` makes a send stall or fail.
 */

/** Exactly the socket surface the adapter uses (so the fake cannot drift from it). */
export type FakeSocketSurface = BaileysSocket

const silent = pino({ level: 'silent' })
let pairingCodes = 0

/** An error shaped like Baileys' disconnect errors (a Boom with `output.statusCode`). */
export function disconnectError(statusCode: number, message = 'Connection Failure'): Error {
  return Object.assign(new Error(message), {
    isBoom: true,
    output: { statusCode, payload: { statusCode, error: 'Disconnect', message } },
  })
}

/** Our account as Baileys keeps it in `creds.me` once paired (device-qualified jids, push name). */
export const FAKE_ME = { id: '4915100000001:7@s.whatsapp.net', lid: '99900000000001:7@lid', name: 'Support' }

export interface FakeSocketOptions {
  /** Whether the phone shares its app-state key when the connection opens (default true). */
  shareAppStateKey?: boolean
}

export class FakeWASocket implements FakeSocketSurface {
  readonly ev: WASocket['ev'] = makeEventBuffer(silent)
  readonly authState: WASocket['authState']
  /** Our app-state per collection, as Baileys keeps `app-state-sync-version` (one LTHash per collection). */
  private readonly appState = new Map<string, LTHashState>()
  readonly calls = {
    readMessages: [] as WAMessageKey[][],
    chatModify: [] as Array<{ mod: ChatModification; jid: string }>,
    presence: [] as Array<{ type: WAPresence; jid: string | undefined }>,
    end: [] as Array<Error | undefined>,
    logout: 0,
    pairingCode: [] as string[],
    groupMetadata: [] as string[],
    /** The receipt type each `readMessages` sent ('read', or 'read-self' when receipts are hidden). */
    receiptTypes: [] as Array<'read' | 'read-self'>,
  }
  /** The account's privacy settings as WhatsApp answers the `privacy` IQ (Socket/chats). */
  privacy: { [key: string]: string } = { readreceipts: 'all' }
  /** Groups WhatsApp knows, by jid, for `groupMetadata`. */
  readonly groups = new Map<string, { subject: string }>()
  /** Replace a send's behaviour (stall, fail); the call is recorded first either way. */
  readonly impl: {
    readMessages?: (keys: WAMessageKey[]) => Promise<void>
    chatModify?: (mod: ChatModification, jid: string) => Promise<void>
    sendPresenceUpdate?: (type: WAPresence, jid: string | undefined) => Promise<void>
  } = {}
  ended = false

  constructor(
    readonly config: UserFacingSocketConfig,
    private readonly options: FakeSocketOptions = {},
  ) {
    this.authState = {
      creds: config.auth.creds,
      keys: addTransactionCapability(config.auth.keys, silent, {
        maxCommitRetries: 1,
        delayBetweenTriesMs: 1,
      }),
    }
  }

  /**
   * Socket/messages-send `readMessages`: reads the (cached) privacy settings and sends `read` receipts
   * when `readreceipts` is 'all', else `read-self` (the customer sees no blue ticks).
   */
  readMessages = async (keys: WAMessageKey[]): Promise<void> => {
    this.calls.readMessages.push(structuredClone(keys))
    await this.impl.readMessages?.(keys)
    const privacy = await this.fetchPrivacySettings()
    this.calls.receiptTypes.push(privacy.readreceipts === 'all' ? 'read' : 'read-self')
  }

  /** Socket/chats `fetchPrivacySettings` (one `privacy` IQ per socket, then cached): `privacy` here. */
  fetchPrivacySettings = async (_force?: boolean): Promise<{ [key: string]: string }> => ({ ...this.privacy })

  /** Socket/chats `chatModify`: the modification becomes an app-state patch (`appPatch`). */
  chatModify = async (mod: ChatModification, jid: string): Promise<void> => {
    this.calls.chatModify.push({ mod: structuredClone(mod), jid })
    if (this.impl.chatModify) return this.impl.chatModify(mod, jid)
    await this.appPatch(chatModificationToAppPatch(mod, jid), true)
  }

  private getAppStateSyncKey = async (keyId: string) => {
    const { [keyId]: key } = await this.authState.keys.get('app-state-sync-key', [keyId])
    return key
  }

  /**
   * Socket/chats `appPatch`: refuses without `creds.myAppStateKeyId` (400 'App state key not present!'),
   * encodes with `encodeSyncdPatch` (which throws isMissingKey if the key itself is gone), advances the
   * collection's LTHash state, and, for our own patch only if `emitOwnEvents` (Baileys' default true),
   * decodes it again with `decodePatches` and emits each mutation through `processSyncAction`. A patch
   * from another device is always emitted (Socket/chats `resyncAppState` -> `processSyncAction`).
   */
  private async appPatch(patchCreate: WAPatchCreate, own: boolean): Promise<void> {
    const keyId = this.authState.creds.myAppStateKeyId
    if (!keyId) {
      throw Object.assign(new Error('App state key not present!'), {
        isBoom: true,
        output: { statusCode: 400, payload: { statusCode: 400, message: 'App state key not present!' } },
      })
    }
    const name = patchCreate.type
    const initial = this.appState.get(name) ?? newLTHashState()
    const { patch, state } = await encodeSyncdPatch(patchCreate, keyId, initial, this.getAppStateSyncKey)
    this.appState.set(name, state)
    const emitOwn = this.config.emitOwnEvents ?? DEFAULT_CONNECTION_CONFIG.emitOwnEvents
    if (own && !emitOwn) return
    const { mutationMap } = await decodePatches(
      name,
      [{ ...patch, version: { version: state.version } }],
      initial,
      this.getAppStateSyncKey,
      {},
      undefined,
      silent,
    )
    // Socket/chats `newAppStateChunkHandler`: processSyncAction gets the socket's own `config.logger`.
    for (const mutation of Object.values(mutationMap)) {
      processSyncAction(
        mutation,
        this.ev,
        this.authState.creds.me ?? FAKE_ME,
        undefined,
        this.config.logger ?? silent,
      )
    }
  }

  /**
   * The phone shares its app-state key (a protocol message APP_STATE_SYNC_KEY_SHARE, Utils/process-message):
   * the key lands in the key store, `creds.myAppStateKeyId` is set and a creds.update emitted.
   */
  shareAppStateKey(): void {
    if (this.authState.creds.myAppStateKeyId) return
    const keyId = randomBytes(6).toString('base64')
    const keyData = proto.Message.AppStateSyncKeyData.fromObject({
      keyData: randomBytes(32),
      fingerprint: { rawId: 1, currentIndex: 0, deviceIndexes: [0] },
      timestamp: Date.now(),
    })
    void this.authState.keys.set({ 'app-state-sync-key': { [keyId]: keyData } })
    this.authState.creds.myAppStateKeyId = keyId
    this.emit('creds.update', { myAppStateKeyId: keyId })
  }

  /**
   * A chat modification made on the phone or WhatsApp Web: its patch reaches us through the app-state
   * resync (Socket/chats `resyncAppState`, a buffered function: events flush about 100 ms later).
   */
  otherDeviceModifies(mod: ChatModification, jid: string): Promise<void> {
    return this.ev.createBufferedFunction(async () => {
      await this.appPatch(chatModificationToAppPatch(mod, jid), false)
    })()
  }

  /**
   * The initial sync after pairing, inside Baileys' offline buffer (Socket/socket.js): the history sync
   * (Utils/history `processHistoryMessage` -> `messaging-history.set`, its chats with their state), then
   * the app-state collections synced from scratch (Socket/chats `resyncAppState(..., isInitialSync)`):
   * each mutation goes through Baileys' own `processSyncAction` with `initialSyncOpts`, which emits its
   * chats.update with a `conditional` that the event buffer resolves against the history chats (absorbs,
   * holds or drops it: Utils/event-buffer `append`).
   */
  async initialSync(
    historyChats: Array<Record<string, unknown>>,
    modifications: Array<{ mod: ChatModification; jid: string }>,
  ): Promise<void> {
    const keyId = this.authState.creds.myAppStateKeyId
    if (!keyId) throw new Error('initialSync needs the app-state key (open the socket first)')
    this.ev.buffer()
    this.ev.emit('messaging-history.set', {
      chats: historyChats as never,
      contacts: [],
      messages: [],
      isLatest: true,
      syncType: proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP,
    })
    for (const { mod, jid } of modifications) {
      const patchCreate = chatModificationToAppPatch(mod, jid)
      const initial = newLTHashState()
      const { patch, state } = await encodeSyncdPatch(patchCreate, keyId, initial, this.getAppStateSyncKey)
      const { mutationMap } = await decodePatches(
        patchCreate.type,
        [{ ...patch, version: { version: state.version } }],
        initial,
        this.getAppStateSyncKey,
        {},
        undefined,
        silent,
      )
      for (const mutation of Object.values(mutationMap)) {
        processSyncAction(
          mutation,
          this.ev,
          this.authState.creds.me ?? FAKE_ME,
          { accountSettings: this.authState.creds.accountSettings },
          this.config.logger ?? silent,
        )
      }
    }
    this.ev.flush()
  }

  /**
   * Our phone or WhatsApp Web read these customer messages at `tSeconds`: WhatsApp sends our other
   * devices a receipt, handled by Socket/messages-recv `handleReceipt` inside `processNodeWithBuffer`
   * (buffer, handle, flush). 1:1: `messages.update` `{ status: READ, messageTimestamp: t }`; groups:
   * `message-receipt.update` with our own user as `userJid` and `readTimestamp: t`.
   */
  otherDeviceReads(keys: WAMessageKey[], tSeconds: number): void {
    const me = this.authState.creds.me
    if (!me) throw new Error('otherDeviceReads needs creds.me (a paired account)')
    this.ev.buffer()
    for (const key of keys) {
      const remoteJid = key.remoteJid!
      if (isJidGroup(remoteJid)) {
        // isNodeFromMe: the receipt's participant is our own account.
        const self = me.id
        this.ev.emit('message-receipt.update', [
          {
            key: { remoteJid, id: key.id!, fromMe: false, participant: self },
            receipt: { userJid: jidNormalizedUser(self), readTimestamp: tSeconds },
          },
        ])
      } else {
        this.ev.emit('messages.update', [
          {
            key: { remoteJid, id: key.id!, fromMe: false, participant: undefined },
            update: { status: WAMessageStatus.READ, messageTimestamp: tSeconds },
          },
        ])
      }
    }
    this.ev.flush()
  }

  /**
   * Messages arriving (live `notify`, or `append` for offline backlog), as Socket/chats `upsertMessage`
   * (a buffered function) handles each: `messages.upsert`, a `contacts.update` with the push name, then
   * Baileys' own `processMessage` (Utils/process-message), which emits the chat's `unreadCount: +1`.
   * Resolves once Baileys would have processed them; events flush about 100 ms later, as in Baileys.
   */
  async receive(messages: WAMessage[], type: 'notify' | 'append' = 'notify'): Promise<void> {
    const creds = this.authState.creds
    const upsert = this.ev.createBufferedFunction(async (msg: WAMessage) => {
      this.ev.emit('messages.upsert', { messages: [msg], type })
      // Socket/chats `upsertMessage`: the sender's push name and, for a business, its verified name.
      if (msg.pushName && !msg.key.fromMe) {
        const jid = jidNormalizedUser(msg.key.participant || msg.key.remoteJid!)
        this.ev.emit('contacts.update', [
          { id: jid, notify: msg.pushName, verifiedName: msg.verifiedBizName ?? undefined },
        ])
      }
      await processMessage(msg, {
        shouldProcessHistoryMsg: false,
        ev: this.ev,
        creds: { ...creds, me: creds.me ?? FAKE_ME },
        keyStore: this.authState.keys,
        logger: silent,
        options: {},
        signalRepository: {} as never,
        getMessage: async () => undefined,
      })
    })
    for (const m of messages) {
      // Socket/messages-recv `handleMessage`: a stanza from an ignored jid is only acked, never decrypted.
      if (this.config.shouldIgnoreJid?.(m.key.remoteJid!)) continue
      await upsert(m)
    }
  }

  /**
   * Offline catch-up after a (re)connect: Socket/socket.js buffers every event from connect until the
   * offline notifications are processed, then flushes them together.
   */
  async offline(work: () => Promise<void> | void): Promise<void> {
    this.ev.buffer()
    try {
      await work()
    } finally {
      this.ev.flush()
    }
  }

  /**
   * Chat states the contact would see. WhatsApp shows a chat state only from an account that announced
   * itself `available`; with `markOnlineOnConnect: false` Baileys leaves it `unavailable` (Baileys README,
   * "presence"). Socket/chats `sendPresenceUpdate` drops `available`/`unavailable` when `creds.me.name`
   * is missing ('no name present, ignoring presence update request...').
   */
  readonly shownToContact: Array<{ type: WAPresence; jid: string | undefined }> = []
  private online = false

  sendPresenceUpdate = async (type: WAPresence, toJid?: string): Promise<void> => {
    this.calls.presence.push({ type, jid: toJid })
    await this.impl.sendPresenceUpdate?.(type, toJid)
    if (type === 'available' || type === 'unavailable') {
      if (this.authState.creds.me?.name) this.online = type === 'available'
    } else if (this.online) this.shownToContact.push({ type, jid: toJid })
  }

  /**
   * Socket/socket.js `requestPairingCode`: writes `creds.pairingCode` and `creds.me` ({ id: phone jid,
   * name: '~' }) and emits creds.update at once; `creds.registered` turns true only when the phone
   * confirms (Socket/messages-recv, link_code_companion_reg). Codes differ per request.
   */
  requestPairingCode = async (phoneNumber: string, customPairingCode?: string): Promise<string> => {
    this.calls.pairingCode.push(phoneNumber)
    const code = customPairingCode ?? `CODE${String(++pairingCodes).padStart(4, '0')}`
    const creds = this.authState.creds
    creds.pairingCode = code
    creds.me = { id: `${phoneNumber}@s.whatsapp.net`, name: '~' }
    this.emit('creds.update', creds)
    return code
  }

  /**
   * Socket/groups `groupMetadata`: an IQ `w:g2` query; the answer becomes a `GroupMetadata` via
   * `extractGroupMetadata` (id, subject, participants, ...). Emits nothing. A group we are not in is
   * answered with an error (Baileys' `query` throws a Boom, here 404 'item-not-found').
   */
  groupMetadata = async (jid: string): Promise<GroupMetadata> => {
    this.calls.groupMetadata.push(jid)
    const g = this.groups.get(jid)
    if (!g) {
      throw Object.assign(new Error('item-not-found'), {
        isBoom: true,
        output: { statusCode: 404, payload: { statusCode: 404, message: 'item-not-found' } },
      })
    }
    return { id: jid, subject: g.subject, owner: undefined, participants: [] }
  }

  /** The phone confirmed the pairing code (Socket/messages-recv: `creds.registered = true`). */
  phoneConfirmsCode(): void {
    this.authState.creds.registered = true
    this.emit('creds.update', this.authState.creds)
  }

  /** Like Baileys' `end`: emits the close once, then removes connection listeners and destroys `ev`. */
  end = async (error: Error | undefined): Promise<void> => {
    if (this.ended) return
    this.ended = true
    this.calls.end.push(error)
    this.ev.emit('connection.update', { connection: 'close', lastDisconnect: { error, date: new Date() } })
    this.ev.removeAllListeners('connection.update')
    this.ev.destroy()
  }

  /** Like Baileys' `logout`: the server is told, then the socket ends with 401. */
  logout = async (msg?: string): Promise<void> => {
    this.calls.logout += 1
    void this.end(disconnectError(DisconnectReason.loggedOut, msg ?? 'Intentional Logout'))
  }

  // ---- drivers ---------------------------------------------------------------------------------------

  emit<T extends keyof BaileysEventMap>(event: T, data: BaileysEventMap[T]): void {
    this.ev.emit(event, data)
  }

  /** The connection opens; with a paired account the phone then shares its app-state key. */
  open(): void {
    this.emit('connection.update', { connection: 'open', receivedPendingNotifications: true })
    if (this.options.shareAppStateKey ?? true) this.shareAppStateKey()
  }

  qr(qr: string): void {
    this.emit('connection.update', { connection: 'connecting', qr })
  }

  /** WhatsApp closed the connection with this status code (undefined: no code). */
  drop(statusCode: number | undefined): void {
    const error = statusCode === undefined ? new Error('socket hang up') : disconnectError(statusCode)
    void this.end(error)
  }
}

/** A `socketFactory` recording every socket (and so every config) the adapter creates. */
export function fakeSocketFactory(options: FakeSocketOptions = {}) {
  const sockets: FakeWASocket[] = []
  return {
    sockets,
    factory: (config: UserFacingSocketConfig): FakeWASocket => {
      const s = new FakeWASocket(config, options)
      sockets.push(s)
      return s
    },
    last(): FakeWASocket {
      const s = sockets.at(-1)
      if (!s) throw new Error('no socket was created')
      return s
    },
  }
}

/** An in-memory auth handle like `useRedisAuthState`'s, recording saves and wipes. */
export function memoryAuth() {
  const data = new Map<string, unknown>()
  const keys: SignalKeyStore = {
    get: (type, ids) => {
      const out: Record<string, never> = {}
      for (const id of ids) {
        const v = data.get(`${type}:${id}`)
        if (v !== undefined) out[id] = v as never
      }
      return out
    },
    set: (set) => {
      for (const [type, entries] of Object.entries(set)) {
        for (const [id, v] of Object.entries(entries ?? {})) {
          if (v === null) data.delete(`${type}:${id}`)
          else data.set(`${type}:${id}`, v)
        }
      }
    },
  }
  const handle = {
    state: { creds: initAuthCreds(), keys },
    saves: 0,
    wipes: 0,
    saveCreds: async (): Promise<void> => {
      handle.saves += 1
    },
    wipe: async (): Promise<number> => {
      handle.wipes += 1
      data.clear()
      return 1
    },
  }
  return handle
}

// ---- real Baileys message shapes ------------------------------------------------------------------------

export interface MessageSpec {
  key: WAMessageKey
  /** Seconds since the epoch; given as a string it becomes a protobuf Long, as decoded messages carry. */
  messageTimestamp?: number | string
  message?: proto.IMessage | null
  pushName?: string
  messageStubType?: proto.WebMessageInfo.StubType
  messageStubParameters?: string[]
  /** A business sender's verified name (Utils/decode-wa-message, from the `verified_name` node). */
  verifiedBizName?: string
}

/**
 * A `WAMessage` as Baileys emits it: a `proto.WebMessageInfo` (so the content and a Long timestamp are real
 * protobuf objects) whose `key` is the plain object Baileys builds in `decodeMessageNode`, with the
 * `remoteJidAlt`/`participantAlt` fields the protobuf `MessageKey` does not have.
 */
export function waMessage(spec: MessageSpec): WAMessage {
  const { key, ...rest } = spec
  const info = proto.WebMessageInfo.fromObject({ ...rest, key: { remoteJid: key.remoteJid, id: key.id } })
  return Object.assign(info, { key: { ...key } })
}

// ---- a BaileysTransport wired to fakes --------------------------------------------------------------------

export interface StatusReport {
  sessionId: string
  status: SessionStatus
  qr?: string
  detail?: string
}

/**
 * A BaileysTransport on fake sockets and in-memory auth, recording every status report. Pass overrides
 * for the rest of its deps (sendRate, sendTimeoutMs, rand, getMessage, ...).
 */
export function fakeBaileys(
  overrides: Partial<BaileysTransportDeps> = {},
  socketOptions: FakeSocketOptions = {},
) {
  const sockets = fakeSocketFactory(socketOptions)
  const auths = new Map<string, ReturnType<typeof memoryAuth>>()
  const statuses: StatusReport[] = []
  const transport = new BaileysTransport({
    socketFactory: sockets.factory,
    authState: async (sid) => {
      let a = auths.get(sid)
      if (!a) {
        a = memoryAuth()
        auths.set(sid, a)
      }
      return a
    },
    log: pino({ level: 'silent' }),
    onStatus: async (sessionId, status, extra) => {
      statuses.push({ sessionId, status, ...extra })
    },
    rand: () => 0.5,
    // No internet in tests: the bundled WhatsApp Web version.
    waVersion: async () => undefined,
    ...overrides,
  })
  return {
    transport,
    sockets,
    statuses,
    auth: (sid: string) => {
      const a = auths.get(sid)
      if (!a) throw new Error(`no auth loaded for ${sid}`)
      return a
    },
    /** The statuses reported so far, without the details. */
    statusNames: () => statuses.map((s) => s.status),
  }
}
