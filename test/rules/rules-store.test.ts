import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Rules } from '../../src/rules/compile.js'
import { RulesError, RulesStore } from '../../src/rules/store.js'

const example = await readFile(
  fileURLToPath(new URL('../../config/rules.example.yaml', import.meta.url)),
  'utf8',
)

type LogLine = { level: number; msg: string; [key: string]: unknown }

/** A pino logger whose lines land in an array, so tests can wait for a given line. */
function capturingLogger() {
  const lines: LogLine[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  const waitForLine = (msg: string, from = 0) =>
    vi.waitFor(
      () => {
        const line = lines.slice(from).find((l) => l.msg.startsWith(msg))
        if (!line) throw new Error(`no log line "${msg}" yet`)
        return line
      },
      { timeout: 5_000, interval: 10 },
    )
  return { lines, logger, waitForLine }
}

/** Resolves on the store's next change; rejects after a bound so a missed event fails fast. */
function nextChange(store: RulesStore): Promise<{ next: Rules; prev: Rules }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no rules change within 5s')), 5_000)
    const off = store.onChange((next, prev) => {
      clearTimeout(timer)
      off()
      resolve({ next, prev })
    })
  })
}

describe('RulesStore', () => {
  let dir: string
  let path: string
  let store: RulesStore | undefined
  let log: ReturnType<typeof capturingLogger>

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tb-rules-store-'))
    path = join(dir, 'rules.yaml')
    await writeFile(path, example)
    log = capturingLogger()
  })

  afterEach(async () => {
    store?.close()
    store = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses to open an invalid file, naming every problem', async () => {
    await writeFile(path, example.replace('firstResponse: 30m', 'firstResponse: soon'))
    const error = await RulesStore.open(path, log.logger, { watch: false }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RulesError)
    expect((error as RulesError).problems).toEqual([
      'sla.policies[0].firstResponse: expected a duration like 15m',
    ])
  })

  it('applies a valid change live and tells listeners', async () => {
    store = await RulesStore.open(path, log.logger, { watch: true, debounceMs: 20 })
    expect(log.lines.find((l) => l.msg === 'rules loaded')).toMatchObject({
      sessions: 2,
      users: 4,
      policies: 2,
    })
    const before = store.current()
    const changed = nextChange(store)

    await writeFile(path, example.replace('label: Sales line', 'label: Sales (EU)'))

    const { next, prev } = await changed
    expect(prev).toBe(before)
    expect(next).toBe(store.current())
    expect(next.sessions.get('acme-sales')?.label).toBe('Sales (EU)')
    expect(await log.waitForLine('rules reloaded')).toMatchObject({
      level: 30,
      sessions: 2,
      users: 4,
      policies: 2,
      changes: ['sessions: ~acme-sales'],
    })
  })

  it('follows editors that save by renaming a new file over the old one', async () => {
    store = await RulesStore.open(path, log.logger, { watch: true, debounceMs: 20 })
    const changed = nextChange(store)

    const temp = join(dir, '.rules.yaml.swp')
    await writeFile(temp, example.replace('max: 20 #', 'max: 30 #'))
    await rename(temp, path)

    const { next } = await changed
    expect(next.sessions.get('acme-sales')?.sendRate?.max).toBe(30)
  })

  it('rejects an invalid change, logs its problems and keeps the previous rules', async () => {
    store = await RulesStore.open(path, log.logger, { watch: true, debounceMs: 20 })
    const before = store.current()
    const listener = vi.fn()
    store.onChange(listener)

    await writeFile(
      path,
      example
        .replace('org: acme # required; id of an org above', 'org: acne')
        .replace('      levels:\n        - after: 20m', '      levles:\n        - after: 20m'),
    )

    // Wait for the rejection of the complete file (a watcher may also catch it half-written).
    await vi.waitFor(
      () =>
        expect(log.lines.filter((l) => l.msg.startsWith('rules file rejected')).at(-1)).toMatchObject({
          level: 50,
          path,
          problems: [
            'sla.policies[0].levels: required',
            'sla.policies[0].levles: unknown field',
            'sessions[0].org: unknown org "acne"',
          ],
        }),
      { timeout: 5_000, interval: 10 },
    )
    expect(store.current()).toBe(before)
    expect(listener).not.toHaveBeenCalled()

    // Fixing the file applies it as usual.
    const changed = nextChange(store)
    await writeFile(path, example.replace('label: Support line', 'label: Help desk'))
    expect((await changed).next.sessions.get('acme-support')?.label).toBe('Help desk')
  })

  it('fires nothing when the file is rewritten unchanged or only its comments change', async () => {
    store = await RulesStore.open(path, log.logger, { watch: true, debounceMs: 20 })
    const before = store.current()
    const listener = vi.fn()
    store.onChange(listener)

    let from = log.lines.length
    await writeFile(path, example)
    await log.waitForLine('rules file read; no change', from)

    from = log.lines.length
    await writeFile(path, `# edited by hand\n${example}`)
    await log.waitForLine('rules file read; no change', from)

    expect(listener).not.toHaveBeenCalled()
    expect(store.current()).toBe(before)
    expect(log.lines.some((l) => l.msg === 'rules reloaded')).toBe(false)
  })

  it('reload() reports what happened without a watcher', async () => {
    store = await RulesStore.open(path, log.logger, { watch: false })
    expect(await store.reload()).toEqual({ applied: false, problems: [] })

    await writeFile(path, example.replace('jitter: 0.25', 'jitter: 2'))
    expect(await store.reload()).toEqual({
      applied: false,
      problems: ['seen.defaults.delay.jitter: must be at most 1'],
    })

    await rm(path)
    expect(await store.reload()).toEqual({ applied: false, problems: [`${path}: file not found`] })

    await writeFile(path, example.replace('jitter: 0.25', 'jitter: 0.5'))
    const listener = vi.fn()
    store.onChange(listener)
    expect(await store.reload()).toEqual({ applied: true, problems: [] })
    expect(store.current().seenPolicyFor('acme-support')?.delay.jitter).toBe(0.5)
    expect(listener).toHaveBeenCalledOnce()
  })

  it('keeps other listeners running when one throws, and unsubscribes', async () => {
    store = await RulesStore.open(path, log.logger, { watch: false })
    const good = vi.fn()
    const off = store.onChange(good)
    store.onChange(() => {
      throw new Error('listener bug')
    })
    await writeFile(path, example.replace('debounce: 5s', 'debounce: 10s'))
    await store.reload()
    expect(good).toHaveBeenCalledOnce()
    expect(log.lines.find((l) => l.msg === 'rules change listener failed')).toMatchObject({ level: 50 })

    off()
    await writeFile(path, example.replace('debounce: 5s', 'debounce: 20s'))
    await store.reload()
    expect(good).toHaveBeenCalledOnce()
  })
})
