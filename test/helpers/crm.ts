import { crmFlushProcessor } from '../../jobs/crm-flush.js'
import type { Clock } from '../../src/clock.js'
import type { Services } from '../../src/services.js'

/** One run of the CRM flusher over the services' HubSpot wiring (what the `{crm}` scheduler does). */
export function flushCrm(s: Services, clock: Clock = s.clock) {
  const h = s.hubspot
  if (!h) throw new Error('HubSpot is not configured in these services')
  return crmFlushProcessor({
    dirty: h.dirty,
    inbox: s.inbox,
    sla: s.sla,
    hubspot: h.crm,
    client: h.client,
    budget: h.budget,
    rules: () => s.rules.current(),
    clock,
    metrics: s.metrics,
    log: s.log,
  })()
}
