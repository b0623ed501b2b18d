import { randomUUID } from 'node:crypto'
import type { UserFacingSocketConfig } from '@whiskeysockets/baileys'
import { Redis } from 'ioredis'
import type { Keys } from '../../src/keys.js'
import { FakeWASocket, waMessage } from './fake-wa-socket.js'

/**
 * A WhatsApp server for worker PROCESSES on the Baileys transport, kept in Redis so the test and every
 * worker share it: customer messages wait in a stream until a connection of the account acknowledges
 * them (WhatsApp's offline queue: a message not acked is delivered again to the next connection).
 */
export interface ServerMessage {
  id: string
  /** The customer's jid. */
  from: string
  text: string
  /** Seconds since the epoch. */
  ts: number
}

export function waServerKeys(keys: Keys, sid: string) {
  return {
    inbound: `${keys.session(sid)}wa-server:inbound`,
    /** The last inbound entry a connection of the account acknowledged. */
    acked: `${keys.session(sid)}wa-server:acked`,
  }
}

export async function sendToAccount(redis: Redis, keys: Keys, sid: string, m: ServerMessage): Promise<void> {
  await redis.xadd(waServerKeys(keys, sid).inbound, '*', 'm', JSON.stringify(m))
}

/**
 * What a holder's Signal layer stores for a contact after decrypting a message (`session` key type).
 * libsignal's SessionCipher steps the ratchet on a new ratchet key from the sender and then generates a
 * fresh ephemeral key pair of its own (`maybeStepRatchet`), so two processes decrypting the same message
 * from the same stored state store DIFFERENT records; only one of them matches what the next messages are
 * encrypted for. Modelled as a counter and a random ephemeral.
 */
export interface SessionRecordModel {
  received: number
  ephemeral: string
}

/**
 * A connection of the account: FakeWASocket (Baileys' event buffer and message processing) that receives
 * the server's messages, decrypting each as Baileys does (Signal/libsignal `decryptMessage`: inside
 * `keys.transaction(…, jid)`, SessionCipher loads the contact's `session`, then stores the advanced one,
 * committed when the transaction ends), then upserts it and acknowledges it (Socket/messages-recv
 * `handleMessage`: decrypt, then `sendMessageAck`). Baileys' `end` stops reading frames (Socket/socket
 * `end` removes the websocket's message listeners); a frame already being handled runs to its end.
 */
export class ServerFedSocket extends FakeWASocket {
  private readonly reader: Redis

  constructor(
    config: UserFacingSocketConfig,
    private readonly deps: {
      redisUrl: string
      keys: Keys
      sessionId: string
      /** Called between loading and storing the Signal session of this message id (a test's pause). */
      midDecrypt?: (messageId: string) => void
      report: (line: Record<string, unknown>) => void
    },
  ) {
    super(config)
    this.reader = new Redis(deps.redisUrl, { maxRetriesPerRequest: null })
    this.reader.on('error', () => {})
    const end = this.end
    this.end = async (error) => {
      this.reader.disconnect()
      await end(error)
    }
    // A paired account: the connection opens at once.
    setImmediate(() => {
      if (this.ended) return
      this.open()
      void this.read().catch(() => {})
    })
  }

  private async read(): Promise<void> {
    const k = waServerKeys(this.deps.keys, this.deps.sessionId)
    let offset = (await this.reader.get(k.acked)) ?? '0'
    while (!this.ended) {
      const res = (await this.reader.xread('BLOCK', 0, 'STREAMS', k.inbound, offset)) as Array<
        [string, Array<[string, string[]]>]
      > | null
      for (const [id, fields] of res?.[0]?.[1] ?? []) {
        if (this.ended) return
        offset = id
        const m = JSON.parse(fields[1]!) as ServerMessage
        if (!(await this.decrypt(m))) continue
        await this.receive([
          waMessage({
            key: { remoteJid: m.from, fromMe: false, id: m.id },
            messageTimestamp: m.ts,
            message: { conversation: m.text },
          }),
        ])
        await this.reader.set(k.acked, id)
      }
    }
  }

  private async decrypt(m: ServerMessage): Promise<boolean> {
    const keys = this.authState.keys
    const address = `${m.from.split('@')[0]}.0`
    try {
      await keys.transaction(async () => {
        const { [address]: stored } = await keys.get('session', [address])
        const before = stored
          ? (JSON.parse(Buffer.from(stored).toString()) as SessionRecordModel)
          : { received: 0, ephemeral: '' }
        this.deps.midDecrypt?.(m.id)
        const next: SessionRecordModel = {
          received: before.received + 1,
          ephemeral: randomUUID(),
        }
        await keys.set({ session: { [address]: new Uint8Array(Buffer.from(JSON.stringify(next))) } })
      }, m.from)
    } catch (err) {
      // Baileys turns a failed decryption into a CIPHERTEXT placeholder and asks for a retry.
      this.deps.report({ msg: 'fake-wa decrypt', id: m.id, ok: false, err: String(err) })
      return false
    }
    this.deps.report({ msg: 'fake-wa decrypt', id: m.id, ok: true })
    return true
  }
}
