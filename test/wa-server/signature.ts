// A STRICT Curve25519 (XEdDSA) signature check for the box's own verifications.
// Baileys 7.0.0-rc14's `Curve.verify` (`Utils/crypto`) returns true for ANY 64-byte signature: it calls
// libsignal's `verifySignature`, which RETURNS false on a bad signature instead of throwing, and Baileys
// only treats a throw as failure. So the box checks with libsignal's function (the same one Baileys calls,
// a dependency of Baileys) and reads its result.
import { verifySignature } from 'libsignal/src/curve.js'

export function verifyStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const pub = publicKey.length === 33 ? publicKey : Buffer.concat([Buffer.from([5]), publicKey])
  try {
    return verifySignature(Buffer.from(pub), Buffer.from(message), Buffer.from(signature)) === true
  } catch {
    return false
  }
}
