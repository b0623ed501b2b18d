import type { Clock } from '../../src/clock.js'
import type { Services } from '../../src/services.js'
import { crmFlush } from '../../src/worker/crm-worker.js'

/** One run of the CRM flusher over the services' HubSpot wiring (what the `{crm}` scheduler does). */
export function flushCrm(s: Services, clock: Clock = s.clock) {
  return crmFlush(s, s.log, clock)()
}
