import { dryRun } from '../dryrun/dry-run.js'
import { formatTimeline, toJson } from '../dryrun/print.js'
import { checkScenarioAgainstRules, loadScenarioFile } from '../dryrun/scenario.js'
import { loadRulesFile } from '../rules/load.js'

export const DRY_RUN_USAGE = 'Usage: tickbridge rules dry-run --rules FILE --scenario FILE [--json]'

const count = (n: number) => `${n} ${n === 1 ? 'problem' : 'problems'}`

/**
 * `tickbridge rules dry-run --rules FILE --scenario FILE [--json]`: what the rules would do with the
 * scenario, as a timeline (or JSON). Exit codes: 0 ok, 1 invalid rules or scenario (every problem with
 * its path on stderr), 2 usage.
 */
export async function runRulesDryRun(
  args: string[],
  io: { out: (line: string) => void; err: (line: string) => void },
): Promise<number> {
  const opts: { rules?: string; scenario?: string; json: boolean } = { json: false }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--json') opts.json = true
    else if ((arg === '--rules' || arg === '--scenario') && args[i + 1] && !args[i + 1]!.startsWith('--')) {
      opts[arg === '--rules' ? 'rules' : 'scenario'] = args[++i]!
    } else {
      io.err(arg.startsWith('--') ? `unknown or incomplete option ${arg}` : `unexpected argument ${arg}`)
      io.err(DRY_RUN_USAGE)
      return 2
    }
  }
  if (!opts.rules || !opts.scenario) {
    io.err(`missing ${opts.rules ? '--scenario' : '--rules'} FILE`)
    io.err(DRY_RUN_USAGE)
    return 2
  }
  const rules = await loadRulesFile(opts.rules)
  if (!rules.ok) {
    io.err(`${opts.rules}: ${count(rules.problems.length)}`)
    for (const p of rules.problems) io.err(p)
    return 1
  }
  const scenario = await loadScenarioFile(opts.scenario)
  const problems = scenario.ok ? checkScenarioAgainstRules(scenario.scenario, rules.rules) : scenario.problems
  if (!scenario.ok || problems.length > 0) {
    io.err(`${opts.scenario}: ${count(problems.length)}`)
    for (const p of problems) io.err(p)
    return 1
  }
  let result: ReturnType<typeof dryRun>
  try {
    result = dryRun(rules.rules, scenario.scenario)
  } catch (error) {
    // A scenario that cannot be played out (e.g. it would run for ever): say why, as for a bad file.
    io.err(`${opts.scenario}: ${(error as Error).message}`)
    return 1
  }
  if (opts.json) io.out(toJson(result))
  else for (const line of formatTimeline(result, { scenario: opts.scenario })) io.out(line)
  return 0
}
