import type { ChatType } from '../domain/jid.js'
import type { Rules } from '../rules/compile.js'
import type { SlaPolicy } from '../rules/schema.js'
import { addBusinessTime } from './business-time.js'

export type PeriodKind = 'first' | 'next'

export interface PlannedLevel {
  level: number
  dueAt: number
}

export interface ClockPlan {
  policy: SlaPolicy
  kind: PeriodKind
  /** The response target of the period (firstResponse or nextResponse), in business time. */
  deadline: number
  levels: PlannedLevel[]
}

/** The first policy whose every criterion matches; criteria about the owner need an owner. */
export function matchPolicy(
  rules: Rules,
  chat: { sessionId: string; type: ChatType; owner: string | null },
): SlaPolicy | null {
  const owner = chat.owner ? rules.users.get(chat.owner) : undefined
  for (const p of rules.config.sla.policies) {
    const m = p.match
    if (m.sessions && !m.sessions.includes(chat.sessionId)) continue
    if (m.chatType && m.chatType !== chat.type) continue
    if (m.teams && !(owner?.team && m.teams.includes(owner.team))) continue
    if (m.roles && !(owner && m.roles.includes(owner.role))) continue
    return p
  }
  return null
}

/**
 * When each level of the ladder is due for a waiting period that started at `waitingSince`, counted in
 * the policy's business calendar, and the period's response deadline. Pure: the live planner and the
 * dry-run share it.
 */
export function planClock(
  rules: Rules,
  policy: SlaPolicy,
  waitingSince: number,
  kind: PeriodKind,
): ClockPlan {
  const calendar = policy.calendar === '24/7' ? '24/7' : rules.calendars.get(policy.calendar)!
  const target = kind === 'first' ? policy.firstResponse : policy.nextResponse
  return {
    policy,
    kind,
    deadline: addBusinessTime(waitingSince, target, calendar),
    levels: policy.levels.map((l, level) => ({
      level,
      dueAt: addBusinessTime(waitingSince, l.after, calendar),
    })),
  }
}

/**
 * The level to arm next: the first of the ladder after `after` (or from the start) that has not fired.
 * Only one level of a clock has a timer at a time; each level arms the next when it fires, so an open
 * clock costs one delayed job, not one per level.
 */
export function nextLevel(
  levels: readonly PlannedLevel[],
  fired: ReadonlySet<number>,
  after = -1,
): PlannedLevel | null {
  return levels.find((l) => l.level > after && !fired.has(l.level)) ?? null
}

/** Fills a task subject template: {{contact}}, {{chat}}, {{policy}}, {{level}}, {{waiting}}. */
export function renderSubject(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => vars[name] ?? whole)
}
