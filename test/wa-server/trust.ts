// Makes THIS process's Baileys trust the box's test CA. Test-only: the service's code has no switch for it.
// Baileys checks the server's certificate chain in `Utils/noise-handler` `processHandshake`: the
// intermediate's signature against `WA_CERT_DETAILS.PUBLIC_KEY` and its `issuerSerial` against
// `WA_CERT_DETAILS.SERIAL`, both read at call time from the exported `Defaults` object.
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys'
import { BOX_ROOT_ISSUER, BOX_ROOT_KEY, BOX_ROOT_SERIAL } from './ca.js'

export function trustBoxCertificates(): void {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(BOX_ROOT_KEY.public)
  WA_CERT_DETAILS.SERIAL = BOX_ROOT_SERIAL
  WA_CERT_DETAILS.ISSUER = BOX_ROOT_ISSUER
}
