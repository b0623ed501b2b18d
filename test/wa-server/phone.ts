// Our account's phone, as far as linking goes: it scans a companion's QR (or links creds directly, the
// box-side registration a test uses to start from an already linked device) and signs the companion's
// device identity. Flow from `Socket/socket`: `CB:iq,type:set,pair-device` shows QRs built by
// `Utils/companion-reg-client-utils` `buildPairingQRData` ("ref,noiseKey,identityKey,advSecret,platform");
// the phone sends `<iq><pair-success>` (`CB:iq,,pair-success` → `Utils/validate-connection`
// `configureSuccessfulPairing`), the companion answers `pair-device-sign`, and the server restarts the
// stream with 515 so the companion logs in with its new creds.
import { randomBytes } from 'node:crypto'
import { deflateSync } from 'node:zlib'
import {
  type AuthenticationCreds,
  type BinaryNode,
  configureSuccessfulPairing,
  proto,
  type WAPatchName,
} from '@whiskeysockets/baileys'
import type { Account, Device } from './accounts.js'
import { signedDeviceIdentity, verifyDeviceSignature } from './adv.js'
import type { BoxCore } from './box.js'
import { linkedDevices, SignalSender } from './signal-sender.js'
import { nowSeconds, SERVER, serverStanzaId } from './stanzas.js'

const QR_PREFIX = 'https://wa.me/settings/linked_devices#'

/** What the phone shows for a chat, from the app state our devices wrote (`Utils/chat-utils`
 * `chatModificationToAppPatch`: `archive` and `markChatAsRead` live in `regular_low`). */
export interface PhoneChatState {
  archived?: boolean
  /** false = marked unread (`chatModify({ markRead: false })`), true = marked read. */
  markedRead?: boolean
}

export class Phone {
  /** The phone's own Signal device (device 0), for messages to our linked devices. */
  private readonly signal = new SignalSender()
  /** The app-state keys the phone holds (base64 key id → key data), whether shared or not. */
  readonly appStateKeys = new Map<string, proto.Message.IAppStateSyncKeyData>()

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
  link(creds: AuthenticationCreds, { initialSyncDone = true } = {}): Device {
    const device = this.core.registry.addDevice(this.account)
    device.historySynced = initialSyncDone
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

  /**
   * The phone shares its app-state key with every linked device, as a peer protocol message
   * `APP_STATE_SYNC_KEY_SHARE` (`Utils/process-message`: stored as `app-state-sync-key`, then
   * `creds.update { myAppStateKeyId }`). Until a device has it, `chatModify` throws
   * "App state key not present!" (`Socket/chats` `appPatch`). Returns the key id.
   */
  async shareAppStateKey({ rotate = false } = {}): Promise<string> {
    if (rotate || this.appStateKeys.size === 0) {
      this.appStateKeys.set(randomBytes(6).toString('base64'), {
        keyData: randomBytes(32),
        fingerprint: { rawId: randomBytes(4).readUInt32BE(0), currentIndex: 0, deviceIndexes: [0] },
        timestamp: Date.now(),
      })
    }
    // every key the phone holds, the newest last (Baileys makes the last one `myAppStateKeyId`)
    const keys = [...this.appStateKeys].map(([id, keyData]) => ({
      keyId: { keyId: Buffer.from(id, 'base64') },
      keyData,
    }))
    await this.sendToLinkedDevices({
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE,
        appStateSyncKeyShare: { keys },
      },
    })
    return [...this.appStateKeys.keys()].at(-1) ?? ''
  }

  /**
   * The phone's initial history sync for a newly linked device: a peer `HISTORY_SYNC_NOTIFICATION`
   * (INITIAL_BOOTSTRAP) with the history inline (`initialHistBootstrapInlinePayload`, zlib-deflated
   * `HistorySync`, as `Utils/history` `downloadAndProcessHistorySyncNotification` inflates it), carrying
   * the LID↔number mappings of the account's contacts. Without it Baileys waits 20 s in
   * AwaitingInitialSync with its events buffered (`Socket/chats`); with it Baileys syncs app state and
   * goes online (`upsertMessage` → `doAppStateSync`). No chats or messages are included.
   */
  async sendHistorySync(device: Device): Promise<void> {
    const mappings = this.core.registry
      .all()
      .filter((a) => a !== this.account)
      .map((a) => ({ pnJid: `${a.phone}@s.whatsapp.net`, lidJid: `${a.lid}@lid` }))
    const history = proto.HistorySync.encode({
      syncType: proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP,
      conversations: [],
      progress: 100,
      phoneNumberToLidMappings: mappings,
    }).finish()
    device.historySynced = true
    await this.sendToDevice(device, {
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
        historySyncNotification: {
          syncType: proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP,
          initialHistBootstrapInlinePayload: deflateSync(history),
          chunkOrder: 1,
          progress: 100,
        },
      },
    })
  }

  /** What the phone shows per chat jid, decoded from the app state with the phone's keys. */
  async chatStates(): Promise<Map<string, PhoneChatState>> {
    const states = new Map<string, PhoneChatState>()
    const names: WAPatchName[] = ['regular_low', 'regular', 'regular_high']
    for (const name of names) {
      for (const m of await this.core.appState.mutations(this.account, name, this.appStateKeys)) {
        const [action, jid] = m.index
        if (!jid) continue
        const state = states.get(jid) ?? {}
        const value = m.syncAction.value
        if (action === 'archive' && value?.archiveChatAction)
          state.archived = !!value.archiveChatAction.archived
        if (action === 'markChatAsRead' && value?.markChatAsReadAction)
          state.markedRead = !!value.markChatAsReadAction.read
        states.set(jid, state)
      }
    }
    return states
  }

  /** A message from the phone to our linked devices: `<message from=our number category=peer>`
   * (`decode-wa-message` `decodeMessageNode`: from is us → fromMe; `messages-recv` answers `peer_msg`). */
  private async sendToLinkedDevices(message: proto.IMessage): Promise<void> {
    for (const device of linkedDevices(this.account.devices.values()))
      await this.sendToDevice(device, message)
  }

  private async sendToDevice(device: Device, message: proto.IMessage): Promise<void> {
    const phoneJid = this.account.devices.get(0)?.jid ?? `${this.account.phone}@s.whatsapp.net`
    const id = `3EB0${randomBytes(8).toString('hex').toUpperCase()}`
    const enc = await this.signal.encrypt(device, message)
    this.core.deliver(device, {
      tag: 'message',
      attrs: { from: phoneJid, id, type: 'text', category: 'peer', t: String(nowSeconds()) },
      content: [{ tag: 'enc', attrs: { v: '2', type: enc.type }, content: Buffer.from(enc.ciphertext) }],
    })
  }

  /** Unlinks a companion from the phone: a connected one gets `stream:error 401 device_removed`. */
  unlink(device: Device): void {
    this.account.devices.delete(device.id)
    device.noiseKey = undefined
    if (device.wire && !device.wire.closed) this.core.strike(device.wire, { kind: 'device-removed' })
  }
}
