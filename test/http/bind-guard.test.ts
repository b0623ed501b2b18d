import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../../src/http/auth.js'
import { bindProblems, isLoopbackHost, PUBLISHED_KEYS } from '../../src/http/bind-guard.js'
import { parseRulesText } from '../../src/rules/load.js'
import { RulesError, RulesStore } from '../../src/rules/store.js'

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

describe('bind guard', () => {
  it('tells loopback addresses from the rest', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      'localhost',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopbackHost(host), host).toBe(true)
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.5',
      '192.168.1.2',
      'example.com',
      '::ffff:10.0.0.1',
      '128.0.0.1',
    ])
      expect(isLoopbackHost(host), host).toBe(false)
  })

  it('names every published key in force on a public bind, and how to replace it', () => {
    const problems = bindProblems('0.0.0.0', rulesOf(example))
    expect(problems).toHaveLength(2)
    expect(problems[0]).toContain('apiKeys id "acme-admin"')
    expect(problems[1]).toContain('apiKeys id "acme-dashboard"')
    expect(problems[0]).toContain('key hash')
    expect(problems[0]).toContain('HOST=127.0.0.1')
    expect(bindProblems('::', rulesOf(demo))[0]).toContain('apiKeys id "demo-admin"')
  })

  it('lets published keys serve this machine, and real keys serve any address', () => {
    expect(bindProblems('127.0.0.1', rulesOf(example))).toEqual([])
    expect(bindProblems('0.0.0.0', rulesOf(withRealKeys))).toEqual([])
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
    const accept = (r: Parameters<typeof bindProblems>[1]) => bindProblems('0.0.0.0', r)
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
