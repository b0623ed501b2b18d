import type { Rules } from './compile.js'
import { formatPath } from './report.js'

/** The environment a process reads webhook secrets from (process.env in production; injected in tests). */
export type SecretEnv = Readonly<Record<string, string | undefined>>

/**
 * An SLA webhook whose `secretEnv` names a variable this process does not have would go out unsigned, and
 * its receiver, if it checks signatures, refuses every event while nothing here says why. So such rules
 * are refused where they are loaded (start and every reload), with the field's path.
 */
export function webhookSecretProblems(rules: Rules, env: SecretEnv): string[] {
  const problems: string[] = []
  for (const [i, policy] of rules.config.sla.policies.entries()) {
    for (const [j, level] of policy.levels.entries()) {
      for (const [k, action] of level.actions.entries()) {
        if (!('webhook' in action)) continue
        const name = action.webhook.secretEnv
        if (name === undefined) continue
        const path = formatPath(['sla', 'policies', i, 'levels', j, 'actions', k, 'webhook', 'secretEnv'])
        const value = env[name]
        if (value === undefined) {
          problems.push(
            `${path}: the environment variable ${name} is not set, so this webhook would go out unsigned (set it, or remove secretEnv to send unsigned)`,
          )
        } else if (value === '') {
          problems.push(
            `${path}: the environment variable ${name} is empty; an empty HMAC secret signs nothing`,
          )
        }
      }
    }
  }
  return problems
}
