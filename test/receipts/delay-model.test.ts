import { describe, expect, it } from 'vitest'
import {
  batchReadingTimeMs,
  countWords,
  extendDue,
  mulberry32,
  planDelay,
  readingTimeMs,
  type TimedMessage,
} from '../../src/receipts/delay-model.js'
import { rulesSchema, type SeenDelay } from '../../src/rules/schema.js'

const P: SeenDelay = {
  baseMin: 800,
  baseMax: 2_000,
  wordsPerMinute: 200,
  jitter: 0.25,
  max: 20_000,
  mediaExtra: 1_500,
  batchDiscount: 0.5,
  backlogThreshold: 60_000,
  backlogSpread: 15_000,
}

const NOW = 1_700_000_000_000
const DRAWS = 10_000

function words(n: number): string {
  return Array.from({ length: n }, (_, i) => `w${i}`).join(' ')
}

/** Delays of DRAWS plans of the same messages, from one seeded stream. */
function sample(messages: TimedMessage[], params: SeenDelay = P, seed = 42): number[] {
  const rand = mulberry32(seed)
  return Array.from({ length: DRAWS }, () => {
    const plan = planDelay({ messages, now: NOW, rand, params })
    expect(plan.reason).toBe('human')
    return plan.delayMs
  })
}

function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length
}

describe('defaults', () => {
  it('match the rules schema defaults', () => {
    const rules = rulesSchema.parse({ version: 1, orgs: [{ id: 'acme' }] })
    expect(rules.seen.defaults.delay).toEqual(P)
  })
})

describe('mulberry32', () => {
  it('replays the same sequence for the same seed', () => {
    const a = mulberry32(7)
    const b = mulberry32(7)
    const first = Array.from({ length: 100 }, () => a())
    expect(Array.from({ length: 100 }, () => b())).toEqual(first)
    const c = mulberry32(8)
    expect(Array.from({ length: 100 }, () => c())).not.toEqual(first)
  })

  it('draws in [0, 1) and spreads evenly', () => {
    const rand = mulberry32(123)
    const values = Array.from({ length: DRAWS }, () => rand())
    for (const v of values) {
      expect(v).toBeGreaterThanOrEqual(0)
      expect(v).toBeLessThan(1)
    }
    expect(mean(values)).toBeCloseTo(0.5, 1)
  })

  it('gives the same plans for the same seed', () => {
    const messages = [{ text: words(12), timestamp: NOW - 1_000 }]
    expect(sample(messages, P, 99)).toEqual(sample(messages, P, 99))
    expect(sample(messages, P, 99)).not.toEqual(sample(messages, P, 100))
  })
})

describe('countWords', () => {
  it.each([
    [undefined, 0],
    ['', 0],
    ['   \n\t ', 0],
    ['hello', 1],
    ['hello world', 2],
    ['  spaced   out\nover\tlines  ', 4],
    ['😀', 1],
    ['😀😀😀', 1],
    ['ok 👍', 2],
    ['non\u00a0breaking', 2],
  ])('counts %j as %i', (text, expected) => {
    expect(countWords(text)).toBe(expected)
  })
})

describe('readingTimeMs', () => {
  it('reads words at wordsPerMinute', () => {
    expect(readingTimeMs({ text: words(10) }, P)).toBe(3_000)
    expect(readingTimeMs({ text: words(200) }, P)).toBe(60_000)
    expect(readingTimeMs({}, P)).toBe(0)
  })

  it('adds mediaExtra for media, plus the caption words', () => {
    expect(readingTimeMs({ media: true }, P)).toBe(1_500)
    expect(readingTimeMs({ media: true, text: words(10) }, P)).toBe(1_500 + 3_000)
    expect(readingTimeMs({ media: false, text: words(10) }, P)).toBe(3_000)
  })
})

describe('batchReadingTimeMs', () => {
  const one = { text: words(10) }

  it('counts the first message in full and discounts the others', () => {
    expect(batchReadingTimeMs([], P)).toBe(0)
    expect(batchReadingTimeMs([one], P)).toBe(3_000)
    expect(batchReadingTimeMs([one, one], P)).toBe(3_000 + 1_500)
    expect(batchReadingTimeMs([one, { media: true }, one], P)).toBe(3_000 + 750 + 1_500)
  })

  it('two messages take less than twice one', () => {
    expect(batchReadingTimeMs([one, one], P)).toBeLessThan(2 * batchReadingTimeMs([one], P))
  })

  it('spans no discount to a full discount', () => {
    expect(batchReadingTimeMs([one, one], { ...P, batchDiscount: 0 })).toBe(6_000)
    expect(batchReadingTimeMs([one, one], { ...P, batchDiscount: 1 })).toBe(3_000)
  })
})

describe('planDelay distribution', () => {
  it('stays within [baseMin, max] in whole ms over 10,000 draws of varied messages', () => {
    const rand = mulberry32(2024)
    const shape = mulberry32(7)
    for (let i = 0; i < DRAWS; i++) {
      const count = 1 + Math.floor(shape() * 4)
      const messages = Array.from({ length: count }, () => ({
        text: words(Math.floor(shape() * 120)),
        media: shape() < 0.2,
        timestamp: NOW - Math.floor(shape() * 60_000),
      }))
      const { delayMs, reason } = planDelay({ messages, now: NOW, rand, params: P })
      expect(reason).toBe('human')
      expect(Number.isInteger(delayMs)).toBe(true)
      expect(delayMs).toBeGreaterThanOrEqual(P.baseMin)
      expect(delayMs).toBeLessThanOrEqual(P.max)
    }
  })

  it('clamps up to baseMin when jitter would go below it', () => {
    const params = { ...P, jitter: 1 }
    const delays = sample([{ text: '', timestamp: NOW }], params)
    expect(Math.min(...delays)).toBe(P.baseMin)
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 * P.baseMax)
  })

  it('has the analytic mean for a short text (within 3%)', () => {
    // E[base] = (baseMin + baseMax) / 2 = 1,400; reading 10 words = 3,000; jitter has mean 0 and is
    // independent of the base, and no draw can reach a clamp: (800 + 3000) * 0.75 .. (2000 + 3000) * 1.25.
    const expected = (P.baseMin + P.baseMax) / 2 + 3_000
    const delays = sample([{ text: words(10), timestamp: NOW - 500 }])
    expect(Math.abs(mean(delays) - expected) / expected).toBeLessThan(0.03)
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(Math.floor((P.baseMin + 3_000) * 0.75))
    expect(Math.max(...delays)).toBeLessThanOrEqual(Math.ceil((P.baseMax + 3_000) * 1.25))
  })

  it('grows with text length, and a long text hits the clamp', () => {
    const means = [5, 50, 200].map((n) => mean(sample([{ text: words(n), timestamp: NOW }])))
    expect(means[0]).toBeLessThan(means[1] as number)
    expect(means[1]).toBeLessThan(means[2] as number)
    // 50 words = 15 s of reading: still under the clamp on average.
    expect(means[1]).toBeLessThan(P.max)
    // 200 words at 200 wpm = 60 s of reading; even the lowest draw (60.8 s * 0.75) exceeds max.
    expect(new Set(sample([{ text: words(200), timestamp: NOW }]))).toEqual(new Set([P.max]))
  })

  it('adds mediaExtra for media (exactly, without jitter)', () => {
    const params = { ...P, jitter: 0 }
    const text = sample([{ text: words(10), timestamp: NOW }], params, 5)
    const media = sample([{ text: words(10), media: true, timestamp: NOW }], params, 5)
    for (const [i, delay] of text.entries()) expect(media[i]).toBe(delay + P.mediaExtra)
    // With jitter, media still raises the mean by about mediaExtra.
    const jittered =
      mean(sample([{ text: words(10), media: true, timestamp: NOW }])) -
      mean(sample([{ text: words(10), timestamp: NOW }]))
    expect(Math.abs(jittered - P.mediaExtra) / P.mediaExtra).toBeLessThan(0.03)
  })

  it('two messages take less than twice one (in expectation)', () => {
    const msg = { text: words(20), timestamp: NOW }
    const one = mean(sample([msg]))
    const two = mean(sample([msg, msg]))
    expect(two).toBeGreaterThan(one)
    expect(two).toBeLessThan(2 * one)
  })
})

describe('planDelay backlog', () => {
  const threshold = P.backlogThreshold

  it('reads a backlog without reading time, spread over backlogSpread by one draw (a person catching up)', () => {
    let draws = 0
    const rand = () => {
      draws++
      return 0.5
    }
    const messages = [
      { text: words(100), timestamp: NOW - threshold - 5_000 },
      { text: words(100), timestamp: NOW - threshold - 1 },
    ]
    expect(planDelay({ messages, now: NOW, rand, params: P })).toEqual({ delayMs: 7_500, reason: 'backlog' })
    expect(draws).toBe(1)
    // Many chats after a reconnect: their receipts land spread over [0, backlogSpread], not all at once.
    const seeded = mulberry32(7)
    const delays = Array.from(
      { length: 200 },
      () => planDelay({ messages, now: NOW, rand: seeded, params: P }).delayMs,
    )
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...delays)).toBeLessThanOrEqual(P.backlogSpread)
    expect(new Set(delays.map((d) => Math.floor(d / 1_000))).size).toBeGreaterThanOrEqual(12)
    // Never later than `max`.
    expect(
      planDelay({ messages, now: NOW, rand: () => 0.999, params: { ...P, max: 5_000 } }).delayMs,
    ).toBeLessThanOrEqual(5_000)
  })

  it('keeps the human delay exactly at the threshold', () => {
    const plan = planDelay({
      messages: [{ text: 'hi', timestamp: NOW - threshold }],
      now: NOW,
      rand: mulberry32(1),
      params: P,
    })
    expect(plan.reason).toBe('human')
    expect(plan.delayMs).toBeGreaterThanOrEqual(P.baseMin)
  })

  it('looks at the newest message, whatever the order', () => {
    const messages = [
      { text: 'fresh', timestamp: NOW - 1_000 },
      { text: 'stale', timestamp: NOW - 10 * threshold },
    ]
    expect(planDelay({ messages, now: NOW, rand: mulberry32(1), params: P }).reason).toBe('human')
  })

  it('follows the configured threshold', () => {
    const messages = [{ text: 'hi', timestamp: NOW - 10_000 }]
    const params = { ...P, backlogThreshold: 5_000 }
    expect(planDelay({ messages, now: NOW, rand: mulberry32(1), params }).reason).toBe('backlog')
  })

  it('plans a plain human delay with no messages', () => {
    const plan = planDelay({ messages: [], now: NOW, rand: () => 0.5, params: P })
    expect(plan).toEqual({ delayMs: 1_400, reason: 'human' })
  })
})

describe('extendDue', () => {
  const firstAt = NOW
  const clampAt = firstAt + P.max

  it('moves the due time to cover the discounted reading of the new message', () => {
    // 20 words = 6 s, discounted by half = 3 s after now.
    const now = firstAt + 2_000
    const due = extendDue({
      currentDueAt: firstAt + 3_000,
      clampAt,
      now,
      message: { text: words(20) },
      params: P,
    })
    expect(due).toBe(now + 3_000)
  })

  it('never moves earlier', () => {
    const currentDueAt = firstAt + 9_000
    const due = extendDue({ currentDueAt, clampAt, now: firstAt + 1_000, message: { text: 'ok' }, params: P })
    expect(due).toBe(currentDueAt)
  })

  it('never extends beyond clampAt', () => {
    const due = extendDue({
      currentDueAt: firstAt + 5_000,
      clampAt,
      now: firstAt + 15_000,
      message: { text: words(100), media: true },
      params: P,
    })
    expect(due).toBe(clampAt)
  })

  it('keeps a due time already past clampAt rather than pulling it earlier', () => {
    const currentDueAt = clampAt + 300
    const due = extendDue({
      currentDueAt,
      clampAt,
      now: firstAt + 1_000,
      message: { text: words(100) },
      params: P,
    })
    expect(due).toBe(currentDueAt)
  })

  it('holds both bounds over many random joins, and a chatty customer cannot postpone past the clamp', () => {
    const rand = mulberry32(31)
    for (let chat = 0; chat < 1_000; chat++) {
      let now = firstAt
      let due =
        firstAt + planDelay({ messages: [{ text: 'hi', timestamp: now }], now, rand, params: P }).delayMs
      while (now < due) {
        now += Math.floor(rand() * 3_000)
        if (now >= due) break
        const message = { text: words(Math.floor(rand() * 150)), media: rand() < 0.3 }
        const next = extendDue({ currentDueAt: due, clampAt, now, message, params: P })
        expect(Number.isInteger(next)).toBe(true)
        expect(next).toBeGreaterThanOrEqual(due)
        expect(next).toBeLessThanOrEqual(clampAt)
        due = next
      }
      expect(due).toBeLessThanOrEqual(clampAt)
    }
  })
})
