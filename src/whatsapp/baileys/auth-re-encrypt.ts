import type { Redis } from 'ioredis'
import type { Keys } from '../../keys.js'
import { LuaScripts } from '../../lua.js'
import { isCluster } from '../../redis.js'
import { type AuthCipher, keyIdOf } from './auth-cipher.js'
import { authKeys, SIGNAL_KEY_TYPES } from './auth-state.js'

/**
 * `tickbridge auth re-encrypt`: every stored auth value of every session (creds and Signal keys) that is
 * not under the current key (plaintext, or an older key of WA_AUTH_KEYS) is decrypted and written again
 * under the current one. Idempotent and resumable: what is already current is skipped, so a run stopped
 * half-way is finished by running it again. Safe beside running workers: each value is swapped only if
 * it is still the one read (auth-swap.lua); one a worker rewrote meanwhile is counted and left alone.
 */

const BATCH = 200

export interface ReEncryptTotals {
  sessions: number
  reEncrypted: number
  alreadyCurrent: number
  changedMeanwhile: number
}

/** The sessions with stored auth: found in Redis, since a session may have left the rules. */
async function sessionsWithAuth(redis: Redis, keys: Keys): Promise<string[]> {
  const pattern = `${keys.prefix}:{*}:auth:*`
  const nodes = isCluster(redis)
    ? (redis as unknown as { nodes(role: 'master'): Redis[] }).nodes('master')
    : [redis]
  const found = new Set<string>()
  const head = `${keys.prefix}:{`
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      for (const key of batch) {
        const end = key.indexOf('}:auth:', head.length)
        if (key.startsWith(head) && end > 0) found.add(key.slice(head.length, end))
      }
    } while (cursor !== '0')
  }
  return [...found].sort()
}

export async function reEncryptAuth(deps: {
  redis: Redis
  keys: Keys
  cipher: AuthCipher
  out: (line: string) => void
}): Promise<ReEncryptTotals> {
  const { redis, keys, cipher, out } = deps
  const current = cipher.currentKeyId
  if (!current) throw new Error('WA_AUTH_KEYS is not set: there is no key to encrypt with')
  const lua = new LuaScripts(redis, {
    dir: new URL('./lua/', import.meta.url),
    scripts: { 'auth-swap': 1 },
    namespace: 'tbauth',
  })
  const swap = async (key: string, args: string[]) => Number(await lua.run('auth-swap', [key], args))

  const sessions = await sessionsWithAuth(redis, keys)
  const totals: ReEncryptTotals = {
    sessions: sessions.length,
    reEncrypted: 0,
    alreadyCurrent: 0,
    changedMeanwhile: 0,
  }
  out(`${sessions.length} session(s) with stored auth; current key "${current}"`)
  for (const [n, sessionId] of sessions.entries()) {
    const k = authKeys(keys, sessionId)
    const s = { reEncrypted: 0, alreadyCurrent: 0, changedMeanwhile: 0 }

    const creds = await redis.get(k.creds)
    if (creds !== null) {
      if (keyIdOf(creds) === current) s.alreadyCurrent++
      else {
        const slot = { sessionId, type: 'creds', field: '' }
        const done = await swap(k.creds, [creds, cipher.seal(cipher.open(creds, slot), slot)])
        if (done) s.reEncrypted++
        else s.changedMeanwhile++
      }
    }
    for (const type of SIGNAL_KEY_TYPES) {
      let cursor = '0'
      do {
        const [next, flat] = await redis.hscan(k.key(type), cursor, 'COUNT', BATCH)
        cursor = next
        const args: string[] = []
        for (let i = 0; i < flat.length; i += 2) {
          const field = flat[i]!
          const stored = flat[i + 1]!
          if (keyIdOf(stored) === current) {
            s.alreadyCurrent++
            continue
          }
          const slot = { sessionId, type, field }
          args.push(field, stored, cipher.seal(cipher.open(stored, slot), slot))
        }
        if (args.length > 0) {
          const done = await swap(k.key(type), args)
          s.reEncrypted += done
          s.changedMeanwhile += args.length / 3 - done
        }
      } while (cursor !== '0')
    }
    totals.reEncrypted += s.reEncrypted
    totals.alreadyCurrent += s.alreadyCurrent
    totals.changedMeanwhile += s.changedMeanwhile
    out(
      `[${n + 1}/${sessions.length}] ${sessionId}: ${s.reEncrypted} re-encrypted, ${s.alreadyCurrent} already under "${current}"` +
        (s.changedMeanwhile ? `, ${s.changedMeanwhile} changed meanwhile (run again)` : ''),
    )
  }
  return totals
}
