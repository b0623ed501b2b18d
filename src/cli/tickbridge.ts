#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, Option } from 'commander'

/**
 * `tickbridge <command>`: operator commands. Exit codes: 0 ok, 1 failed, 2 usage or configuration.
 * commander parses the arguments: `--help` on every command (stdout, exit 0), `--version`, and an unknown
 * command or option is an error naming it (stderr, exit 2).
 */

const out = (line: string) => process.stdout.write(`${line}\n`)
const err = (line: string) => process.stderr.write(`${line}\n`)

/** package.json of this install: two folders up from src/cli, three from dist/src/cli. */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const path = join(dir, 'package.json')
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'tickbridge') return pkg.version ?? 'unknown'
    }
    dir = dirname(dir)
  }
  return 'unknown'
}

let exitCode = 0
const done = (code: number) => {
  exitCode = code
}

function buildProgram(): Command {
  const program = new Command('tickbridge')
    .description('Tickbridge operator commands: check and try rules, hash API keys, pair WhatsApp numbers.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      writeOut: (text) => process.stdout.write(text),
    })

  const rules = program.command('rules').description('check rules files and play scenarios against them')
  rules
    .command('check')
    .description(
      'validate a rules file and print every problem with its path; without FILE, the file the service ' +
        'would load (TICKBRIDGE_RULES, else config/rules.yaml, else the example)',
    )
    .argument('[file]', 'the rules file')
    .action(async (file: string | undefined) => {
      const { runRulesCheckCommand } = await import('./rules-check.js')
      done(await runRulesCheckCommand(file, { out, err, env: process.env, cwd: process.cwd() }))
    })
  rules
    .command('dry-run')
    .description(
      'play a scenario (config/scenarios/) against the rules on a virtual clock: receipts, SLA levels, ' +
        'resets, counters',
    )
    .option('--rules <file>', 'the rules file')
    .option('--scenario <file>', 'the scenario file')
    .option('--json', 'print JSON instead of the timeline')
    .action(async (o: { rules?: string; scenario?: string; json?: boolean }) => {
      const { runRulesDryRun } = await import('./rules-dry-run.js')
      const args = [
        ...(o.rules ? ['--rules', o.rules] : []),
        ...(o.scenario ? ['--scenario', o.scenario] : []),
        ...(o.json ? ['--json'] : []),
      ]
      done(await runRulesDryRun(args, { out, err }))
    })

  program
    .command('key')
    .description('API key helpers')
    .command('hash')
    .description(
      'print the SHA-256 of an API key, for apiKeys[].sha256 in the rules; reads the key from stdin, or ' +
        'prompts for it (not echoed) on a terminal',
    )
    .action(async () => {
      const [{ sha256Hex }, { readKey }] = await Promise.all([
        import('../http/auth.js'),
        import('./read-key.js'),
      ])
      const key = await readKey()
      if (key === null) return done(130) // Ctrl-C at the prompt
      if (key.length < 8) {
        err('expected the key (at least 8 characters) on stdin or at the prompt')
        return done(2)
      }
      out(sha256Hex(key))
      done(0)
    })

  program
    .command('auth')
    .description('the WhatsApp auth (creds and Signal keys) stored in Redis')
    .command('re-encrypt')
    .description(
      "write every session's stored auth again under the current key of WA_AUTH_KEYS (plaintext and " +
        'older keys alike); idempotent and resumable, safe beside running workers',
    )
    .action(async () => {
      done(await reEncrypt())
    })

  program
    .command('sessions')
    .description('WhatsApp sessions')
    .command('pair')
    .description(
      'link a WhatsApp number: shows the QR (or a pairing code with --phone) until the phone has linked; ' +
        'needs a running worker sharing the same Redis (REDIS_URL)',
    )
    .argument('<sid>', 'the session id from the rules')
    .addOption(new Option('--phone <number>', 'get a pairing code for this phone number (digits only)'))
    .action(async (sid: string, o: { phone?: string }) => {
      done(await pair(sid, o.phone))
    })
  return program
}

async function reEncrypt(): Promise<number> {
  const [
    { parseEnv },
    { createRedis, assertRedisReachable, redisTls },
    { Keys },
    { AuthCipher },
    { reEncryptAuth },
  ] = await Promise.all([
    import('../env.js'),
    import('../redis.js'),
    import('../keys.js'),
    import('../whatsapp/baileys/auth-cipher.js'),
    import('../whatsapp/baileys/auth-re-encrypt.js'),
  ])
  const env = parseEnv(process.env)
  if (!env.WA_AUTH_KEYS) {
    err('WA_AUTH_KEYS is not set: there is no key to encrypt with (docs/security-redis.md)')
    return 2
  }
  const tls = redisTls(env.REDIS_TLS_CA_FILE)
  await assertRedisReachable(env.REDIS_URL, undefined, tls)
  const redis = createRedis(env.REDIS_URL, { name: 'tickbridge-cli', cluster: env.REDIS_CLUSTER, tls })
  try {
    const t = await reEncryptAuth({
      redis,
      keys: new Keys(env.TICKBRIDGE_PREFIX),
      cipher: new AuthCipher(env.WA_AUTH_KEYS),
      out,
    })
    out(
      `done: ${t.sessions} session(s), ${t.reEncrypted} value(s) re-encrypted, ${t.alreadyCurrent} already current` +
        (t.changedMeanwhile ? `, ${t.changedMeanwhile} changed meanwhile: run again` : ''),
    )
    return t.changedMeanwhile ? 1 : 0
  } catch (e) {
    err(
      `re-encrypt stopped: ${e instanceof Error ? e.message : String(e)} (what was done is kept; fix and run again)`,
    )
    return 1
  } finally {
    redis.disconnect()
  }
}

async function pair(sid: string, phone: string | undefined): Promise<number> {
  const [
    { parseEnv },
    { loadRulesFile, resolveRulesPath },
    { createRedis, assertRedisReachable, redisTls },
    { Keys },
  ] = await Promise.all([
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
    err(`invalid rules:\n${rules.problems.join('\n')}`)
    return 2
  }
  const tls = redisTls(env.REDIS_TLS_CA_FILE)
  await assertRedisReachable(env.REDIS_URL, undefined, tls)
  const redis = createRedis(env.REDIS_URL, { name: 'tickbridge-cli', cluster: env.REDIS_CLUSTER, tls })
  const keys = new Keys(env.TICKBRIDGE_PREFIX)
  const gateway = new RedisSessionGateway(redis, keys.prefix)
  try {
    return await runPair(sid, phone, {
      rules: rules.rules,
      statuses: new SessionStatusStore(redis, keys, systemClock),
      gateway,
      out,
    })
  } finally {
    await gateway.close()
    redis.disconnect()
  }
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv, { from: 'user' })
    return exitCode
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e
    // --help and --version are not errors; a command group without its subcommand shows its help.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0
    return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    err(e instanceof Error ? e.message : String(e))
    process.exit(1)
  },
)
