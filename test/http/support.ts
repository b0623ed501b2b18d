import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, expect } from 'vitest'
import type { ManualClock } from '../../src/clock.js'
import type { InboxEvent } from '../../src/domain/events.js'
import type { Ingestor } from '../../src/inbox/ingest.js'
import { SessionCommandServer, type SessionGateway } from '../../src/whatsapp/command-bus.js'
import type { WhatsAppSession } from '../../src/whatsapp/port.js'
import { SessionNotLiveError } from '../../src/whatsapp/port.js'
import { SimTransport } from '../../src/whatsapp/sim/transport.js'
import { appFixture as appFixtureFn } from '../helpers/app.js'
import { dumpPrefix } from '../helpers/redis.js'

/** Shared by the test/http files (not a test file itself). */

export type AppFixture = Awaited<ReturnType<typeof appFixtureFn<ManualClock>>>

export interface ErrorBody {
  code: string
  message: string
  details: Record<string, unknown>
}

/** A V8 stack frame (`at fn (/path/file.js:1:2)`, `at node:internal/...:1:2`) or a multi-line trace. */
export const STACK_FRAME = /(?:\n|\\n)\s*at\s|\bat (?:\S+ )?\(?(?:\/|file:\/\/|node:)[^\s)]*:\d+:\d+/
const HTML = /<(!doctype|html|body|head)\b/i

/**
 * Asserts the documented error answer: the status, a JSON body of exactly `{ error: { code, message,
 * details } }` with the given code, and neither a stack trace nor HTML anywhere in it.
 */
export function expectApiError(res: LightMyRequestResponse, status: number, code: string): ErrorBody {
  expect(res.statusCode, `unexpected answer: ${res.body.slice(0, 300)}`).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  expect(res.body).not.toMatch(STACK_FRAME)
  expect(res.body).not.toMatch(HTML)
  const body = res.json() as { error: ErrorBody }
  expect(Object.keys(body)).toEqual(['error'])
  expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message'])
  expect(body.error.code).toBe(code)
  expect(typeof body.error.message).toBe('string')
  expect(body.error.message.length).toBeGreaterThan(0)
  expect(body.error.details).toBeTypeOf('object')
  expect(Array.isArray(body.error.details)).toBe(false)
  expect(body.error.details).not.toBeNull()
  return body.error
}

/** A validation error whose details.fields is a non-empty list of exactly `{ field, message }`. */
export function expectValidationError(res: LightMyRequestResponse, ...fields: string[]) {
  const error = expectApiError(res, 400, 'validation_error')
  const list = error.details.fields as Array<Record<string, unknown>>
  expect(Array.isArray(list)).toBe(true)
  expect(list.length).toBeGreaterThan(0)
  for (const f of list) {
    expect(Object.keys(f).sort()).toEqual(['field', 'message'])
    expect(f.field).toBeTypeOf('string')
    expect(f.message).toBeTypeOf('string')
  }
  for (const field of fields) expect(list.map((f) => f.field)).toContain(field)
  return list as Array<{ field: string; message: string }>
}

/** Is this key one of the per-key request counters of the rate limiter? */
export const isRateLimitKey = (prefix: string, key: string) => key.startsWith(`${prefix}:{global}:ratelimit`)

/** Stored state under the prefix minus the rate limiter's counters (which every authenticated request bumps). */
export async function storedState(f: AppFixture): Promise<Record<string, unknown>> {
  const all = await dumpPrefix(f.redis, f.prefix)
  return Object.fromEntries(Object.entries(all).filter(([k]) => !isRateLimitKey(f.prefix, k)))
}

/**
 * Resolves with the first event the ingestor applies that matches; the timer only turns a hang into a
 * clear failure, it is not how the test synchronises.
 */
export function untilApplied(
  ingestor: Ingestor,
  match: (e: InboxEvent) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<InboxEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`timed out waiting for the ingestor to apply ${what}`))
    }, timeoutMs)
    const off = ingestor.onApplied((e) => {
      if (!match(e)) return
      clearTimeout(timer)
      off()
      resolve(e)
    })
  })
}

/**
 * A "worker" for the fixture's sessions: real SimTransport sessions fed into the real ingestor, with a
 * SessionCommandServer answering the gateway's presence commands for them.
 */
export function simWorker(f: AppFixture) {
  const transport = new SimTransport({
    redis: f.redis,
    keys: f.services.keys,
    network: f.services.sim!,
    log: f.services.log,
    blockMs: 100,
  })
  const sessions = new Map<string, WhatsAppSession>()
  const server = new SessionCommandServer(
    f.redis,
    f.prefix,
    async (sid, command) => {
      const session = sessions.get(sid)
      if (!session || command.cmd !== 'presence') throw new SessionNotLiveError(sid)
      await session.sendPresence(command.jid, command.state)
      return undefined
    },
    f.services.log,
  )
  return {
    sessions,
    async open(sid: string): Promise<WhatsAppSession> {
      const s = await transport.open(sid, (e) => f.services.ingestor.ingest(e).then(() => {}))
      sessions.set(sid, s)
      await server.serve(sid)
      return s
    },
    async close(): Promise<void> {
      await Promise.all([...sessions.values()].map((s) => s.close()))
      sessions.clear()
      await server.close()
    },
  }
}

/** A gateway that never reaches Redis (for apps built over an unreachable Redis). */
export const offlineGateway: SessionGateway = {
  sendPresence: async () => {},
  call: async () => undefined,
  close: async () => {},
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  const chance = (p: number) => next() < p
  return { next, int, pick, chance }
}

/** One app fixture for the enclosing describe block (or file). */
export function useApp(label: string, opts: Parameters<typeof appFixtureFn<ManualClock>>[1] = {}) {
  const ref = {} as { f: AppFixture }
  beforeAll(async () => {
    ref.f = await appFixtureFn<ManualClock>(label, opts)
  })
  afterAll(async () => {
    await ref.f?.cleanup()
  })
  return ref
}
