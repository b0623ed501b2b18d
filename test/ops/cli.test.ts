import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../../src/http/auth.js'
import { ROOT, spawnTs } from '../helpers/process.js'

/** The operator CLI as a person runs it: help, version, usage errors, rules check, key hash. */

const cli = async (args: string[], env: Record<string, string> = {}) => {
  const p = spawnTs('src/cli/tickbridge.ts', args, env)
  const code = await p.exited
  return { code, out: p.stdout.join('\n'), err: p.stderr.join('\n') }
}

describe('tickbridge CLI', () => {
  it('--help prints the commands to stdout and exits 0; --version prints the package version', async () => {
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toMatch(/^Usage: tickbridge/)
    for (const command of ['rules', 'key', 'sessions']) expect(help.out).toContain(command)
    expect(help.err).toBe('')
    const version = await cli(['--version'])
    expect(version).toMatchObject({ code: 0, out: '0.1.0' })
  })

  it('an unknown command or option says so on stderr and exits 2', async () => {
    const unknown = await cli(['frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.err).toContain("unknown command 'frobnicate'")
    const option = await cli(['key', 'hash', '--bogus'])
    expect(option.code).toBe(2)
    expect(option.err).toContain("unknown option '--bogus'")
    const none = await cli([])
    expect(none.code).toBe(2)
    expect(none.err).toContain('Usage: tickbridge')
  })

  it('every subcommand has --help', async () => {
    for (const args of [
      ['rules'],
      ['rules', 'check'],
      ['rules', 'dry-run'],
      ['key'],
      ['key', 'hash'],
      ['sessions'],
      ['sessions', 'pair'],
      ['auth'],
      ['auth', 're-encrypt'],
    ]) {
      const r = await cli([...args, '--help'])
      expect(r.code, args.join(' ')).toBe(0)
      expect(r.out, args.join(' ')).toContain(`Usage: tickbridge ${args.join(' ')}`)
    }
  }, 60_000)

  it('rules check without a path checks the file the service would load and says how to make config/rules.yaml', async () => {
    // ROOT has no config/rules.yaml in a fresh clone (it is .gitignored): the example is what runs.
    const fallback = await cli(['rules', 'check'], { TICKBRIDGE_RULES: '' })
    expect(fallback.code).toBe(0)
    expect(fallback.out).toMatch(/^OK: config\/rules\.(example\.)?yaml/)
    if (fallback.out.startsWith('OK: config/rules.example.yaml'))
      expect(fallback.err).toContain('cp config/rules.example.yaml config/rules.yaml')
    const chosen = await cli(['rules', 'check'], { TICKBRIDGE_RULES: 'config/rules.demo.yaml' })
    expect(chosen.code).toBe(0)
    expect(chosen.out).toMatch(/^OK: config\/rules\.demo\.yaml/)
    expect(chosen.err).toContain('the rules file the service would load')
  })

  it('rules check of a missing config/rules.yaml hints how to create it from the example', async () => {
    const r = await cli(['rules', 'check', 'test/fixtures/nowhere/config/rules.yaml'])
    expect(r.code).toBe(1)
    expect(r.out).toContain('file not found')
    expect(r.err).toContain('cp config/rules.example.yaml config/rules.yaml')
  })

  it('key hash reads a piped key', async () => {
    const piped = spawn(
      'sh',
      ['-c', `printf %s tb_piped_key_123 | ${process.execPath} --import tsx src/cli/tickbridge.ts key hash`],
      {
        cwd: ROOT,
      },
    )
    let out = ''
    piped.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    expect(await new Promise((r) => piped.on('exit', r))).toBe(0)
    expect(out.trim()).toBe(sha256Hex('tb_piped_key_123'))
  })

  it('key hash on a terminal prompts and does not echo the key', async () => {
    const key = 'tb_typed_secret_4242'
    // util-linux `script` gives the CLI a real pseudo-terminal; what we write to its stdin is typed there.
    const child = spawn(
      'script',
      ['-qfec', `exec ${process.execPath} --import tsx src/cli/tickbridge.ts key hash`, '/dev/null'],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    )
    let screen = ''
    const prompted = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        screen += d.toString()
        if (screen.includes('API key (input hidden): ')) resolve()
      })
    })
    await prompted
    child.stdin.write(`${key}\r`)
    const code = await new Promise((r) => child.on('exit', r))
    expect(code).toBe(0)
    expect(screen).toContain(sha256Hex(key))
    expect(screen).not.toContain(key)
  }, 30_000)
})
