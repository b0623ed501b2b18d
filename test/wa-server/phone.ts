// Our account's phone, as far as linking goes: it scans a companion's QR (or links creds directly, the
// box-side registration a test uses to start from an already linked device) and signs the companion's
// device identity. Flow from `Socket/socket`: `CB:iq,type:set,pair-device` shows QRs built by
// `Utils/companion-reg-client-utils` `buildPairingQRData` ("ref,noiseKey,identityKey,advSecret,platform");
// the phone sends `<iq><pair-success>` (`CB:iq,,pair-success` → `Utils/validate-connection`
// `configureSuccessfulPairing`), the companion answers `pair-device-sign`, and the server restarts the
// stream with 515 so the companion logs in with its new creds.
import {
  type AuthenticationCreds,
  type BinaryNode,
  configureSuccessfulPairing,
} from '@whiskeysockets/baileys'
import type { Account, Device } from './accounts.js'
import { signedDeviceIdentity, verifyDeviceSignature } from './adv.js'
import type { BoxCore } from './box.js'
import { nowSeconds, SERVER, serverStanzaId } from './stanzas.js'

const QR_PREFIX = 'https://wa.me/settings/linked_devices#'

export class Phone {
  constructor(
    private readonly core: BoxCore,
    readonly account: Account,
  ) {}

  /** The `<iq><pair-success>` the server relays from the phone for a new companion device. */
  private pairSuccess(device: Device, companionIdentity: Uint8Array, advSecretKey: string): BinaryNode {
    const identity = signedDeviceIdentity({
      accountKey: this.account.accountKey,
      companionIdentity,
      advSecretKey,
      keyIndex: device.id,
      nowSeconds: nowSeconds(),
    })
    return {
      tag: 'iq',
      attrs: { from: SERVER, type: 'set', id: serverStanzaId(), xmlns: 'md', t: String(nowSeconds()) },
      content: [
        {
          tag: 'pair-success',
          attrs: {},
          content: [
            {
              tag: 'device-identity',
              attrs: { 'key-index': String(device.id) },
              content: Buffer.from(identity),
            },
            { tag: 'platform', attrs: { name: 'smba' } },
            { tag: 'device', attrs: { jid: device.jid, lid: device.lidJid } },
            // a business account: `configureSuccessfulPairing` takes `me.name` from <biz name>
            { tag: 'biz', attrs: { name: this.account.pushName } },
          ],
        },
      ],
    }
  }

  /**
   * Box-side registration: links fresh creds (Baileys' `initAuthCreds`) as a completed QR pairing would,
   * running Baileys' own `configureSuccessfulPairing` on the phone's `pair-success`. Mutates `creds`.
   */
  link(creds: AuthenticationCreds): Device {
    const device = this.core.registry.addDevice(this.account)
    device.noiseKey = Buffer.from(creds.noiseKey.public)
    device.identityKey = Buffer.from(creds.signedIdentityKey.public)
    const stanza = this.pairSuccess(device, creds.signedIdentityKey.public, creds.advSecretKey)
    const { creds: update } = configureSuccessfulPairing(stanza, creds)
    Object.assign(creds, update)
    return device
  }

  /** Scans a QR the companion showed (`connection.update { qr }`): pair-success, then 515. */
  async scan(qr: string): Promise<Device> {
    const [ref, noiseKeyB64, identityKeyB64, advSecretKey] = qr.replace(QR_PREFIX, '').split(',')
    const pending = ref ? this.core.pendingPairings.get(ref) : undefined
    if (!pending || !noiseKeyB64 || !identityKeyB64 || !advSecretKey)
      throw new Error(`box phone: unknown QR ${qr}`)
    for (const [r, p] of this.core.pendingPairings)
      if (p.wire === pending.wire) this.core.pendingPairings.delete(r)
    const identity = Buffer.from(identityKeyB64, 'base64')
    const device = this.core.registry.addDevice(this.account)
    const reply = await this.core.query(pending.wire, this.pairSuccess(device, identity, advSecretKey))
    if (reply.attrs.type !== 'result' || !verifyDeviceSignature(reply, this.account.accountKey, identity)) {
      this.account.devices.delete(device.id)
      throw new Error('box phone: the companion did not sign its device identity')
    }
    device.noiseKey = Buffer.from(noiseKeyB64, 'base64')
    device.identityKey = identity
    // the server restarts the stream so the companion logs in as the new device (`DisconnectReason.restartRequired`)
    this.core.strike(pending.wire, { kind: 'stream-error', code: 515 })
    return device
  }

  /**
   * The user reads a customer's chat on the phone. WhatsApp tells the customer (`read`, or nothing visible
   * with read receipts off: `read-self`) and every linked device: `<receipt from=our number
   * recipient=customer type id t>`, which Baileys (`messages-recv` `handleReceipt`: from is us, so the chat
   * is `recipient` and `fromMe` false) emits as `messages.update { status: READ }` (1:1).
   */
  readChat(customer: { lidJid: string }, ids: string[]): void {
    const [first, ...rest] = ids
    if (!first) return
    const type = this.account.privacy.readreceipts === 'all' ? 'read' : 'read-self'
    const phoneDevice = this.account.devices.get(0)
    const at = Date.now()
    const node: BinaryNode = {
      tag: 'receipt',
      attrs: {
        from: phoneDevice?.jid ?? `${this.account.phone}@s.whatsapp.net`,
        recipient: customer.lidJid,
        id: first,
        type,
        t: String(nowSeconds()),
      },
      ...(rest.length
        ? {
            content: [
              { tag: 'list', attrs: {}, content: rest.map((id) => ({ tag: 'item', attrs: { id } })) },
            ],
          }
        : {}),
    }
    for (const device of this.account.devices.values())
      if (device.id !== 0 && device.noiseKey) this.core.deliver(device, node)
    this.core.records.receipts.push({
      fromDevice: phoneDevice?.jid ?? '',
      to: customer.lidJid,
      participant: undefined,
      recipient: undefined,
      type,
      ids,
      at,
      node,
    })
    this.core.records.changed()
  }

  /** Unlinks a companion from the phone: a connected one gets `stream:error 401 device_removed`. */
  unlink(device: Device): void {
    this.account.devices.delete(device.id)
    device.noiseKey = undefined
    if (device.wire && !device.wire.closed) this.core.strike(device.wire, { kind: 'device-removed' })
  }
}
