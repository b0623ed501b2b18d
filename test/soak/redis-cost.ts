import type { Redis } from 'ioredis'

/**
 * What Redis itself spent, from its own counters (`INFO cpu`, `INFO commandstats`): CPU of the server
 * process and calls per command. Read before the load and after the drain, the difference is the cost
 * of the traffic with every automation on (receipts, reminders, SLA timers, counters, CRM sync).
 */
export interface RedisCostSnapshot {
  cpuUs: number
  commands: Map<string, { calls: number; usec: number }>
}

/** CPU (user + sys) the Redis server has used since it started, µs, from `INFO cpu`. */
export function redisCpuUs(infoCpu: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(infoCpu)?.[1] ?? 0)
  return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6)
}

export async function snapshotRedisCost(redis: Redis): Promise<RedisCostSnapshot> {
  const [cpu, stats] = await Promise.all([redis.info('cpu'), redis.info('commandstats')])
  const commands = new Map<string, { calls: number; usec: number }>()
  // cmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,rejected_calls=0,failed_calls=0
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    commands.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) })
  return { cpuUs: redisCpuUs(cpu), commands }
}

/** What Redis spends per second with the sessions held and no traffic. */
export interface IdleCost {
  cpuUsPerSec: number
  commandsPerSec: number
  /** Where the idle commands go: calls per second of the busiest commands (a Lua script's inner calls too). */
  topCommandsPerSec: Record<string, number>
}

/** Calls and µs per command between two snapshots, for the commands that ran. */
function commandDeltas(
  before: RedisCostSnapshot,
  after: RedisCostSnapshot,
): Array<[string, { calls: number; usec: number }]> {
  const deltas: Array<[string, { calls: number; usec: number }]> = []
  for (const [cmd, a] of after.commands) {
    const b = before.commands.get(cmd) ?? { calls: 0, usec: 0 }
    const d = { calls: a.calls - b.calls, usec: a.usec - b.usec }
    if (d.calls > 0) deltas.push([cmd, d])
  }
  return deltas
}

export function idleCost(from: RedisCostSnapshot, to: RedisCostSnapshot, ms: number, top = 8): IdleCost {
  const perSec = (v: number) => Math.round((v / ms) * 1000)
  const deltas = commandDeltas(from, to).sort((x, y) => y[1].calls - x[1].calls)
  const calls = deltas.reduce((sum, [, d]) => sum + d.calls, 0)
  return {
    cpuUsPerSec: perSec(to.cpuUs - from.cpuUs),
    commandsPerSec: perSec(calls),
    topCommandsPerSec: Object.fromEntries(deltas.slice(0, top).map(([cmd, d]) => [cmd, perSec(d.calls)])),
  }
}

export interface RedisCostPerMessage {
  /** Redis server CPU (user + sys) per customer message, µs. */
  cpuUsPerCustomerMessage: number
  /** Commands executed per customer message (a Lua script's inner calls count too, as Redis counts them). */
  commandsPerCustomerMessage: number
  /** Time inside commands per customer message, µs (the rest of the CPU is networking and the event loop). */
  commandUsPerCustomerMessage: number
  /** The commands that cost most, per customer message: calls and µs. */
  topCommands: Record<string, { calls: number; us: number }>
  /** The idle cost (sessions held, no traffic), and the totals less what idling costs over the same span. */
  idle?: IdleCost & {
    marginalCpuUsPerCustomerMessage: number
    marginalCommandsPerCustomerMessage: number
  }
}

/**
 * The cost between two snapshots per customer message. It includes the harness's own traffic, which is
 * small and named in the report: the generator's one XADD per message into the sim's inbound stream
 * (the stand-in for WhatsApp's servers) and the session watch's polls.
 */
export function costPerMessage(
  before: RedisCostSnapshot,
  after: RedisCostSnapshot,
  customerMessages: number,
  baseline?: { idle: IdleCost; spanMs: number },
  top = 12,
): RedisCostPerMessage {
  const n = Math.max(1, customerMessages)
  const deltas = commandDeltas(before, after).sort((x, y) => y[1].usec - x[1].usec)
  const round = (v: number) => Math.round(v * 100) / 100
  const cpuUs = after.cpuUs - before.cpuUs
  const calls = deltas.reduce((s, [, d]) => s + d.calls, 0)
  const idleSeconds = (baseline?.spanMs ?? 0) / 1000
  return {
    cpuUsPerCustomerMessage: round(cpuUs / n),
    commandsPerCustomerMessage: round(calls / n),
    commandUsPerCustomerMessage: round(deltas.reduce((s, [, d]) => s + d.usec, 0) / n),
    topCommands: Object.fromEntries(
      deltas.slice(0, top).map(([cmd, d]) => [cmd, { calls: round(d.calls / n), us: round(d.usec / n) }]),
    ),
    ...(baseline
      ? {
          idle: {
            ...baseline.idle,
            marginalCpuUsPerCustomerMessage: round((cpuUs - baseline.idle.cpuUsPerSec * idleSeconds) / n),
            marginalCommandsPerCustomerMessage: round(
              (calls - baseline.idle.commandsPerSec * idleSeconds) / n,
            ),
          },
        }
      : {}),
  }
}
