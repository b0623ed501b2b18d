// The phone's half of linking a companion: the signed device identity of `pair-success`, built as
// `Utils/validate-connection` `configureSuccessfulPairing` verifies it:
// - `ADVSignedDeviceIdentityHMAC { details, hmac }`, hmac = HMAC-SHA256(advSecretKey, details);
// - details = `ADVSignedDeviceIdentity { details: ADVDeviceIdentity, accountSignatureKey, accountSignature }`,
//   accountSignature = sign(accountKey, WA_ADV_ACCOUNT_SIG_PREFIX + deviceDetails + companion identity).
// The companion answers with `pair-device-sign` carrying its `deviceSignature`
// (sign(identity, WA_ADV_DEVICE_SIG_PREFIX + deviceDetails + identity + accountSignatureKey)).
import {
  type BinaryNode,
  Curve,
  getBinaryNodeChild,
  hmacSign,
  type KeyPair,
  proto,
  WA_ADV_ACCOUNT_SIG_PREFIX,
  WA_ADV_DEVICE_SIG_PREFIX,
} from '@whiskeysockets/baileys'
import { verifyStrict } from './signature.js'

export function signedDeviceIdentity(opts: {
  accountKey: KeyPair
  companionIdentity: Uint8Array
  advSecretKey: string
  keyIndex: number
  nowSeconds: number
}): Uint8Array {
  const deviceDetails = proto.ADVDeviceIdentity.encode({
    rawId: Math.floor(Math.random() * 2 ** 31),
    timestamp: opts.nowSeconds,
    keyIndex: opts.keyIndex,
  }).finish()
  const accountSignature = Curve.sign(
    opts.accountKey.private,
    Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, deviceDetails, opts.companionIdentity]),
  )
  const details = proto.ADVSignedDeviceIdentity.encode({
    details: deviceDetails,
    accountSignatureKey: opts.accountKey.public,
    accountSignature,
  }).finish()
  const hmac = hmacSign(Buffer.from(details), Buffer.from(opts.advSecretKey, 'base64'))
  return proto.ADVSignedDeviceIdentityHMAC.encode({ details, hmac }).finish()
}

/** Checks the companion's `pair-device-sign` reply (`configureSuccessfulPairing`'s `reply`). */
export function verifyDeviceSignature(
  reply: BinaryNode,
  accountKey: KeyPair,
  companionIdentity: Uint8Array,
): boolean {
  const node = getBinaryNodeChild(getBinaryNodeChild(reply, 'pair-device-sign'), 'device-identity')
  if (!(node?.content instanceof Uint8Array)) return false
  const signed = proto.ADVSignedDeviceIdentity.decode(node.content)
  if (!signed.details || !signed.deviceSignature) return false
  const msg = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, signed.details, companionIdentity, accountKey.public])
  return verifyStrict(companionIdentity, msg, signed.deviceSignature)
}
