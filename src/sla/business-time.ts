/**
 * Business time: adding a duration to an instant, and measuring the time between two instants, counting
 * only the opening hours of a calendar (several intervals per weekday, holidays, one IANA time zone).
 *
 * Pure: no I/O and no reading of the current time. Every instant is epoch milliseconds; every duration
 * is milliseconds of real (elapsed) time spent inside opening hours.
 *
 * Model
 * - `'24/7'` is always open: business time is plain time.
 * - A calendar's intervals are local wall-clock times. Each local day is turned once into a list of
 *   half-open real intervals `[start, end)` (epoch ms), sorted and disjoint; everything else walks those
 *   day lists, never minutes. A holiday closes its whole local day; a weekday without `hours` is closed.
 *   `"24:00"` as an end means the start of the next local day.
 * - Daylight saving time: on a transition day an interval's real length is its wall-clock length plus or
 *   minus the shift (00:00-06:00 lasts 5 h on the spring-forward day and 7 h on the fall-back day).
 * - A wall time that does not exist (the spring-forward gap) is read with the offset in force before the
 *   transition, so it moves forward by the gap's length (Europe/Berlin 02:30 on the last Sunday of March
 *   becomes 03:30 CEST). This is what luxon does in a gap (and Temporal's `'compatible'` disambiguation).
 * - A wall time that occurs twice (the fall-back overlap) is read as its EARLIER occurrence (Berlin 02:30
 *   on the last Sunday of October is 02:30 CEST = 00:30Z), as Temporal's `'compatible'` does. Luxon's own
 *   `DateTime.fromObject`/`fromISO` pick an occurrence from an offset guessed from the current date, so
 *   the result would depend on when the process runs; to stay deterministic this module resolves wall
 *   times itself with luxon's zone offsets (`IANAZone.offset`) instead.
 * - After that resolution a day's intervals are clipped so they stay in order, do not overlap, and stay
 *   inside their own local day: an interval that a gap turns backwards (02:30-03:15 on the spring-forward
 *   day) or that falls entirely before the end of the previous one is dropped or shortened. Touching
 *   intervals are merged.
 *
 * Calendars are treated as immutable: per-calendar data (parsed hours, holidays, recently used days) is
 * cached in a WeakMap keyed by the calendar object, so a hot-reloaded rules file brings fresh objects.
 */
import { IANAZone } from 'luxon'
import type { Calendar } from '../rules/schema.js'

/** A calendar to count business time in, or `'24/7'` (the policy schema's value for "always open"). */
export type BusinessCalendar = Calendar | '24/7'

/** The calendar fields this module reads (a rules `Calendar` is one). */
type CalendarLike = Pick<Calendar, 'id' | 'timeZone' | 'hours' | 'holidays'>

/** How many days without any opening the search accepts before giving up (3 years). */
export const MAX_CLOSED_DAYS = 3 * 366

/** The furthest (in local days from the start) `addBusinessTime` walks before refusing (100 years). */
export const MAX_SEARCH_DAYS = 100 * 366

/** Thrown when a calendar has no opening at all in `MAX_CLOSED_DAYS` days (e.g. no hours, or every day a holiday). */
export class NoOpeningError extends Error {
  override readonly name = 'NoOpeningError'
  constructor(
    readonly calendarId: string,
    readonly from: number,
  ) {
    super(
      `calendar "${calendarId}" has no opening hours in the ${MAX_CLOSED_DAYS} days after ${new Date(from).toISOString()}`,
    )
  }
}

const MINUTE_MS = 60_000
const DAY_MS = 86_400_000
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
const DAY_CACHE_LIMIT = 2_048
const EMPTY: readonly number[] = []

interface Prepared {
  id: string
  zone: IANAZone
  /** Per weekday (0 = Monday) the opening intervals as flat [startMinute, endMinute, ...]; empty = closed. */
  weekly: readonly (readonly number[])[]
  /** Holidays as local day numbers (days since 1970-01-01). */
  holidays: ReadonlySet<number>
  /** Local day number -> flat [start, end, ...] epoch ms, only for open days; FIFO-evicted. */
  days: Map<number, readonly number[]>
}

const preparedByCalendar = new WeakMap<CalendarLike, Prepared>()

function prepare(cal: CalendarLike): Prepared {
  let prepared = preparedByCalendar.get(cal)
  if (prepared) return prepared
  const zone = IANAZone.create(cal.timeZone)
  if (!zone.isValid) throw new RangeError(`calendar "${cal.id}": unknown time zone "${cal.timeZone}"`)
  const weekly = WEEKDAYS.map((day) => {
    const flat: number[] = []
    for (const [start, end] of cal.hours[day] ?? []) {
      const from = parseTime(cal.id, start)
      const to = parseTime(cal.id, end)
      if (to > from) flat.push(from, to)
    }
    return flat
  })
  const holidays = new Set<number>()
  for (const date of cal.holidays ?? []) holidays.add(parseDate(cal.id, date))
  prepared = { id: cal.id, zone, weekly, holidays, days: new Map() }
  preparedByCalendar.set(cal, prepared)
  return prepared
}

function parseTime(id: string, hhmm: string): number {
  const match = /^(\d{2}):(\d{2})$/.exec(hhmm)
  const minutes = match ? Number(match[1]) * 60 + Number(match[2]) : Number.NaN
  if (!(minutes >= 0 && minutes <= 1_440)) throw new RangeError(`calendar "${id}": bad time "${hhmm}"`)
  return minutes
}

function parseDate(id: string, date: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date)
  if (!match) throw new RangeError(`calendar "${id}": bad holiday "${date}"`)
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / DAY_MS
}

/** The local day (days since 1970-01-01 in the zone's calendar) an instant falls on. */
function localDay(p: Prepared, at: number): number {
  return Math.floor((at + p.zone.offset(at) * MINUTE_MS) / DAY_MS)
}

/** 0 = Monday ... 6 = Sunday; day 0 (1970-01-01) was a Thursday. */
function weekdayOf(day: number): number {
  return (((day + 3) % 7) + 7) % 7
}

/**
 * The instant of a local wall time, given as "epoch ms as if the zone were UTC". See the module comment:
 * in a gap the pre-transition offset (moves forward by the gap), in an overlap the earlier occurrence.
 * Assumes at most one offset change within a day of the wall time, true of every real zone.
 */
function wallToInstant(zone: IANAZone, wall: number): number {
  const before = zone.offset(wall - DAY_MS)
  const after = zone.offset(wall + DAY_MS)
  const viaBefore = wall - before * MINUTE_MS
  if (before === after) return viaBefore
  const viaAfter = wall - after * MINUTE_MS
  const beforeFits = zone.offset(viaBefore) === before
  const afterFits = zone.offset(viaAfter) === after
  if (beforeFits && afterFits) return Math.min(viaBefore, viaAfter)
  if (afterFits) return viaAfter
  return viaBefore
}

/** A local day's opening intervals as flat [start, end, ...] epoch ms: sorted, disjoint, within the day. */
function dayIntervals(p: Prepared, day: number): readonly number[] {
  const weekly = p.weekly[weekdayOf(day)]!
  if (weekly.length === 0 || p.holidays.has(day)) return EMPTY
  const cached = p.days.get(day)
  if (cached) return cached
  const midnight = day * DAY_MS
  const dayStart = wallToInstant(p.zone, midnight)
  const dayEnd = wallToInstant(p.zone, midnight + DAY_MS)
  const flat: number[] = []
  let floor = dayStart
  for (let i = 0; i < weekly.length; i += 2) {
    const startMinute = weekly[i]!
    const endMinute = weekly[i + 1]!
    const start = Math.max(
      startMinute === 0 ? dayStart : wallToInstant(p.zone, midnight + startMinute * MINUTE_MS),
      floor,
    )
    const end = Math.min(
      endMinute === 1_440 ? dayEnd : wallToInstant(p.zone, midnight + endMinute * MINUTE_MS),
      dayEnd,
    )
    if (end <= start) continue
    if (flat.length > 0 && flat[flat.length - 1] === start) flat[flat.length - 1] = end
    else flat.push(start, end)
    floor = end
  }
  if (p.days.size >= DAY_CACHE_LIMIT) p.days.delete(p.days.keys().next().value!)
  p.days.set(day, flat)
  return flat
}

function checkInstant(name: string, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite epoch-ms instant, got ${value}`)
}

/**
 * The instant at which `durationMs` of business time has elapsed counting from `start`. A start outside
 * hours counts from the next opening; a zero duration returns `start` if open, else the next opening.
 * A duration that ends exactly at a closing time returns that closing time.
 * Throws NoOpeningError if the calendar has no opening for `MAX_CLOSED_DAYS` days, RangeError for a
 * negative duration or one that reaches past `MAX_SEARCH_DAYS`.
 */
export function addBusinessTime(start: number, durationMs: number, cal: BusinessCalendar): number {
  checkInstant('start', start)
  if (!(durationMs >= 0 && Number.isFinite(durationMs))) {
    throw new RangeError(`durationMs must be a finite number >= 0, got ${durationMs}`)
  }
  if (cal === '24/7') return start + durationMs
  const p = prepare(cal)
  let remaining = durationMs
  let cursor = start
  const firstDay = localDay(p, start)
  let lastOpenDay = firstDay
  for (let day = firstDay; ; day++) {
    if (day - lastOpenDay > MAX_CLOSED_DAYS) throw new NoOpeningError(p.id, cursor)
    if (day - firstDay > MAX_SEARCH_DAYS) {
      throw new RangeError(`calendar "${p.id}": ${durationMs} ms of business time reach past 100 years`)
    }
    const intervals = dayIntervals(p, day)
    for (let i = 0; i < intervals.length; i += 2) {
      const end = intervals[i + 1]!
      if (end <= cursor) continue
      const from = Math.max(intervals[i]!, cursor)
      const available = end - from
      if (remaining <= available) return from + remaining
      remaining -= available
      cursor = end
      lastOpenDay = day
    }
  }
}

/**
 * Business milliseconds elapsed between two instants: the total length of `[from, to)` inside opening
 * hours; 0 if `to <= from`. The inverse of addBusinessTime: `businessTimeBetween(s, addBusinessTime(s, d))
 * === d`. Cost grows with the number of local days between the instants.
 */
export function businessTimeBetween(from: number, to: number, cal: BusinessCalendar): number {
  checkInstant('from', from)
  checkInstant('to', to)
  if (to <= from) return 0
  if (cal === '24/7') return to - from
  const p = prepare(cal)
  const lastDay = localDay(p, to)
  let total = 0
  for (let day = localDay(p, from); day <= lastDay; day++) {
    const intervals = dayIntervals(p, day)
    for (let i = 0; i < intervals.length; i += 2) {
      const start = Math.max(intervals[i]!, from)
      const end = Math.min(intervals[i + 1]!, to)
      if (end > start) total += end - start
    }
  }
  return total
}

/** `at` itself if the calendar is open then, else the instant it next opens. Throws like addBusinessTime. */
export function nextOpening(at: number, cal: BusinessCalendar): number {
  return addBusinessTime(at, 0, cal)
}

/** Whether the calendar is open at `at` (intervals are half-open: open at a start, closed at an end). */
export function isOpen(at: number, cal: BusinessCalendar): boolean {
  checkInstant('at', at)
  if (cal === '24/7') return true
  const p = prepare(cal)
  const intervals = dayIntervals(p, localDay(p, at))
  for (let i = 0; i < intervals.length; i += 2) {
    if (at >= intervals[i]! && at < intervals[i + 1]!) return true
  }
  return false
}
