import { describe, expect, it } from 'vitest'
import { preferredWorker } from '../../src/worker/assignment.js'

const sessions = Array.from({ length: 300 }, (_, i) => `session-${i}`)
const assign = (workers: string[]) => new Map(sessions.map((s) => [s, preferredWorker(s, workers)]))

describe('rendezvous assignment of sessions to workers', () => {
  it('is deterministic and independent of the order workers are listed in', () => {
    expect(assign(['w1', 'w2', 'w3'])).toEqual(assign(['w3', 'w1', 'w2']))
  })

  it('spreads sessions evenly', () => {
    const counts = new Map<string, number>()
    for (const w of assign(['w1', 'w2', 'w3']).values()) counts.set(w!, (counts.get(w!) ?? 0) + 1)
    for (const n of counts.values()) expect(n).toBeGreaterThan(70) // 100 each on average
    expect(counts.size).toBe(3)
  })

  it('moves only the dead worker’s sessions when a worker leaves', () => {
    const before = assign(['w1', 'w2', 'w3'])
    const after = assign(['w1', 'w3'])
    for (const s of sessions) {
      if (before.get(s) !== 'w2') expect(after.get(s)).toBe(before.get(s))
      else expect(['w1', 'w3']).toContain(after.get(s))
    }
  })

  it('has no preference without live workers', () => {
    expect(preferredWorker('s', [])).toBeUndefined()
  })
})
