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
  const user = rules.users.get(userId)
  if (!user) return null
  const sids = rules.sessionsOfOrg(user.org).map((s) => s.id)
  const supervised = rules.supervisedBy(userId).map((u) => u.id)
  const owners: Array<string | null> = [userId, ...supervised]
  if (user.takesNewClients) owners.push(null)
  const totals = await store.unansweredOf(sids, owners)
  const red = (totals.get(userId) ?? 0) + (user.takesNewClients ? (totals.get(null) ?? 0) : 0)
  const grey = supervised.reduce((sum, id) => sum + (totals.get(id) ?? 0), 0)
  return { userId, red, grey, counter: red > 0 ? red : grey, type: red > 0 ? 'red' : 'grey' }
}
