import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'

/** Every atomic chat transition, one Lua file each (see ./lua). */
export const CHAT_SCRIPTS = [
  'apply-message',
  'mark-read',
  'set-marked-unread',
  'clear-unanswered',
  'set-owner',
  'chat-meta',
  'link-jids',
  'upsert-contact',
] as const
export type ChatScriptName = (typeof CHAT_SCRIPTS)[number]

const NUMBER_OF_KEYS = 8
const LUA_DIR = new URL('./lua/', import.meta.url)

let sources: Map<ChatScriptName, string> | undefined

function loadSources(): Map<ChatScriptName, string> {
  if (sources) return sources
  const lib = readFileSync(new URL('_lib.lua', LUA_DIR), 'utf8')
  sources = new Map(
    CHAT_SCRIPTS.map((name) => [name, `${lib}\n${readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8')}`]),
  )
  return sources
}

type ScriptFn = (keys: string[], args: Array<string | number>) => Promise<unknown>

/** Runs the chat scripts through EVALSHA (ioredis falls back to EVAL when Redis lost its script cache). */
export class ChatScripts {
  private readonly fns = new Map<ChatScriptName, ScriptFn>()

  constructor(redis: Redis) {
    for (const [name, lua] of loadSources()) {
      const command = `tb_${name.replace(/-/g, '_')}`
      if (!(command in redis)) redis.defineCommand(command, { numberOfKeys: NUMBER_OF_KEYS, lua })
      const fn = (redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[
        command
      ]!
      this.fns.set(name, (keys, args) => fn.call(redis, ...keys, ...args))
    }
  }

  run(name: ChatScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.fns.get(name)!(keys, args)
  }
}
