import type { Logger } from 'pino'
import type { Clock } from '../src/clock.js'
import { type ResetDeps, type ResetResult, resetUnanswered } from '../src/counters/reset.js'
import type { Rules } from '../src/rules/compile.js'
import type { catalog, Processor } from './catalog.js'

/**
 * `counter-reset`: one firing of a `counters.resets` rule, produced by the rule's job scheduler in the
 * `{counters}` queue (one scheduler per rule, see src/counters/reset-schedules.ts). The rule is looked
 * up by id in the rules in force now, so a changed scope applies at once; a rule that is gone does
 * nothing. Every session in scope is reset through the Ingestor. The reset instant is the scheduled
 * one, so a retried or late job clears exactly what the on-time one would have, nothing newer.
 */
export type CounterResetOutcome =
  | ({ reset: true; ruleId: string; sessions: string[] } & ResetResult)
  | { reset: false; ruleId: string; reason: string }

export function counterResetProcessor(
  deps: ResetDeps & { rules: () => Rules; clock: Clock; log: Logger },
): Processor<typeof catalog.counterReset, CounterResetOutcome> {
  return async ({ ruleId }, job) => {
    const rules = deps.rules()
    const rule = rules.config.counters.resets.find((r) => r.id === ruleId)
    if (!rule) {
      deps.log.info({ ruleId, jobId: job.id }, 'counter reset skipped: the rule is no longer in the rules')
      return { reset: false, ruleId, reason: 'unknown rule' }
    }
    const sessions =
      'org' in rule.scope
        ? rules.sessionsOfOrg(rule.scope.org).map((s) => s.id)
        : rules.sessions.has(rule.scope.session)
          ? [rule.scope.session]
          : []
    const now = deps.clock.now()
    // A scheduler's job carries the instant it was due (`prevMillis`); a hand-made job resets now.
    const due = job.opts?.prevMillis
    const at = typeof due === 'number' && due > 0 && due <= now ? due : now
    const result = await resetUnanswered(deps, { sessionIds: sessions, at, trigger: 'schedule' })
    deps.log.info(
      { ruleId, scope: rule.scope, sessions: sessions.length, ...result, at: new Date(at).toISOString() },
      'scheduled counter reset done',
    )
    return { reset: true, ruleId, sessions, ...result }
  }
}
