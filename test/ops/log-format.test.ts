import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { type Spawned, spawnCommand, spawnTs } from '../helpers/process.js'
import { deleteByPrefix, REDIS_URL } from '../helpers/redis.js'

/**
 * On a terminal the log is for a person (pino-pretty: level names, time of day); anywhere else it is JSON
 * lines for a collector, unless LOG_FORMAT says otherwise. The terminal is a real pseudo-terminal, made by
 * util-linux's `script`.
 */

const prefix = `tbt-logfmt-${randomBytes(4).toString('hex')}`
afterAll(async () => {
  const r = new Redis(REDIS_URL)
  await deleteByPrefix(r, prefix)
  r.disconnect()
})

const env = (extra: Record<string, string> = {}) => ({
  REDIS_URL,
  TICKBRIDGE_PREFIX: prefix,
  TICKBRIDGE_RULES: 'config/rules.example.yaml',
  HOST: '127.0.0.1',
  PORT: '0',
  ...extra,
})

async function untilListening(p: Spawned): Promise<string[]> {
  await p.waitFor(/HTTP API listening/, 20_000)
  p.child.kill('SIGTERM')
  await p.exited
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the terminal's colour codes
  return p.stdout.map((l) => l.replace(/\u001b\[\d+m/g, '').replace(/\r$/, ''))
}

/** Top-level keys of one JSON object line, in order, duplicates kept (JSON.parse would drop them). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = []
  let depth = 0
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === '"') {
      let j = i + 1
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1
      if (depth === 1 && line[j + 1] === ':') keys.push(JSON.parse(line.slice(i, j + 1)) as string)
      i = j
    } else if (c === '{' || c === '[') depth++
    else if (c === '}' || c === ']') depth--
  }
  return keys
}

describe('log format', () => {
  it('on a terminal: readable lines with the level name and the time of day', async () => {
    const cmd = `exec ${process.execPath} --import tsx src/main.ts web`
    const lines = await untilListening(spawnCommand('script', ['-qfec', cmd, '/dev/null'], env()))
    const listening = lines.find((l) => l.includes('HTTP API listening'))
    expect(listening).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: HTTP API listening/)
    expect(lines.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: /.test(l))).toBe(true)
    expect(lines.join('\n')).not.toContain('"level":30')
  }, 40_000)

  it('not a terminal: one JSON object per line, no key twice', async () => {
    const lines = await untilListening(spawnTs('src/main.ts', ['all'], env()))
    expect(lines.length).toBeGreaterThan(3)
    for (const line of lines) {
      const parsed = JSON.parse(line) as { level: number; time: number; msg: string }
      expect(typeof parsed.level).toBe('number')
      const keys = topLevelKeys(line)
      expect(new Set(keys).size, line).toBe(keys.length)
    }
  }, 40_000)

  it('LOG_FORMAT=json on a terminal gives JSON; LOG_FORMAT=pretty in a pipe gives readable lines', async () => {
    const cmd = `exec ${process.execPath} --import tsx src/main.ts web`
    const onTty = await untilListening(
      spawnCommand('script', ['-qfec', cmd, '/dev/null'], env({ LOG_FORMAT: 'json' })),
    )
    const jsonLine = onTty.find((l) => l.includes('HTTP API listening'))!
    expect((JSON.parse(jsonLine) as { msg: string }).msg).toBe('HTTP API listening')
    const piped = await untilListening(spawnTs('src/main.ts', ['web'], env({ LOG_FORMAT: 'pretty' })))
    expect(piped.find((l) => l.includes('HTTP API listening'))).toMatch(/INFO: HTTP API listening/)
  }, 60_000)
})

describe('topLevelKeys', () => {
  it('finds a key given twice, as pino writes a child binding repeated', () => {
    expect(topLevelKeys('{"a":1,"component":"x","b":{"component":2},"component":"y"}')).toEqual([
      'a',
      'component',
      'b',
      'component',
    ])
  })
})
