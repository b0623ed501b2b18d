import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * Marks inbox changes that HubSpot itself made (applied from its webhooks), so the CRM sync does not
 * write them back as if Tickbridge had changed them. Ingest listeners run inside the same async context.
 */
const fromHubSpot = new AsyncLocalStorage<true>()

export function applyFromHubSpot<T>(fn: () => Promise<T>): Promise<T> {
  return fromHubSpot.run(true, fn)
}

export function isFromHubSpot(): boolean {
  return fromHubSpot.getStore() === true
}
