import { createHash } from 'node:crypto'
import * as bullScripts from 'bullmq/dist/esm/scripts/index.js'
import type { Redis } from 'ioredis'

/**
 * Where Redis' time goes, by the operation that spent it. `INFO commandstats` counts per command name
 * only (every Lua script is one `evalsha`), and a cut has to target an operation. So for a few seconds of
 * the load the soak's own Redis logs every command in its SLOWLOG (threshold 0 µs): each entry has the
 * command with its first arguments and the µs it took. A script is named by its SHA (BullMQ's or ours);
 * any other command by its name and key kind. Divided by the customer messages of the same span.
 * Inside-command time only: the rest of Redis' CPU is networking and the event loop, roughly the same
 * for every top-level command.
 */
export interface CommandProfile {
  seconds: number
  customerMessages: number
  /** Top-level commands per customer message (a script is one), and the µs inside them. */
  commandsPerCustomerMessage: number
  /** The commands scripts ran inside them, per customer message. */
  innerCommandsPerCustomerMessage: number
  usPerCustomerMessage: number
  /** False when the SLOWLOG filled up (its length is bounded): the figures then cover less than the span. */
  complete: boolean
  /** By operation, costliest first: calls, µs and (scripts) inner commands per customer message. */
  byOperation: Array<{ operation: string; calls: number; us: number; inner: number }>
}

/** sha1 → script name, for BullMQ's scripts and for every script defined on these connections. */
export function scriptNames(clients: Redis[]): Map<string, string> {
  const names = new Map<string, string>()
  for (const s of Object.values(bullScripts) as Array<{ name?: string; content?: string }>) {
    if (s?.name && s.content)
      names.set(createHash('sha1').update(s.content).digest('hex'), `bullmq ${s.name}`)
  }
  for (const c of clients) {
    // ioredis keeps each defineCommand's script (with its sha) in `scriptsSet` (utils/Commander).
    const set = (c as unknown as { scriptsSet?: Record<string, { sha: string }> }).scriptsSet ?? {}
    for (const [name, script] of Object.entries(set)) if (!names.has(script.sha)) names.set(script.sha, name)
  }
  return names
}

/** A key without its prefix, hash tag, jids and job ids: `{}:chat:<jid>`, `{}-wa:<job>`. */
export function keyKind(key: string, prefix: string): string {
  return key
    .replace(`${prefix}:`, '')
    .replace(/\{[^}]*\}/, '{}')
    .replace(/[0-9]+(:[0-9]+)?@[a-z.]+/g, '<jid>')
    .replace(/:(seen|sla|crm)-[^:]*<jid>.*$/, ':<job>')
    .replace(/:(\d+|r[0-9a-f]{16})$/, ':<job>')
}

const LOG_LENGTH = 200_000

/** What a SLOWLOG entry's command was, as an operation name. */
function operationOf(args: string[], prefix: string, scripts: Map<string, string>): string {
  const name = (args[0] ?? '').toLowerCase()
  if (name === 'evalsha') return `script ${scripts.get(args[1] ?? '') ?? args[1]?.slice(0, 8)}`
  if (name === 'eval') return 'eval (a script sent whole: its first use after a restart)'
  // XREAD [COUNT n] [BLOCK ms] STREAMS key…: the key follows STREAMS.
  const streams = args.findIndex((a) => a.toUpperCase() === 'STREAMS')
  const key = streams > 0 ? args[streams + 1] : args[1]
  return `${name} ${key ? keyKind(key, prefix) : ''}`.trim()
}

export async function profileCommands(
  client: Redis,
  opts: { seconds: number; prefix: string; scripts: Map<string, string>; customerSent: () => number },
): Promise<CommandProfile> {
  const [, threshold] = (await client.config('GET', 'slowlog-log-slower-than')) as [string, string]
  const [, length] = (await client.config('GET', 'slowlog-max-len')) as [string, string]
  await client.config('SET', 'slowlog-max-len', String(LOG_LENGTH))
  await client.slowlog('RESET')
  const sentBefore = opts.customerSent()
  await client.config('SET', 'slowlog-log-slower-than', '0')
  await new Promise((r) => setTimeout(r, opts.seconds * 1000))
  await client.config('SET', 'slowlog-log-slower-than', threshold)
  const customerMessages = opts.customerSent() - sentBefore
  // [id, unix time, µs, [command, args…], client, name], newest first
  const entries = (await client.slowlog('GET', LOG_LENGTH)) as Array<
    [number, number, number, string[], string]
  >
  await client.slowlog('RESET')
  await client.config('SET', 'slowlog-max-len', length)

  const ops = new Map<string, { calls: number; us: number; inner: number }>()
  let us = 0
  let inner = 0
  // A script's own commands are logged before it, from client "?:0"; its entry's µs include theirs.
  for (const [, , micros, args, from] of entries.reverse()) {
    if (from === '?:0') {
      inner++
      continue
    }
    const op = operationOf(args, opts.prefix, opts.scripts)
    if (op.startsWith('config ') || op.startsWith('slowlog')) continue
    const o = ops.get(op) ?? { calls: 0, us: 0, inner: 0 }
    o.calls++
    o.us += micros
    o.inner += inner
    inner = 0
    us += micros
    ops.set(op, o)
  }
  const calls = [...ops.values()].reduce((sum, o) => sum + o.calls, 0)
  const innerCalls = [...ops.values()].reduce((sum, o) => sum + o.inner, 0)
  const n = Math.max(1, customerMessages)
  const round = (v: number) => Math.round(v * 100) / 100
  return {
    seconds: opts.seconds,
    customerMessages,
    commandsPerCustomerMessage: round(calls / n),
    innerCommandsPerCustomerMessage: round(innerCalls / n),
    usPerCustomerMessage: round(us / n),
    complete: entries.length < LOG_LENGTH,
    byOperation: [...ops]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 25)
      .map(([operation, o]) => ({
        operation,
        calls: round(o.calls / n),
        us: round(o.us / n),
        inner: round(o.inner / n),
      })),
  }
}
