import type {
  ApiKey,
  Calendar,
  Org,
  RulesConfig,
  SeenDelay,
  SeenPolicyMode,
  Session,
  User,
} from './schema.js'

/** A session's effective seen-receipt settings: its overrides laid over `seen.defaults`. */
export interface SeenPolicy {
  readonly policy: SeenPolicyMode
  readonly markSeenBeforeReply: boolean
  readonly delay: Readonly<SeenDelay>
}

/** Validated rules with lookups; immutable, so a hot reload swaps the whole object. */
export interface Rules {
  readonly config: RulesConfig
  readonly orgs: ReadonlyMap<string, Org>
  readonly sessions: ReadonlyMap<string, Session>
  readonly users: ReadonlyMap<string, User>
  readonly calendars: ReadonlyMap<string, Calendar>
  /** Keyed by the lowercase hex SHA-256 of the bearer key. */
  readonly apiKeysByHash: ReadonlyMap<string, ApiKey>
  sessionsOfOrg(org: string): readonly Session[]
  /** Undefined for a session the rules do not know. */
  seenPolicyFor(sessionId: string): SeenPolicy | undefined
  /** Users who list `userId` in their `supervises`. */
  supervisorsOf(userId: string): readonly User[]
  /** Users that `userId` supervises. */
  supervisedBy(userId: string): readonly User[]
}

/** Builds lookups over a config that rulesSchema has already validated (references are known to resolve). */
export function compileRules(config: RulesConfig): Rules {
  deepFreeze(config)
  const byId = <T extends { id: string }>(items: readonly T[]) =>
    new Map(items.map((item) => [item.id, item]))
  const orgs = byId(config.orgs)
  const sessions = byId(config.sessions)
  const users = byId(config.users)
  const calendars = byId(config.calendars)
  const apiKeysByHash = new Map(config.apiKeys.map((key) => [key.sha256, key]))

  const sessionsByOrg = groupBy(config.sessions, (session) => session.org)
  const supervised = new Map(
    config.users.map((user) => [user.id, freeze(user.supervises.flatMap((id) => users.get(id) ?? []))]),
  )
  const supervisors = new Map<string, User[]>()
  for (const user of config.users) {
    for (const id of user.supervises) supervisors.set(id, [...(supervisors.get(id) ?? []), user])
  }
  for (const list of supervisors.values()) freeze(list)

  const defaults = config.seen.defaults
  const seenPolicies = new Map(
    config.sessions.map((session): [string, SeenPolicy] => {
      const own = session.seen
      // Delay fields merge one by one, so a session can change only `baseMax` and keep the rest.
      const delay = { ...defaults.delay, ...definedOnly(own?.delay ?? {}) }
      return [
        session.id,
        freeze({
          policy: own?.policy ?? defaults.policy,
          markSeenBeforeReply: own?.markSeenBeforeReply ?? defaults.markSeenBeforeReply,
          delay: freeze(delay),
        }),
      ]
    }),
  )

  const empty: readonly never[] = freeze([])
  return freeze({
    config,
    orgs,
    sessions,
    users,
    calendars,
    apiKeysByHash,
    sessionsOfOrg: (org: string) => sessionsByOrg.get(org) ?? empty,
    seenPolicyFor: (sessionId: string) => seenPolicies.get(sessionId),
    supervisorsOf: (userId: string) => supervisors.get(userId) ?? empty,
    supervisedBy: (userId: string) => supervised.get(userId) ?? empty,
  })
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, readonly T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item])
  return new Map([...groups].map(([k, v]) => [k, freeze(v)]))
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

function freeze<T>(value: T): T {
  return Object.freeze(value)
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const child of Object.values(value)) deepFreeze(child)
}
