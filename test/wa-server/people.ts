// The people on the box: customers simulated as Signal devices with Baileys' own repository
// (`Signal/libsignal` `makeLibSignalRepository`, reached as `DEFAULT_CONNECTION_CONFIG.makeSignalRepository`).
// A customer fetches our devices' pre-key bundles from the box (what `messages-send` `assertSessions`
// does through `<iq xmlns=encrypt><key>`), encrypts with `encryptMessage` (./signal-sender.ts), and
// the box delivers the `<message>` stanza to each of our linked devices, or queues it while a device is
// offline (delivered with `offline` after the next login, so Baileys upserts it as 'append').
import { randomBytes } from 'node:crypto'
import { type BinaryNode, proto } from '@whiskeysockets/baileys'
import type { Account } from './accounts.js'
import type { BoxCore } from './box.js'
import { linkedDevices, SignalSender } from './signal-sender.js'
import { nowSeconds } from './stanzas.js'

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
  private readonly signal = new SignalSender()
  readonly sent: Array<{ id: string; text: string; t: number; encTypes: string[] }> = []

  constructor(
    private readonly core: BoxCore,
    readonly account: Account,
    private readonly business: Account,
  ) {}

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
    const encTypes: string[] = []
    for (const device of linkedDevices(this.business.devices.values())) {
      const enc = options.undecryptable
        ? { type: 'msg', ciphertext: randomBytes(48) }
        : await this.signal.encrypt(device, { conversation: text })
      encTypes.push(enc.type)
      this.core.deliver(device, this.stanza(id, t, enc, options))
    }
    this.sent.push({ id, text, t, encTypes })
    this.core.records.changed()
    return id
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
