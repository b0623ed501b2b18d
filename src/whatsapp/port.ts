import type { MessageKey } from '../domain/events.js'

/**
 * The port between jobs and a WhatsApp session. Jobs speak only this interface; the Baileys adapter and
 * the simulated transport implement it.
 */

export const SESSION_STATUSES = ['STOPPED', 'STARTING', 'SCAN_QR_CODE', 'WORKING', 'FAILED'] as const
export type SessionStatus = (typeof SESSION_STATUSES)[number]

export type PresenceState = 'composing' | 'recording' | 'paused'

/** A chat as WhatsApp's app-state needs it: the jid plus its last message (key and timestamp). */
export interface ChatRef {
  jid: string
  lastMessage: { key: MessageKey; timestamp: number }
}

/**
 * Delivery to a session is at-least-once (a crash between sending and recording can resend). Every
 * action is state-setting (read, unread, archived, presence), so WhatsApp applies a resend as a no-op;
 * the key names the action so a transport that can tell duplicates apart (the sim) drops them.
 */
export interface ActionOptions {
  idempotencyKey?: string
}

export interface WhatsAppSession {
  readonly sessionId: string
  status(): SessionStatus
  /** Blue ticks for these keys, sent as received (group keys with their participant). */
  readMessages(keys: MessageKey[], opts?: ActionOptions): Promise<void>
  markChatRead(chat: ChatRef, opts?: ActionOptions): Promise<void>
  markChatUnread(chat: ChatRef, opts?: ActionOptions): Promise<void>
  setArchived(chat: ChatRef, archived: boolean, opts?: ActionOptions): Promise<void>
  sendPresence(jid: string, state: PresenceState, opts?: ActionOptions): Promise<void>
  /** Stops delivering events and releases the connection; in-flight event handling finishes first. */
  close(): Promise<void>
  /** Asks WhatsApp for a code to type on the phone instead of scanning the QR (transports that can pair). */
  requestPairingCode?(phone: string): Promise<string>
  /** Logs out on WhatsApp and wipes the stored auth (transports with real accounts). */
  logout?(): Promise<void>
}

/** How a transport reports a session's status (QR codes while pairing, WORKING, FAILED with why). */
export type StatusListener = (
  sessionId: string,
  status: SessionStatus,
  extra: { qr?: string; detail?: string },
) => Promise<void>

/** Receives the raw events of a session; the ingestor validates them. */
export type EventSink = (event: unknown) => Promise<void>

export interface WhatsAppTransport {
  readonly kind: 'sim' | 'baileys'
  open(sessionId: string, sink: EventSink): Promise<WhatsAppSession>
}

/** WhatsApp refused an app-state change because the phone has not shared its app-state key yet. */
export class AppStateKeyMissingError extends Error {
  constructor() {
    super('App state key not present: the phone has not synced its app-state keys yet; retry later')
    this.name = 'AppStateKeyMissingError'
  }
}

/**
 * A chat state (typing, recording) cannot show: WhatsApp shows one only from an `available` account, and
 * Baileys sends no `available` for an account without a profile (push) name (Socket/chats
 * `sendPresenceUpdate`: 'no name present, ignoring presence update request...').
 */
export class PresenceNotShownError extends Error {
  constructor(readonly sessionId: string) {
    super(
      `session ${sessionId}: typing cannot show, this WhatsApp account has no profile name (set one on the phone: Settings > Profile)`,
    )
    this.name = 'PresenceNotShownError'
  }
}

/** The action needs a live WhatsApp connection and the session has none. */
export class SessionNotLiveError extends Error {
  constructor(readonly sessionId: string) {
    super(`session ${sessionId} has no live WhatsApp connection`)
    this.name = 'SessionNotLiveError'
  }
}

/**
 * The stored WhatsApp credentials of sessions, for what must work while no process holds a session (an
 * operator's logout then wipes them, so the next start pairs afresh). The Baileys auth state implements it.
 */
export interface SessionAuthStore {
  wipe(sessionId: string): Promise<void>
}
