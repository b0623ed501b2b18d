// A real Baileys socket pointed at the box: the config (`waWebSocketUrl`), an in-memory auth state, and a
// small helper to await `connection.update` states.
import {
  type AuthenticationCreds,
  type AuthenticationState,
  type ConnectionState,
  initAuthCreds,
  makeWASocket,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
  type UserFacingSocketConfig,
  type WASocket,
} from '@whiskeysockets/baileys'
import { pino } from 'pino'
import type { Box } from './box.js'
import { trustBoxCertificates } from './trust.js'

/** An in-memory `SignalKeyStore` (`set` applies a whole transaction; `null` deletes, as Baileys expects). */
export function memoryKeyStore(): SignalKeyStore & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>()
  return {
    data,
    async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const out: { [id: string]: SignalDataTypeMap[T] } = {}
      for (const id of ids) {
        const v = data.get(`${type}:${id}`)
        if (v !== undefined) out[id] = v as SignalDataTypeMap[T]
      }
      return out
    },
    async set(set: SignalDataSet) {
      for (const [type, entries] of Object.entries(set)) {
        for (const [id, value] of Object.entries(entries ?? {})) {
          if (value === null || value === undefined) data.delete(`${type}:${id}`)
          else data.set(`${type}:${id}`, value)
        }
      }
    },
  }
}

export interface MemoryAuth {
  state: AuthenticationState
  keys: ReturnType<typeof memoryKeyStore>
}

export function memoryAuth(creds: AuthenticationCreds = initAuthCreds()): MemoryAuth {
  const keys = memoryKeyStore()
  return { state: { creds, keys }, keys }
}

/**
 * Fresh creds already linked to the box's phone (box-side registration, see `Phone.link`).
 * `initialSyncDone` (default true) marks the device as one that finished its first history sync
 * (`creds.accountSyncCounter` 1). With false, its first login gets the phone's history sync
 * (`Phone.sendHistorySync`), as a device paired by QR does.
 */
export function linkedAuth(box: Box, { initialSyncDone = true } = {}): MemoryAuth {
  const auth = memoryAuth()
  box.phone.link(auth.state.creds, { initialSyncDone })
  if (initialSyncDone) auth.state.creds.accountSyncCounter = 1
  return auth
}

const logger = pino({ level: process.env.WA_BOX_LOG ?? 'silent' })

/** The socket config of a real Baileys socket talking to the box. */
export function boxSocketConfig(
  box: Box,
  auth: AuthenticationState,
  overrides: Partial<UserFacingSocketConfig> = {},
): UserFacingSocketConfig {
  trustBoxCertificates()
  return {
    waWebSocketUrl: box.url,
    auth,
    logger,
    // a fixed version: Baileys would otherwise fetch none, but keep tests independent of its default
    version: [2, 3000, 1027934701],
    markOnlineOnConnect: false,
    connectTimeoutMs: 10_000,
    defaultQueryTimeoutMs: 10_000,
    ...overrides,
  }
}

export interface BoxSocket {
  sock: WASocket
  /** Every `connection.update` so far, in order. */
  updates: Partial<ConnectionState>[]
  /** Resolves with the first update (already seen or future) that matches. */
  next(match: (u: Partial<ConnectionState>) => boolean): Promise<Partial<ConnectionState>>
  /** The status code of the close, once closed. */
  closeCode(): Promise<number | undefined>
}

export function connect(
  box: Box,
  auth: MemoryAuth,
  overrides: Partial<UserFacingSocketConfig> = {},
): BoxSocket {
  const sock = makeWASocket(boxSocketConfig(box, auth.state, overrides))
  const updates: Partial<ConnectionState>[] = []
  const waiters: Array<{
    match: (u: Partial<ConnectionState>) => boolean
    resolve: (u: Partial<ConnectionState>) => void
  }> = []
  sock.ev.on('creds.update', (update) => Object.assign(auth.state.creds, update))
  sock.ev.on('connection.update', (u) => {
    updates.push(u)
    for (const w of [...waiters]) {
      if (w.match(u)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(u)
      }
    }
  })
  const next = (match: (u: Partial<ConnectionState>) => boolean) => {
    const seen = updates.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise<Partial<ConnectionState>>((resolve) => waiters.push({ match, resolve }))
  }
  return {
    sock,
    updates,
    next,
    closeCode: async () => {
      const u = await next((x) => x.connection === 'close')
      return (u.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode
    },
  }
}
