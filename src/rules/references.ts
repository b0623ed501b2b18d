import type { z } from 'zod'
import { formatDuration } from './duration.js'
import { formatPath } from './report.js'

// These checks run even when parts of the document failed to parse (so every problem is reported in
// one go), which means any value may still be raw input: read everything defensively.
type Path = (string | number)[]
type Loose = Record<string, unknown>

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])
const obj = (value: unknown): Loose =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Loose) : {}
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined)

/** Words that crmTask.assignTo / reassign.to read as roles, so they cannot also be user ids. */
const RESERVED_USER_IDS = ['owner', 'supervisor']

/** Cross-reference checks of a whole rules document, with exact paths. */
export function checkReferences(input: unknown, ctx: z.RefinementCtx): void {
  const problem = (path: Path, message: string) => ctx.addIssue({ code: 'custom', path, message })
  const root = obj(input)
  const sla = obj(root.sla)
  const counters = obj(root.counters)

  const idLists: [Path, unknown[]][] = [
    [['orgs'], list(root.orgs)],
    [['sessions'], list(root.sessions)],
    [['users'], list(root.users)],
    [['calendars'], list(root.calendars)],
    [['sla', 'policies'], list(sla.policies)],
    [['counters', 'resets'], list(counters.resets)],
    [['apiKeys'], list(root.apiKeys)],
  ]
  for (const [path, entries] of idLists) {
    unique(entries, 'id', (index, first, id) =>
      problem([...path, index, 'id'], `duplicate id "${id}" (also ${formatPath([...path, first])})`),
    )
  }

  const orgIds = new Set(list(root.orgs).map((org) => str(obj(org).id)))
  const sessionIds = new Set(list(root.sessions).map((session) => str(obj(session).id)))
  const calendarIds = new Set(list(root.calendars).map((calendar) => str(obj(calendar).id)))
  const userOrgs = new Map<string, string | undefined>()
  for (const user of list(root.users)) {
    const id = str(obj(user).id)
    if (id !== undefined && !userOrgs.has(id)) userOrgs.set(id, str(obj(user).org))
  }

  const checkOrg = (path: Path, value: unknown) => {
    const id = str(value)
    if (id !== undefined && !orgIds.has(id)) problem(path, `unknown org "${id}"`)
  }
  const checkUser = (path: Path, value: unknown, sameOrgAs?: unknown) => {
    const id = str(value)
    if (id === undefined) return
    if (!userOrgs.has(id)) return problem(path, `unknown user "${id}"`)
    const org = userOrgs.get(id)
    const wanted = str(sameOrgAs)
    // An unknown org is reported on its own; comparing against it would only add noise.
    if (wanted !== undefined && orgIds.has(wanted) && org !== undefined && org !== wanted) {
      problem(path, `user "${id}" belongs to org "${org}", not "${wanted}"`)
    }
  }

  for (const [i, raw] of list(root.sessions).entries()) {
    const session = obj(raw)
    checkOrg(['sessions', i, 'org'], session.org)
    checkUser(['sessions', i, 'defaultOwner'], session.defaultOwner, session.org)
  }

  for (const [i, raw] of list(root.users).entries()) {
    const user = obj(raw)
    const id = str(user.id)
    checkOrg(['users', i, 'org'], user.org)
    if (id !== undefined && RESERVED_USER_IDS.includes(id)) {
      problem(['users', i, 'id'], `"${id}" is reserved (crmTask.assignTo and reassign.to use it as a role)`)
    }
    for (const [j, target] of list(user.supervises).entries()) {
      if (target === id) problem(['users', i, 'supervises', j], 'a user cannot supervise themself')
      else checkUser(['users', i, 'supervises', j], target, user.org)
    }
  }
  // Per-owner counters are keyed by HubSpot owner id: two users on one owner would share one counter.
  unique(list(root.users), 'hubspotOwnerId', (index, first, ownerId) =>
    problem(
      ['users', index, 'hubspotOwnerId'],
      `HubSpot owner ${ownerId} is already used by users[${first}]`,
    ),
  )

  for (const [i, raw] of list(root.apiKeys).entries()) checkOrg(['apiKeys', i, 'org'], obj(raw).org)
  unique(list(root.apiKeys), 'sha256', (index, first) =>
    problem(['apiKeys', index, 'sha256'], `same key hash as apiKeys[${first}]`),
  )

  for (const [i, raw] of list(sla.policies).entries()) {
    const policy = obj(raw)
    const path: Path = ['sla', 'policies', i]
    for (const [j, session] of list(obj(policy.match).sessions).entries()) {
      const id = str(session)
      if (id !== undefined && !sessionIds.has(id))
        problem([...path, 'match', 'sessions', j], `unknown session "${id}"`)
    }
    const calendar = str(policy.calendar)
    if (calendar !== undefined && calendar !== '24/7' && !calendarIds.has(calendar)) {
      problem([...path, 'calendar'], `unknown calendar "${calendar}" (or "24/7")`)
    }
    for (const [j, level] of list(policy.levels).entries()) {
      for (const [k, rawAction] of list(obj(level).actions).entries()) {
        const action = obj(rawAction)
        const actionPath: Path = [...path, 'levels', j, 'actions', k]
        const assignTo = obj(action.crmTask).assignTo
        if (assignTo !== 'owner') checkUser([...actionPath, 'crmTask', 'assignTo'], assignTo)
        const to = obj(action.reassign).to
        if (to !== 'supervisor') checkUser([...actionPath, 'reassign', 'to'], to)
      }
    }
  }

  for (const [i, raw] of list(counters.resets).entries()) {
    const scope = obj(obj(raw).scope)
    checkOrg(['counters', 'resets', i, 'scope', 'org'], scope.org)
    const session = str(scope.session)
    if (session !== undefined && !sessionIds.has(session)) {
      problem(['counters', 'resets', i, 'scope', 'session'], `unknown session "${session}"`)
    }
  }

  // The delay range only makes sense once a session's overrides are laid over the defaults.
  const defaultDelay = obj(obj(obj(root.seen).defaults).delay)
  checkDelay(['seen', 'defaults', 'delay'], defaultDelay, problem)
  for (const [i, raw] of list(root.sessions).entries()) {
    const override = obj(obj(raw).seen).delay
    if (override === undefined) continue
    checkDelay(['sessions', i, 'seen', 'delay'], { ...defaultDelay, ...definedOnly(obj(override)) }, problem)
  }
}

function definedOnly(value: Loose): Loose {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined))
}

function checkDelay(path: Path, delay: Loose, problem: (path: Path, message: string) => void): void {
  const baseMin = num(delay.baseMin)
  const baseMax = num(delay.baseMax)
  const max = num(delay.max)
  if (baseMin !== undefined && baseMax !== undefined && baseMin > baseMax) {
    problem(path, `baseMin (${formatDuration(baseMin)}) must not exceed baseMax (${formatDuration(baseMax)})`)
  }
  if (baseMax !== undefined && max !== undefined && max < baseMax) {
    problem(path, `max (${formatDuration(max)}) must not be less than baseMax (${formatDuration(baseMax)})`)
  }
}

/** Calls onDuplicate(index, firstIndex, value) for each entry whose `key` repeats an earlier one. */
function unique(
  entries: unknown[],
  key: string,
  onDuplicate: (index: number, first: number, value: string) => void,
): void {
  const first = new Map<string, number>()
  for (const [index, entry] of entries.entries()) {
    const value = str(obj(entry)[key])
    if (value === undefined) continue
    const earlier = first.get(value)
    if (earlier === undefined) first.set(value, index)
    else onDuplicate(index, earlier, value)
  }
}
