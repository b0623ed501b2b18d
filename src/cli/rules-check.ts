import { existsSync } from 'node:fs'
import { relative } from 'node:path'
import { summarizeRules } from '../rules/diff.js'
import { loadRulesFile, resolveRulesPath } from '../rules/load.js'

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

/** `tickbridge rules check FILE`: prints a one-line summary or every problem; returns the exit code. */
export async function runRulesCheck(path: string, out: (line: string) => void): Promise<number> {
  const result = await loadRulesFile(path)
  if (!result.ok) {
    out(`${path}: ${count(result.problems.length, 'problem', 'problems')}`)
    for (const problem of result.problems) out(problem)
    return 1
  }
  const s = summarizeRules(result.rules)
  out(
    `OK: ${path} (${count(s.sessions, 'session', 'sessions')}, ${count(s.users, 'user', 'users')}, ` +
      `${count(s.policies, 'SLA policy', 'SLA policies')}, ${count(s.apiKeys, 'API key', 'API keys')})`,
  )
  return 0
}

const HOW_TO_CREATE =
  'create it from the example: cp config/rules.example.yaml config/rules.yaml, then replace its API keys ' +
  '(README "API keys"); config/README.md explains every section'

/**
 * `tickbridge rules check [FILE]`. Without FILE it checks the file the service would load, and says which
 * one that is; when that is the shipped example because config/rules.yaml is missing, it says how to
 * create one. A FILE that does not exist and is meant to be config/rules.yaml gets the same hint.
 */
export async function runRulesCheckCommand(
  file: string | undefined,
  io: { out: (line: string) => void; err: (line: string) => void; env: NodeJS.ProcessEnv; cwd: string },
): Promise<number> {
  if (file) {
    const code = await runRulesCheck(file, io.out)
    if (code !== 0 && !existsSync(file) && file.replace(/\\/g, '/').endsWith('config/rules.yaml'))
      io.err(`hint: ${file} does not exist yet; ${HOW_TO_CREATE}`)
    return code
  }
  const resolved = resolveRulesPath(io.env.TICKBRIDGE_RULES || undefined, io.cwd)
  const shown = relative(io.cwd, resolved.path) || resolved.path
  if (resolved.fellBackToExample) {
    io.err(
      `config/rules.yaml not found: the service would run on the example rules (${shown}), whose API keys ` +
        `are published; ${HOW_TO_CREATE}`,
    )
  } else io.err(`checking ${shown}, the rules file the service would load`)
  const code = await runRulesCheck(shown, io.out)
  if (code !== 0 && !existsSync(resolved.path) && !resolved.fellBackToExample && !io.env.TICKBRIDGE_RULES)
    io.err(`hint: ${HOW_TO_CREATE}`)
  return code
}
