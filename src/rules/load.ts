import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { compileRules, type Rules } from './compile.js'
import { formatIssues } from './report.js'
import { rulesSchema } from './schema.js'

export type RulesResult = { ok: true; rules: Rules } | { ok: false; problems: string[] }

/** Validates an already parsed document (YAML or JSON) and compiles it. */
export function validateRules(input: unknown): RulesResult {
  // reportInput lets the report say what was found ("expected a string, got number").
  const result = rulesSchema.safeParse(input, { reportInput: true })
  if (!result.success) return { ok: false, problems: formatIssues(result.error.issues) }
  return { ok: true, rules: compileRules(result.data) }
}

/** Parses YAML text to plain data; syntax errors come back as `line L:C: message`. */
export function parseYamlText(
  text: string,
): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((error) => {
        const at = error.linePos?.[0]
        // yaml appends " at line L, column C:" and a source excerpt; we print the position ourselves.
        const message = error.message.split(/ at line \d+, column \d+/)[0]!.trim()
        return at ? `line ${at.line}:${at.col}: ${message}` : message
      }),
    }
  }
  const value: unknown = doc.toJS()
  if (value === null || value === undefined) return { ok: false, problems: ['(root): the file is empty'] }
  return { ok: true, value }
}

/** Parses YAML text; syntax errors come back as `line L:C: message`. */
export function parseRulesText(text: string): RulesResult {
  const parsed = parseYamlText(text)
  return parsed.ok ? validateRules(parsed.value) : parsed
}

/** Reads a rules file as text; a missing or unreadable file is a problem, not an exception. */
export async function readRulesFile(
  path: string,
): Promise<{ ok: true; text: string } | { ok: false; problems: string[] }> {
  try {
    return { ok: true, text: await readFile(path, 'utf8') }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory, not a file'
            : (error as Error).message
    return { ok: false, problems: [`${path}: ${reason}`] }
  }
}

export async function loadRulesFile(path: string): Promise<RulesResult> {
  const read = await readRulesFile(path)
  return read.ok ? parseRulesText(read.text) : read
}

/**
 * Where the rules live: TICKBRIDGE_RULES if set; else config/rules.yaml if it exists; else the shipped
 * example, flagged so the caller can say in the log that it runs on example rules.
 */
export function resolveRulesPath(
  envValue: string | undefined,
  cwd: string,
): { path: string; fellBackToExample: boolean } {
  if (envValue !== undefined && envValue !== '')
    return { path: resolve(cwd, envValue), fellBackToExample: false }
  const own = resolve(cwd, 'config/rules.yaml')
  if (existsSync(own)) return { path: own, fellBackToExample: false }
  return { path: resolve(cwd, 'config/rules.example.yaml'), fellBackToExample: true }
}
