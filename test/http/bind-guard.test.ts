import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../../src/http/auth.js'
import {
  BindError,
  bindProblems,
  isLoopbackAddress,
  PUBLISHED_KEYS,
  plannedAddresses,
} from '../../src/http/bind-guard.js'
import { parseRulesText } from '../../src/rules/load.js'
import { RulesError, RulesStore } from '../../src/rules/store.js'
import { spawnTs } from '../helpers/process.js'

const read = (file: string) =>
  readFile(fileURLToPath(new URL(`../../config/${file}`, import.meta.url)), 'utf8')
const example = await read('rules.example.yaml')
const demo = await read('rules.demo.yaml')

function rulesOf(text: string) {
  const parsed = parseRulesText(text)
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
  return parsed.rules
}

/** The example rules with both published hashes swapped for keys nobody else knows. */
const withRealKeys = example
  .replace(sha256Hex('tb_example_admin_key'), sha256Hex('a-real-secret-admin-key'))
  .replace(sha256Hex('tb_example_read_key'), sha256Hex('a-real-secret-read-key'))

const at = (host: string, addresses: string[] = [host]) => ({ host, addresses })

describe('bind guard', () => {
  it('tells loopback addresses from the rest, and never trusts a name by its spelling', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])
      expect(isLoopbackAddress(address), address).toBe(true)
    for (const address of [
      '0.0.0.0',
      '::',
      '10.0.0.5',
      '192.168.1.2',
      '::ffff:10.0.0.1',
      '128.0.0.1',
      'fe80::1%lo',
      // Names are judged by what they resolve (or bind) to, whatever they look like.
      'localhost',
      'evil.localhost',
      'example.com',
    ])
      expect(isLoopbackAddress(address), address).toBe(false)
  })

  it('judges a name by every address it resolves to', async () => {
    const dns = async (host: string) =>
      ({ localhost: ['127.0.0.1', '::1'], 'evil.localhost': ['127.0.0.1', '93.184.216.34'] })[host] ?? []
    expect(await plannedAddresses('0.0.0.0', dns)).toEqual(['0.0.0.0'])
    expect(bindProblems(at('localhost', await plannedAddresses('localhost', dns)), rulesOf(example))).toEqual(
      [],
    )
    const evil = bindProblems(
      at('evil.localhost', await plannedAddresses('evil.localhost', dns)),
      rulesOf(example),
    )
    expect(evil).toHaveLength(2)
    expect(evil[0]).toContain('HOST=evil.localhost (93.184.216.34) lets other machines connect')
    const nowhere = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' })
    await expect(plannedAddresses('nowhere.invalid', () => Promise.reject(nowhere))).rejects.toThrow(
      new BindError(
        'HOST=nowhere.invalid does not resolve to an address (ENOTFOUND): give an IP address or a name that resolves',
      ),
    )
  })

  it('names every published key in force on a public bind, and how to replace it', () => {
    const problems = bindProblems(at('0.0.0.0'), rulesOf(example))
    expect(problems).toHaveLength(2)
    expect(problems[0]).toContain('apiKeys id "acme-admin"')
    expect(problems[1]).toContain('apiKeys id "acme-dashboard"')
    expect(problems[0]).toContain('key hash')
    expect(problems[0]).toContain('HOST=127.0.0.1')
    expect(bindProblems(at('::'), rulesOf(demo))[0]).toContain('apiKeys id "demo-admin"')
  })

  it('lets published keys serve this machine, and real keys serve any address', () => {
    expect(bindProblems(at('127.0.0.1'), rulesOf(example))).toEqual([])
    expect(bindProblems(at('0.0.0.0'), rulesOf(withRealKeys))).toEqual([])
  })

  it('every published key is one the shipped rules or README actually use', async () => {
    const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
    const shipped = [example, demo, readme].join('\n')
    for (const key of PUBLISHED_KEYS)
      expect(shipped.includes(key) || shipped.includes(sha256Hex(key)), key).toBe(true)
  })

  it('a reload that brings a published key back is refused and the previous rules stay', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-bind-guard-'))
    const path = join(dir, 'rules.yaml')
    const lines: Array<{ msg: string; problems?: string[] }> = []
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) })
    const accept = (r: Parameters<typeof bindProblems>[1]) => bindProblems(at('0.0.0.0'), r)
    try {
      await writeFile(path, example)
      const refused = await RulesStore.open(path, logger, { watch: false, accept }).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(RulesError)
      expect((refused as RulesError).problems[0]).toContain('"acme-admin"')

      await writeFile(path, withRealKeys)
      const store = await RulesStore.open(path, logger, { watch: false, accept })
      const before = store.current()
      await writeFile(path, example)
      const result = await store.reload()
      expect(result.applied).toBe(false)
      expect(result.problems.join('\n')).toContain('"acme-dashboard"')
      expect(store.current()).toBe(before)
      expect(lines.find((l) => l.msg.startsWith('rules file rejected'))?.problems).toEqual(result.problems)
      store.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('HOST at start-up', () => {
  it('a bad HOST is named in a clear error, exit 2; a zoned link-local address is judged, not a crash', async () => {
    const env = { TICKBRIDGE_PREFIX: 'tbt-bind-host', PORT: '0', WA_TRANSPORT: 'sim' }
    const bad = spawnTs('src/main.ts', ['web'], { ...env, HOST: 'http://0.0.0.0:3000' })
    expect(await bad.exited).toBe(2)
    expect(bad.stderr.join('\n')).toContain(
      'HOST: expected an IP address (like 127.0.0.1, 0.0.0.0, ::1 or fe80::1%eth0) or a host name',
    )
    // fe80::1%lo crashed with "Invalid URL"; it is an address other machines on the link may reach, so the
    // example rules' published keys are refused there like on any other non-loopback address.
    const zoned = spawnTs('src/main.ts', ['web'], { ...env, HOST: 'fe80::1%lo' })
    expect(await zoned.exited).toBe(2)
    const stderr = zoned.stderr.join('\n')
    expect(stderr).not.toContain('Invalid URL')
    expect(stderr).toContain('must not be in force while HOST=fe80::1%lo lets other machines connect')
  }, 60_000)

  it('checks the addresses actually bound: HOST=localhost serves published keys on loopback only', async () => {
    const p = spawnTs('src/main.ts', ['web'], {
      TICKBRIDGE_PREFIX: 'tbt-bind-localhost',
      PORT: '0',
      HOST: 'localhost',
      WA_TRANSPORT: 'sim',
    })
    try {
      const listening = JSON.parse(await p.waitFor(/"msg":"HTTP API listening"/, 30_000)) as {
        bound: string
        reachableFrom: string
      }
      expect(listening.reachableFrom).toBe('this machine only')
      for (const address of listening.bound.split(', '))
        expect(isLoopbackAddress(address), address).toBe(true)
    } finally {
      p.child.kill('SIGTERM')
      await p.exited
    }
  }, 60_000)
})
