import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'
import { LuaScripts } from '../lua.js'

/**
 * Every atomic chat transition, one Lua file each (see ./lua), sharing the helpers in _lib.lua; and the
 * overview's page read, which needs the same keys and the `moves` stream the transitions write.
 */
const LUA_DIR = new URL('./lua/', import.meta.url)
const NUMBER_OF_KEYS = 8
const SCRIPTS = {
  'apply-message': NUMBER_OF_KEYS,
  'mark-read': NUMBER_OF_KEYS,
  'set-marked-unread': NUMBER_OF_KEYS,
  'clear-unanswered': NUMBER_OF_KEYS,
  'set-owner': NUMBER_OF_KEYS,
  'chat-meta': NUMBER_OF_KEYS,
  'link-jids': NUMBER_OF_KEYS,
  'upsert-contact': NUMBER_OF_KEYS,
  'overview-page': NUMBER_OF_KEYS,
} as const
export type ChatScriptName = keyof typeof SCRIPTS

let prelude: string | undefined

export class ChatScripts extends LuaScripts<ChatScriptName> {
  constructor(redis: Redis) {
    prelude ??= readFileSync(new URL('_lib.lua', LUA_DIR), 'utf8')
    super(redis, { dir: LUA_DIR, scripts: SCRIPTS, prelude, namespace: 'tb' })
  }
}
