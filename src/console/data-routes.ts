import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { dryRun } from '../dryrun/dry-run.js'
import { formatTimeline } from '../dryrun/print.js'
import { checkScenarioAgainstRules, parseScenarioText } from '../dryrun/scenario.js'
import type { HttpDeps } from '../http/context.js'
import { iso } from '../http/dto.js'
import { userCounters } from '../inbox/counters.js'
import { summarizeRules } from '../rules/diff.js'
import { hasCapability, signedIn, visibleOrgs, visibleSession } from './access.js'

const publicRoute = { public: true } as const

/**
 * What the console's pages show that the HTTP API has no route for: every user's counters at once, the
 * open SLA clocks of a session, the rules file's state, the rules dry-run and HubSpot sync health.
 * Each answers only for the orgs the signed-in key sees (access.ts).
 */
export const consoleDataRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  /** Deployment-wide facts (the rules file's problems, the CRM queue) may name any org's ids. */
  const seesWholeDeployment = (p: Parameters<typeof visibleOrgs>[0]) => {
    const rules = s.rules.current()
    return visibleOrgs(p, rules).length === rules.orgs.size && hasCapability(p, 'admin')
  }

  app.get('/console/api/counters', { config: publicRoute, schema: { hide: true } }, async (req) => {
    const p = signedIn(req)
    const rules = s.rules.current()
    const orgs = new Set(visibleOrgs(p, rules))
    const users = [...rules.users.values()].filter((u) => orgs.has(u.org))
    const counters = await Promise.all(users.map((u) => userCounters(s.inbox, rules, u.id)))
    return {
      at: iso(s.clock.now()),
      items: users.map((u, i) => ({
        userId: u.id,
        org: u.org,
        name: u.name ?? null,
        role: u.role,
        red: counters[i]?.red ?? 0,
        grey: counters[i]?.grey ?? 0,
      })),
    }
  })

  app.get<{ Params: { sid: string } }>(
    '/console/api/sessions/:sid/sla',
    { config: publicRoute, schema: { hide: true } },
    async (req) => {
      const session = visibleSession(s.rules.current(), signedIn(req), req.params.sid)
      const chats = await s.sla.openChats(session.id)
      const clocks = await Promise.all(chats.map((jid) => s.sla.get(session.id, jid)))
      return {
        items: clocks.flatMap((c) =>
          c
            ? [
                {
                  chatJid: c.chatJid,
                  policyId: c.policyId,
                  state: c.state,
                  deadline: iso(c.deadline),
                  waitingSince: iso(c.waitingSince),
                },
              ]
            : [],
        ),
      }
    },
  )

  app.get('/console/api/rules', { config: publicRoute, schema: { hide: true } }, async (req) => {
    const p = signedIn(req)
    const rules = s.rules.current()
    const orgs = new Set(visibleOrgs(p, rules))
    const status = s.rules.status()
    const whole = seesWholeDeployment(p)
    const last = status.lastReload
    return {
      path: status.path,
      appliedAt: iso(status.appliedAt),
      counts: whole
        ? summarizeRules(rules)
        : {
            orgs: orgs.size,
            sessions: [...rules.sessions.values()].filter((x) => orgs.has(x.org)).length,
            users: [...rules.users.values()].filter((u) => orgs.has(u.org)).length,
            calendars: rules.config.calendars.length,
            policies: rules.config.sla.policies.length,
            apiKeys: rules.config.apiKeys.filter((k) => k.org !== undefined && orgs.has(k.org)).length,
          },
      lastReload: last
        ? {
            at: iso(last.at),
            applied: last.applied,
            problemCount: last.problems.length,
            // The file holds every org: its problems may name another org's ids.
            problems: whole ? last.problems : null,
          }
        : null,
    }
  })

  app.post(
    '/console/api/dry-run',
    {
      config: publicRoute,
      schema: {
        hide: true,
        body: z
          .object({
            scenario: z
              .string()
              .min(1)
              .max(64 * 1024),
          })
          .strict(),
      },
    },
    async (req) => {
      const p = signedIn(req)
      const rules = s.rules.current()
      const parsed = parseScenarioText(req.body.scenario)
      if (!parsed.ok) return { ok: false as const, problems: parsed.problems }
      const session = rules.sessions.get(parsed.scenario.session)
      if (!session || !visibleOrgs(p, rules).includes(session.org))
        return { ok: false as const, problems: [`session: unknown session ${parsed.scenario.session}`] }
      const problems = checkScenarioAgainstRules(parsed.scenario, rules)
      if (problems.length > 0) return { ok: false as const, problems }
      try {
        return { ok: true as const, lines: formatTimeline(dryRun(rules, parsed.scenario)) }
      } catch (error) {
        // A scenario that cannot be played out (it would run for ever): say why, as the CLI does.
        return { ok: false as const, problems: [(error as Error).message] }
      }
    },
  )

  app.get('/console/api/hubspot', { config: publicRoute, schema: { hide: true } }, async (req) => {
    const p = signedIn(req)
    const hs = s.hubspot
    if (!hs) return { enabled: false as const }
    const rules = s.rules.current()
    const orgs = new Set(visibleOrgs(p, rules))
    const whole = seesWholeDeployment(p)
    const [pausedUntil, pending, rejected, unmatched, limits] = await Promise.all([
      hs.budget.pausedUntil(),
      hs.dirty.pending(),
      hs.dirty.rejected(),
      hs.unmatched.all(),
      s.metrics.hubspotRateLimit.get(),
    ])
    const limit = (window: string, value: string) =>
      limits.values.find((v) => v.labels.window === window && v.labels.value === value)?.value ?? null
    const ofOrg = (sid: string) => orgs.has(rules.sessions.get(sid)?.org ?? '')
    return {
      enabled: true as const,
      pausedUntil: pausedUntil && pausedUntil > s.clock.now() ? iso(pausedUntil) : null,
      // Process-wide figures of the one HubSpot account: shown to who sees the whole deployment.
      pendingChats: whole ? pending : null,
      rateLimit: whole
        ? {
            tenSecondMax: limit('10s', 'max'),
            tenSecondRemaining: limit('10s', 'remaining'),
            dailyMax: limit('daily', 'max'),
            dailyRemaining: limit('daily', 'remaining'),
          }
        : null,
      rejected: Object.entries(rejected)
        .filter(([member]) => ofOrg(member.slice(0, member.indexOf('|'))))
        .map(([member, reason]) => ({
          sessionId: member.slice(0, member.indexOf('|')),
          chatJid: member.slice(member.indexOf('|') + 1),
          reason,
        })),
      unmatched: unmatched
        .filter((u) => orgs.has(u.org))
        .slice(0, 200)
        .map((u) => ({
          sessionId: u.sessionId,
          chatJid: u.chatJid,
          phone: `+${u.phone}`,
          since: iso(u.since),
          attempts: u.attempts,
          nextTryAt: iso(u.nextTryAt),
        })),
    }
  })
}
