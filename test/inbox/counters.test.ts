import { afterAll, describe, expect, it } from 'vitest'
import { userCounters } from '../../src/inbox/counters.js'
import { compileRules } from '../../src/rules/compile.js'
import { rulesSchema } from '../../src/rules/schema.js'
import { inbound, outbound, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

const rules = compileRules(
  rulesSchema.parse({
    version: 1,
    orgs: [{ id: 'acme' }],
    sessions: [
      { id: 's1', org: 'acme', defaultOwner: 'anna' },
      { id: 's2', org: 'acme' },
    ],
    users: [
      { id: 'anna', org: 'acme', role: 'agent' },
      { id: 'ben', org: 'acme', role: 'agent', takesNewClients: true },
      { id: 'dora', org: 'acme', role: 'supervisor', supervises: ['anna', 'ben'] },
    ],
  }),
)
const f = inboxFixture('counters', { defaultOwnerOf: (sid) => rules.sessions.get(sid)?.defaultOwner ?? null })
afterAll(() => f.cleanup())

describe('per-user red/grey counters', () => {
  it('counts own chats red, unassigned for new-client takers red, supervised chats grey', async () => {
    // anna owns 3 waiting messages in s1; s2 has 2 unassigned ones; one of anna's chats gets answered.
    await f.ingestor.ingest(inbound('s1', pn(1), { ts: T0 }))
    await f.ingestor.ingest(inbound('s1', pn(1), { ts: T0 + 1 }))
    await f.ingestor.ingest(inbound('s1', pn(2), { ts: T0 + 2 }))
    await f.ingestor.ingest(inbound('s1', pn(3), { ts: T0 + 3 }))
    await f.ingestor.ingest(outbound('s1', pn(3), { ts: T0 + 4 }))
    await f.ingestor.ingest(inbound('s2', pn(4), { ts: T0 + 5 }))
    await f.ingestor.ingest(inbound('s2', pn(5), { ts: T0 + 6 }))

    expect(await userCounters(f.store, rules, 'anna')).toEqual({
      userId: 'anna',
      red: 3,
      grey: 0,
      counter: 3,
      type: 'red',
    })
    expect(await userCounters(f.store, rules, 'ben')).toEqual({
      userId: 'ben',
      red: 2,
      grey: 0,
      counter: 2,
      type: 'red',
    })
    // dora owns nothing: her figure is the grey total of the people she supervises (ben owns no chat).
    expect(await userCounters(f.store, rules, 'dora')).toEqual({
      userId: 'dora',
      red: 0,
      grey: 3,
      counter: 3,
      type: 'grey',
    })

    await f.ingestor.ingest({ type: 'chat.owner', sessionId: 's2', chatJid: pn(4), owner: 'dora' })
    expect(await userCounters(f.store, rules, 'dora')).toMatchObject({
      red: 1,
      grey: 3,
      counter: 1,
      type: 'red',
    })
    expect(await userCounters(f.store, rules, 'ben')).toMatchObject({ red: 1 })
    expect(await userCounters(f.store, rules, 'nobody')).toBeNull()
  })
})
