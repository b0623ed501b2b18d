import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkOwners, startCrmWorker } from '../../src/worker/crm-worker.js'
import { crmFixture, RULES } from './fixture.js'

/**
 * Issue 15, fault 2.3: one bad value must not drop a whole batch. HubSpot answers 400 for the whole
 * `batch/update` when one owner id or option is invalid; the others are written, the bad one is parked
 * with HubSpot's message and retried after a rules change; unknown owner ids are a rules problem.
 */
const rules = (carlOwner: string) =>
  RULES('hubspot: { owner: tickbridge }').replace(
    'counters:',
    `  - { id: carl, org: o, role: agent, hubspotOwnerId: "${carlOwner}" }\ncounters:`,
  )
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-400', rules('424242'))
})
afterAll(async () => {
  await f.cleanup()
})

describe('a bad value in a batch (2.3)', () => {
  it('the owners check names the user and the unknown id', async () => {
    f.hs.addOwner({ id: '9003', email: 'carl@example.com', userId: 777 })
    const problems = await checkOwners(f.services, f.services.log)
    expect(problems).toEqual([
      expect.objectContaining({
        user: 'carl',
        hubspotOwnerId: '424242',
        message: expect.stringContaining('not an owner in HubSpot'),
      }),
    ])
    expect(f.logLines.some((l) => l.includes('users[carl].hubspotOwnerId 424242 is not an owner'))).toBe(true)
  })

  it('the running worker checks the owners again on a rules reload', async () => {
    const count = (id: string) =>
      f.logLines.filter((l) => l.includes(`users[carl].hubspotOwnerId ${id}`)).length
    const atStart = count('424242')
    const crm = await startCrmWorker(f.services)
    try {
      // The start-up check reports the current rules' bad id once ...
      await expect.poll(() => count('424242'), { timeout: 5000 }).toBe(atStart + 1)
      const reported = () => count('555555')
      // ... and a reload with another bad id is checked again.
      await writeFile(f.rulesPath, rules('555555'))
      await f.services.rules.reload()
      await expect.poll(reported, { timeout: 5000 }).toBe(1)
    } finally {
      await crm!.close()
      await writeFile(f.rulesPath, rules('424242'))
      await f.services.rules.reload()
    }
  })

  it('the others are written, the bad one is isolated with HubSpot’s message and retried after a rules fix', async () => {
    // Forget the owners check: the flusher meets the bad id as HubSpot's 400.
    ;(f.services.hubspot!.crm as unknown as { knownOwners: null }).knownOwners = null
    const phones = Array.from({ length: 9 }, (_, i) => `491517100000${i}`)
    const ids = phones.map((p) => f.hs.addContact({ properties: { phone: `+${p}` } }).id)
    for (const p of phones) await f.customerWrites(p)
    // One chat belongs to carl, whose owner id HubSpot does not know.
    await f.services.ingestor.ingest({
      type: 'chat.owner',
      sessionId: 's1',
      chatJid: `${phones[4]}@s.whatsapp.net`,
      owner: 'carl',
    })
    f.clock.advance(5000)
    await f.settle()
    const written = ids.filter((id) => f.hs.contact(id)?.properties.wa_unanswered_count === '1')
    expect(written).toHaveLength(8)
    expect(f.hs.contact(ids[4]!)?.properties.wa_unanswered_count).toBeUndefined()
    const parked = await f.services.hubspot!.dirty.rejected()
    expect(Object.keys(parked)).toEqual([`s1|${phones[4]}@s.whatsapp.net`])
    expect(Object.values(parked)[0]).toContain('424242 is not a valid owner id')
    expect(f.logLines.some((l) => l.includes('parked until the rules change') && l.includes('424242'))).toBe(
      true,
    )
    // The admin fixes carl's owner id; the reload retries the parked chat.
    await writeFile(f.rulesPath, rules('9003'))
    await f.services.rules.reload()
    expect(await f.services.hubspot!.dirty.retryRejected()).toBe(1)
    await f.settle()
    expect(f.hs.contact(ids[4]!)?.properties).toMatchObject({
      wa_unanswered_count: '1',
      hubspot_owner_id: '9003',
    })
  })
})
