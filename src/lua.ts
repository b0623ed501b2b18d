import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'

/**
 * Loads a folder's Lua scripts (one atomic operation per file, as BullMQ does) onto a connection and
 * runs them through EVALSHA; ioredis falls back to EVAL when Redis lost its script cache (a restart).
 * A script's number of keys is fixed, or null when each call says how many keys it passes.
 */
export class LuaScripts<Name extends string> {
  private readonly fns = new Map<Name, (...args: Array<string | number>) => Promise<unknown>>()
  private readonly variableKeys = new Set<Name>()

  constructor(
    private readonly redis: Redis,
    opts: { dir: URL; scripts: Record<Name, number | null>; prelude?: string; namespace: string },
  ) {
    for (const [name, numberOfKeys] of Object.entries(opts.scripts) as Array<[Name, number | null]>) {
      const command = `${opts.namespace}_${name.replace(/-/g, '_')}`
      if (!(command in redis)) {
        const body = readFileSync(new URL(`${name}.lua`, opts.dir), 'utf8')
        const lua = opts.prelude ? `${opts.prelude}\n${body}` : body
        redis.defineCommand(command, numberOfKeys === null ? { lua } : { numberOfKeys, lua })
      }
      if (numberOfKeys === null) this.variableKeys.add(name)
      this.fns.set(
        name,
        (redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[command]!,
      )
    }
  }

  run(name: Name, keys: string[], args: Array<string | number>): Promise<unknown> {
    const fn = this.fns.get(name)!
    if (this.variableKeys.has(name)) return fn.call(this.redis, keys.length, ...keys, ...args)
    return fn.call(this.redis, ...keys, ...args)
  }
}
