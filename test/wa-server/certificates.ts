// The certificate chain the box's Noise ServerHello carries, shaped as `Utils/noise-handler`
// `processHandshake` checks it: `CertChain {leaf, intermediate}`; the intermediate's details are signed by
// the root (`WA_CERT_DETAILS.PUBLIC_KEY`) and name the root's serial as `issuerSerial`
// (`WA_CERT_DETAILS.SERIAL`); the leaf's details are signed by the intermediate's `key`.
import { Curve, type KeyPair, proto } from '@whiskeysockets/baileys'
import { BOX_ROOT_KEY, BOX_ROOT_SERIAL } from './ca.js'

export function buildCertChain(serverStatic: KeyPair, nowSeconds: number): Uint8Array {
  const intermediateKey = Curve.generateKeyPair()
  const intermediateDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: 1,
    issuerSerial: BOX_ROOT_SERIAL,
    key: intermediateKey.public,
    notBefore: nowSeconds - 3600,
    notAfter: nowSeconds + 365 * 86400,
  }).finish()
  const leafDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: 2,
    issuerSerial: 1,
    key: serverStatic.public,
    notBefore: nowSeconds - 3600,
    notAfter: nowSeconds + 30 * 86400,
  }).finish()
  return proto.CertChain.encode({
    intermediate: {
      details: intermediateDetails,
      signature: Curve.sign(BOX_ROOT_KEY.private, intermediateDetails),
    },
    leaf: { details: leafDetails, signature: Curve.sign(intermediateKey.private, leafDetails) },
  }).finish()
}
