import { summarizeRules } from '../rules/diff.js'
import { loadRulesFile } from '../rules/load.js'

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
