import type { Keys } from '../keys.js'

/**
 * Fencing tokens for what a session's holder writes. Every holder of a session's lease gets an epoch that
 * grows with each new holder (src/worker/lease.ts ACQUIRE: `INCR <session>lease-epoch`). A holder's writes
 * for its session (status, WhatsApp creds and keys, inbox events) carry that epoch, and the script that
 * applies each write refuses it when the session's epoch has moved on: a holder that stalled past its
 * lease (a long GC, SIGSTOP, a VM pause) cannot write over its successor when it wakes up.
 */
export interface Fence {
  /** The lease epoch the writer acquired. */
  readonly epoch: number
  /**
   * True once one of its writes was refused. Epochs only grow, so every later write is refused without
   * asking Redis (Baileys retries a failed key commit ten times, 3 s apart).
   */
  readonly refused?: boolean
  /** Told of each write Redis refused: a newer holder has the session, this one must stop. */
  readonly onRefused?: (err: FenceRefusedError) => void
}

/** A write refused because a newer holder took the session (its lease epoch is no longer current). */
export class FenceRefusedError extends Error {
  constructor(
    readonly sessionId: string,
    readonly epoch: number,
    readonly write: string,
  ) {
    super(
      `${write} of session ${sessionId} refused: lease epoch ${epoch} is no longer current (a newer holder took the session)`,
    )
    this.name = 'FenceRefusedError'
  }
}

/** The session's lease epoch: the counter ACQUIRE increments for every new holder. */
export function leaseEpochKey(keys: Keys, sessionId: string): string {
  return `${keys.session(sessionId)}lease-epoch`
}

/** The epoch argument of a fenced script: '' for a writer that holds no lease (the API, an operator). */
export function fenceArg(fence: Fence | undefined): string {
  return fence ? String(fence.epoch) : ''
}

/** The error reply every fenced script gives for a stale epoch (see lua/_fence.lua, inbox/lua/_lib.lua). */
export const FENCED_REPLY = 'FENCED'

/**
 * Runs a fenced script's call; a FENCED reply becomes a FenceRefusedError, of which the fence's holder is
 * told before it is thrown.
 */
export async function fenced<T>(
  sessionId: string,
  fence: Fence | undefined,
  write: string,
  call: () => Promise<T>,
): Promise<T> {
  const refuse = (f: Fence) => {
    const refused = new FenceRefusedError(sessionId, f.epoch, write)
    f.onRefused?.(refused)
    return refused
  }
  if (fence?.refused) throw refuse(fence)
  try {
    return await call()
  } catch (err) {
    if (fence && err instanceof Error && err.message.startsWith(FENCED_REPLY)) throw refuse(fence)
    throw err
  }
}

/** For a `.catch`: a refused write is expected (the holder was told through `onRefused`); others rethrow. */
export function unlessRefused(err: unknown): void {
  if (!(err instanceof FenceRefusedError)) throw err
}
