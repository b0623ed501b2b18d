import { parseArgs } from 'node:util'
import { z } from 'zod'
import { type SoakInput, soakOptionsSchema } from './options.js'
import { runSoak } from './run.js'

/**
 * `npm run soak -- --sessions 20 --chats 2000 --rate 500 --minutes 5 --workers 3 --kill-every 20
 *  --redis-restarts 1 --wa-disconnect-every 10 --hubspot-fault-every 30 [--cluster] [--drain-timeout 600]
 *  [--profile-seconds 5]`
 * Prints the JSON report on stdout (progress on stderr); exits 1 when an invariant was violated, 2 on
 * bad flags.
 */
const { values } = parseArgs({
  options: {
    sessions: { type: 'string' },
    chats: { type: 'string' },
    rate: { type: 'string' },
    minutes: { type: 'string' },
    seconds: { type: 'string' },
    workers: { type: 'string' },
    'kill-every': { type: 'string' },
    'redis-restarts': { type: 'string' },
    'wa-disconnect-every': { type: 'string' },
    'hubspot-fault-every': { type: 'string' },
    'sla-levels': { type: 'string' },
    'tolerance-ms': { type: 'string' },
    'drain-timeout': { type: 'string' },
    seed: { type: 'string' },
    'profile-seconds': { type: 'string' },
    cluster: { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
  strict: true,
})

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
const raw: Record<string, unknown> = {}
for (const [k, v] of Object.entries(values)) if (k !== 'quiet') raw[camel(k)] = v
raw.verbose = !values.quiet
const parsed = soakOptionsSchema.safeParse(raw)
if (!parsed.success) {
  process.stderr.write(`${z.prettifyError(parsed.error)}\n`)
  process.exit(2)
}
const report = await runSoak(raw as SoakInput, (line) => process.stderr.write(`${line}\n`))
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
process.exit(report.ok ? 0 : 1)
