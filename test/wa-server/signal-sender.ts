// One simulated device's Signal side, with Baileys' own repository (`Signal/libsignal`
// `makeLibSignalRepository`, reached as `DEFAULT_CONNECTION_CONFIG.makeSignalRepository`): it fetches a
// recipient device's key bundle from the box (what `messages-send` `assertSessions` does with
// `<iq xmlns=encrypt><key>`; the server hands out one one-time pre-key per fetch) and encrypts with
// `encryptMessage` (`pkmsg` until the recipient answers, then `msg`).
import {
  addTransactionCapability,
  DEFAULT_CONNECTION_CONFIG,
  initAuthCreds,
  type proto,
  proto as protoValues,
  type SignalRepositoryWithLIDStore,
  writeRandomPadMax16,
} from '@whiskeysockets/baileys'
import { pino } from 'pino'
import type { Device } from './accounts.js'
import { memoryKeyStore } from './client.js'

const silent = pino({ level: 'silent' })

export interface Encrypted {
  type: string
  ciphertext: Uint8Array
}

export class SignalSender {
  private readonly repo: SignalRepositoryWithLIDStore

  constructor() {
    const creds = initAuthCreds()
    // the key store as `Socket/socket` `makeSocket` gives it to the repository: with transactions
    const keys = addTransactionCapability(memoryKeyStore(), silent, DEFAULT_CONNECTION_CONFIG.transactionOpts)
    this.repo = DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds, keys }, silent)
  }

  /** Encrypts a `proto.Message` for a device (padded as `Utils/generics` `writeRandomPadMax16`). */
  async encrypt(device: Device, message: proto.IMessage): Promise<Encrypted> {
    const plaintext = writeRandomPadMax16(protoValues.Message.encode(message).finish())
    const address = device.jid
    const { exists } = await this.repo.validateSession(address)
    if (!exists) {
      // `Utils/signal` `parseAndInjectE2ESessions` reads <registration>, <identity>, <skey>, <key>
      const first = device.preKeys.entries().next()
      const preKey = first.done ? undefined : { keyId: first.value[0], publicKey: first.value[1] }
      if (preKey) device.preKeys.delete(preKey.keyId)
      const signed = device.signedPreKey
      if (!signed || !device.identityKey || device.registrationId === undefined) {
        throw new Error(`no key bundle for ${address}`)
      }
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
}

/** libsignal wants 33-byte keys (0x05 prefix), as `Utils/crypto` `generateSignalPubKey` makes them. */
function withKeyType(key: Buffer): Buffer {
  return key.length === 33 ? key : Buffer.concat([Buffer.from([5]), key])
}

/** Our linked companions that published a key bundle (the phone, device 0, is not one of them). */
export function linkedDevices(devices: Iterable<Device>): Device[] {
  return [...devices].filter((d) => d.id !== 0 && d.noiseKey && d.identityKey && d.signedPreKey)
}
