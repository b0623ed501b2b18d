// `node --import tsx --import ./test/wa-server/trust-preload.ts ...`: a child process (worker, soak, demo)
// started by a test trusts the box before any socket connects.
import { trustBoxCertificates } from './trust.js'

trustBoxCertificates()
