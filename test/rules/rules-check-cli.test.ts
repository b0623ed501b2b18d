import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runRulesCheck } from '../../src/cli/rules-check.js'

const examplePath = fileURLToPath(new URL('../../config/rules.example.yaml', import.meta.url))

async function check(path: string) {
  const lines: string[] = []
  const code = await runRulesCheck(path, (line) => lines.push(line))
  return { code, lines }
}

describe('tickbridge rules check', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tb-rules-cli-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('exits 0 with a summary for a valid file', async () => {
    expect(await check(examplePath)).toEqual({
      code: 0,
      lines: [`OK: ${examplePath} (2 sessions, 4 users, 2 SLA policies, 2 API keys)`],
    })
  })

  it('uses singular words for one of a kind', async () => {
    const path = join(dir, 'one.yaml')
    await writeFile(path, 'version: 1\norgs: [{ id: acme }]\nsessions: [{ id: s1, org: acme }]\n')
    expect(await check(path)).toEqual({
      code: 0,
      lines: [`OK: ${path} (1 session, 0 users, 0 SLA policies, 0 API keys)`],
    })
  })

  it('exits 1 and prints every problem of an invalid file', async () => {
    const path = join(dir, 'bad.yaml')
    const example = await readFile(examplePath, 'utf8')
    await writeFile(
      path,
      example
        .replace('- after: 30m', '- after: 30 minutes')
        .replace('capabilities: [read] # read-only', 'capabilities: [read, write]'),
    )
    expect(await check(path)).toEqual({
      code: 1,
      lines: [
        `${path}: 2 problems`,
        'sla.policies[0].levels[1].after: expected a duration like 15m',
        'apiKeys[1].capabilities[1]: expected one of read, send, admin, operator',
      ],
    })
  })

  it('exits 1 for a YAML syntax error', async () => {
    const path = join(dir, 'syntax.yaml')
    await writeFile(path, 'version: 1\norgs:\n  - id: acme\n  name: "unterminated\n')
    expect(await check(path)).toEqual({
      code: 1,
      lines: [
        `${path}: 2 problems`,
        'line 4:1: All mapping items must start at the same column',
        'line 5:1: Missing closing "quote',
      ],
    })
  })

  it('exits 1 for a missing file', async () => {
    const path = join(dir, 'nope.yaml')
    expect(await check(path)).toEqual({ code: 1, lines: [`${path}: 1 problem`, `${path}: file not found`] })
  })
})
