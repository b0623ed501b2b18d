/**
 * Issue 26, finding 2: what N first-page overview reads (limit=1, a read key, through the real HTTP app)
 * leave behind in Redis. Prints the session's key count and the memory its keys take (MEMORY USAGE),
 * and Redis' used_memory (shared with whatever else runs on it: a rough figure), before and after.
 *
 *   npx tsx test/bench/overview-reads.ts 10000
 */
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { inbound, pn, T0 } from '../helpers/events.js'

const N = Number(process.argv[2] ?? 10_000)
const SID = 'acme-sales'
const CHATS = 200

const f = await appFixture('bench-ovr')
try {
  for (let i = 0; i < CHATS; i++) await f.services.ingestor.ingest(inbound(SID, pn(7000 + i), { ts: T0 + i }))
  const footprint = async () => {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await f.redis.scan(cursor, 'MATCH', `${f.prefix}:{${SID}}:*`, 'COUNT', 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0')
    let bytes = 0
    for (const key of keys) bytes += (await f.redis.memory('USAGE', key, 'SAMPLES', 0)) ?? 0
    const used = /used_memory:(\d+)/.exec(await f.redis.info('memory'))![1]
    return { sessionKeys: keys.length, sessionKeyBytes: bytes, redisUsedMemory: Number(used) }
  }
  const before = await footprint()
  for (let i = 0; i < N; i++) {
    // The fixture's read key may do 1,000 requests a minute: move the manual clock past each window.
    if (i % 900 === 0) f.clock.advance(61_000)
    const res = await f.app.inject({
      method: 'GET',
      url: `/v1/sessions/${SID}/chats/overview?limit=1`,
      headers: bearer(KEYS.acmeRead),
    })
    if (res.statusCode !== 200) throw new Error(`read ${i}: ${res.statusCode} ${res.body}`)
  }
  const after = await footprint()
  console.log(JSON.stringify({ reads: N, before, after }, null, 2))
} finally {
  await f.cleanup()
}
