import { runRulesCheck } from './rules-check.js'

/** `tickbridge <command>`: operator commands. Exit codes: 0 ok, 1 check failed, 2 usage. */
const USAGE = `Usage:
  tickbridge rules check FILE     validate a rules file and print every problem
  tickbridge key hash             read an API key on stdin, print its SHA-256 for the rules file
`

async function run(args: string[]): Promise<number> {
  const [group, command, ...rest] = args
  if (group === 'rules' && command === 'check' && rest[0]) {
    return runRulesCheck(rest[0], (line) => process.stdout.write(`${line}\n`))
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
  process.stderr.write(USAGE)
  return 2
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  },
)
