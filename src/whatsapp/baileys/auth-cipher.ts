import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { inspect } from 'node:util'

/**
 * Encryption at rest of a session's WhatsApp auth (creds and Signal keys) in Redis: AES-256-GCM with a
 * key from the environment (`WA_AUTH_KEYS="k2:<base64>,k1:<base64>"`, the first is current). A stored
 * value names its key id, so keys rotate: old values stay readable under their key until
 * `tickbridge auth re-encrypt` moves them to the current one. Values stored before encryption was turned
 * on (plain BufferJSON text) are read as they are and encrypted by the next write or the re-encrypt.
 *
 * Stored form: `tbenc1:<key id>:<iv base64url>:<tag base64url>:<ciphertext base64url>`; the associated
 * data is where the value belongs (session, key type, field), so a value copied to another session's or
 * another field's place does not decrypt. No JSON text starts with `tbenc1:`.
 */

const MARK = 'tbenc1:'
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/
const KEY_BYTES = 32
const IV_BYTES = 12 // GCM's standard nonce; random per value (2^32 values per key stay far from a collision)

/** The keys from WA_AUTH_KEYS. Never printed: toJSON and inspect show the key ids only. */
export class AuthKeyring {
  readonly #keys: ReadonlyMap<string, Buffer>
  readonly currentId: string

  constructor(keys: ReadonlyArray<readonly [id: string, key: Buffer]>) {
    if (keys.length === 0) throw new Error('a keyring needs at least one key')
    this.#keys = new Map(keys)
    this.currentId = keys[0]![0]
  }

  get ids(): string[] {
    return [...this.#keys.keys()]
  }

  key(id: string): Buffer | undefined {
    return this.#keys.get(id)
  }

  toJSON(): string {
    return `[keyring ${this.ids.join(',')}]`
  }

  [inspect.custom](): string {
    return this.toJSON()
  }
}

/** Why WA_AUTH_KEYS is unusable (never echoing a key), or the keyring. */
export function parseAuthKeys(
  text: string,
): { ok: true; keyring: AuthKeyring } | { ok: false; problem: string } {
  const fail = (problem: string) => ({ ok: false as const, problem })
  const keys: Array<[string, Buffer]> = []
  const entries = text.split(',').map((e) => e.trim())
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':')
    if (colon < 0) return fail(`entry ${i + 1}: expected <key id>:<base64 key>`)
    const id = entry.slice(0, colon)
    const b64 = entry.slice(colon + 1)
    if (!KEY_ID.test(id))
      return fail(`entry ${i + 1}: the key id must be 1 to 32 letters, digits, "-" or "_"`)
    if (keys.some(([other]) => other === id)) return fail(`entry ${i + 1}: key id "${id}" is given twice`)
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) return fail(`key "${id}": not base64`)
    const key = Buffer.from(b64, b64.includes('-') || b64.includes('_') ? 'base64url' : 'base64')
    if (key.length !== KEY_BYTES) {
      return fail(
        `key "${id}": ${key.length} bytes; AES-256 needs exactly ${KEY_BYTES} (make one with: openssl rand -base64 32)`,
      )
    }
    keys.push([id, key])
  }
  return { ok: true, keyring: new AuthKeyring(keys) }
}

/** Where a stored value belongs; bound into the ciphertext. */
export interface AuthSlot {
  sessionId: string
  /** `creds` or the Signal key type. */
  type: string
  /** The hash field (key id) for Signal keys; empty for creds. */
  field: string
}

const aadOf = (slot: AuthSlot) => Buffer.from(`${slot.sessionId}\n${slot.type}\n${slot.field}`, 'utf8')
const describe = (slot: AuthSlot) =>
  `session ${slot.sessionId}: stored ${slot.type === 'creds' ? 'creds' : `${slot.type} key "${slot.field}"`}`

export class AuthDecryptError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AuthDecryptError'
  }
}

export const isEncrypted = (stored: string): boolean => stored.startsWith(MARK)

/** The key id a stored value is encrypted under; undefined for plaintext. */
export function keyIdOf(stored: string): string | undefined {
  if (!isEncrypted(stored)) return undefined
  return stored.slice(MARK.length, stored.indexOf(':', MARK.length))
}

/**
 * Turns the plain text of a value into what is stored, and back. Without a keyring values are stored as
 * they are (the behaviour before encryption existed); with one, every write is encrypted.
 */
export class AuthCipher {
  constructor(private readonly keyring: AuthKeyring | undefined) {}

  get currentKeyId(): string | undefined {
    return this.keyring?.currentId
  }

  seal(plain: string, slot: AuthSlot): string {
    if (!this.keyring) return plain
    const id = this.keyring.currentId
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.keyring.key(id)!, iv)
    cipher.setAAD(aadOf(slot))
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    const tag = cipher.getAuthTag()
    return `${MARK}${id}:${iv.toString('base64url')}:${tag.toString('base64url')}:${body.toString('base64url')}`
  }

  /** The plain text of a stored value; a value it cannot decrypt is an AuthDecryptError, never garbage. */
  open(stored: string, slot: AuthSlot): string {
    if (!isEncrypted(stored)) return stored
    const [id, ivText, tagText, bodyText, ...rest] = stored.slice(MARK.length).split(':')
    if (!id || ivText === undefined || tagText === undefined || bodyText === undefined || rest.length > 0) {
      throw new AuthDecryptError(`${describe(slot)} is not a well-formed encrypted value`)
    }
    if (!this.keyring) {
      throw new AuthDecryptError(
        `${describe(slot)} is encrypted with key "${id}", but WA_AUTH_KEYS is not set`,
      )
    }
    const key = this.keyring.key(id)
    if (!key) {
      throw new AuthDecryptError(
        `${describe(slot)} is encrypted with key "${id}", which WA_AUTH_KEYS does not hold (it holds ${this.keyring.ids.join(', ')})`,
      )
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'), {
        authTagLength: 16, // a truncated tag must not pass
      })
      decipher.setAAD(aadOf(slot))
      decipher.setAuthTag(Buffer.from(tagText, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64url')), decipher.final()]).toString(
        'utf8',
      )
    } catch {
      throw new AuthDecryptError(
        `${describe(slot)} does not decrypt with key "${id}" (a different key under the same id, or the value was altered)`,
      )
    }
  }
}
