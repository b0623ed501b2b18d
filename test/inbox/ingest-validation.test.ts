import { afterAll, describe, expect, it } from 'vitest'
import { group, inbound, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'
import { dumpPrefix } from '../helpers/redis.js'

const f = inboxFixture('ingest-validation', { hasSession: (sid) => sid !== 'ghost' })
afterAll(() => f.cleanup())

const good = inbound('s1', pn(1), { ts: T0, id: 'GOOD1' }) as Record<string, unknown>
const cases: Array<[string, unknown, string]> = [
  ['not an object', 'hello', '(root): expected an object'],
  [
    'unknown type',
    { ...good, type: 'message.deleted' },
    'type: expected one of message, chat.read, chat.markedUnread',
  ],
  [
    'bad chat jid',
    { ...good, key: { remoteJid: 'bob@example.com', fromMe: false, id: 'X1' } },
    'key.remoteJid: expected a chat jid',
  ],
  ['seconds instead of ms', { ...good, timestamp: 1_763_000_000 }, 'timestamp: expected epoch milliseconds'],
  [
    'group message without participant',
    { ...good, key: { remoteJid: group(1), fromMe: false, id: 'X2' } },
    'key.participant: required for a group message',
  ],
  [
    'id with spaces',
    { ...good, key: { remoteJid: pn(1), fromMe: false, id: 'a b' } },
    'key.id: expected printable ASCII',
  ],
  [
    'fromMe from the customer',
    { ...good, key: { remoteJid: pn(1), fromMe: true, id: 'X3' } },
    'origin: a fromMe message cannot come from the customer',
  ],
  [
    'bad lid mapping',
    { type: 'lid.mapping', sessionId: 's1', lid: pn(5), pn: pn(5) },
    'lid: expected a …@lid jid',
  ],
  ['bad session id', { ...good, sessionId: 'a:b' }, 'sessionId: expected a session id'],
]

describe('ingest validation', () => {
  it.each(cases)('drops %s with a precise problem and touches nothing', async (_name, event, problem) => {
    const before = await dumpPrefix(f.redis, f.prefix)
    const r = await f.ingestor.ingest(event)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.problems.join('\n')).toContain(problem)
    expect(await dumpPrefix(f.redis, f.prefix)).toEqual(before)
  })

  it('drops events of sessions missing from the rules', async () => {
    const r = await f.ingestor.ingest(inbound('ghost', pn(1)))
    expect(r).toEqual({
      ok: false,
      reason: 'unknown_session',
      problems: ['sessionId: unknown session ghost'],
    })
  })

  it('counts and logs what it dropped', async () => {
    await f.ingestor.ingest({ type: 'message' })
    const metric = await f.metrics.registry.getSingleMetricAsString('tickbridge_ingest_events_total')
    expect(metric).toMatch(/tickbridge_ingest_events_total\{type="message",outcome="invalid"\} \d+/)
    expect(f.logLines.some((l) => l.includes('dropped a malformed WhatsApp event'))).toBe(true)
  })

  it('applies a valid event after all that', async () => {
    const r = await f.ingestor.ingest(good)
    expect(r.ok && r.transition).toMatchObject({ jid: pn(1), unanswered: 1, created: true })
  })
})
