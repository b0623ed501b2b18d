import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnTs } from '../helpers/process.js'
import { dumpPrefix, REDIS_URL } from '../helpers/redis.js'

/**
 * `npm run demo -- --headless` as a real process: every feature shows up in its timeline, the summary
 * is printed, it exits 0 in well under two minutes, and it leaves nothing in Redis.
 */
const prefix = `tbdemo-test-${randomBytes(4).toString('hex')}`
let dir = ''
let redis: Redis

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-demo-'))
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
})
afterAll(async () => {
  redis.disconnect()
  await rm(dir, { recursive: true, force: true })
})

describe('npm run demo --headless', () => {
  it('plays the scripted minute, shows every feature and the summary, exits 0 and cleans up', async () => {
    const started = Date.now()
    const demo = spawnTs('src/demo/demo.ts', ['--headless'], {
      REDIS_URL,
      TICKBRIDGE_DEMO_PREFIX: prefix,
      TICKBRIDGE_DEMO_LOG: join(dir, 'demo.log'),
      PORT: '0',
      NO_COLOR: '1',
    })
    const timer = setTimeout(() => demo.child.kill('SIGKILL'), 120_000)
    const code = await demo.exited
    clearTimeout(timer)
    const elapsed = Date.now() - started
    const out = demo.stdout.join('\n')
    const why = `stdout:\n${out}\nstderr:\n${demo.stderr.join('\n')}`

    expect(code, why).toBe(0)
    expect(elapsed).toBeLessThan(120_000)

    const line = (re: RegExp) => expect(out, `no line matching ${re}\n${why}`).toMatch(re)
    // Timeline lines: relative time, kind, session, chat, what happened.
    line(/^\s+\+\d+\.\ds {2}msg {6}shop-bot {3}Maria Silva {4}← "Hi! Is the blue rain jacket/m)
    line(/^\s+\+\d+\.\ds {2}msg {6}shop-sales Lena Braun {5}→ dora via HubSpot: /m)
    // A seen receipt carrying several messages, with its delay; the group's names its senders.
    line(
      /^\s+\+\d+\.\ds {2}seen {5}shop-bot {3}Maria Silva {4}✓✓ 3 messages in one receipt, \d+\.\ds after the first/m,
    )
    line(/seen .*Lisbon trip .*✓✓ 2 messages in one receipt.*Tom Becker, Sara Costa/)
    line(/api .*POST \/seen: 1 message, ticks planned in \d+\.\ds/)
    line(/api .*POST \/no-reply-needed: unanswered now 0/)
    // The "follow up in 10 s" reminder, set through the API, fires.
    line(/api .*Paul Huber .*POST \/unread \{in: "10s"\}: reminder scheduled/)
    line(/reminder .*Paul Huber .*fired \d+\.\ds after it was set/)
    // The SLA ladder: levels 1 to 3, with their actions.
    line(/sla .*Lena Braun .*level 1 \(waiting 10\.0s\): unread dot · state warning/)
    line(/sla .*Paul Huber .*level 1 \(waiting 10\.0s\)/)
    line(/sla .*Lena Braun .*level 2 \(waiting 20\.0s\): HubSpot task · reassigned anna → dora/)
    line(/sla .*Lena Braun .*level 3 \(waiting 30\.0s\): state breached · webhook queued/)
    line(/webhook .*Lena Braun .*POST received: sla\.level_fired level 3.*signature valid/)
    expect(out).not.toMatch(/sla .*Paul Huber .*level 2/)
    // Counters per user, the supervisor's included (red once the chat is reassigned to her).
    line(/counters .*anna \d+ red .*ben \d+ red .*dora \d+ grey/)
    line(/counters .*dora 2 red/)
    // HubSpot: debounced batch writes and the SLA task.
    line(/crm .*HubSpot batch\/update, \d+ contacts?: .*\d+ unanswered/)
    line(/crm .*Lena Braun .*HubSpot task for anna \(HIGH\): "Reply to Lena Braun on WhatsApp/)
    // The summary table.
    line(/^Summary after \d+\.\ds$/m)
    line(/^ {2}WhatsApp messages +\d+ {3}\d+ from customers, \d+ replies/m)
    line(/^ {2}read receipts +[1-9]\d* {3}covering \d+ messages: \d+\.\d messages per receipt/m)
    line(/^ {2}reminders fired +1 /m)
    line(/^ {2}SLA levels fired +4 {3}level 1: 2 · level 2: 1 · level 3: 1$/m)
    line(/^ {2}HubSpot calls +\d+ /m)
    line(/^ {2}contacts written +[1-9]\d* /m)
    line(/^ {2}HubSpot tasks +1 /m)
    line(/^ {4}dora \(supervisor of both\) +0 +0$/m)
    line(/^Removed the demo's \d+ Redis keys under "tbdemo-test-[0-9a-f]+:"\.$/m)

    expect(Object.keys(await dumpPrefix(redis, prefix))).toEqual([])
  }, 150_000)
})
