import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Principal } from '../http/auth.js'
import { ApiError } from '../http/errors.js'
import type { Rules } from '../rules/compile.js'
import type { ConsoleSignIn } from './session-store.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the console's cookie (not a bearer key) authenticated the request. */
    consoleSignIn?: { id: string; record: ConsoleSignIn }
    /** The signed-in key's principal; the API's guard takes it in place of a bearer key. */
    consolePrincipal?: Principal
  }
}

/**
 * Which orgs a principal may see: an org key its own org. The operator key belongs to no org and, as
 * in the API (SECURITY.md), reaches no org's data: the console shows it the queue dashboard's link.
 */
export function visibleOrgs(p: Principal, rules: Rules): string[] {
  return p.kind === 'org' && rules.orgs.has(p.org) ? [p.org] : []
}

export function hasCapability(p: Principal, capability: string): boolean {
  return p.kind === 'org' && (p.capabilities as ReadonlySet<string>).has(capability)
}

/** Another org's session answers exactly like a missing one (as the API's sessionOf). */
export function visibleSession(rules: Rules, p: Principal, sid: string) {
  const session = rules.sessions.get(sid)
  if (!session || !visibleOrgs(p, rules).includes(session.org)) throw ApiError.notFound(`session ${sid}`)
  return session
}

/** The principal of a request the console's sign-in cookie authenticated, else 401. */
export function signedIn(req: FastifyRequest): Principal {
  if (!req.consoleSignIn || !req.consolePrincipal) throw new ApiError('unauthorized', 'not signed in')
  return req.consolePrincipal
}

/** A cookie's value from the request (no dependency: one header, a few names). */
export function cookieOf(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function setCookie(
  reply: FastifyReply,
  req: FastifyRequest,
  name: string,
  value: string,
  opts: { path: string; maxAgeMs: number },
): void {
  const secure = req.protocol === 'https' ? '; Secure' : ''
  const maxAge = Math.max(0, Math.floor(opts.maxAgeMs / 1000))
  reply.header(
    'set-cookie',
    `${name}=${value}; Path=${opts.path}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`,
  )
}

/**
 * A state-changing request sent with a cookie must come from our own pages. SameSite=Strict already
 * keeps the cookie off cross-site requests; this checks the Origin browsers send with every such
 * request as well (Fetch standard, "append a request `Origin` header"), so an old or odd browser that
 * ignores SameSite is still covered.
 */
export function assertSameOrigin(req: FastifyRequest): void {
  const origin = req.headers.origin
  let same: boolean
  if (origin) {
    try {
      same = new URL(origin).host === req.headers.host
    } catch {
      same = false
    }
  } else {
    same = req.headers['sec-fetch-site'] === 'same-origin'
  }
  if (!same) throw new ApiError('forbidden', 'cross-site request refused: send it from the console itself')
}
