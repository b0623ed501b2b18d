import { createHash, randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { z } from 'zod'
import type { Keys } from '../keys.js'

/**
 * Server-side state of the browser console, in Redis so any web process can answer: sign-in sessions
 * (a random id in an httpOnly cookie; the API key itself is never stored, only its id) and one-time
 * pairing links. Only SHA-256 hashes of the ids and tokens are stored, so a Redis dump hands out
 * neither a usable cookie nor a usable link.
 */

const signInSchema = z.object({
  keyId: z.string(),
  csrf: z.string(),
  createdAt: z.number(),
  expiresAt: z.number(),
})
export type ConsoleSignIn = z.infer<typeof signInSchema>

const pairViewSchema = z.object({
  sessionId: z.string(),
  createdBy: z.string(),
  expiresAt: z.number(),
})
export type PairView = z.infer<typeof pairViewSchema>

const hash = (secret: string) => createHash('sha256').update(secret).digest('hex')
/** 256 random bits, URL- and cookie-safe. */
const secret = () => randomBytes(32).toString('base64url')
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/

function parse<T>(schema: z.ZodType<T>, raw: string | null): T | null {
  if (!raw) return null
  try {
    const r = schema.safeParse(JSON.parse(raw))
    return r.success ? r.data : null
  } catch {
    return null
  }
}

export class ConsoleStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  private key(kind: 'signin' | 'pairlink' | 'pairview', id: string): string {
    return this.keys.global(`console:${kind}:${hash(id)}`)
  }

  /** A new sign-in for the key `keyId`; returns the cookie value (never stored) and the record. */
  async signIn(keyId: string, now: number, ttlMs: number): Promise<{ id: string; record: ConsoleSignIn }> {
    const id = secret()
    const record: ConsoleSignIn = { keyId, csrf: secret(), createdAt: now, expiresAt: now + ttlMs }
    await this.redis.set(this.key('signin', id), JSON.stringify(record), 'PX', ttlMs)
    return { id, record }
  }

  async signInOf(id: string | undefined, now: number): Promise<ConsoleSignIn | null> {
    if (!id || !SECRET_SHAPE.test(id)) return null
    const record = parse(signInSchema, await this.redis.get(this.key('signin', id)))
    return record && record.expiresAt > now ? record : null
  }

  async signOut(id: string | undefined): Promise<void> {
    if (id && SECRET_SHAPE.test(id)) await this.redis.del(this.key('signin', id))
  }

  /** A one-time pairing link for one session; returns its token (only the hash is stored). */
  async createPairingLink(sessionId: string, createdBy: string, now: number, ttlMs: number) {
    const token = secret()
    const link: PairView = { sessionId, createdBy, expiresAt: now + ttlMs }
    await this.redis.set(this.key('pairlink', token), JSON.stringify(link), 'PX', ttlMs)
    return { token, link }
  }

  /**
   * Uses a pairing link: GETDEL makes it work exactly once, even when two phones open it at the same
   * moment. The holder gets a pairing view (its own cookie) that lasts as long as the link would have.
   */
  async usePairingLink(token: string, now: number): Promise<{ viewId: string; view: PairView } | null> {
    if (!SECRET_SHAPE.test(token)) return null
    const link = parse(pairViewSchema, await this.redis.getdel(this.key('pairlink', token)))
    if (!link || link.expiresAt <= now) return null
    const viewId = secret()
    await this.redis.set(this.key('pairview', viewId), JSON.stringify(link), 'PX', link.expiresAt - now)
    return { viewId, view: link }
  }

  async pairViewOf(id: string | undefined, now: number): Promise<PairView | null> {
    if (!id || !SECRET_SHAPE.test(id)) return null
    const view = parse(pairViewSchema, await this.redis.get(this.key('pairview', id)))
    return view && view.expiresAt > now ? view : null
  }
}
