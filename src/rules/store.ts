import { type FSWatcher, watch } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { Logger } from 'pino'
import type { Rules } from './compile.js'
import { diffRules, summarizeRules } from './diff.js'
import { parseRulesText, type RulesResult, readRulesFile } from './load.js'

function acceptable(parsed: RulesResult, accept: (rules: Rules) => string[]): RulesResult {
  if (!parsed.ok) return parsed
  const problems = accept(parsed.rules)
  return problems.length > 0 ? { ok: false, problems } : parsed
}

export class RulesError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
  ) {
    super(`${path}: ${problems.length} problem(s) in the rules:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'RulesError'
  }
}

export type RulesListener = (next: Rules, prev: Rules) => void

/** What the console shows about the rules file: which one, since when, and how the last reload went. */
export interface RulesStatus {
  path: string
  /** When the rules in force were read (start or the last applied reload), epoch ms. */
  appliedAt: number
  /** The last time the file was read again (null: not since start). */
  lastReload: { at: number; applied: boolean; problems: string[] } | null
}

export interface RulesStoreOptions {
  watch: boolean
  debounceMs?: number
  /**
   * Checks that depend on how this process runs, not on the file alone (e.g. a published API key while
   * the HTTP API is bound to a public address). Problems refuse the file at start and on every reload.
   */
  accept?: (rules: Rules) => string[]
}

/** Holds the rules in force and swaps them when the file changes to something valid. */
export class RulesStore {
  readonly #path: string
  readonly #logger: Logger
  #rules: Rules
  #text: string
  #listeners = new Set<RulesListener>()
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #rejected = false
  #closed = false
  #appliedAt = Date.now()
  #lastReload: RulesStatus['lastReload'] = null
  readonly #accept: (rules: Rules) => string[]

  private constructor(
    path: string,
    logger: Logger,
    rules: Rules,
    text: string,
    accept: (rules: Rules) => string[],
  ) {
    this.#path = path
    this.#logger = logger
    this.#rules = rules
    this.#text = text
    this.#accept = accept
  }

  /** Loads the file (throwing RulesError if it is unusable) and optionally watches it. */
  static async open(path: string, logger: Logger, options: RulesStoreOptions): Promise<RulesStore> {
    const absolute = resolve(path)
    const read = await readRulesFile(absolute)
    if (!read.ok) throw new RulesError(absolute, read.problems)
    const accept = options.accept ?? (() => [])
    const parsed = acceptable(parseRulesText(read.text), accept)
    if (!parsed.ok) throw new RulesError(absolute, parsed.problems)
    const store = new RulesStore(absolute, logger, parsed.rules, read.text, accept)
    logger.info({ path: absolute, ...summarizeRules(parsed.rules) }, 'rules loaded')
    if (options.watch) store.#watch(options.debounceMs ?? 150)
    return store
  }

  current(): Rules {
    return this.#rules
  }

  status(): RulesStatus {
    return { path: this.#path, appliedAt: this.#appliedAt, lastReload: this.#lastReload }
  }

  /** Called after each applied change; returns an unsubscribe function. */
  onChange(listener: RulesListener): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /** Re-reads the file; reloads never overlap, so the last write always wins. */
  reload(): Promise<{ applied: boolean; problems: string[] }> {
    const run = this.#queue
      .then(() => this.#reloadNow())
      .then((result) => {
        this.#lastReload = { at: Date.now(), ...result }
        return result
      })
    this.#queue = run.catch(() => undefined)
    return run
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#watcher?.close()
    this.#watcher = undefined
    this.#listeners.clear()
  }

  async #reloadNow(): Promise<{ applied: boolean; problems: string[] }> {
    if (this.#closed) return { applied: false, problems: [] }
    const read = await readRulesFile(this.#path)
    if (read.ok && read.text === this.#text) return this.#unchanged()
    const parsed = read.ok ? acceptable(parseRulesText(read.text), this.#accept) : read
    if (!parsed.ok) {
      this.#rejected = true
      this.#logger.error(
        { path: this.#path, problems: parsed.problems },
        `rules file rejected (${parsed.problems.length} problem(s)); the previous rules stay in force`,
      )
      return { applied: false, problems: parsed.problems }
    }
    const text = (read as { text: string }).text
    const prev = this.#rules
    const next = parsed.rules
    this.#text = text
    // Comments or formatting changed, not the rules: nothing for listeners to do.
    if (JSON.stringify(prev.config) === JSON.stringify(next.config)) return this.#unchanged()
    this.#rules = next
    this.#appliedAt = Date.now()
    this.#rejected = false
    this.#logger.info(
      { path: this.#path, ...summarizeRules(next), changes: diffRules(prev, next) },
      'rules reloaded',
    )
    for (const listener of this.#listeners) {
      try {
        listener(next, prev)
      } catch (error) {
        this.#logger.error({ err: error }, 'rules change listener failed')
      }
    }
    return { applied: true, problems: [] }
  }

  #unchanged(): { applied: boolean; problems: string[] } {
    if (this.#rejected) {
      this.#rejected = false
      this.#logger.info({ path: this.#path }, 'rules file read; no change (it is valid again)')
    } else {
      this.#logger.debug({ path: this.#path }, 'rules file read; no change')
    }
    return { applied: false, problems: [] }
  }

  #watch(debounceMs: number): void {
    const name = basename(this.#path)
    // Watch the directory, not the file: editors save by writing a new file and renaming it over the
    // old one, which a file watch would lose track of. Kubernetes ConfigMaps swap a `..data` symlink.
    this.#watcher = watch(dirname(this.#path), (_event, filename) => {
      if (filename !== null && filename !== name && !filename.startsWith('..data')) return
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => {
        this.reload().catch((error: unknown) => this.#logger.error({ err: error }, 'rules reload failed'))
      }, debounceMs)
    })
    this.#watcher.on('error', (error) => this.#logger.error({ err: error }, 'rules file watcher failed'))
  }
}
