import qrcode from 'qrcode-terminal'
import type { Rules } from '../rules/compile.js'
import type { SessionGateway } from '../whatsapp/command-bus.js'
import { SessionNotLiveError } from '../whatsapp/port.js'
import type { SessionStatusStore } from '../whatsapp/status-store.js'

export interface PairDeps {
  rules: Rules
  statuses: SessionStatusStore
  gateway: SessionGateway
  out: (text: string) => void
  /** How long to wait for the phone in all. */
  timeoutMs?: number
  /** How long a worker may take to pick the session up. */
  holderTimeoutMs?: number
  pollMs?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Reports of an unreachable WhatsApp after which waiting longer is pointless (the worker keeps trying). */
const UNREACHABLE_REPORTS = 2

/**
 * `tickbridge sessions pair <sid> [--phone N]`: asks the worker holding the session to (re)open it,
 * then shows each QR as WhatsApp refreshes it (or the pairing code for `--phone`) until the phone has
 * linked. The socket lives in the worker, so this works against any deployment sharing the Redis.
 * While waiting it prints each new status detail, and it gives up early with the real cause when
 * WhatsApp cannot be reached, pairing failed, or nobody scanned the QR codes.
 * Exit codes: 0 paired, 1 failed or timed out, 2 usage.
 */
export async function runPair(sid: string, phone: string | undefined, deps: PairDeps): Promise<number> {
  const { statuses, gateway, out } = deps
  const started = Date.now()
  const pollMs = deps.pollMs ?? 500
  if (!deps.rules.sessions.has(sid)) {
    out(`unknown session "${sid}": it must be listed under sessions in the rules file`)
    return 2
  }
  if (phone !== undefined && !/^\d{6,15}$/.test(phone)) {
    out('--phone expects the number in international format, digits only (e.g. 4915112345678)')
    return 2
  }
  await statuses.setDesired(sid, 'running')
  const initial = await statuses.get(sid)
  if (initial.status === 'WORKING') {
    out(`session ${sid} is already paired and WORKING (held by ${initial.holder ?? 'a worker'})`)
    return 0
  }
  if (initial.status === 'FAILED' || initial.status === 'STOPPED') {
    await gateway.call(sid, { cmd: 'restart' }).catch((err: unknown) => {
      if (!(err instanceof SessionNotLiveError)) throw err
    })
  }

  const deadline = started + (deps.timeoutMs ?? 180_000)
  const holderDeadline = started + (deps.holderTimeoutMs ?? 20_000)
  let lastQr: string | null = null
  let codeShown = false
  let lastReport = ''
  const unreachable = new Set<number>()
  const codesShown = new Set<string>()
  out(`waiting for a worker to open session ${sid}…`)
  while (Date.now() < deadline) {
    const st = await statuses.get(sid)
    if (st.status === 'WORKING') {
      out(`paired: session ${sid} is WORKING`)
      return 0
    }
    const fresh = st.since >= started
    if (st.status === 'FAILED' && fresh) {
      out(`pairing failed: ${st.detail ?? 'no reason given'}`)
      return 1
    }
    if (st.status === 'STOPPED' && fresh && st.detail?.startsWith('not paired')) {
      out(`pairing failed: ${st.detail}`)
      return 1
    }
    const report = `${st.status}: ${st.detail ?? ''}`
    if (fresh && st.detail && report !== lastReport && !st.detail.includes('pairing code for')) {
      lastReport = report
      out(`  ${st.status.toLowerCase()}: ${st.detail}`)
    }
    if (fresh && st.detail?.startsWith('WhatsApp unreachable')) {
      unreachable.add(st.since)
      if (unreachable.size >= UNREACHABLE_REPORTS) {
        out(`pairing failed: ${st.detail.replace(/: reconnecting in .*$/, '')}`)
        return 1
      }
    }
    // Each new socket of a phone pairing asks for a new code: show every one of them.
    const newCode = phone && st.detail ? /pairing code for \+\d+: (\S+)/.exec(st.detail)?.[1] : undefined
    if (newCode && codeShown && !codesShown.has(newCode)) {
      codesShown.add(newCode)
      out(`new pairing code for +${phone}: ${newCode} (the previous one is no longer valid)`)
    }
    const live = st.holder !== null && (st.status === 'SCAN_QR_CODE' || st.status === 'STARTING')
    if (!live && Date.now() > holderDeadline) {
      out(
        `no worker has picked up session ${sid}: start one (npm run start:worker) sharing this Redis, then retry`,
      )
      return 1
    }
    if (phone && live && !codeShown) {
      try {
        const code = (await gateway.call(sid, { cmd: 'pairingCode', phone }, 35_000)) ?? ''
        codesShown.add(code)
        out(`pairing code for +${phone}: ${code}`)
        out('On the phone: WhatsApp > Linked devices > Link a device > Link with phone number instead')
        codeShown = true
      } catch (err) {
        if (!(err instanceof SessionNotLiveError)) {
          out(`could not get a pairing code: ${err instanceof Error ? err.message : String(err)}`)
          return 1
        }
      }
    }
    if (!phone && st.status === 'SCAN_QR_CODE' && st.qr && st.qr !== lastQr) {
      lastQr = st.qr
      qrcode.generate(st.qr, { small: true }, (art) => out(art))
      out('Scan with the phone: WhatsApp > Linked devices > Link a device (the code refreshes every 20-60 s)')
    }
    await sleep(pollMs)
  }
  out(`timed out waiting for the phone to link session ${sid}`)
  return 1
}
