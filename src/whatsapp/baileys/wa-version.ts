import { fetchLatestWaWebVersion, type WAVersion } from '@whiskeysockets/baileys'
import type { Logger } from 'pino'

/**
 * The WhatsApp Web version to announce. Baileys bundles one that ages with the release; WhatsApp may
 * refuse clients that lag too far behind. We ask Baileys' `fetchLatestWaWebVersion` (Utils/generics:
 * GET https://web.whatsapp.com/sw.js, `client_revision`) once, bounded by `timeoutMs`, and fall back to
 * the bundled version with a log line: offline or behind a slow proxy, start-up never waits longer.
 */
export async function learnWaWebVersion(opts: {
  log: Logger
  timeoutMs?: number
  fetchVersion?: typeof fetchLatestWaWebVersion
}): Promise<WAVersion | undefined> {
  const timeoutMs = opts.timeoutMs ?? 3_000
  const fetchVersion = opts.fetchVersion ?? fetchLatestWaWebVersion
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<{ timedOut: true }>((resolve) => {
    timer = setTimeout(() => resolve({ timedOut: true }), timeoutMs)
    timer.unref()
  })
  try {
    const r = await Promise.race([
      fetchVersion({ signal: AbortSignal.timeout(timeoutMs) } as never).catch((err: unknown) => ({
        isLatest: false,
        version: undefined,
        error: err,
      })),
      timedOut,
    ])
    if ('timedOut' in r) {
      opts.log.warn(
        { timeoutMs },
        "could not learn the current WhatsApp Web version in time; using Baileys' bundled one",
      )
      return undefined
    }
    if (r.isLatest && r.version) {
      opts.log.info({ version: r.version.join('.') }, 'using the current WhatsApp Web version')
      return r.version as WAVersion
    }
    const reason = r.error instanceof Error ? r.error.message : JSON.stringify(r.error ?? 'unknown')
    opts.log.warn({ reason }, "could not learn the current WhatsApp Web version; using Baileys' bundled one")
    return undefined
  } finally {
    clearTimeout(timer)
  }
}
