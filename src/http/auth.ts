import { createHash, timingSafeEqual } from 'node:crypto'
import type { Rules } from '../rules/compile.js'
import { ApiError } from './errors.js'

export type Capability = 'read' | 'send' | 'admin'

export interface Principal {
  keyId: string
  org: string
  capabilities: ReadonlySet<Capability>
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/**
 * Resolves a bearer key against the hashes in the rules. Every stored hash is compared in constant
 * time and the loop never exits early, so timing tells nothing about which hashes exist.
 */
export function authenticate(authorization: string | undefined, rules: Rules): Principal {
  const match = /^Bearer\s+(\S{8,512})\s*$/i.exec(authorization ?? '')
  if (!match)
    throw new ApiError('unauthorized', 'missing or malformed Authorization header: expected "Bearer <key>"')
  const presented = Buffer.from(sha256Hex(match[1]!), 'hex')
  let found: Principal | null = null
  for (const key of rules.config.apiKeys) {
    const stored = Buffer.from(key.sha256, 'hex')
    if (stored.length === presented.length && timingSafeEqual(stored, presented) && !found) {
      found = principalOfKey(key)
    }
  }
  if (!found) throw new ApiError('unauthorized', 'unknown API key')
  return found
}

/** The principal of a configured key (also for the console, which keeps only the key's id). */
export function principalOfKey(key: Rules['config']['apiKeys'][number]): Principal {
  return { keyId: key.id, org: key.org, capabilities: new Set(key.capabilities as Capability[]) }
}

export function requireCapability(principal: Principal, capability: Capability): void {
  if (!principal.capabilities.has(capability)) {
    throw new ApiError('forbidden', `this API key lacks the "${capability}" capability`, {
      required: capability,
    })
  }
}

/** Another org's session answers exactly like a missing one: 404, nothing about its existence. */
export function sessionOf(rules: Rules, principal: Principal, sessionId: string) {
  const session = rules.sessions.get(sessionId)
  if (!session || session.org !== principal.org) throw ApiError.notFound(`session ${sessionId}`)
  return session
}
