import { DateTime } from 'luxon'
import { phoneOf } from '../domain/jid.js'
import { formatDuration } from '../rules/duration.js'
import type { CountersSnapshot, DryRunResult, TimelineEntry } from './dry-run.js'
import type { ScenarioEvent } from './scenario.js'

/** How a chat is shown: the phone number of a phone-number jid, else the jid. */
export function chatLabel(jid: string): string {
  return phoneOf(jid) ?? jid
}

/** A zone's short name at an instant: CET, EST, UTC (GMT+5:30 where no abbreviation exists). */
function zoneAbbreviation(t: DateTime): string {
  const us = t.setLocale('en-US').toFormat('ZZZZ')
  return us.startsWith('GMT') ? t.setLocale('en-GB').toFormat('ZZZZ') : us
}

/** `Fri 2026-11-20 16:30:02.7 CET` (tenths of a second). */
export function stamp(ms: number, zone: string): string {
  const t = DateTime.fromMillis(ms, { zone }).setLocale('en-US')
  return `${t.toFormat('ccc yyyy-LL-dd HH:mm:ss')}.${Math.floor(t.millisecond / 100)} ${zoneAbbreviation(t)}`
}

/** A due time next to a line's own time: `17:00` the same day, else `Mon 23 Nov 09:15` (seconds if any). */
function shortStamp(ms: number, zone: string, relativeTo: number): string {
  const t = DateTime.fromMillis(ms, { zone }).setLocale('en-US')
  const ref = DateTime.fromMillis(relativeTo, { zone })
  const time = t.toFormat(t.second || t.millisecond ? 'HH:mm:ss' : 'HH:mm')
  if (t.hasSame(ref, 'day')) return time
  return `${t.toFormat(t.hasSame(ref, 'year') ? 'ccc d LLL' : 'ccc d LLL yyyy')} ${time}`
}

function seconds(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : formatDuration(ms)
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

function quote(text: string | undefined, max = 70): string {
  if (!text) return ''
  const flat = text.replace(/\s+/g, ' ').trim()
  return ` "${flat.length > max ? `${flat.slice(0, max - 1)}…` : flat}"`
}

function describeEvent(e: ScenarioEvent, zone: string): string {
  switch (e.type) {
    case 'customer': {
      const who = e.participant ? ` from ${chatLabel(e.participant)}` : ''
      const name = e.name ? ` (${e.name})` : ''
      const media = e.media ? ` [${e.media}]` : ''
      const sent = e.sentAt !== e.at ? ` (sent ${shortStamp(e.sentAt, zone, e.at)}, arrives late)` : ''
      return `customer ${chatLabel(e.chat)}${name}${who}:${media}${quote(e.text)}${sent}`
    }
    case 'reply':
      return `reply from the ${e.from === 'crm' ? 'CRM' : e.from} to ${chatLabel(e.chat)}:${quote(e.text)}`
    case 'no-reply-needed':
      return `no reply needed: ${chatLabel(e.chat)}`
    case 'owner':
      return `owner of ${chatLabel(e.chat)} set to ${e.owner ?? 'unassigned'}`
    case 'reset':
      return `counters reset: ${e.chat ? chatLabel(e.chat) : 'every chat'}${e.owner ? ` owned by ${e.owner}` : ''}`
    case 'read':
      return `read on the phone: ${chatLabel(e.chat)}`
    case 'remind':
      return `reminder asked for ${chatLabel(e.chat)} in ${formatDuration(e.after)}`
  }
}

function countersLine(c: CountersSnapshot): string {
  const parts: string[] = []
  for (const chat of c.chats) {
    if (chat.unanswered === 0) continue
    parts.push(`${chatLabel(chat.chat)} ${chat.unanswered} unanswered (${chat.owner ?? 'unassigned'})`)
  }
  for (const u of c.users) {
    if (u.red > 0) parts.push(`${u.userId} red ${u.red}`)
    if (u.grey > 0) parts.push(`${u.userId} grey ${u.grey}`)
  }
  return `counters: ${parts.length ? parts.join(' · ') : 'nothing unanswered'}`
}

/** The lines of one entry: first the headline, then details (indented by the caller). */
function describe(entry: TimelineEntry, zone: string): string[] {
  switch (entry.kind) {
    case 'event':
      return [describeEvent(entry.event, zone), ...entry.notes.map((n) => `  (${n})`)]
    case 'receipt': {
      const why = entry.reason === 'reply' ? ', read before our reply' : ''
      return [
        `→ seen receipt ${chatLabel(entry.chat)} (${plural(entry.messageIds.length, 'message')}, delay ${seconds(entry.delayMs)}${why})`,
      ]
    }
    case 'receipt-cancelled':
      return [
        `→ pending receipt dropped for ${chatLabel(entry.chat)}: read on the phone first (${plural(entry.messages, 'message')})`,
      ]
    case 'sla-open': {
      // Each due time next to the one before it, so a date is only repeated when it changes.
      const levels = entry.levels
        .map(
          (l, i) =>
            `level ${l.level + 1} ${shortStamp(l.dueAt, zone, entry.levels[i - 1]?.dueAt ?? entry.at)}`,
        )
        .join(' · ')
      return [
        `→ SLA clock ${entry.policy} (${entry.period} response) for ${chatLabel(entry.chat)}, answer due ${shortStamp(entry.deadline, zone, entry.at)}`,
        `    ${levels}`,
      ]
    }
    case 'sla-close': {
      const rest = entry.cancelled.length
        ? `level${entry.cancelled.length === 1 ? '' : 's'} ${entry.cancelled.map((l) => l + 1).join(', ')} will not fire`
        : 'every level had fired'
      return [`→ SLA clock ${entry.policy} for ${chatLabel(entry.chat)} closed: ${rest}`]
    }
    case 'sla-unmatched':
      return [
        `→ no SLA policy matches ${chatLabel(entry.chat)} (owner ${entry.owner ?? 'unassigned'}): no SLA clock`,
      ]
    case 'sla-level': {
      const actions = entry.actions
        .map((a) => (a.action === 'markUnread' && a.ok ? a.action : `${a.action} ${a.detail}`))
        .join('; ')
      return [`→ SLA level ${entry.level + 1} (${entry.policy}) for ${chatLabel(entry.chat)}: ${actions}`]
    }
    case 'reset': {
      const local = DateTime.fromMillis(entry.at, { zone: entry.timeZone }).setLocale('en-US')
      return [
        `→ scheduled reset ${entry.rule} (cron "${entry.cron}" = ${local.toFormat('ccc HH:mm')} ${zoneAbbreviation(local)} in ${entry.timeZone}): ${plural(entry.chats, 'chat')}, ${plural(entry.messages, 'message')} cleared`,
      ]
    }
    case 'reminder-set':
      return [
        `→ reminder for ${chatLabel(entry.chat)} due ${shortStamp(entry.dueAt, zone, entry.at)}${entry.replaced ? ' (replaces the pending one)' : ''}`,
      ]
    case 'reminder-cancelled':
      return [`→ reminder for ${chatLabel(entry.chat)} cancelled: ${entry.why}`]
    case 'reminder':
      return [`→ reminder fires for ${chatLabel(entry.chat)}: ${entry.detail}`]
  }
}

/** The human-readable timeline, in the result's display zone. */
export function formatTimeline(result: DryRunResult, labels: { scenario?: string } = {}): string[] {
  const zone = result.timeZone.zone
  const stamps = result.timeline.map((e) => stamp(e.at, zone))
  const width = Math.max(0, ...stamps.map((s) => s.length))
  const lines = [
    `Dry run${labels.scenario ? ` of ${labels.scenario}` : ''}: session ${result.session} (org ${result.org}), seed ${result.seed}`,
    `Times in ${zone} (${result.timeZone.source})`,
    '',
  ]
  // The counters after a step are shown once its consequences at the same instant are listed.
  let counters: string | null = null
  const flush = () => {
    if (counters !== null) lines.push(`${''.padEnd(width)}    ${counters}`)
    counters = null
  }
  let previous = ''
  for (const [i, entry] of result.timeline.entries()) {
    const s = stamps[i]!
    if (s !== previous || 'counters' in entry) flush()
    const [head, ...rest] = describe(entry, zone)
    lines.push(`${(s === previous ? '' : s).padEnd(width)}  ${head}`)
    for (const line of rest) lines.push(`${''.padEnd(width)}  ${line}`)
    if ('counters' in entry) counters = countersLine(entry.counters)
    previous = s
  }
  flush()
  lines.push('', summary(result))
  return lines
}

function summary(result: DryRunResult): string {
  const count = (kind: TimelineEntry['kind']) => result.timeline.filter((e) => e.kind === kind).length
  const cancelled = result.timeline.reduce((n, e) => n + (e.kind === 'sla-close' ? e.cancelled.length : 0), 0)
  const parts = [
    plural(count('receipt'), 'seen receipt'),
    `${plural(count('sla-level'), 'SLA level')} fired`,
    `${plural(cancelled, 'level')} cut short`,
    plural(count('reset'), 'scheduled reset'),
  ]
  const reminders = count('reminder')
  if (reminders || count('reminder-set')) parts.push(`${plural(reminders, 'reminder')} fired`)
  return `Summary: ${parts.join(', ')}; until ${stamp(result.end, result.timeZone.zone)}`
}

const INSTANT_KEYS = new Set(['at', 'start', 'end', 'until', 'dueAt', 'deadline', 'waitingSince', 'sentAt'])

/**
 * The machine-readable result: `actions` (what Tickbridge would do, in time order) and `steps` (each
 * scenario event with the counters after it); instants as ISO-8601 in the display zone, durations in ms.
 */
export function toJson(result: DryRunResult): string {
  const zone = result.timeZone.zone
  const { timeline, ...head } = result
  const out = {
    ...head,
    actions: timeline.filter((e) => e.kind !== 'event'),
    steps: timeline.flatMap((e) => {
      if (e.kind !== 'event') return []
      const { index: _i, at: _a, ...event } = e.event
      return [{ index: e.index, at: e.at, ...event, notes: e.notes, counters: e.counters }]
    }),
  }
  return JSON.stringify(
    out,
    (key, value) => {
      if (INSTANT_KEYS.has(key) && typeof value === 'number')
        return DateTime.fromMillis(value, { zone }).toISO()
      // SLA levels as people and the API number them (1 = the first), not the timeline's 0-based index.
      if (key === 'level' && typeof value === 'number') return value + 1
      if (key === 'cancelled' && Array.isArray(value)) return value.map((l: number) => l + 1)
      return value
    },
    2,
  )
}
