// The box's own test certificate authority: a fixed Curve25519 key pair (derived from a public seed, so a
// child process started by a test can trust the same CA without being told a key). Nothing here is secret:
// only processes that call `trustBoxCertificates()` (./trust.ts) accept a server signed by it.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto'
import type { KeyPair } from '@whiskeysockets/baileys'

/** PKCS#8 DER prefix of a raw X25519 private key (RFC 8410). */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

/** A Curve25519 key pair from 32 seed bytes, in Baileys' `KeyPair` shape (32-byte public, no 0x05 prefix). */
export function keyPairFromSeed(seed: string): KeyPair {
  const priv = createHash('sha256').update(seed).digest()
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, priv]),
    format: 'der',
    type: 'pkcs8',
  })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  return { private: priv, public: Buffer.from(spki.subarray(spki.length - 32)) }
}

/** The root key: plays WhatsApp's long-term key `WA_CERT_DETAILS.PUBLIC_KEY` (Defaults). */
export const BOX_ROOT_KEY = keyPairFromSeed('tickbridge wa-box test root CA')
/** The serial the root issues the intermediate under; Baileys compares it with `WA_CERT_DETAILS.SERIAL`. */
export const BOX_ROOT_SERIAL = 4242
/** The issuer name the root certificate carries (WhatsApp's is 'WhatsAppLongTerm1'). */
export const BOX_ROOT_ISSUER = 'TickbridgeWaBoxTestRoot'
