import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'
import type { Keys } from '../keys.js'
import { LuaScripts } from '../lua.js'
import { type Fence, fenceArg, fenced, leaseEpochKey } from './fence.js'

/** The fenced writes of a session's holder outside the inbox, one Lua file each (see ./lua). */
const LUA_DIR = new URL('./lua/', import.meta.url)
const SCRIPTS = {
  'status-set': 3,
  'creds-set': 2,
  // Variable key counts (one hash per key type written): numberOfKeys is passed with each call.
  'keys-apply': null,
  'auth-delete': null,
} as const
export type FencedWriteName = keyof typeof SCRIPTS

let prelude: string | undefined

/**
 * Runs a session holder's writes through the scripts that check its lease epoch first (one round trip
 * per write, as before). `keys` are the write's own keys; the epoch key goes in front.
 */
export class FencedWrites {
  private readonly scripts: LuaScripts<FencedWriteName>

  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    prelude ??= readFileSync(new URL('_fence.lua', LUA_DIR), 'utf8')
    this.scripts = new LuaScripts(redis, { dir: LUA_DIR, scripts: SCRIPTS, prelude, namespace: 'tbfence' })
  }

  run(
    name: FencedWriteName,
    sessionId: string,
    fence: Fence | undefined,
    keys: string[],
    args: Array<string | number>,
  ): Promise<unknown> {
    return fenced(sessionId, fence, name, () =>
      this.scripts.run(name, [leaseEpochKey(this.keys, sessionId), ...keys], [fenceArg(fence), ...args]),
    )
  }
}
