// The human-like delay before a read receipt (blue ticks). Pure and seeded: randomness comes in as
// `rand`, so tests and the dry-run replay exact draws while production passes `Math.random`.
// All durations and timestamps are in milliseconds.
import type { SeenDelay } from '../rules/schema.js'

/** A message as far as reading time goes: its text, or just its word count when the text is not kept. */
export type ReadableMessage = { text?: string; words?: number; media?: boolean }
export type TimedMessage = ReadableMessage & { timestamp: number }

export type DelayPlan = { delayMs: number; reason: 'human' | 'backlog' }

/** Mulberry32: a tiny 32-bit seeded PRNG in [0, 1), good enough for jitter and reproducible in tests. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * Whitespace-separated words. Anything non-blank without spaces (an emoji, "ok!", a URL) is one word:
 * a person still has to glance at it.
 */
export function countWords(text: string | undefined): number {
  if (!text) return 0
  return text.split(/\s+/u).filter((word) => word.length > 0).length
}

/** Time to read one message: its words at `wordsPerMinute`, plus a fixed look at any media (the caption's words count too). */
export function readingTimeMs(msg: ReadableMessage, p: SeenDelay): number {
  const words = ((msg.words ?? countWords(msg.text)) / p.wordsPerMinute) * 60_000
  return words + (msg.media ? p.mediaExtra : 0)
}

/**
 * Time to read a pile of messages: the first in full, each further one discounted, since a person
 * skims a burst from the same chat faster than the sum of its parts.
 */
export function batchReadingTimeMs(msgs: ReadableMessage[], p: SeenDelay): number {
  let total = 0
  for (const [index, msg] of msgs.entries()) {
    const time = readingTimeMs(msg, p)
    total += index === 0 ? time : time * (1 - p.batchDiscount)
  }
  return total
}

/**
 * The delay before marking `messages` (in arrival order) seen.
 * A backlog (the newest message already older than `backlogThreshold`, e.g. replayed after a
 * reconnect) gets no reading time (pretending to read stale messages only delays the catch-up), but a
 * person catching up opens one chat after another: each chat's receipt lands at a uniform draw within
 * [0, backlogSpread] (clamped to `max`), so a reconnect does not fire every receipt at once. One draw.
 * Otherwise two draws, in order: the base within [baseMin, baseMax], then the jitter.
 */
export function planDelay(input: {
  messages: TimedMessage[]
  now: number
  rand: () => number
  params: SeenDelay
}): DelayPlan {
  const { messages, now, rand, params: p } = input
  if (messages.length > 0) {
    // A reduce rather than Math.max(...spread): a long backlog must not overflow the call stack.
    const newest = messages.reduce((latest, msg) => Math.max(latest, msg.timestamp), -Infinity)
    // Strictly older: a message exactly at the threshold still gets the human delay.
    if (now - newest > p.backlogThreshold) {
      const spread = Math.max(0, Math.min(p.backlogSpread, p.max))
      return { delayMs: Math.round(rand() * spread), reason: 'backlog' }
    }
  }
  const base = p.baseMin + rand() * (p.baseMax - p.baseMin)
  const reading = batchReadingTimeMs(messages, p)
  // Symmetric jitter (mean 0), so the expected delay stays base + reading.
  const total = (base + reading) * (1 + p.jitter * (2 * rand() - 1))
  // Never faster than a person can (baseMin), never so slow the customer waits for ticks (max).
  const clamped = Math.min(Math.max(total, p.baseMin), p.max)
  return { delayMs: Math.round(clamped), reason: 'human' }
}

/**
 * The new due time when `message` joins a pending receipt: late enough to cover its (discounted)
 * reading time, but a chatty customer must not postpone the ticks forever, so extension stops at
 * `clampAt` (first message's arrival + `max`). The due time never moves earlier, even if it already
 * lies past `clampAt` (planning happens a little after arrival, so `now + max` can exceed it).
 */
export function extendDue(input: {
  currentDueAt: number
  clampAt: number
  now: number
  message: ReadableMessage
  params: SeenDelay
}): number {
  const { currentDueAt, clampAt, now, message, params: p } = input
  const wanted = now + Math.round(readingTimeMs(message, p) * (1 - p.batchDiscount))
  return Math.max(currentDueAt, Math.min(wanted, clampAt))
}
