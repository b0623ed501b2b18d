import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ManualClock } from '../../src/clock.js'
import { appFixture } from '../helpers/app.js'
import { flushCrm } from '../helpers/crm.js'
import {
  type HubSpotStandIn,
  STANDIN_TOKEN,
  type StandInOptions,
  startHubSpotStandIn,
} from '../hubspot-standin/server.js'

export const APP_SECRET = 'hubspot-app-secret-test'

/**
 * The app on real Redis with HubSpot sync pointed at its own stand-in, and rules from `rulesYaml`
 * (owners 9001 anna and 9002 dora exist in the stand-in unless `owners: false`).
 */
export async function crmFixture(
  label: string,
  rulesYaml: string,
  opts: { standIn?: StandInOptions; env?: Record<string, string>; owners?: boolean } = {},
) {
  // The stand-in shares the app's manual clock (search lag, webhook timestamps) unless told otherwise.
  let now: () => number = Date.now
  // HubSpot's search lags writes by seconds (search guide): every CRM test runs with at least 1 s of it.
  const hs: HubSpotStandIn = await startHubSpotStandIn({
    clock: () => now(),
    searchLagMs: 1000,
    ...opts.standIn,
  })
  if (opts.owners !== false) {
    hs.addOwner({ id: '9001', email: 'anna@example.com', firstName: 'Anna' })
    hs.addOwner({ id: '9002', email: 'dora@example.com', firstName: 'Dora' })
  }
  const rules = join(await mkdtemp(join(tmpdir(), `tb-${label}-`)), 'rules.yaml')
  await writeFile(rules, rulesYaml)
  const f = await appFixture<ManualClock>(label, {
    rulesPath: rules,
    env: {
      HUBSPOT_ACCESS_TOKEN: STANDIN_TOKEN,
      HUBSPOT_BASE_URL: hs.url,
      HUBSPOT_APP_SECRET: APP_SECRET,
      ...opts.env,
    },
  })
  now = () => f.clock.now()
  const budgetDeferrals = async () =>
    (await f.services.metrics.crmCalls.get()).values
      .filter((v) => v.labels.outcome === 'no_budget')
      .reduce((sum, v) => sum + v.value, 0)
  await f.services.hubspot!.crm.ensureProperties()
  let seq = 0
  return {
    ...f,
    hs,
    rulesPath: rules,
    flush: () => flushCrm(f.services, f.clock),
    /**
     * Flush, moving the clock a second each time, until nothing is pending or `max` runs. The request
     * budget runs on Redis' real clock (shared by every process): a flush it deferred (`no_budget`) does
     * not count as a run, and the next one waits for the budget's window to move on.
     */
    async settle(max = 20) {
      let written = 0
      const deadline = Date.now() + 15_000
      for (let i = 0; i < max && (await f.services.hubspot!.dirty.pending()) > 0; ) {
        const deferredBefore = await budgetDeferrals()
        written += (await flushCrm(f.services, f.clock)).written
        f.clock.advance(1000)
        if ((await budgetDeferrals()) > deferredBefore && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 250))
        else i++
      }
      return written
    },
    async customerWrites(phone: string, sessionId = 's1', text = 'Hi') {
      await f.services.ingestor.ingest({
        type: 'message',
        sessionId,
        key: { remoteJid: `${phone}@s.whatsapp.net`, fromMe: false, id: `${label}-${++seq}` },
        timestamp: f.clock.now(),
        text,
        origin: 'customer',
      })
    },
    /** HubSpot's webhooks go to this app (Fastify inject), signed for `url`. */
    webhooksTo(url = 'http://localhost:80/v1/webhooks/hubspot') {
      hs.setWebhookTarget({
        url,
        secret: APP_SECRET,
        send: async (req) => {
          const u = new URL(url)
          const res = await f.app.inject({
            method: 'POST',
            url: `${u.pathname}${u.search}`,
            headers: req.headers,
            payload: req.body,
          })
          return res.statusCode
        },
      })
    },
    async cleanup() {
      await f.cleanup()
      await hs.close()
    },
  }
}

export const RULES = (org = 'hubspot: { timeZone: Europe/Berlin }') => `version: 1
orgs: [{ id: o, ${org} }]
sessions: [{ id: s1, org: o, defaultOwner: anna }, { id: s2, org: o, defaultOwner: dora }]
users:
  - { id: anna, org: o, role: agent, hubspotOwnerId: "9001" }
  - { id: dora, org: o, role: supervisor, supervises: [anna], hubspotOwnerId: "9002" }
counters: { crmSync: { debounce: 5s } }
`
