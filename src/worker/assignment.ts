import { createHash } from 'node:crypto'

/**
 * Rendezvous (highest-random-weight) hashing: every process computes the same preferred worker for a
 * session from the list of live workers alone, sessions spread evenly, and when a worker joins or
 * leaves only the sessions that must move do.
 */
export function preferredWorker(sessionId: string, liveWorkers: readonly string[]): string | undefined {
  let best: string | undefined
  let bestWeight = -1n
  for (const worker of liveWorkers) {
    const weight = createHash('sha256').update(`${sessionId}\u0000${worker}`).digest().readBigUInt64BE(0)
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && worker < best)) {
      best = worker
      bestWeight = weight
    }
  }
  return best
}
