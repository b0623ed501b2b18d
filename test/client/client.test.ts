import { type AddressInfo, createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ForbiddenError,
  NetworkError,
  NotFoundError,
  NotImplementedError,
  TickbridgeClient,
  UnauthorizedError,
  ValidationError,
} from '../../src/client/index.js'
import type { ManualClock } from '../../src/clock.js'
import { appFixture, KEYS } from '../helpers/app.js'
import { inbound, pn, T0 } from '../helpers/events.js'

let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
let baseUrl: string
beforeAll(async () => {
  f = await appFixture('client')
  baseUrl = await f.app.listen({ port: 0, host: '127.0.0.1' })
  for (let i = 0; i < 7; i++) {
    await f.services.ingestor.ingest(
      inbound('acme-sales', pn(100 + i), { ts: T0 + i, pushName: `Customer ${i}` }),
    )
  }
})
afterAll(() => f.cleanup())

describe('typed client over a real socket', () => {
  const admin = () => new TickbridgeClient({ baseUrl, apiKey: KEYS.acmeAdmin })

  it('lists sessions and pages through every chat', async () => {
    const sessions = await admin().listSessions()
    expect(sessions.map((s) => s.id).sort()).toEqual(['acme-sales', 'acme-support'])
    const jids: string[] = []
    for await (const chat of admin().allChats('acme-sales', { pageSize: 3 })) jids.push(chat.jid)
    expect(jids).toEqual(Array.from({ length: 7 }, (_, i) => pn(106 - i)))
  })

  it('marks read and no-reply-needed, returning the chat', async () => {
    const read = await admin().markRead('acme-sales', pn(100))
    expect(read.unreadCount).toBe(0)
    const answered = await admin().noReplyNeeded('acme-sales', pn(100))
    expect(answered.unanswered).toBe(0)
    expect((await admin().getChat('acme-sales', pn(100))).unanswered).toBe(0)
  })

  it('throws the typed error for each API error code', async () => {
    await expect(
      new TickbridgeClient({ baseUrl, apiKey: 'wrong-key-123' }).listSessions(),
    ).rejects.toBeInstanceOf(UnauthorizedError)
    await expect(
      new TickbridgeClient({ baseUrl, apiKey: KEYS.acmeRead }).markRead('acme-sales', pn(101)),
    ).rejects.toBeInstanceOf(ForbiddenError)
    await expect(admin().getChat('acme-sales', pn(999))).rejects.toBeInstanceOf(NotFoundError)
    await expect(admin().getSession('globex-main')).rejects.toBeInstanceOf(NotFoundError)
    await expect(admin().setPresence('acme-sales', pn(101), 'composing')).rejects.toBeInstanceOf(
      NotImplementedError,
    )
    const err = await admin()
      .chatsOverview('acme-sales', { limit: 500 })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ValidationError)
    expect((err as ValidationError).fields.map((x) => x.field)).toEqual(['query.limit'])
  })

  it('reports an unreachable server as a NetworkError', async () => {
    // A port that was free a moment ago: nothing listens there (fetch refuses port 1 itself as unsafe).
    const probe = createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
    const port = (probe.address() as AddressInfo).port
    await new Promise((r) => probe.close(r))
    const c = new TickbridgeClient({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: KEYS.acmeAdmin,
      timeoutMs: 2000,
    })
    const err = (await c.listSessions().catch((e: unknown) => e)) as NetworkError
    expect(err).toBeInstanceOf(NetworkError)
    // The cause is kept: what fetch threw, and below it the socket's refusal.
    expect(err.cause).toBeInstanceOf(TypeError)
    expect((err.cause as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED')
    expect(err.message).toContain('ECONNREFUSED')
  })

  it('drives the simulated WhatsApp', async () => {
    const sent = await admin().sim.injectMessage('acme-support', { chatId: pn(555), text: 'hello' })
    expect(sent.accepted).toBe(true)
    const actions = await admin().sim.actions('acme-support')
    expect(actions).toEqual({ items: [], lastSeq: null })
  })
})
