// What the server knows about accounts and their devices: the phone (device 0) and the linked
// companions, each with the keys it registered (noise key at pairing; identity, signed pre-key and
// one-time pre-keys from its `encrypt` IQs), the socket it holds and the stanzas queued while offline.
import { type BinaryNode, Curve, jidEncode, type KeyPair } from '@whiskeysockets/baileys'
import type { Wire } from './wire.js'

export interface SignedPreKeyRecord {
  keyId: number
  publicKey: Buffer
  signature: Buffer
}

export interface Device {
  readonly account: Account
  readonly id: number
  /** `phone:device@s.whatsapp.net` (device 0: `phone@s.whatsapp.net`). */
  readonly jid: string
  readonly lidJid: string
  /** The companion's `creds.noiseKey.public`; the login handshake must present it. */
  noiseKey: Buffer | undefined
  registrationId: number | undefined
  identityKey: Buffer | undefined
  signedPreKey: SignedPreKeyRecord | undefined
  /** One-time pre-keys uploaded and not yet handed out (`Utils/signal` `getNextPreKeysNode`). */
  readonly preKeys: Map<number, Buffer>
  wire: Wire | undefined
  /** Stanzas for this device while it has no socket, delivered after its next `passive active`. */
  readonly offline: BinaryNode[]
  /** The phone already sent this device its initial history sync (see `Phone.sendHistorySync`). */
  historySynced: boolean
}

export interface Account {
  /** The phone number without '+', as in a jid user part. */
  readonly phone: string
  /** The account's LID user part. */
  readonly lid: string
  pushName: string
  /** The phone's ADV account signature key: signs each companion's device identity. */
  readonly accountKey: KeyPair
  readonly devices: Map<number, Device>
  nextDeviceId: number
  /** The answers to `privacy` get (`Socket/chats` `fetchPrivacySettings`). */
  readonly privacy: Record<string, string>
  readonly blocklist: string[]
}

export class AccountRegistry {
  private readonly byPhone = new Map<string, Account>()
  private nextLid = 100_000_000_000_000

  account(phone: string, pushName = phone): Account {
    let account = this.byPhone.get(phone)
    if (!account) {
      account = {
        phone,
        lid: String(this.nextLid++),
        pushName,
        accountKey: Curve.generateKeyPair(),
        devices: new Map(),
        nextDeviceId: 1,
        privacy: {
          readreceipts: 'all',
          last: 'all',
          online: 'all',
          profile: 'all',
          status: 'all',
          groupadd: 'all',
          calladd: 'all',
          messages: 'all',
        },
        blocklist: [],
      }
      this.byPhone.set(phone, account)
      this.addDevice(account, 0)
    }
    return account
  }

  find(phone: string): Account | undefined {
    return this.byPhone.get(phone)
  }

  byLid(lid: string): Account | undefined {
    for (const a of this.byPhone.values()) if (a.lid === lid) return a
    return undefined
  }

  addDevice(account: Account, id = account.nextDeviceId++): Device {
    const device: Device = {
      account,
      id,
      jid: jidEncode(account.phone, 's.whatsapp.net', id || undefined),
      lidJid: jidEncode(account.lid, 'lid', id || undefined),
      noiseKey: undefined,
      registrationId: undefined,
      identityKey: undefined,
      signedPreKey: undefined,
      preKeys: new Map(),
      wire: undefined,
      offline: [],
      historySynced: false,
    }
    account.devices.set(id, device)
    return device
  }

  /** The device a jid names: `user[:device]@s.whatsapp.net` or `@lid`. */
  device(user: string, server: string, id: number): Device | undefined {
    const account = server === 'lid' ? this.byLid(user) : this.find(user)
    return account?.devices.get(id)
  }

  all(): Account[] {
    return [...this.byPhone.values()]
  }
}
