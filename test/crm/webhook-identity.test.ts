import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signV3 } from '../hubspot-standin/webhooks.js'
import { APP_SECRET, crmFixture, RULES } from './fixture.js'

/**
 * Issue 25, fault 7: HubSpot's `eventId` is "not guaranteed to be unique" (webhooks guide; the stand-in
 * counts ids per subscription), and an app's secret signs the events of every portal it is installed
 * in. An event is its portal, id, type, object, property and time; events of another portal are refused.
 */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-hook-identity', RULES(), { standIn: { portalId: 4711 } })
  f.webhooksTo()
})
afterAll(async () => {
  await f.cleanup()
})

const chatOwner = async (phone: string) =>
  (await f.services.inbox.getChat('s1', `${phone}@s.whatsapp.net`))?.owner

async function linked(phone: string, owner = '9001') {
  const c = f.hs.addContact({ properties: { phone: `+${phone}`, hubspot_owner_id: owner } })
  await f.customerWrites(phone)
  f.clock.advance(5000)
  await f.settle()
  f.hs.clearWebhooks()
  return c
}

describe('webhook event identity (fault 7)', () => {
  it('two events sharing an eventId (different subscriptions) are both applied', async () => {
    const a = await linked('4915173000001')
    const b = await linked('4915173000002')
    // A user edits a's number and b's owner: the two events carry the same eventId.
    f.hs.editContact(a.id, { mobilephone: '+4915173000009' })
    f.hs.editContact(b.id, { hubspot_owner_id: '9002' })
    const events = f.hs.pendingWebhooks()
    expect(events.map((e) => e.eventId)).toEqual([1, 1])
    await f.hs.deliverWebhooks()
    expect(await chatOwner('4915173000002')).toBe('dora')
  })

  it('an event of another portal, signed with our app secret, is refused', async () => {
    await linked('4915173000003')
    const body = JSON.stringify([
      {
        eventId: 99,
        subscriptionId: 1,
        portalId: 999,
        appId: 1,
        occurredAt: f.clock.now(),
        subscriptionType: 'contact.propertyChange',
        attemptNumber: 0,
        objectId: Number((await f.services.hubspot!.crm.contactByPhone('4915173000003'))!),
        propertyName: 'hubspot_owner_id',
        propertyValue: '9002',
        changeSource: 'CRM_UI',
      },
    ])
    const ts = f.clock.now()
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/webhooks/hubspot',
      headers: {
        'content-type': 'application/json',
        'x-hubspot-request-timestamp': String(ts),
        'x-hubspot-signature-v3': signV3(
          { url: 'http://localhost:80/v1/webhooks/hubspot', secret: APP_SECRET },
          body,
          ts,
        ),
      },
      payload: body,
    })
    expect(res.json()).toMatchObject({ received: 1, applied: 0 })
    expect(await chatOwner('4915173000003')).toBe('anna')
    const metric = await f.services.metrics.registry.getSingleMetricAsString(
      'tickbridge_crm_webhook_events_total',
    )
    expect(metric).toMatch(/outcome="other_portal"\} 1/)
  })
})
