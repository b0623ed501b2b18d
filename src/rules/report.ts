import type { z } from 'zod'

type Issue = z.core.$ZodIssue
type PathKey = PropertyKey

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/

/** `sla.policies[1].levels[0].after`; the empty path is `(root)`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out === '' ? '(root)' : out
}

/** One `path: message` line per problem (an issue listing several unknown keys gives one line each). */
export function formatIssues(issues: readonly Issue[]): string[] {
  const lines: string[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key])}: unknown field`)
      continue
    }
    lines.push(`${formatPath(issue.path)}: ${humanMessage(issue)}`)
  }
  return lines
}

// Zod's English defaults all start like this; messages written in our schemas never do, so they pass as-is.
const ZOD_DEFAULT = /^(?:Invalid|Too (?:small|big)|Unrecognized)/

/** Zod's default message rewritten for someone editing YAML; custom messages are kept. */
export function humanMessage(issue: Issue): string {
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message
  switch (issue.code) {
    case 'invalid_type': {
      const received = receivedType(issue)
      if (received === 'undefined') return 'required'
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}${received ? `, got ${received}` : ''}`
    }
    case 'invalid_value':
      if ('input' in issue && issue.input === undefined) return 'required'
      return issue.values.length === 1
        ? `expected ${String(issue.values[0])}`
        : `expected one of ${issue.values.map(String).join(', ')}`
    case 'too_small':
      return tooSmall(issue)
    case 'too_big':
      return tooBig(issue)
    case 'invalid_format':
      return issue.format === 'regex' && 'pattern' in issue
        ? `expected text matching ${issue.pattern}`
        : `expected a valid ${issue.format}`
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`
    case 'invalid_union':
      return 'does not match any allowed form'
    default:
      return issue.message
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  tuple: 'a list',
  record: 'an object',
  date: 'a date',
  null: 'null',
}

const RECEIVED: Record<string, string> = { array: 'list', object: 'object', null: 'null' }

/** What the bad value was: from the input when zod reported it (reportInput), else from its message. */
function receivedType(issue: z.core.$ZodIssueInvalidType): string | undefined {
  if ('input' in issue) {
    const input = issue.input
    if (input === undefined) return 'undefined'
    if (input === null) return 'null'
    if (Array.isArray(input)) return 'list'
    if (typeof input === 'number' && Number.isNaN(input)) return 'NaN'
    if (issue.expected === 'int' && typeof input === 'number') return String(input)
    return typeof input
  }
  const match = /received (\w+)/.exec(issue.message)
  if (!match) return undefined
  return RECEIVED[match[1]!] ?? match[1]
}

function tooSmall(issue: z.core.$ZodIssueTooSmall): string {
  const n = Number(issue.minimum)
  switch (issue.origin) {
    case 'array':
    case 'set':
      return n === 1 ? 'must not be empty' : `expected at least ${n} items`
    case 'string':
      return n === 1 ? 'must not be empty' : `expected at least ${n} characters`
    default:
      return issue.inclusive === false ? `must be greater than ${n}` : `must be at least ${n}`
  }
}

function tooBig(issue: z.core.$ZodIssueTooBig): string {
  const n = Number(issue.maximum)
  switch (issue.origin) {
    case 'array':
    case 'set':
      return `expected at most ${n} items`
    case 'string':
      return `expected at most ${n} characters`
    default:
      return issue.inclusive === false ? `must be less than ${n}` : `must be at most ${n}`
  }
}
