import type { Rules } from './compile.js'

/** Counts for log lines and the CLI. */
export function summarizeRules(rules: Rules) {
  const { config } = rules
  return {
    orgs: config.orgs.length,
    sessions: config.sessions.length,
    users: config.users.length,
    calendars: config.calendars.length,
    policies: config.sla.policies.length,
    apiKeys: config.apiKeys.length,
  }
}

type Keyed = readonly { id: string }[]

const LISTS: [string, (rules: Rules) => Keyed][] = [
  ['orgs', (r) => r.config.orgs],
  ['sessions', (r) => r.config.sessions],
  ['users', (r) => r.config.users],
  ['calendars', (r) => r.config.calendars],
  ['sla.policies', (r) => r.config.sla.policies],
  ['counters.resets', (r) => r.config.counters.resets],
  ['apiKeys', (r) => r.config.apiKeys],
]

/**
 * What a reload changed, for the log: `sessions: +new -gone ~edited`, or `seen changed` for the
 * settings blocks. Ids only, never values (API key hashes stay out of logs).
 */
export function diffRules(prev: Rules, next: Rules): string[] {
  const changes: string[] = []
  for (const [name, pick] of LISTS) {
    const before = new Map(pick(prev).map((item) => [item.id, JSON.stringify(item)]))
    const after = new Map(pick(next).map((item) => [item.id, JSON.stringify(item)]))
    const parts: string[] = []
    for (const [id, json] of after) {
      if (!before.has(id)) parts.push(`+${id}`)
      else if (before.get(id) !== json) parts.push(`~${id}`)
    }
    for (const id of before.keys()) if (!after.has(id)) parts.push(`-${id}`)
    const order = (l: Keyed) => l.map((item) => item.id).join()
    if (parts.length === 0 && order(pick(prev)) !== order(pick(next))) parts.push('reordered')
    if (parts.length > 0) changes.push(`${name}: ${parts.join(' ')}`)
  }
  for (const block of ['seen', 'reminders'] as const) {
    if (JSON.stringify(prev.config[block]) !== JSON.stringify(next.config[block]))
      changes.push(`${block} changed`)
  }
  const { resets: _a, ...prevCounters } = prev.config.counters
  const { resets: _b, ...nextCounters } = next.config.counters
  if (JSON.stringify(prevCounters) !== JSON.stringify(nextCounters)) changes.push('counters changed')
  return changes
}
