// Faults on demand. Each is a stanza WhatsApp's server really sends (or a socket it really drops), with
// the Baileys handler that turns it into `connection.update { lastDisconnect.error.output.statusCode }`.
import type { BinaryNode } from '@whiskeysockets/baileys'

export type StreamFault =
  /** `<stream:error code=N/>` → `Socket/socket` `CB:stream:error` → `Utils/generics`
   * `getErrorCodeFromStreamError`: statusCode = +attrs.code (500 bad session, 503 unavailable, 515 restart). */
  | { kind: 'stream-error'; code: 500 | 503 | 515 | number }
  /** `<stream:error><conflict type=replaced/></stream:error>`: another socket took the device;
   * `getErrorCodeFromStreamError` maps the `conflict` child to 440 (`CODE_MAP`). */
  | { kind: 'conflict' }
  /** `<stream:error code=401><conflict type=device_removed/></stream:error>`: the phone unlinked the
   * device while it was connected (whatsmeow `handleStreamError` treats code 401 as logged out);
   * Baileys reads `attrs.code` → 401. */
  | { kind: 'device-removed' }
  /** `<failure reason=N/>` → `CB:failure` → statusCode = +reason (401 logged out, 403 banned, ...). */
  | { kind: 'failure'; reason: 401 | 403 | number }
  /** `<ib><downgrade_webclient/></ib>` → `CB:ib,,downgrade_webclient` → 411 (multideviceMismatch). */
  | { kind: 'downgrade' }
  /** `<xmlstreamend/>` → `CB:xmlstreamend` → 428 ("Connection Terminated by Server"). */
  | { kind: 'stream-end' }
  /** The WebSocket is closed without a stanza → the `ws` 'close' handler → 428. */
  | { kind: 'close' }

/** The stanza a fault sends, or undefined for a bare close. */
export function faultStanza(fault: StreamFault): BinaryNode | undefined {
  switch (fault.kind) {
    case 'stream-error':
      return { tag: 'stream:error', attrs: { code: String(fault.code) } }
    case 'conflict':
      return { tag: 'stream:error', attrs: {}, content: [{ tag: 'conflict', attrs: { type: 'replaced' } }] }
    case 'device-removed':
      return {
        tag: 'stream:error',
        attrs: { code: '401' },
        content: [{ tag: 'conflict', attrs: { type: 'device_removed' } }],
      }
    case 'failure':
      return { tag: 'failure', attrs: { reason: String(fault.reason), location: 'box' } }
    case 'downgrade':
      return { tag: 'ib', attrs: {}, content: [{ tag: 'downgrade_webclient', attrs: {} }] }
    case 'stream-end':
      return { tag: 'xmlstreamend', attrs: {} }
    case 'close':
      return undefined
  }
}

/** When a planned fault strikes a device's next login. */
export type FaultMoment =
  /** Instead of `<success>` (a `failure` here is how WhatsApp refuses a login: 401, 403). */
  | 'at-login'
  /** Right after Baileys emitted `connection: 'open'`: on the `ib unified_session` it sends then
   * (`Socket/socket` `CB:success` → `sendUnifiedSession`). */
  | 'after-open'

export interface PlannedFault {
  fault: StreamFault
  when: FaultMoment
}

/** The box's fault plan: what the next logins meet, which IQs go unanswered, how slow the server is. */
export class FaultPlan {
  private readonly planned: PlannedFault[] = []
  private readonly silenced: Array<(iq: BinaryNode) => boolean> = []
  /** Delay before every stanza the box sends, in ms (a slow server). */
  delayMs = 0

  /** The next login (of any device) meets this fault; planned faults are used once each, in order. */
  onNextLogin(fault: StreamFault, when: FaultMoment = 'after-open'): void {
    this.planned.push({ fault, when })
  }

  /** IQs matching the predicate are never answered (Baileys' `query` then times out). */
  neverAnswer(match: (iq: BinaryNode) => boolean): void {
    this.silenced.push(match)
  }

  slow(delayMs: number): void {
    this.delayMs = delayMs
  }

  takeLoginFault(): PlannedFault | undefined {
    return this.planned.shift()
  }

  isSilenced(iq: BinaryNode): boolean {
    return this.silenced.some((m) => m(iq))
  }

  clear(): void {
    this.planned.length = 0
    this.silenced.length = 0
    this.delayMs = 0
  }
}
