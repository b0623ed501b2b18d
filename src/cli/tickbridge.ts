#!/usr/bin/env node
import { runRulesCheck } from './rules-check.js'

/** `tickbridge <command>`: operator commands. Exit codes: 0 ok, 1 failed, 2 usage or configuration. */
const USAGE = `Usage:
  tickbridge rules check FILE                  validate a rules file and print every problem
  tickbridge rules dry-run --rules FILE --scenario FILE [--json]
                                               play a scenario (config/scenarios/) against the rules with a
                                               virtual clock: receipts, SLA levels, resets, counters
  tickbridge key hash                          read an API key on stdin, print its SHA-256 for the rules file
  tickbridge sessions pair SID [--phone N]     link a WhatsApp number: shows the QR (or a pairing code for
                                               phone N, digits only) until the phone has linked; needs a
                                               running worker sharing the same Redis (REDIS_URL)
`

async function run(args: string[]): Promise<number> {
  const [group, command, ...rest] = args
  if (group === 'rules' && command === 'check' && rest[0]) {
    return runRulesCheck(rest[0], (line) => process.stdout.write(`${line}\n`))
  }
  if (group === 'rules' && command === 'dry-run') {
    const { runRulesDryRun } = await import('./rules-dry-run.js')
    return runRulesDryRun(rest, {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    })
  }
  if (group === 'key' && command === 'hash') {
    const { sha256Hex } = await import('../http/auth.js')
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    const key = Buffer.concat(chunks).toString().trim()
    if (key.length < 8) {
      process.stderr.write('expected the key (at least 8 characters) on stdin\n')
      return 2
    }
    process.stdout.write(`${sha256Hex(key)}\n`)
    return 0
  }
  if (group === 'sessions' && command === 'pair' && rest[0]) {
    const phoneAt = rest.indexOf('--phone')
    const phone = phoneAt >= 0 ? rest[phoneAt + 1] : undefined
    if (phoneAt >= 0 && !phone) {
      process.stderr.write('--phone needs a number\n')
      return 2
    }
    return pair(rest[0], phone)
  }
  process.stderr.write(USAGE)
  return 2
}

async function pair(sid: string, phone: string | undefined): Promise<number> {
  const [{ parseEnv }, { loadRulesFile, resolveRulesPath }, { createRedis, assertRedisReachable }, { Keys }] =
    await Promise.all([
      import('../env.js'),
      import('../rules/load.js'),
      import('../redis.js'),
      import('../keys.js'),
    ])
  const { SessionStatusStore } = await import('../whatsapp/status-store.js')
  const { RedisSessionGateway } = await import('../whatsapp/command-bus.js')
  const { systemClock } = await import('../clock.js')
  const { runPair } = await import('./sessions-pair.js')
  const env = parseEnv(process.env)
  const rules = await loadRulesFile(resolveRulesPath(env.TICKBRIDGE_RULES, process.cwd()).path)
  if (!rules.ok) {
    process.stderr.write(`invalid rules:\n${rules.problems.join('\n')}\n`)
    return 2
  }
  await assertRedisReachable(env.REDIS_URL)
  const redis = createRedis(env.REDIS_URL, { name: 'tickbridge-cli', cluster: env.REDIS_CLUSTER })
  const keys = new Keys(env.TICKBRIDGE_PREFIX)
  const gateway = new RedisSessionGateway(redis, keys.prefix)
  try {
    return await runPair(sid, phone, {
      rules: rules.rules,
      statuses: new SessionStatusStore(redis, keys, systemClock),
      gateway,
      out: (text) => process.stdout.write(`${text}\n`),
    })
  } finally {
    await gateway.close()
    redis.disconnect()
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  },
)
