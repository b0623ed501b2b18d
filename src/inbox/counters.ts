import type { Rules } from '../rules/compile.js'
import type { InboxStore } from './store.js'

/** Wazzup's per-user counters: red = waiting in the user's own chats, grey = in chats of people they supervise. */
export interface UserCounters {
  userId: string
  red: number
  grey: number
  /** Wazzup's single figure: red when the user has any red, else grey. */
  counter: number
  type: 'red' | 'grey'
}

/** Whose per-owner totals, in which sessions, make up a user's counters (null = unassigned chats). */
export interface CounterScope {
  userId: string
  sessionIds: string[]
  /** The user, then everyone they supervise, then null if they take new clients. */
  owners: Array<string | null>
  supervised: string[]
  takesNewClients: boolean
}

/** The scope of a user's counters under the current rules; null for an unknown user. */
export function counterScope(rules: Rules, userId: string): CounterScope | null {
  const user = rules.users.get(userId)
  if (!user) return null
  const supervised = rules.supervisedBy(userId).map((u) => u.id)
  const owners: Array<string | null> = [userId, ...supervised]
  if (user.takesNewClients) owners.push(null)
  return {
    userId,
    sessionIds: rules.sessionsOfOrg(user.org).map((s) => s.id),
    owners,
    supervised,
    takesNewClients: user.takesNewClients,
  }
}

/** The counters from the unanswered totals of the scope's owners (summed over its sessions). Pure. */
export function countersFromTotals(
  scope: CounterScope,
  totals: ReadonlyMap<string | null, number>,
): UserCounters {
  const red = (totals.get(scope.userId) ?? 0) + (scope.takesNewClients ? (totals.get(null) ?? 0) : 0)
  const grey = scope.supervised.reduce((sum, id) => sum + (totals.get(id) ?? 0), 0)
  return { userId: scope.userId, red, grey, counter: red > 0 ? red : grey, type: red > 0 ? 'red' : 'grey' }
}

/**
 * Computes a user's counters from the per-owner totals the Lua transitions keep up to date: one
 * pipelined read of O(sessions × supervised users), independent of how many chats there are.
 * Supervision and "takes new clients" come from the current rules, so a rules change applies at once.
 */
export async function userCounters(
  store: InboxStore,
  rules: Rules,
  userId: string,
): Promise<UserCounters | null> {
  const scope = counterScope(rules, userId)
  if (!scope) return null
  return countersFromTotals(scope, await store.unansweredOf(scope.sessionIds, scope.owners))
}
