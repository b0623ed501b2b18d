import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { catalog } from '../../jobs/catalog.js'
import { TickbridgeClient } from '../../src/client/index.js'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { inbound, pn, T0 } from '../helpers/events.js'

const RULES = `version: 1
orgs: [{ id: acme }, { id: globex }]
sessions:
  - { id: acme-sales, org: acme, defaultOwner: anna }
  - { id: acme-support, org: acme }
  - { id: globex-main, org: globex, defaultOwner: gina }
users:
  - { id: anna, org: acme, role: agent }
  - { id: ben, org: acme, role: agent, takesNewClients: true }
  - { id: carla, org: acme, role: agent }
  - { id: dora, org: acme, role: supervisor, supervises: [anna, carla] }
  - { id: gina, org: globex, role: agent }
sla:
  policies:
    - id: support
      match: { sessions: [acme-support] }
      firstResponse: 1h
      levels: [{ after: 1h, actions: [{ setState: breached }] }]
apiKeys:
  - { id: acme-admin, org: acme, sha256: 13cfc924615bf241358b1da3c6a1ed2c0ea1e32fb2e69d4e66b8072b14ca40e8, capabilities: [read, send, admin] }
  - { id: acme-read, org: acme, sha256: bf5681f8e749098ec7106d7421790cf4844c7cd7dad0752a956c2570d72bfd35, capabilities: [read] }
  - { id: globex-admin, org: globex, sha256: d42f53fae7651a34e51a8d61113bdff34166aa2567774726ddeed55b673bcbd7, capabilities: [read, send, admin] }
`

let dir = ''
let rulesPath = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-counters-'))
  rulesPath = join(dir, 'rules.yaml')
  await writeFile(rulesPath, RULES)
})
afterAll(() => rm(dir, { recursive: true, force: true }))

type Fixture = Awaited<ReturnType<typeof appFixture>>
const fixtures: Fixture[] = []
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup()
})

/**
 * A fresh app whose inboxes hold (all before the clock's now, T0):
 * acme-sales (default owner anna): pn1 ×2, pn2 ×1; acme-support: pn3 ×1 and pn4 ×2 unassigned,
 * pn5 ×1 owned by carla, pn7 ×1 owned by anna; globex-main (default owner gina): pn6 ×1.
 */
async function seeded(): Promise<Fixture> {
  const f = await appFixture('counters', { rulesPath })
  fixtures.push(f)
  let ts = T0 - 60_000
  const write = async (sid: string, n: number, times = 1) => {
    for (let i = 0; i < times; i++) {
      const r = await f.services.ingestor.ingest(inbound(sid, pn(n), { ts: ts++ }))
      if (!r.ok) throw new Error(r.problems.join('; '))
    }
  }
  await write('acme-sales', 1, 2)
  await write('acme-sales', 2)
  await write('acme-support', 3)
  await write('acme-support', 4, 2)
  await write('acme-support', 5)
  await write('acme-support', 7)
  await write('globex-main', 6)
  await f.services.ingestor.ingest({
    type: 'chat.owner',
    sessionId: 'acme-support',
    chatJid: pn(5),
    owner: 'carla',
  })
  await f.services.ingestor.ingest({
    type: 'chat.owner',
    sessionId: 'acme-support',
    chatJid: pn(7),
    owner: 'anna',
  })
  return f
}

const counter = async (f: Fixture, userId: string, key: string = KEYS.acmeRead) => {
  const res = await f.app.inject({ url: `/v1/counters/unanswered/${userId}`, headers: bearer(key) })
  return { status: res.statusCode, body: res.json() }
}
const data = async (f: Fixture, userId: string, key?: string) => (await counter(f, userId, key)).body.data
const reset = async (f: Fixture, query = '', key: string = KEYS.acmeAdmin) => {
  const res = await f.app.inject({
    method: 'DELETE',
    url: `/v1/chats/unanswered${query}`,
    headers: bearer(key),
  })
  return { status: res.statusCode, body: res.json() }
}
const reds = async (f: Fixture) => ({
  anna: (await data(f, 'anna')).red,
  ben: (await data(f, 'ben')).red,
  carla: (await data(f, 'carla')).red,
  doraGrey: (await data(f, 'dora')).grey,
  gina: (await data(f, 'gina', KEYS.globexAdmin)).red,
})

describe('GET /v1/counters/unanswered/{userId}', () => {
  it("answers Wazzup's shape: red for own chats, grey for supervised ones, unassigned for new-client takers", async () => {
    const f = await seeded()
    // anna: pn1 ×2 + pn2 in sales, pn7 in support.
    expect(await counter(f, 'anna')).toEqual({
      status: 200,
      body: {
        data: { counter: 4, type: 'red', red: 4, grey: 0 },
        meta: { timestamp: new Date(T0).toISOString() },
      },
    })
    // dora owns nothing: her figure is grey, anna's 4 plus carla's 1.
    expect((await counter(f, 'dora')).body.data).toEqual({ counter: 5, type: 'grey', red: 0, grey: 5 })
    // ben owns nothing but takes new clients: the 3 unassigned messages in support are his red.
    expect((await counter(f, 'ben')).body.data).toEqual({ counter: 3, type: 'red', red: 3, grey: 0 })
    expect((await counter(f, 'carla')).body.data).toEqual({ counter: 1, type: 'red', red: 1, grey: 0 })
    // Once dora owns a chat herself, her figure turns red while grey stays visible.
    await f.services.ingestor.ingest({
      type: 'chat.owner',
      sessionId: 'acme-support',
      chatJid: pn(4),
      owner: 'dora',
    })
    expect((await counter(f, 'dora')).body.data).toEqual({ counter: 2, type: 'red', red: 2, grey: 5 })
    expect((await counter(f, 'ben')).body.data).toMatchObject({ red: 1 })
  })

  it("answers another org's user exactly like a missing one, and checks the id's shape", async () => {
    const f = await seeded()
    const missing = await counter(f, 'nobody')
    const foreign = await counter(f, 'gina')
    expect(foreign.status).toBe(404)
    expect(foreign.body.error.code).toBe('not_found')
    expect(foreign.body.error.message).toBe('user gina not found')
    expect(missing.body.error.message).toBe('user nobody not found')
    expect((await counter(f, 'anna', KEYS.globexAdmin)).status).toBe(404)
    expect(await counter(f, 'gina', KEYS.globexAdmin)).toMatchObject({
      status: 200,
      body: { data: { counter: 1, type: 'red', red: 1, grey: 0 } },
    })
    const bad = await counter(f, 'a:b')
    expect(bad.status).toBe(400)
    expect(bad.body.error.details.fields[0].field).toBe('path.userId')
  })
})

describe('DELETE /v1/chats/unanswered', () => {
  it("resets every chat of the caller's org, and only that org", async () => {
    const f = await seeded()
    expect(await reds(f)).toEqual({ anna: 4, ben: 3, carla: 1, doraGrey: 5, gina: 1 })
    expect(await reset(f)).toEqual({
      status: 200,
      body: {
        data: { account_id: 'acme', cleared: true, chats: 6, messages: 8 },
        meta: { timestamp: new Date(T0).toISOString() },
      },
    })
    expect(await reds(f)).toEqual({ anna: 0, ben: 0, carla: 0, doraGrey: 0, gina: 1 })
    for (const sid of ['acme-sales', 'acme-support']) {
      expect(await f.services.inbox.unansweredChats(sid)).toEqual([])
      expect([...(await f.services.inbox.ownerTotals(sid)).keys()]).toEqual([])
    }
    // Nothing left: a second reset clears nothing.
    expect((await reset(f)).body.data).toMatchObject({ chats: 0, messages: 0 })
    expect((await f.services.metrics.counterResets.get()).values).toEqual([
      { labels: { trigger: 'api' }, value: 2 },
    ])
  })

  it('resets one session', async () => {
    const f = await seeded()
    expect((await reset(f, '?sessionId=acme-support')).body.data).toEqual({
      account_id: 'acme',
      cleared: true,
      chats: 4,
      messages: 5,
    })
    expect(await reds(f)).toEqual({ anna: 3, ben: 0, carla: 0, doraGrey: 3, gina: 1 })
    expect(await f.services.inbox.unansweredChats('acme-sales')).toHaveLength(2)
  })

  it('resets only the chats a user owns, across sessions or in one', async () => {
    const f = await seeded()
    expect((await reset(f, '?sessionId=acme-sales&userId=anna')).body.data).toMatchObject({
      chats: 2,
      messages: 3,
    })
    expect(await reds(f)).toEqual({ anna: 1, ben: 3, carla: 1, doraGrey: 2, gina: 1 })
    expect((await reset(f, '?userId=anna')).body.data).toMatchObject({ chats: 1, messages: 1 })
    expect(await reds(f)).toEqual({ anna: 0, ben: 3, carla: 1, doraGrey: 1, gina: 1 })
    // ben owns no chat: the unassigned chats he sees as red are nobody's, so they stay.
    expect((await reset(f, '?userId=ben')).body.data).toMatchObject({ chats: 0, messages: 0 })
    expect(await reds(f)).toEqual({ anna: 0, ben: 3, carla: 1, doraGrey: 1, gina: 1 })
    expect((await f.services.inbox.getChat('acme-support', pn(3)))?.unanswered).toBe(1)
  })

  it("refuses other orgs' sessions and users (404), read-only keys (403) and unknown parameters (400)", async () => {
    const f = await seeded()
    for (const q of ['?sessionId=acme-sales', '?userId=anna', '?sessionId=globex-main&userId=anna']) {
      const r = await reset(f, q, KEYS.globexAdmin)
      expect(r.status).toBe(404)
      expect(r.body.error.code).toBe('not_found')
    }
    expect((await reset(f, '', KEYS.acmeRead)).status).toBe(403)
    expect((await reset(f, '?org=globex')).status).toBe(400)
    // Nothing was cleared by any of them.
    expect(await reds(f)).toEqual({ anna: 4, ben: 3, carla: 1, doraGrey: 5, gina: 1 })
  })

  it('closes the open SLA clocks of the chats it clears', async () => {
    const f = await seeded()
    const open = await f.services.sla.openChats('acme-support')
    expect(open.sort()).toEqual([pn(3), pn(4), pn(5), pn(7)].sort())
    const clock = (await f.services.sla.get('acme-support', pn(3)))!
    const jobId = catalog.slaLevel.jobId({
      sessionId: 'acme-support',
      chatJid: pn(3),
      waitSeq: clock.waitSeq,
      level: 0,
    })
    expect(await f.services.queues.slaFor('acme-support').getJobState(jobId)).toBe('delayed')
    await reset(f, '?userId=carla')
    expect(await f.services.sla.get('acme-support', pn(5))).toBeNull()
    expect(await f.services.sla.get('acme-support', pn(3))).not.toBeNull()
    await reset(f, '?sessionId=acme-support')
    expect(await f.services.sla.openChats('acme-support')).toEqual([])
    expect(await f.services.queues.slaFor('acme-support').getJobState(jobId)).toBe('unknown')
  })

  it('is covered by the typed client', async () => {
    const f = await seeded()
    const baseUrl = await f.app.listen({ port: 0, host: '127.0.0.1' })
    const admin = new TickbridgeClient({ baseUrl, apiKey: KEYS.acmeAdmin })
    expect((await admin.unansweredCounter('dora')).data).toEqual({
      counter: 5,
      type: 'grey',
      red: 0,
      grey: 5,
    })
    const byUser = await admin.resetUnanswered({ userId: 'carla' })
    expect(byUser.data).toEqual({ account_id: 'acme', cleared: true, chats: 1, messages: 1 })
    expect(Date.parse(byUser.meta.timestamp)).toBe(T0)
    expect((await admin.resetUnanswered({ sessionId: 'acme-sales' })).data.chats).toBe(2)
    expect((await admin.resetUnanswered()).data.chats).toBe(3)
    expect((await admin.unansweredCounter('dora')).data).toEqual({
      counter: 0,
      type: 'grey',
      red: 0,
      grey: 0,
    })
  })
})
