import { createHash, timingSafeEqual } from 'node:crypto'
import type { Rules } from '../rules/compile.js'
import { ApiError } from './errors.js'

/** What an org route may require of its org's key. */
export type Capability = 'read' | 'send' | 'admin'

/** A key of one org: it reaches that org's routes with its capabilities. */
export interface OrgPrincipal {
  kind: 'org'
  keyId: string
  org: string
  capabilities: ReadonlySet<Capability>
}

/** A key of no org, for the deployment's queue dashboard only (the rules allow it no other capability). */
export interface OperatorPrincipal {
  kind: 'operator'
  keyId: string
}

export type Principal = OrgPrincipal | OperatorPrincipal

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** A well-formed key that matches none: a guess, counted against the client's address. */
export class UnknownKeyError extends ApiError {
  constructor() {
    super('unauthorized', 'unknown API key')
  }
}

/** The key in an `Authorization: Bearer <key>` header; a missing or malformed header is a 401. */
export function presentedKey(authorization: string | undefined): string {
  const match = /^Bearer\s+(\S{8,512})\s*$/i.exec(authorization ?? '')
  if (!match)
    throw new ApiError('unauthorized', 'missing or malformed Authorization header: expected "Bearer <key>"')
  return match[1]!
}

/**
 * Resolves a presented key against the hashes in the rules. Every stored hash is compared in constant
 * time and the loop never exits early, so timing tells nothing about which hashes exist.
 */
export function principalOf(key: string, rules: Rules): Principal {
  const presented = Buffer.from(sha256Hex(key), 'hex')
  let found: Principal | null = null
  for (const entry of rules.config.apiKeys) {
    const stored = Buffer.from(entry.sha256, 'hex')
    if (stored.length === presented.length && timingSafeEqual(stored, presented) && !found) {
      found = principalOfKey(entry)
    }
  }
  if (!found) throw new UnknownKeyError()
  return found
}

/** The principal of a configured key (also for the console, which keeps only the key's id). */
export function principalOfKey(entry: Rules['config']['apiKeys'][number]): Principal {
  return entry.org === undefined
    ? { kind: 'operator', keyId: entry.id }
    : {
        kind: 'org',
        keyId: entry.id,
        org: entry.org,
        capabilities: new Set(entry.capabilities as Capability[]),
      }
}

/** The org key allowed on a route needing `capability`; an operator key has none of an org's capabilities. */
export function requireCapability(principal: Principal, capability: Capability): OrgPrincipal {
  if (principal.kind !== 'org' || !principal.capabilities.has(capability)) {
    throw new ApiError('forbidden', `this API key lacks the "${capability}" capability`, {
      required: capability,
    })
  }
  return principal
}

/** The queue dashboard shows every org's jobs: only a key of no org, made for it, opens it. */
export function requireOperator(principal: Principal): OperatorPrincipal {
  if (principal.kind !== 'operator') {
    throw new ApiError(
      'forbidden',
      "the queue dashboard shows every org's jobs: it needs an operator key (one of no org, capabilities [operator])",
      { required: 'operator' },
    )
  }
  return principal
}

/** Another org's session answers exactly like a missing one: 404, nothing about its existence. */
export function sessionOf(rules: Rules, principal: OrgPrincipal, sessionId: string) {
  const session = rules.sessions.get(sessionId)
  if (!session || session.org !== principal.org) throw ApiError.notFound(`session ${sessionId}`)
  return session
}
