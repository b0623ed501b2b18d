import { DateTime } from 'luxon'
import { describe, expect, it } from 'vitest'
import type { Calendar } from '../../src/rules/schema.js'
import {
  addBusinessTime,
  type BusinessCalendar,
  businessTimeBetween,
  isOpen,
  MAX_CLOSED_DAYS,
  NoOpeningError,
  nextOpening,
} from '../../src/sla/business-time.js'

const BERLIN = 'Europe/Berlin'
const NEW_YORK = 'America/New_York'
const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000

/** An instant from a local ISO time in a zone (use an explicit offset for a fall-back wall time). */
function at(iso: string, zone: string): number {
  const dt = DateTime.fromISO(iso, { zone })
  if (!dt.isValid) throw new Error(`bad ISO ${iso}`)
  return dt.toMillis()
}

/** Reads an instant back as local ISO, so a failing assertion says which wall time it was. */
function local(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toISO()!
}

type Hours = Calendar['hours']
type Interval = [string, string]

function calendar(id: string, timeZone: string, hours: Hours, holidays: string[] = []): Calendar {
  return { id, timeZone, hours, holidays }
}

function weekdays(...intervals: Interval[]): Hours {
  return { mon: intervals, tue: intervals, wed: intervals, thu: intervals, fri: intervals }
}

function everyDay(...intervals: Interval[]): Hours {
  return { ...weekdays(...intervals), sat: intervals, sun: intervals }
}

const office = calendar('office', BERLIN, weekdays(['09:00', '17:00']), [
  '2026-04-03',
  '2026-04-06',
  '2026-12-25',
])
const nyOffice = calendar('ny-office', NEW_YORK, weekdays(['09:00', '17:00']))
const lunch = calendar('lunch', BERLIN, weekdays(['09:00', '12:30'], ['13:30', '17:00']), [
  '2026-12-24',
  '2026-12-25',
])
const berlinNight = calendar('berlin-night', BERLIN, everyDay(['00:00', '06:00']))
const nyNight = calendar('ny-night', NEW_YORK, everyDay(['00:00', '06:00']))
const berlinAllDay = calendar('berlin-all-day', BERLIN, everyDay(['00:00', '24:00']))
const nyWeekend = calendar('ny-weekend', NEW_YORK, { sat: [['10:00', '16:00']], sun: [['10:00', '16:00']] })
const lateShift = calendar('late-shift', BERLIN, { mon: [['20:00', '24:00']], tue: [['00:00', '02:00']] })
const sparse = calendar('sparse', NEW_YORK, { wed: [['10:00', '11:00']] }, ['2026-07-01'])
const noHours = calendar('closed', BERLIN, {})

describe('addBusinessTime: office hours', () => {
  it('Friday 16:30 + 1 h with Mon-Fri 09:00-17:00 lands on Monday 09:30', () => {
    const start = at('2026-03-13T16:30', BERLIN) // a Friday
    expect(local(addBusinessTime(start, HOUR, office), BERLIN)).toBe('2026-03-16T09:30:00.000+01:00')
    expect(addBusinessTime(start, HOUR, office)).toBe(at('2026-03-16T09:30', BERLIN))
    expect(addBusinessTime(at('2026-03-13T16:30', NEW_YORK), HOUR, nyOffice)).toBe(
      at('2026-03-16T09:30', NEW_YORK),
    )
  })

  it('a lunch break pauses the clock: 12:00 + 1 h is 14:00', () => {
    expect(addBusinessTime(at('2026-03-16T12:00', BERLIN), HOUR, lunch)).toBe(at('2026-03-16T14:00', BERLIN))
    expect(addBusinessTime(at('2026-03-16T12:30', BERLIN), 0, lunch)).toBe(at('2026-03-16T13:30', BERLIN))
    expect(addBusinessTime(at('2026-03-16T12:45', BERLIN), 15 * MINUTE, lunch)).toBe(
      at('2026-03-16T13:45', BERLIN),
    )
    // A whole day is 7 h: Monday 09:00 + 7 h ends at Monday 17:00, + 7 h 1 min at Tuesday 09:01.
    expect(addBusinessTime(at('2026-03-16T09:00', BERLIN), 7 * HOUR, lunch)).toBe(
      at('2026-03-16T17:00', BERLIN),
    )
    expect(addBusinessTime(at('2026-03-16T09:00', BERLIN), 7 * HOUR + MINUTE, lunch)).toBe(
      at('2026-03-17T09:01', BERLIN),
    )
  })

  it('skips holidays as whole local days', () => {
    // 2026-12-24 is a Thursday, Christmas Day a Friday (a holiday in `office`).
    expect(addBusinessTime(at('2026-12-24T16:30', BERLIN), HOUR, office)).toBe(at('2026-12-28T09:30', BERLIN))
    expect(isOpen(at('2026-12-25T12:00', BERLIN), office)).toBe(false)
    expect(nextOpening(at('2026-12-25T12:00', BERLIN), office)).toBe(at('2026-12-28T09:00', BERLIN))
    // `lunch` closes both the 24th and the 25th.
    expect(addBusinessTime(at('2026-12-23T16:00', BERLIN), 2 * HOUR, lunch)).toBe(
      at('2026-12-28T10:00', BERLIN),
    )
    expect(businessTimeBetween(at('2026-12-24T00:00', BERLIN), at('2026-12-28T00:00', BERLIN), office)).toBe(
      8 * HOUR,
    )
  })

  it('a message at 03:00 starts the clock at 09:00', () => {
    const three = at('2026-03-17T03:00', BERLIN)
    expect(addBusinessTime(three, HOUR, office)).toBe(at('2026-03-17T10:00', BERLIN))
    expect(addBusinessTime(three, 0, office)).toBe(at('2026-03-17T09:00', BERLIN))
    expect(nextOpening(three, office)).toBe(at('2026-03-17T09:00', BERLIN))
    expect(isOpen(three, office)).toBe(false)
    expect(businessTimeBetween(three, at('2026-03-17T09:30', BERLIN), office)).toBe(30 * MINUTE)
  })

  it('treats an interval as half-open: a start exactly at the closing time waits for the next opening', () => {
    const closing = at('2026-03-17T17:00', BERLIN)
    expect(isOpen(closing, office)).toBe(false)
    expect(isOpen(closing - 1, office)).toBe(true)
    expect(isOpen(at('2026-03-17T09:00', BERLIN), office)).toBe(true)
    expect(isOpen(at('2026-03-17T09:00', BERLIN) - 1, office)).toBe(false)
    expect(addBusinessTime(closing, 0, office)).toBe(at('2026-03-18T09:00', BERLIN))
    expect(addBusinessTime(closing, 1, office)).toBe(at('2026-03-18T09:00', BERLIN) + 1)
    expect(nextOpening(closing, office)).toBe(at('2026-03-18T09:00', BERLIN))
    // A duration that ends exactly at the closing time returns the closing time, not the next opening.
    expect(addBusinessTime(at('2026-03-17T16:00', BERLIN), HOUR, office)).toBe(closing)
  })

  it('returns the start itself for a zero duration inside hours', () => {
    const start = at('2026-03-17T11:11:11.111', BERLIN)
    expect(addBusinessTime(start, 0, office)).toBe(start)
    expect(nextOpening(start, office)).toBe(start)
    expect(addBusinessTime(start, 1, office)).toBe(start + 1)
  })

  it('counts durations spanning several weeks, holidays and a DST change', () => {
    // Three weeks of 40 h from Monday 2026-03-02 09:00 end exactly on Friday 2026-03-20 17:00.
    expect(addBusinessTime(at('2026-03-02T09:00', BERLIN), 120 * HOUR, office)).toBe(
      at('2026-03-20T17:00', BERLIN),
    )
    expect(addBusinessTime(at('2026-03-02T09:00', BERLIN), 121 * HOUR, office)).toBe(
      at('2026-03-23T10:00', BERLIN),
    )
    // 80 h from Monday 2026-03-23: 40 h that week, 32 h up to Thursday 2026-04-02 (Good Friday and Easter
    // Monday are holidays), then 8 h on Tuesday 2026-04-07. The clocks go forward on 2026-03-29.
    expect(addBusinessTime(at('2026-03-23T09:00', BERLIN), 80 * HOUR, office)).toBe(
      at('2026-04-07T17:00', BERLIN),
    )
    // Six weeks in New York from Monday 2026-02-23 (the clocks go forward on 2026-03-08).
    expect(addBusinessTime(at('2026-02-23T09:00', NEW_YORK), 6 * 40 * HOUR + 30 * MINUTE, nyOffice)).toBe(
      at('2026-04-06T09:30', NEW_YORK),
    )
    expect(businessTimeBetween(at('2026-03-02T00:00', BERLIN), at('2026-04-13T00:00', BERLIN), office)).toBe(
      (6 * 5 - 2) * 8 * HOUR,
    )
  })
})

describe('daylight saving time', () => {
  describe('Europe/Berlin, spring forward on 2026-03-29 (02:00 -> 03:00)', () => {
    it('office hours: Friday before to Monday after', () => {
      const friday = at('2026-03-27T16:30', BERLIN) // CET, +01:00
      expect(addBusinessTime(friday, HOUR, office)).toBe(at('2026-03-30T09:30', BERLIN)) // CEST, +02:00
      expect(addBusinessTime(friday, HOUR, office)).toBe(at('2026-03-30T09:30+02:00', BERLIN))
      expect(
        businessTimeBetween(at('2026-03-27T09:00', BERLIN), at('2026-03-30T17:00', BERLIN), office),
      ).toBe(16 * HOUR)
    })

    it('an interval across the jump is an hour shorter in real time', () => {
      const midnight = at('2026-03-29T00:00', BERLIN)
      expect(businessTimeBetween(midnight, at('2026-03-29T06:00', BERLIN), berlinNight)).toBe(5 * HOUR)
      expect(addBusinessTime(at('2026-03-29T01:00', BERLIN), 2 * HOUR, berlinNight)).toBe(
        at('2026-03-29T04:00', BERLIN), // 3 h on the wall clock
      )
      // 6 h from midnight: 5 h on the 29th, then 1 h on the 30th.
      expect(addBusinessTime(midnight, 6 * HOUR, berlinNight)).toBe(at('2026-03-30T01:00', BERLIN))
      expect(addBusinessTime(midnight, 5 * HOUR, berlinNight)).toBe(at('2026-03-29T06:00', BERLIN))
      // A 24 h calendar: 24 h of business time from Saturday noon is 13:00 on Sunday on the wall clock.
      expect(addBusinessTime(at('2026-03-28T12:00', BERLIN), 24 * HOUR, berlinAllDay)).toBe(
        at('2026-03-29T13:00', BERLIN),
      )
      expect(
        businessTimeBetween(at('2026-03-29T00:00', BERLIN), at('2026-03-30T00:00', BERLIN), berlinAllDay),
      ).toBe(23 * HOUR)
    })

    it('a wall time in the gap moves forward by the gap, as luxon does', () => {
      const gapOpening = calendar('gap', BERLIN, { sun: [['02:30', '05:00']] })
      expect(at('2026-03-29T02:30', BERLIN)).toBe(at('2026-03-29T03:30+02:00', BERLIN)) // luxon's reading
      expect(nextOpening(at('2026-03-29T00:00', BERLIN), gapOpening)).toBe(at('2026-03-29T03:30', BERLIN))
      expect(isOpen(at('2026-03-29T03:15', BERLIN), gapOpening)).toBe(false)
      expect(
        businessTimeBetween(at('2026-03-29T00:00', BERLIN), at('2026-03-30T00:00', BERLIN), gapOpening),
      ).toBe(90 * MINUTE)
    })

    it('clips intervals the gap turns backwards or makes overlap', () => {
      // 01:00-02:30 becomes 01:00 CET-03:30 CEST, 03:00-04:00 is clipped to 03:30-04:00 and merged.
      const clipped = calendar('clipped', BERLIN, {
        sun: [
          ['01:00', '02:30'],
          ['03:00', '04:00'],
        ],
      })
      expect(
        businessTimeBetween(at('2026-03-29T00:00', BERLIN), at('2026-03-30T00:00', BERLIN), clipped),
      ).toBe(2 * HOUR)
      expect(addBusinessTime(at('2026-03-29T00:00', BERLIN), 2 * HOUR, clipped)).toBe(
        at('2026-03-29T04:00', BERLIN),
      )
      expect(isOpen(at('2026-03-29T03:45', BERLIN), clipped)).toBe(true)
      // A week later, without the gap, it is two separate intervals of 1.5 h and 1 h.
      expect(
        businessTimeBetween(at('2026-04-05T00:00', BERLIN), at('2026-04-06T00:00', BERLIN), clipped),
      ).toBe(150 * MINUTE)
      // 02:30-03:15 would end before it starts: that Sunday it does not open at all.
      const backwards = calendar('backwards', BERLIN, { sun: [['02:30', '03:15']] })
      expect(nextOpening(at('2026-03-29T00:00', BERLIN), backwards)).toBe(at('2026-04-05T02:30', BERLIN))
    })
  })

  describe('Europe/Berlin, fall back on 2026-10-25 (03:00 -> 02:00)', () => {
    it('office hours: Friday before to Monday after', () => {
      const friday = at('2026-10-23T16:30', BERLIN) // CEST
      expect(addBusinessTime(friday, HOUR, office)).toBe(at('2026-10-26T09:30', BERLIN)) // CET
      expect(addBusinessTime(friday, HOUR, office)).toBe(at('2026-10-26T09:30+01:00', BERLIN))
      expect(
        businessTimeBetween(at('2026-10-23T09:00', BERLIN), at('2026-10-26T17:00', BERLIN), office),
      ).toBe(16 * HOUR)
    })

    it('an interval across the change is an hour longer in real time', () => {
      const midnight = at('2026-10-25T00:00', BERLIN)
      expect(businessTimeBetween(midnight, at('2026-10-25T06:00', BERLIN), berlinNight)).toBe(7 * HOUR)
      // 01:00 CEST + 2 h is the second 02:00 (CET).
      expect(addBusinessTime(at('2026-10-25T01:00', BERLIN), 2 * HOUR, berlinNight)).toBe(
        at('2026-10-25T02:00+01:00', BERLIN),
      )
      expect(addBusinessTime(at('2026-10-25T01:00', BERLIN), HOUR, berlinNight)).toBe(
        at('2026-10-25T02:00+02:00', BERLIN),
      )
      expect(addBusinessTime(midnight, 6 * HOUR, berlinNight)).toBe(at('2026-10-25T05:00', BERLIN))
      expect(addBusinessTime(midnight, 7 * HOUR, berlinNight)).toBe(at('2026-10-25T06:00', BERLIN))
      expect(addBusinessTime(midnight, 8 * HOUR, berlinNight)).toBe(at('2026-10-26T01:00', BERLIN))
      expect(addBusinessTime(at('2026-10-24T12:00', BERLIN), 24 * HOUR, berlinAllDay)).toBe(
        at('2026-10-25T11:00', BERLIN),
      )
      expect(
        businessTimeBetween(at('2026-10-25T00:00', BERLIN), at('2026-10-26T00:00', BERLIN), berlinAllDay),
      ).toBe(25 * HOUR)
    })

    it('a wall time that occurs twice is read as its first occurrence', () => {
      const overlapOpening = calendar('overlap', BERLIN, { sun: [['02:30', '05:00']] })
      expect(nextOpening(at('2026-10-25T00:00', BERLIN), overlapOpening)).toBe(
        at('2026-10-25T02:30+02:00', BERLIN),
      )
      expect(
        businessTimeBetween(at('2026-10-25T00:00', BERLIN), at('2026-10-26T00:00', BERLIN), overlapOpening),
      ).toBe(210 * MINUTE)
      expect(isOpen(at('2026-10-25T02:15+01:00', BERLIN), overlapOpening)).toBe(true)
      // Closing at the ambiguous 02:30 closes at the first one, so the second 02:00-02:30 is closed.
      const overlapClosing = calendar('overlap-closing', BERLIN, { sun: [['01:00', '02:30']] })
      expect(isOpen(at('2026-10-25T02:15+02:00', BERLIN), overlapClosing)).toBe(true)
      expect(isOpen(at('2026-10-25T02:15+01:00', BERLIN), overlapClosing)).toBe(false)
      expect(addBusinessTime(at('2026-10-25T01:00', BERLIN), 90 * MINUTE, overlapClosing)).toBe(
        at('2026-10-25T02:30+02:00', BERLIN),
      )
    })
  })

  describe('America/New_York, spring forward on 2026-03-08 (02:00 -> 03:00)', () => {
    it('office hours: Friday before to Monday after', () => {
      const friday = at('2026-03-06T16:30', NEW_YORK) // EST
      expect(addBusinessTime(friday, HOUR, nyOffice)).toBe(at('2026-03-09T09:30', NEW_YORK)) // EDT
      expect(addBusinessTime(friday, HOUR, nyOffice)).toBe(at('2026-03-09T09:30-04:00', NEW_YORK))
      expect(
        businessTimeBetween(at('2026-03-06T09:00', NEW_YORK), at('2026-03-09T17:00', NEW_YORK), nyOffice),
      ).toBe(16 * HOUR)
    })

    it('an interval across the jump is an hour shorter in real time', () => {
      const midnight = at('2026-03-08T00:00', NEW_YORK)
      expect(businessTimeBetween(midnight, at('2026-03-08T06:00', NEW_YORK), nyNight)).toBe(5 * HOUR)
      expect(addBusinessTime(at('2026-03-08T01:30', NEW_YORK), HOUR, nyNight)).toBe(
        at('2026-03-08T03:30', NEW_YORK),
      )
      expect(addBusinessTime(midnight, 5 * HOUR + MINUTE, nyNight)).toBe(at('2026-03-09T00:01', NEW_YORK))
    })
  })

  describe('America/New_York, fall back on 2026-11-01 (02:00 -> 01:00)', () => {
    it('office hours: Friday before to Monday after', () => {
      const friday = at('2026-10-30T16:30', NEW_YORK) // EDT
      expect(addBusinessTime(friday, HOUR, nyOffice)).toBe(at('2026-11-02T09:30', NEW_YORK)) // EST
      expect(addBusinessTime(friday, HOUR, nyOffice)).toBe(at('2026-11-02T09:30-05:00', NEW_YORK))
      expect(
        businessTimeBetween(at('2026-10-30T09:00', NEW_YORK), at('2026-11-02T17:00', NEW_YORK), nyOffice),
      ).toBe(16 * HOUR)
    })

    it('an interval across the change is an hour longer in real time', () => {
      const midnight = at('2026-11-01T00:00', NEW_YORK)
      expect(businessTimeBetween(midnight, at('2026-11-01T06:00', NEW_YORK), nyNight)).toBe(7 * HOUR)
      expect(addBusinessTime(at('2026-11-01T00:30', NEW_YORK), HOUR, nyNight)).toBe(
        at('2026-11-01T01:30-04:00', NEW_YORK),
      )
      expect(addBusinessTime(at('2026-11-01T00:30', NEW_YORK), 2 * HOUR, nyNight)).toBe(
        at('2026-11-01T01:30-05:00', NEW_YORK),
      )
      expect(addBusinessTime(midnight, 7 * HOUR, nyNight)).toBe(at('2026-11-01T06:00', NEW_YORK))
    })

    it('a weekend-only calendar counts Saturday and Sunday across the change', () => {
      // Saturday 2026-10-31 15:30 EDT + 1 h: 30 min on Saturday, 30 min on Sunday (EST).
      expect(addBusinessTime(at('2026-10-31T15:30', NEW_YORK), HOUR, nyWeekend)).toBe(
        at('2026-11-01T10:30', NEW_YORK),
      )
    })
  })
})

describe('other calendars', () => {
  it('a weekend-only calendar', () => {
    expect(addBusinessTime(at('2026-03-06T12:00', NEW_YORK), HOUR, nyWeekend)).toBe(
      at('2026-03-07T11:00', NEW_YORK),
    )
    // Saturday 15:30 EST + 1 h is Sunday 10:30 EDT (the spring-forward Sunday).
    expect(addBusinessTime(at('2026-03-07T15:30', NEW_YORK), HOUR, nyWeekend)).toBe(
      at('2026-03-08T10:30', NEW_YORK),
    )
    // Sunday 15:00 + 2 h: 1 h that Sunday, 1 h on the next Saturday.
    expect(addBusinessTime(at('2026-03-08T15:00', NEW_YORK), 2 * HOUR, nyWeekend)).toBe(
      at('2026-03-14T11:00', NEW_YORK),
    )
    expect(isOpen(at('2026-03-11T12:00', NEW_YORK), nyWeekend)).toBe(false)
    expect(nextOpening(at('2026-03-11T12:00', NEW_YORK), nyWeekend)).toBe(at('2026-03-14T10:00', NEW_YORK))
  })

  it('"24:00" as an end runs to the next midnight, continuing into the next day', () => {
    expect(addBusinessTime(at('2026-03-16T23:00', BERLIN), 2 * HOUR, lateShift)).toBe(
      at('2026-03-17T01:00', BERLIN),
    )
    expect(isOpen(at('2026-03-16T23:59:59.999', BERLIN), lateShift)).toBe(true)
    expect(isOpen(at('2026-03-17T00:00', BERLIN), lateShift)).toBe(true)
    expect(isOpen(at('2026-03-17T02:00', BERLIN), lateShift)).toBe(false)
    expect(
      businessTimeBetween(at('2026-03-16T20:00', BERLIN), at('2026-03-17T02:00', BERLIN), lateShift),
    ).toBe(6 * HOUR)
    // 6 h fill the shift exactly; the 7th hour starts the next Monday evening.
    expect(addBusinessTime(at('2026-03-16T20:00', BERLIN), 6 * HOUR, lateShift)).toBe(
      at('2026-03-17T02:00', BERLIN),
    )
    expect(addBusinessTime(at('2026-03-16T20:00', BERLIN), 7 * HOUR, lateShift)).toBe(
      at('2026-03-23T21:00', BERLIN),
    )
  })

  it('a calendar open 00:00-24:00 every day is real time, across DST and years', () => {
    const start = at('2026-01-15T10:20:30.456', BERLIN)
    for (const duration of [0, 1, HOUR, 90 * DAY, 365 * DAY + 7, 10 * 365 * DAY]) {
      expect(addBusinessTime(start, duration, berlinAllDay)).toBe(start + duration)
      expect(businessTimeBetween(start, start + duration, berlinAllDay)).toBe(duration)
    }
  })

  it('24/7 is plain arithmetic', () => {
    const start = at('2026-03-29T01:59', BERLIN)
    expect(addBusinessTime(start, 5 * HOUR, '24/7')).toBe(start + 5 * HOUR)
    expect(addBusinessTime(start, 0, '24/7')).toBe(start)
    expect(businessTimeBetween(start, start + 12_345, '24/7')).toBe(12_345)
    expect(businessTimeBetween(start + 1, start, '24/7')).toBe(0)
    expect(isOpen(start, '24/7')).toBe(true)
    expect(nextOpening(start, '24/7')).toBe(start)
  })

  it('a calendar open one hour a week still terminates, and skips its holiday', () => {
    // Wednesdays 10:00-11:00 in New York; 2026-07-01 (a Wednesday) is a holiday.
    expect(addBusinessTime(at('2026-06-24T10:30', NEW_YORK), HOUR, sparse)).toBe(
      at('2026-07-08T10:30', NEW_YORK),
    )
    expect(addBusinessTime(at('2026-01-07T10:00', NEW_YORK), 100 * HOUR, sparse)).toBe(
      at('2027-12-08T11:00', NEW_YORK), // 101 Wednesdays from 2026-01-07 (the holiday skipped)
    )
  })
})

describe('businessTimeBetween', () => {
  it('is 0 for an empty or reversed span, and for a span outside hours', () => {
    const t = at('2026-03-17T10:00', BERLIN)
    expect(businessTimeBetween(t, t, office)).toBe(0)
    expect(businessTimeBetween(t + HOUR, t, office)).toBe(0)
    expect(businessTimeBetween(at('2026-03-17T18:00', BERLIN), at('2026-03-18T08:00', BERLIN), office)).toBe(
      0,
    )
    expect(businessTimeBetween(t, t + HOUR, noHours)).toBe(0)
  })

  it('counts partial intervals at both ends', () => {
    expect(businessTimeBetween(at('2026-03-16T12:00', BERLIN), at('2026-03-17T10:15', BERLIN), lunch)).toBe(
      30 * MINUTE + 3.5 * HOUR + HOUR + 15 * MINUTE,
    )
  })
})

describe('calendars without openings', () => {
  it('throws a clear error instead of hanging when there are no hours at all', () => {
    const startedAt = performance.now()
    const t = at('2026-03-17T10:00', BERLIN)
    expect(() => addBusinessTime(t, HOUR, noHours)).toThrow(NoOpeningError)
    expect(() => addBusinessTime(t, HOUR, noHours)).toThrow(
      `calendar "closed" has no opening hours in the ${MAX_CLOSED_DAYS} days after`,
    )
    expect(() => nextOpening(t, noHours)).toThrow(NoOpeningError)
    expect(isOpen(t, noHours)).toBe(false)
    expect(performance.now() - startedAt).toBeLessThan(1_000)
  })

  it('throws when every open day is a holiday for more than 3 years, not when fewer', () => {
    const mondays = (years: number) => {
      const dates: string[] = []
      let day = DateTime.fromISO('2026-01-05', { zone: 'UTC' }) // a Monday
      while (day.year < 2026 + years) {
        dates.push(day.toISODate()!)
        day = day.plus({ days: 7 })
      }
      return dates
    }
    const t = at('2026-01-01T00:00', BERLIN)
    const fourYears = calendar('mondays-off-4y', BERLIN, { mon: [['09:00', '10:00']] }, mondays(4))
    expect(() => addBusinessTime(t, HOUR, fourYears)).toThrow(NoOpeningError)
    const oneYear = calendar('mondays-off-1y', BERLIN, { mon: [['09:00', '10:00']] }, mondays(1))
    expect(nextOpening(t, oneYear)).toBe(at('2027-01-04T09:00', BERLIN))
  })

  it('rejects negative or non-finite durations and unknown zones', () => {
    const t = at('2026-03-17T10:00', BERLIN)
    expect(() => addBusinessTime(t, -1, office)).toThrow(RangeError)
    expect(() => addBusinessTime(t, Number.NaN, office)).toThrow(RangeError)
    expect(() => addBusinessTime(Number.POSITIVE_INFINITY, 1, office)).toThrow(RangeError)
    expect(() => isOpen(t, calendar('mars', 'Mars/Olympus_Mons', weekdays(['09:00', '17:00'])))).toThrow(
      'unknown time zone "Mars/Olympus_Mons"',
    )
  })
})

/** Deterministic pseudo-random numbers (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

describe('properties (seeded)', () => {
  const calendars: [BusinessCalendar, number][] = [
    // [calendar, largest duration to try]
    [office, 30 * DAY],
    [nyOffice, 30 * DAY],
    [lunch, 20 * DAY],
    [berlinNight, 10 * DAY],
    [nyNight, 10 * DAY],
    [berlinAllDay, 40 * DAY],
    [nyWeekend, 10 * DAY],
    [lateShift, 5 * DAY],
    [sparse, 20 * HOUR],
    [
      calendar(
        'odd-hours',
        BERLIN,
        {
          mon: [['07:15', '07:16']],
          sun: [
            ['01:00', '02:30'],
            ['03:00', '04:00'],
            ['22:00', '24:00'],
          ],
        },
        ['2026-10-25'],
      ),
      3 * DAY,
    ],
    ['24/7', 30 * DAY],
  ]
  const from = at('2026-01-01T00:00', 'UTC')
  const to = at('2028-01-01T00:00', 'UTC')

  it('businessTimeBetween inverts addBusinessTime, and the result is the earliest such instant', () => {
    const random = seeded(7)
    for (let i = 0; i < 2_000; i++) {
      const [cal, maxDuration] = calendars[i % calendars.length]!
      const start = Math.floor(from + random() * (to - from))
      const roll = random()
      const duration =
        roll < 0.1 ? 0 : roll < 0.4 ? Math.floor(random() * 3 * HOUR) : Math.floor(random() * maxDuration)
      const end = addBusinessTime(start, duration, cal)
      const context = `case ${i}: ${typeof cal === 'string' ? cal : cal.id} from ${new Date(start).toISOString()} + ${duration}`
      expect(end, context).toBeGreaterThanOrEqual(start)
      expect(businessTimeBetween(start, end, cal), context).toBe(duration)
      if (duration > 0) {
        expect(isOpen(end - 1, cal), context).toBe(true)
        expect(businessTimeBetween(start, end - 1, cal), context).toBe(duration - 1)
      } else {
        expect(end, context).toBe(nextOpening(start, cal))
        expect(isOpen(end, cal), context).toBe(true)
        expect(businessTimeBetween(start, end, cal), context).toBe(0)
      }
    }
  })

  it('businessTimeBetween is additive over a split point', () => {
    const random = seeded(11)
    for (let i = 0; i < 500; i++) {
      const [cal] = calendars[i % calendars.length]!
      const [a, b, c] = [0, 0, 0].map(() => Math.floor(from + random() * 60 * DAY)).sort((x, y) => x - y) as [
        number,
        number,
        number,
      ]
      expect(businessTimeBetween(a, c, cal)).toBe(
        businessTimeBetween(a, b, cal) + businessTimeBetween(b, c, cal),
      )
    }
  })

  it('isOpen agrees with a wall-clock reading of the hours away from DST transition hours', () => {
    const random = seeded(23)
    const plain = [office, nyOffice, lunch, nyWeekend, lateShift, sparse, berlinNight, nyNight, berlinAllDay]
    for (let i = 0; i < 2_000; i++) {
      const cal = plain[i % plain.length]!
      // Whole minutes, so a boundary is hit now and then.
      const t = Math.floor((from + random() * (to - from)) / MINUTE) * MINUTE
      const wall = DateTime.fromMillis(t, { zone: cal.timeZone })
      const weekday = (['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const)[wall.weekday - 1]!
      const minute = wall.hour * 60 + wall.minute
      const expected =
        !cal.holidays.includes(wall.toISODate()!) &&
        (cal.hours[weekday] ?? []).some(([s, e]) => minute >= toMinutes(s) && minute < toMinutes(e))
      expect(isOpen(t, cal), `${cal.id} at ${wall.toISO()}`).toBe(expected)
    }
  })

  it('stays cheap: 100,000 deadlines in office hours', () => {
    const random = seeded(99)
    const startedAt = performance.now()
    let sum = 0
    for (let i = 0; i < 100_000; i++) {
      const start = Math.floor(from + random() * 30 * DAY)
      sum += addBusinessTime(start, Math.floor(random() * 16 * HOUR), i % 2 ? office : lunch)
    }
    expect(sum).toBeGreaterThan(0)
    expect(performance.now() - startedAt).toBeLessThan(5_000)
  })
})

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':')
  return Number(h) * 60 + Number(m)
}
