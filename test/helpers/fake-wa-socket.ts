import {
  addTransactionCapability,
  type BaileysEventMap,
  type ChatModification,
  DisconnectReason,
  initAuthCreds,
  makeEventBuffer,
  proto,
  type SignalKeyStore,
  type UserFacingSocketConfig,
  type WAMessage,
  type WAMessageKey,
  type WAPresence,
  type WASocket,
} from '@whiskeysockets/baileys'
import { pino } from 'pino'
import {
  type BaileysSocket,
  BaileysTransport,
  type BaileysTransportDeps,
} from '../../src/whatsapp/baileys/transport.js'
import type { SessionStatus } from '../../src/whatsapp/port.js'

/**
 * A stand-in for Baileys' socket, typed against Baileys' own `WASocket`: it implements exactly the members
 * the adapter uses, with Baileys' real event emitter (`makeEventBuffer`, so `ev.process` behaves as in
 * Baileys: handlers called, never awaited). Tests drive it with `emit`/`open`/`qr`/`drop` and read what
 * the adapter asked of it from `calls`; `impl` makes a send stall or fail.
 */

/** Exactly the socket surface the adapter uses (so the fake cannot drift from it). */
export type FakeSocketSurface = BaileysSocket

const silent = pino({ level: 'silent' })

/** An error shaped like Baileys' disconnect errors (a Boom with `output.statusCode`). */
export function disconnectError(statusCode: number, message = 'Connection Failure'): Error {
  return Object.assign(new Error(message), {
    isBoom: true,
    output: { statusCode, payload: { statusCode, error: 'Disconnect', message } },
  })
}

export class FakeWASocket implements FakeSocketSurface {
  readonly ev: WASocket['ev'] = makeEventBuffer(silent)
  readonly authState: WASocket['authState']
  readonly calls = {
    readMessages: [] as WAMessageKey[][],
    chatModify: [] as Array<{ mod: ChatModification; jid: string }>,
    presence: [] as Array<{ type: WAPresence; jid: string | undefined }>,
    end: [] as Array<Error | undefined>,
    logout: 0,
    pairingCode: [] as string[],
  }
  /** Replace a send's behaviour (stall, fail); the call is recorded first either way. */
  readonly impl: {
    readMessages?: (keys: WAMessageKey[]) => Promise<void>
    chatModify?: (mod: ChatModification, jid: string) => Promise<void>
    sendPresenceUpdate?: (type: WAPresence, jid: string | undefined) => Promise<void>
  } = {}
  ended = false

  constructor(readonly config: UserFacingSocketConfig) {
    this.authState = {
      creds: config.auth.creds,
      keys: addTransactionCapability(config.auth.keys, silent, {
        maxCommitRetries: 1,
        delayBetweenTriesMs: 1,
      }),
    }
  }

  readMessages = async (keys: WAMessageKey[]): Promise<void> => {
    this.calls.readMessages.push(structuredClone(keys))
    await this.impl.readMessages?.(keys)
  }

  chatModify = async (mod: ChatModification, jid: string): Promise<void> => {
    this.calls.chatModify.push({ mod: structuredClone(mod), jid })
    await this.impl.chatModify?.(mod, jid)
  }

  sendPresenceUpdate = async (type: WAPresence, toJid?: string): Promise<void> => {
    this.calls.presence.push({ type, jid: toJid })
    await this.impl.sendPresenceUpdate?.(type, toJid)
  }

  requestPairingCode = async (phoneNumber: string, customPairingCode?: string): Promise<string> => {
    this.calls.pairingCode.push(phoneNumber)
    return customPairingCode ?? 'ABCD1234'
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

  open(): void {
    this.emit('connection.update', { connection: 'open', receivedPendingNotifications: true })
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
export function fakeSocketFactory() {
  const sockets: FakeWASocket[] = []
  return {
    sockets,
    factory: (config: UserFacingSocketConfig): FakeWASocket => {
      const s = new FakeWASocket(config)
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
export function fakeBaileys(overrides: Partial<BaileysTransportDeps> = {}) {
  const sockets = fakeSocketFactory()
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
