// The people on the box: customers simulated as Signal devices with Baileys' own repository
// (`Signal/libsignal` `makeLibSignalRepository`, reached as `DEFAULT_CONNECTION_CONFIG.makeSignalRepository`).
// A customer fetches our devices' pre-key bundles from the box (what `messages-send` `assertSessions`
// does through `<iq xmlns=encrypt><key>`), encrypts with `encryptMessage` (`pkmsg` first, then `msg`), and
// the box delivers the `<message>` stanza to each of our linked devices, or queues it while a device is
// offline (delivered with `offline` after the next login, so Baileys upserts it as 'append').
import { randomBytes } from 'node:crypto'
import {
  addTransactionCapability,
  type BinaryNode,
  DEFAULT_CONNECTION_CONFIG,
  initAuthCreds,
  proto,
  type SignalRepositoryWithLIDStore,
  writeRandomPadMax16,
} from '@whiskeysockets/baileys'
import { pino } from 'pino'
import type { Account, Device } from './accounts.js'
import type { BoxCore } from './box.js'
import { memoryKeyStore } from './client.js'
import { nowSeconds } from './stanzas.js'

const silent = pino({ level: 'silent' })

export interface SendOptions {
  /** The message id (Baileys-style uppercase hex by default). */
  id?: string
  /** A WhatsApp Business sender: the `<verified_name>` certificate every message of theirs carries
   * (`Utils/decode-wa-message` `decryptMessageNode` → `verifiedBizName`). */
  verifiedName?: string
  /** Send bytes our device cannot decrypt (a broken session): Baileys inserts a CIPHERTEXT stub and asks
   * for a retry (`messages-recv` `handleMessage` → `sendRetryRequest`). */
  undecryptable?: boolean
  /** Message timestamp in seconds (default now). */
  t?: number
}

/** A message id as WhatsApp clients make them (Baileys `generateMessageIDV2` style: 3EB0 + hex). */
function messageId(): string {
  return `3EB0${randomBytes(8).toString('hex').toUpperCase()}`
}

export class Customer {
  private readonly repo: SignalRepositoryWithLIDStore
  readonly sent: Array<{ id: string; text: string; t: number; encTypes: string[] }> = []

  constructor(
    private readonly core: BoxCore,
    readonly account: Account,
    private readonly business: Account,
  ) {
    const creds = initAuthCreds()
    // the key store as `Socket/socket` `makeSocket` gives it to the repository: with transactions
    const keys = addTransactionCapability(memoryKeyStore(), silent, DEFAULT_CONNECTION_CONFIG.transactionOpts)
    this.repo = DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds, keys }, silent)
  }

  /** `phone@s.whatsapp.net` */
  get pnJid(): string {
    return `${this.account.phone}@s.whatsapp.net`
  }

  /** `lid@lid` — the address WhatsApp uses for 1:1 chats today; `sender_pn` carries the number. */
  get lidJid(): string {
    return `${this.account.lid}@lid`
  }

  /** Sends a text to the business; returns the message id. */
  async sendText(text: string, options: SendOptions = {}): Promise<string> {
    const id = options.id ?? messageId()
    const t = options.t ?? nowSeconds()
    const plaintext = writeRandomPadMax16(proto.Message.encode({ conversation: text }).finish())
    const encTypes: string[] = []
    for (const device of this.targets()) {
      const enc = options.undecryptable
        ? { type: 'msg', ciphertext: randomBytes(48) }
        : await this.encryptFor(device, plaintext)
      encTypes.push(enc.type)
      this.core.deliver(device, this.stanza(id, t, enc, options))
    }
    this.sent.push({ id, text, t, encTypes })
    this.core.records.changed()
    return id
  }

  /** Our linked devices that published a key bundle (the phone itself is not simulated as a Signal device). */
  private targets(): Device[] {
    return [...this.business.devices.values()].filter((d) => d.id !== 0 && d.identityKey && d.signedPreKey)
  }

  private async encryptFor(device: Device, plaintext: Buffer) {
    const address = device.jid
    const { exists } = await this.repo.validateSession(address)
    if (!exists) {
      // The server hands out one one-time pre-key per fetch (`messages-send` `assertSessions` →
      // `Utils/signal` `parseAndInjectE2ESessions` reads <registration>, <identity>, <skey>, <key>).
      const first = device.preKeys.entries().next()
      const preKey = first.done ? undefined : { keyId: first.value[0], publicKey: first.value[1] }
      if (preKey) device.preKeys.delete(preKey.keyId)
      const signed = device.signedPreKey
      if (!signed || !device.identityKey || device.registrationId === undefined)
        throw new Error(`no key bundle for ${address}`)
      await this.repo.injectE2ESession({
        jid: address,
        session: {
          registrationId: device.registrationId,
          identityKey: withKeyType(device.identityKey),
          signedPreKey: {
            keyId: signed.keyId,
            publicKey: withKeyType(signed.publicKey),
            signature: signed.signature,
          },
          ...(preKey ? { preKey: { keyId: preKey.keyId, publicKey: withKeyType(preKey.publicKey) } } : {}),
        },
      })
    }
    return this.repo.encryptMessage({ jid: address, data: plaintext })
  }

  /** The stanza as WhatsApp delivers a 1:1 message (`decode-wa-message` `decodeMessageNode`). */
  private stanza(
    id: string,
    t: number,
    enc: { type: string; ciphertext: Uint8Array },
    options: SendOptions,
  ): BinaryNode {
    const content: BinaryNode[] = [
      { tag: 'enc', attrs: { v: '2', type: enc.type }, content: Buffer.from(enc.ciphertext) },
    ]
    if (options.verifiedName) {
      const details = proto.VerifiedNameCertificate.Details.encode({
        serial: 1,
        issuer: 'smb:wa',
        verifiedName: options.verifiedName,
      }).finish()
      content.push({
        tag: 'verified_name',
        attrs: { v: '1' },
        content: Buffer.from(proto.VerifiedNameCertificate.encode({ details }).finish()),
      })
    }
    return {
      tag: 'message',
      attrs: {
        from: this.lidJid,
        sender_pn: this.pnJid,
        id,
        type: 'text',
        t: String(t),
        notify: this.account.pushName,
      },
      content,
    }
  }
}

/** libsignal wants 33-byte keys (0x05 prefix), as `Utils/signal` `generateSignalPubKey` makes them. */
function withKeyType(key: Buffer): Buffer {
  return key.length === 33 ? key : Buffer.concat([Buffer.from([5]), key])
}

export class Customers {
  private readonly byPhone = new Map<string, Customer>()

  constructor(
    private readonly core: BoxCore,
    private readonly business: Account,
  ) {}

  /** A customer with a phone number and a push name (the `notify` of every message they send). */
  add(phone: string, pushName: string): Customer {
    const existing = this.byPhone.get(phone)
    if (existing) return existing
    const account = this.core.registry.account(phone, pushName)
    const customer = new Customer(this.core, account, this.business)
    this.byPhone.set(phone, customer)
    return customer
  }

  get(phone: string): Customer | undefined {
    return this.byPhone.get(phone)
  }
}
