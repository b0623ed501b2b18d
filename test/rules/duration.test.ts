import { describe, expect, it } from 'vitest'
import { durationSchema, formatDuration, parseDuration } from '../../src/rules/duration.js'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1d2h', 93_600_000],
    ['1m30s250ms', 90_250],
    ['0s', 0],
    [' 15m ', 900_000],
  ])('reads %s as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['', '15', 'm', '15 m', '1.5h', '-5m', '30m1h', '1h1h', '15min', '2hours', '1h 30m', 'ms', '15M'])(
    'rejects %j',
    (text) => {
      expect(parseDuration(text)).toBeUndefined()
    },
  )

  it('rejects values beyond safe integers', () => {
    expect(parseDuration('99999999999999999999d')).toBeUndefined()
  })
})

describe('formatDuration', () => {
  it.each([
    [800, '800ms'],
    [5_400_000, '1h30m'],
    [93_600_000, '1d2h'],
    [1_500, '1s500ms'],
    [0, '0s'],
    [60_000, '1m'],
  ])('formats %i as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1_000, 61_001, 3_599_999, 86_400_000, 90_061_001, 7 * 86_400_000 + 1]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms)
    }
  })
})

describe('durationSchema', () => {
  it('turns a duration string into ms', () => {
    expect(durationSchema.parse('2h')).toBe(7_200_000)
  })

  it.each([['15'], [15], [true], [null]])('rejects %j with the duration message', (value) => {
    const result = durationSchema.safeParse(value)
    expect(result.success).toBe(false)
    expect(result.error?.issues.map((issue) => issue.message)).toEqual(['expected a duration like 15m'])
  })
})
