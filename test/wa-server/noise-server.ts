// The server half of WhatsApp's Noise XX handshake (Noise_XX_25519_AESGCM_SHA256), built from Baileys' own
// primitives (`Utils/crypto`: Curve, AES-GCM, HKDF, SHA-256). Each step mirrors, in the server's role, a
// step of the client half `Utils/noise-handler` `makeNoiseHandler` (+ `processHandshake`, `finishInit`)
// and `Socket/socket` `validateConnection`.
import {
  aesDecryptGCM,
  aesEncryptGCM,
  Curve,
  hkdf,
  type KeyPair,
  NOISE_MODE,
  sha256,
} from '@whiskeysockets/baileys'

const EMPTY = Buffer.alloc(0)

function ivFor(counter: number): Buffer {
  const iv = Buffer.alloc(12)
  iv.writeUInt32BE(counter, 8)
  return iv
}

export class ServerNoise {
  private hash: Buffer
  private salt: Buffer
  private key: Buffer
  private counter = 0
  private encKey: Buffer | undefined
  private decKey: Buffer | undefined
  private readCounter = 0
  private writeCounter = 0
  private readonly ephemeral: KeyPair = Curve.generateKeyPair()

  constructor(
    private readonly serverStatic: KeyPair,
    private readonly certChain: Uint8Array,
  ) {
    const mode = Buffer.from(NOISE_MODE)
    this.hash = mode.byteLength === 32 ? mode : sha256(mode)
    this.salt = this.hash
    this.key = this.hash
  }

  get inTransport(): boolean {
    return this.encKey !== undefined
  }

  /** ClientHello → ServerHello {ephemeral, encrypted static, encrypted cert chain} (`processHandshake`). */
  serverHello(noiseHeader: Buffer, clientEphemeral: Uint8Array) {
    // `makeNoiseHandler`: authenticate(NOISE_HEADER); authenticate(publicKey) — the client's ephemeral
    this.authenticate(noiseHeader)
    this.authenticate(clientEphemeral)
    // `processHandshake`: authenticate(serverHello.ephemeral); mixIntoKey(DH(e, re))
    this.authenticate(this.ephemeral.public)
    this.mixIntoKey(Curve.sharedKey(this.ephemeral.private, clientEphemeral))
    // decrypt(serverHello.static); mixIntoKey(DH(e, rs))
    const staticEnc = this.encrypt(this.serverStatic.public)
    this.mixIntoKey(Curve.sharedKey(this.serverStatic.private, clientEphemeral))
    // decrypt(serverHello.payload) → CertChain
    const payload = this.encrypt(this.certChain)
    return { ephemeral: this.ephemeral.public, static: staticEnc, payload }
  }

  /** ClientFinish {static, payload} → the client's noise key and its `ClientPayload` bytes. */
  clientFinish(finish: { static?: Uint8Array | null; payload?: Uint8Array | null }) {
    if (!finish.static || !finish.payload) throw new Error('ClientFinish without static or payload')
    // `processHandshake`: keyEnc = encrypt(noiseKey.public); mixIntoKey(DH(noiseKey, server e))
    const clientStatic = this.decrypt(finish.static)
    this.mixIntoKey(Curve.sharedKey(this.ephemeral.private, clientStatic))
    // `validateConnection`: noise.encrypt(ClientPayload)
    const payload = this.decrypt(finish.payload)
    // `finishInit`: [write, read] = HKDF(salt, ''); the client writes with `write`, reads with `read`
    const [write, read] = this.split(EMPTY)
    this.encKey = read
    this.decKey = write
    return { clientStatic, payload }
  }

  /** Transport encryption (`TransportState.encrypt`/`decrypt`: AES-GCM, counter IV, no AAD). */
  encryptFrame(plaintext: Uint8Array): Buffer {
    if (!this.encKey) throw new Error('noise: not in transport yet')
    return aesEncryptGCM(plaintext, this.encKey, ivFor(this.writeCounter++), EMPTY)
  }

  decryptFrame(ciphertext: Uint8Array): Buffer {
    if (!this.decKey) throw new Error('noise: not in transport yet')
    return aesDecryptGCM(ciphertext, this.decKey, ivFor(this.readCounter++), EMPTY)
  }

  private authenticate(data: Uint8Array) {
    this.hash = sha256(Buffer.concat([this.hash, data]))
  }

  private encrypt(plaintext: Uint8Array): Buffer {
    const result = aesEncryptGCM(plaintext, this.key, ivFor(this.counter++), this.hash)
    this.authenticate(result)
    return result
  }

  private decrypt(ciphertext: Uint8Array): Buffer {
    const result = aesDecryptGCM(ciphertext, this.key, ivFor(this.counter++), this.hash)
    this.authenticate(ciphertext)
    return result
  }

  private split(data: Uint8Array): [Buffer, Buffer] {
    const key = Buffer.from(hkdf(Buffer.from(data), 64, { salt: this.salt, info: '' }))
    return [key.subarray(0, 32), key.subarray(32)]
  }

  private mixIntoKey(data: Uint8Array) {
    const [write, read] = this.split(data)
    this.salt = write
    this.key = read
    this.counter = 0
  }
}
