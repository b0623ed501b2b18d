import { z } from 'zod'

export const DURATION_MESSAGE = 'expected a duration like 15m'

// Largest unit first; `ms` must be tried before `m` so that "500ms" is not read as 500 minutes.
const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const

const TOKEN = /(\d+)(ms|d|h|m|s)/y

/**
 * Parses `500ms`, `30s`, `15m`, `2h`, `1d` and combinations written largest unit first (`1h30m`,
 * `1d2h`). Returns milliseconds, or undefined for anything else (bare numbers are rejected: their unit
 * would be a guess).
 */
export function parseDuration(text: string): number | undefined {
  const input = text.trim()
  if (input === '') return undefined
  let total = 0
  let lastUnit = -1
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < input.length) {
    const match = TOKEN.exec(input)
    if (!match) return undefined
    const unit = UNITS.findIndex(([name]) => name === match[2])
    // Each unit at most once and in decreasing order, so `30m1h` or `1h1h` are typos, not sums.
    if (unit <= lastUnit) return undefined
    lastUnit = unit
    total += Number(match[1]) * UNITS[unit]![1]
  }
  return Number.isSafeInteger(total) ? total : undefined
}

/** Formats milliseconds the way parseDuration reads them: 5_400_000 -> `1h30m`, 800 -> `800ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`not a finite duration: ${ms}`)
  if (ms < 0) return `-${formatDuration(-ms)}`
  let rest = Math.round(ms)
  if (rest === 0) return '0s'
  let out = ''
  for (const [name, size] of UNITS) {
    const count = Math.floor(rest / size)
    if (count > 0) out += `${count}${name}`
    rest -= count * size
  }
  return out
}

/** A duration string in YAML or JSON, parsed to milliseconds. */
export const durationSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'required' : DURATION_MESSAGE) })
  .transform((text, ctx) => {
    const ms = parseDuration(text)
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: DURATION_MESSAGE, input: text })
      return z.NEVER
    }
    return ms
  })

/** A duration that must be longer than zero (thresholds, windows). */
export const positiveDurationSchema = durationSchema.refine((ms) => ms > 0, 'must be longer than 0s')
