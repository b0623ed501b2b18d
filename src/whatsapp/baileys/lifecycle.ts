import { DisconnectReason } from '@whiskeysockets/baileys'
import type { SessionStatus } from '../port.js'

/**
 * What to do when a Baileys socket closes, decided from the disconnect status code alone (pure: the
 * transport performs the action).
 *
 * - 515 `restartRequired` (sent right after pairing): open a new socket with the same auth, at once.
 *   A second 515 before the connection ever opened (`attempt > 0`) backs off like any other close, so a
 *   misbehaving server cannot spin us in a hot loop.
 * - 401 `loggedOut`: the phone removed this device; the auth is dead: wipe it and wait for a re-pair.
 * - 440 `connectionReplaced`: another socket holds these creds (another process or WhatsApp Web with
 *   stolen creds); reconnecting would fight it in a loop, so stop.
 * - 403 `forbidden` (usually a ban): retrying cannot help and may make it worse: FAILED, stop.
 * - 411 `multideviceMismatch`: WhatsApp told the client to downgrade (Socket/socket.js
 *   `CB:ib,,downgrade_webclient` -> 'Multi-device beta not joined'); every new socket would get the same
 *   answer after a full login: FAILED, stop.
 * - anything else (408 lost/timed out, 428 closed, 500 bad session, 503 unavailable, no code):
 *   reconnect with exponential backoff and full jitter.
 *
 * When `attempt` starts over is the transport's business (./login-guard.ts: only after a connection
 * stayed open a while, never on `open` itself).
 */

export type CloseAction = 'restart' | 'logged-out' | 'replaced' | 'forbidden' | 'mismatch' | 'reconnect'

export interface CloseDecision {
  action: CloseAction
  delayMs: number
  status: SessionStatus
  detail: string
}

export const BACKOFF_BASE_MS = 1_000
export const BACKOFF_CAP_MS = 60_000

/** Names of Baileys' disconnect codes (408 is both `connectionLost` and `timedOut`). */
const REASON_NAMES: Record<number, string> = {
  [DisconnectReason.connectionClosed]: 'connection closed',
  [DisconnectReason.connectionLost]: 'connection lost or timed out',
  [DisconnectReason.connectionReplaced]: 'connection replaced',
  [DisconnectReason.loggedOut]: 'logged out',
  [DisconnectReason.badSession]: 'bad session',
  [DisconnectReason.restartRequired]: 'restart required',
  [DisconnectReason.multideviceMismatch]: 'multi-device mismatch',
  [DisconnectReason.forbidden]: 'forbidden',
  [DisconnectReason.unavailableService]: 'service unavailable',
}

export function describeDisconnect(statusCode: number | undefined): string {
  if (statusCode === undefined) return 'connection closed without a status code'
  return `${REASON_NAMES[statusCode] ?? 'connection closed'} (${statusCode})`
}

/**
 * Full-jitter exponential backoff: a uniform draw in [0, min(cap, base * 2^attempt)).
 * `attempt` counts the closes since a connection last stayed open, starting at 0.
 */
export function backoffDelayMs(attempt: number, rand: () => number): number {
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 30)
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** exp)
  const r = Math.min(Math.max(rand(), 0), 1)
  return Math.floor(r * ceiling)
}

/**
 * Why a socket closed, when the error says more than its code: a network failure to reach WhatsApp.
 * Baileys wraps a WebSocket error as `Boom('WebSocket Error (<message>)', { statusCode: 408, data: error })`
 * (Socket/socket.js `mapWebSocketError`, Utils/generics `getCodeFromWSError`: codes starting with E -> 408).
 */
export function closeCause(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const data = (error as { data?: unknown }).data
  const code = typeof data === 'object' && data !== null ? (data as { code?: unknown }).code : undefined
  const message = error instanceof Error ? error.message : ''
  const inner = /^WebSocket Error \((.*)\)$/.exec(message)?.[1]
  const dataMessage =
    typeof data === 'object' && data !== null && typeof (data as { message?: unknown }).message === 'string'
      ? (data as { message: string }).message
      : undefined
  if ((typeof code === 'string' && code.startsWith('E')) || inner) {
    return `WhatsApp unreachable: ${dataMessage ?? inner ?? message}`
  }
  return undefined
}

export function decideOnClose(
  statusCode: number | undefined,
  attempt: number,
  rand: () => number,
  cause?: string,
): CloseDecision {
  switch (statusCode) {
    case DisconnectReason.restartRequired: {
      const delayMs = attempt > 0 ? backoffDelayMs(attempt, rand) : 0
      return {
        action: 'restart',
        delayMs,
        status: 'STARTING',
        detail: `${describeDisconnect(statusCode)}: opening a new socket with the same auth`,
      }
    }
    case DisconnectReason.loggedOut:
      return { action: 'logged-out', delayMs: 0, status: 'FAILED', detail: 'logged out: pair again' }
    case DisconnectReason.connectionReplaced:
      return {
        action: 'replaced',
        delayMs: 0,
        status: 'FAILED',
        detail: 'connection replaced by another client',
      }
    case DisconnectReason.forbidden:
      return {
        action: 'forbidden',
        delayMs: 0,
        status: 'FAILED',
        detail:
          'WhatsApp refused this number (403 forbidden, usually a ban or a blocked account): not reconnecting; check the phone',
      }
    case DisconnectReason.multideviceMismatch:
      return {
        action: 'mismatch',
        delayMs: 0,
        status: 'FAILED',
        detail:
          'WhatsApp refused this linked device (411 multi-device mismatch: "Multi-device beta not joined"): not reconnecting; update WhatsApp on the phone, then pair again',
      }
    default: {
      const delayMs = backoffDelayMs(attempt, rand)
      return {
        action: 'reconnect',
        delayMs,
        status: 'STARTING',
        detail: `${cause ?? describeDisconnect(statusCode)}: reconnecting in ${(delayMs / 1000).toFixed(1)} s`,
      }
    }
  }
}

/** The HTTP-like status code Baileys puts on a disconnect error (a Boom's `output.statusCode`). */
export function disconnectStatusCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const output = (error as { output?: unknown }).output
  if (typeof output !== 'object' || output === null) return undefined
  const code = (output as { statusCode?: unknown }).statusCode
  return typeof code === 'number' && Number.isFinite(code) ? code : undefined
}
