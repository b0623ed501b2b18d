import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'

/**
 * Loads a folder's Lua scripts (one atomic operation per file, as BullMQ does) onto a connection and
 * runs them through EVALSHA; ioredis falls back to EVAL when Redis lost its script cache (a restart).
 */
export class LuaScripts<Name extends string> {
  private readonly fns = new Map<Name, (...args: Array<string | number>) => Promise<unknown>>()

  constructor(
    private readonly redis: Redis,
    opts: { dir: URL; scripts: Record<Name, number>; prelude?: string; namespace: string },
  ) {
    for (const [name, numberOfKeys] of Object.entries(opts.scripts) as Array<[Name, number]>) {
      const command = `${opts.namespace}_${name.replace(/-/g, '_')}`
      if (!(command in redis)) {
        const body = readFileSync(new URL(`${name}.lua`, opts.dir), 'utf8')
        redis.defineCommand(command, { numberOfKeys, lua: opts.prelude ? `${opts.prelude}\n${body}` : body })
      }
      this.fns.set(
        name,
        (redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[command]!,
      )
    }
  }

  run(name: Name, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.fns.get(name)!.call(this.redis, ...keys, ...args)
  }
}
