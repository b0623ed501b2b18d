import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadRulesFile, parseRulesText, validateRules } from '../../src/rules/load.js'

// A small valid document; each case below breaks it in one or more places.
// biome-ignore lint/suspicious/noExplicitAny: cases reshape the document freely, into invalid types too
type Doc = Record<string, any>
function base(): Doc {
  return {
    version: 1,
    orgs: [{ id: 'acme' }, { id: 'other' }],
    sessions: [{ id: 's1', org: 'acme', defaultOwner: 'anna' }],
    users: [
      { id: 'anna', org: 'acme', role: 'agent' },
      { id: 'sam', org: 'acme', role: 'supervisor', supervises: ['anna'] },
      { id: 'olga', org: 'other', role: 'agent' },
    ],
    calendars: [
      {
        id: 'office',
        timeZone: 'Europe/Berlin',
        hours: {
          mon: [
            ['09:00', '12:30'],
            ['13:30', '17:00'],
          ],
        },
        holidays: ['2026-12-25'],
      },
    ],
    sla: {
      policies: [
        {
          id: 'p1',
          match: { sessions: ['s1'] },
          calendar: 'office',
          firstResponse: '30m',
          levels: [
            { after: '15m', actions: [{ setState: 'warning' }] },
            { after: '30m', actions: [{ crmTask: { assignTo: 'owner', subject: 'Reply' } }] },
          ],
        },
      ],
    },
    counters: {
      resets: [{ id: 'nightly', cron: '0 0 * * *', timeZone: 'Europe/Berlin', scope: { org: 'acme' } }],
    },
    apiKeys: [{ id: 'k1', org: 'acme', sha256: 'a'.repeat(64), capabilities: ['read'] }],
  }
}

const policy = (doc: Doc) => doc.sla.policies[0]

type Case = {
  name: string
  mutate: (doc: Doc) => void
  /** Problems that must be reported (each exactly as written). */
  contains?: string[]
  /** The complete list of problems, in order. */
  equals?: string[]
}

const cases: Case[] = [
  {
    name: 'bad duration',
    mutate: (d) => {
      policy(d).levels[0].after = '15 minutes'
    },
    equals: ['sla.policies[0].levels[0].after: expected a duration like 15m'],
  },
  {
    name: 'duration given as a number',
    mutate: (d) => {
      policy(d).firstResponse = 30
    },
    equals: ['sla.policies[0].firstResponse: expected a duration like 15m'],
  },
  {
    name: 'zero duration',
    mutate: (d) => {
      policy(d).firstResponse = '0s'
    },
    equals: ['sla.policies[0].firstResponse: must be longer than 0s'],
  },
  {
    name: 'unknown field (typo)',
    mutate: (d) => {
      policy(d).levles = policy(d).levels
    },
    equals: ['sla.policies[0].levles: unknown field'],
  },
  {
    name: 'unknown top-level field',
    mutate: (d) => {
      d.sesions = []
    },
    equals: ['sesions: unknown field'],
  },
  {
    name: 'unknown org reference',
    mutate: (d) => {
      d.sessions[0].org = 'acme-corp'
      d.apiKeys[0].org = 'nope'
    },
    equals: ['sessions[0].org: unknown org "acme-corp"', 'apiKeys[0].org: unknown org "nope"'],
  },
  {
    name: 'duplicate session id',
    mutate: (d) => {
      d.sessions.push({ id: 's1', org: 'acme' })
    },
    equals: ['sessions[1].id: duplicate id "s1" (also sessions[0])'],
  },
  {
    name: 'id with a colon',
    mutate: (d) => {
      d.calendars[0].id = 'berlin:office'
      policy(d).calendar = 'berlin:office'
    },
    contains: [
      'calendars[0].id: expected an id: a letter or digit, then up to 63 letters, digits, "-" or "_" (no ":")',
      'sla.policies[0].calendar: expected "24/7" or a calendar id',
    ],
  },
  {
    name: 'bad time zone',
    mutate: (d) => {
      d.calendars[0].timeZone = 'Europe/Berlim'
      d.orgs[0].hubspot = { timeZone: 'CET+1' }
    },
    equals: [
      'orgs[0].hubspot.timeZone: unknown time zone "CET+1" (expected an IANA name like Europe/Berlin)',
      'calendars[0].timeZone: unknown time zone "Europe/Berlim" (expected an IANA name like Europe/Berlin)',
    ],
  },
  {
    name: 'overlapping intervals',
    mutate: (d) => {
      d.calendars[0].hours.mon = [
        ['09:00', '12:30'],
        ['12:00', '17:00'],
      ]
    },
    equals: ['calendars[0].hours.mon[1]: overlaps the previous interval 09:00-12:30'],
  },
  {
    name: 'intervals out of order',
    mutate: (d) => {
      d.calendars[0].hours.tue = [
        ['13:30', '17:00'],
        ['09:00', '12:30'],
      ]
    },
    equals: ['calendars[0].hours.tue[1]: intervals must be listed in time order'],
  },
  {
    name: 'interval ends before it starts, and a bad time',
    mutate: (d) => {
      d.calendars[0].hours.wed = [['17:00', '09:00']]
      d.calendars[0].hours.thu = [['09:00', '24:30']]
    },
    equals: [
      'calendars[0].hours.wed[0]: interval ends (09:00) before it starts (17:00)',
      'calendars[0].hours.thu[0][1]: expected a time "HH:MM" between 00:00 and 24:00',
    ],
  },
  {
    name: 'misspelt weekday',
    mutate: (d) => {
      d.calendars[0].hours.monday = [['09:00', '17:00']]
    },
    equals: ['calendars[0].hours.monday: unknown field'],
  },
  {
    name: 'bad holiday dates',
    mutate: (d) => {
      d.calendars[0].holidays = ['2026-02-30', '25.12.2026']
    },
    equals: [
      'calendars[0].holidays[0]: expected a date "YYYY-MM-DD"',
      'calendars[0].holidays[1]: expected a date "YYYY-MM-DD"',
    ],
  },
  {
    name: 'bad cron',
    mutate: (d) => {
      d.counters.resets[0].cron = '61 0 * * *'
      d.counters.resets.push({ id: 'six', cron: '0 0 0 * * *', timeZone: 'UTC', scope: { org: 'acme' } })
    },
    equals: [
      'counters.resets[0].cron: invalid cron expression: Constraint error, got value 61 expected range 0-59',
      'counters.resets[1].cron: expected a 5-field cron expression (minute hour day-of-month month day-of-week), got 6 field(s)',
    ],
  },
  {
    name: 'levels not strictly increasing',
    mutate: (d) => {
      policy(d).levels[1].after = '15m'
    },
    equals: ['sla.policies[0].levels[1].after: must be later than the previous level (15m)'],
  },
  {
    name: 'empty levels and empty actions',
    mutate: (d) => {
      policy(d).levels[0].actions = []
      d.sla.policies.push({ id: 'p2', firstResponse: '1h', levels: [] })
    },
    equals: [
      'sla.policies[0].levels[0].actions: needs at least one action',
      'sla.policies[1].levels: needs at least one level',
    ],
  },
  {
    name: 'action with two keys, and with none',
    mutate: (d) => {
      policy(d).levels[0].actions = [{ setState: 'warning', markUnread: true }, {}]
    },
    equals: [
      'sla.policies[0].levels[0].actions[0]: expected exactly one action, got markUnread and setState (one per list item)',
      'sla.policies[0].levels[0].actions[1]: expected one action: markUnread, setState, crmTask, reassign or webhook',
    ],
  },
  {
    name: 'misspelt action',
    mutate: (d) => {
      policy(d).levels[0].actions = [{ markUnred: true }]
    },
    equals: ['sla.policies[0].levels[0].actions[0].markUnred: unknown field'],
  },
  {
    name: 'bad action values',
    mutate: (d) => {
      policy(d).levels[0].actions = [
        { setState: 'late' },
        { crmTask: { assignTo: 'nobody', priority: 'URGENT' } },
        { reassign: { to: 'ghost' } },
        { webhook: { url: 'ftp://example.com/x', secretEnv: 'MY-SECRET' } },
      ]
    },
    equals: [
      'sla.policies[0].levels[0].actions[0].setState: expected one of ok, warning, breached',
      'sla.policies[0].levels[0].actions[1].crmTask.priority: expected one of LOW, MEDIUM, HIGH',
      'sla.policies[0].levels[0].actions[1].crmTask.subject: required',
      'sla.policies[0].levels[0].actions[3].webhook.url: expected an http(s) URL',
      'sla.policies[0].levels[0].actions[3].webhook.secretEnv: expected the NAME of an environment variable',
      'sla.policies[0].levels[0].actions[1].crmTask.assignTo: unknown user "nobody"',
      'sla.policies[0].levels[0].actions[2].reassign.to: unknown user "ghost"',
    ],
  },
  {
    name: 'unknown user in supervises, another org, self-supervision',
    mutate: (d) => {
      d.users[1].supervises = ['anna', 'bob', 'olga', 'sam']
    },
    equals: [
      'users[1].supervises[1]: unknown user "bob"',
      'users[1].supervises[2]: user "olga" belongs to org "other", not "acme"',
      'users[1].supervises[3]: a user cannot supervise themself',
    ],
  },
  {
    name: 'default owner from another org',
    mutate: (d) => {
      d.sessions[0].defaultOwner = 'olga'
    },
    equals: ['sessions[0].defaultOwner: user "olga" belongs to org "other", not "acme"'],
  },
  {
    name: 'bad sha256',
    mutate: (d) => {
      d.apiKeys[0].sha256 = 'A'.repeat(64)
    },
    equals: ['apiKeys[0].sha256: expected 64 lowercase hex characters (printf %s "$KEY" | sha256sum)'],
  },
  {
    name: 'empty capabilities',
    mutate: (d) => {
      d.apiKeys[0].capabilities = []
    },
    equals: ['apiKeys[0].capabilities: must list at least one of read, send, admin (or operator, alone)'],
  },
  {
    name: 'unknown and repeated capability',
    mutate: (d) => {
      d.apiKeys[0].capabilities = ['read', 'write', 'read']
    },
    // The duplicate check needs a parsed list, so it waits until the unknown value is fixed.
    equals: ['apiKeys[0].capabilities[1]: expected one of read, send, admin, operator'],
  },
  {
    name: 'an operator key with an org',
    mutate: (d) => {
      d.apiKeys[0].capabilities = ['operator']
    },
    equals: [
      'apiKeys[0].org: an operator key belongs to no org: remove "org" (or remove "operator" for an org key)',
    ],
  },
  {
    name: 'an operator key with an org capability too',
    mutate: (d) => {
      delete d.apiKeys[0].org
      d.apiKeys[0].capabilities = ['operator', 'admin']
    },
    equals: [
      'apiKeys[0].capabilities: an operator key has the "operator" capability alone (it reaches no org route): make a separate org key for read, send or admin',
    ],
  },
  {
    name: 'an org key without its org',
    mutate: (d) => {
      delete d.apiKeys[0].org
    },
    equals: [
      'apiKeys[0].org: required: the org whose sessions the key reaches (only an operator key has none)',
    ],
  },
  {
    name: 'repeated list entries',
    mutate: (d) => {
      d.apiKeys[0].capabilities = ['read', 'send', 'read']
      d.users[1].supervises = ['anna', 'anna']
    },
    equals: [
      'users[1].supervises[1]: "anna" is listed twice',
      'apiKeys[0].capabilities[2]: "read" is listed twice',
    ],
  },
  {
    name: 'interval that is not a pair',
    mutate: (d) => {
      d.calendars[0].hours.fri = [['09:00'], ['10:00', '11:00', '12:00']]
    },
    equals: [
      'calendars[0].hours.fri[0]: expected an interval ["HH:MM", "HH:MM"]',
      'calendars[0].hours.fri[1]: expected an interval ["HH:MM", "HH:MM"]',
    ],
  },
  {
    name: 'wrong types',
    mutate: (d) => {
      d.users[0].takesNewClients = 'yes'
      d.users[0].role = 5
      d.sessions[0].label = 42
      d.calendars = { office: {} }
    },
    equals: [
      'sessions[0].label: expected a string, got number',
      'users[0].role: expected one of agent, supervisor',
      'users[0].takesNewClients: expected true or false, got string',
      'calendars: expected a list, got object',
      'sla.policies[0].calendar: unknown calendar "office" (or "24/7")',
    ],
  },
  {
    name: 'missing required fields',
    mutate: (d) => {
      delete d.version
      delete d.users[0].role
      delete policy(d).firstResponse
    },
    equals: ['version: required', 'users[0].role: required', 'sla.policies[0].firstResponse: required'],
  },
  {
    name: 'unknown references in policies and resets',
    mutate: (d) => {
      policy(d).match.sessions = ['s1', 's9']
      policy(d).calendar = 'paris'
      d.counters.resets[0].scope = { session: 's7' }
    },
    equals: [
      'sla.policies[0].match.sessions[1]: unknown session "s9"',
      'sla.policies[0].calendar: unknown calendar "paris" (or "24/7")',
      'counters.resets[0].scope.session: unknown session "s7"',
    ],
  },
  {
    name: 'reset scope with both keys',
    mutate: (d) => {
      d.counters.resets[0].scope = { org: 'acme', session: 's1' }
    },
    equals: [
      'counters.resets[0].scope: expected exactly one scope key, got org and session (one per list item)',
    ],
  },
  {
    name: 'seen policy enum and delay range',
    mutate: (d) => {
      d.seen = { defaults: { policy: 'always', delay: { jitter: 1.5 } } }
      d.sessions[0].seen = { delay: { baseMin: '5s' } }
    },
    equals: [
      'seen.defaults.policy: expected one of auto, manual, off',
      'seen.defaults.delay.jitter: must be at most 1',
      'sessions[0].seen.delay: baseMin (5s) must not exceed baseMax (2s)',
    ],
  },
  {
    name: 'reserved user id and duplicate owner id',
    mutate: (d) => {
      d.users[0].hubspotOwnerId = 123
      d.users.push({ id: 'owner', org: 'acme', role: 'agent', hubspotOwnerId: '123' })
    },
    equals: [
      'users[3].id: "owner" is reserved (crmTask.assignTo and reassign.to use it as a role)',
      'users[3].hubspotOwnerId: HubSpot owner 123 is already used by users[0]',
    ],
  },
  {
    name: 'wrong version and no orgs',
    mutate: (d) => {
      for (const key of Object.keys(d)) delete d[key]
      d.version = 2
    },
    equals: ['version: expected 1', 'orgs: required'],
  },
]

describe('bad rules documents', () => {
  it('the base document is valid', () => {
    const result = validateRules(base())
    expect(result.ok ? [] : result.problems).toEqual([])
  })

  it.each(cases)('$name', ({ mutate, contains, equals }) => {
    const doc = base()
    mutate(doc)
    const result = validateRules(doc)
    expect(result.ok).toBe(false)
    const problems = result.ok ? [] : result.problems
    if (equals) expect(problems).toEqual(equals)
    for (const problem of contains ?? []) expect(problems).toContain(problem)
  })

  it('reports every problem of one document at once', () => {
    const doc = base()
    policy(doc).levels[0].after = 'soon'
    doc.sessions.push({ id: 's1', org: 'nowhere' })
    doc.users[1].supervises = ['sam']
    doc.apiKeys[0].capabilities = []
    expect((validateRules(doc) as { problems: string[] }).problems).toEqual([
      'sla.policies[0].levels[0].after: expected a duration like 15m',
      'apiKeys[0].capabilities: must list at least one of read, send, admin (or operator, alone)',
      'sessions[1].id: duplicate id "s1" (also sessions[0])',
      'sessions[1].org: unknown org "nowhere"',
      'users[1].supervises[0]: a user cannot supervise themself',
    ])
  })

  it('accepts an operator key: no org, the operator capability alone', () => {
    const doc = base()
    doc.apiKeys.push({ id: 'ops', sha256: 'b'.repeat(64), capabilities: ['operator'] })
    expect(validateRules(doc)).toMatchObject({ ok: true })
  })
})

describe('bad rules files', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tb-rules-bad-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reports YAML syntax errors with line and column', () => {
    const unclosed = parseRulesText('version: 1\norgs:\n  - id: acme\n    name: [unclosed\nsessions: []\n')
    expect(unclosed).toEqual({
      ok: false,
      problems: [
        'line 5:1: Flow sequence in block collection must be sufficiently indented and end with a ]',
      ],
    })
    const indent = parseRulesText('version: 1\norgs:\n  - id: acme\n   bad: indent\n')
    expect(indent).toEqual({ ok: false, problems: ['line 4:1: Sequence item without - indicator'] })
    const duplicate = parseRulesText('version: 1\nversion: 1\norgs: [{ id: acme }]\n')
    expect(duplicate).toEqual({ ok: false, problems: ['line 2:1: Map keys must be unique'] })
  })

  it('reports an empty file', () => {
    expect(parseRulesText('# nothing here\n')).toEqual({ ok: false, problems: ['(root): the file is empty'] })
  })

  it('reports a scalar document', () => {
    expect(parseRulesText('just text\n')).toEqual({
      ok: false,
      problems: ['(root): expected an object, got string'],
    })
  })

  it('reports a missing file', async () => {
    const path = join(dir, 'missing.yaml')
    expect(await loadRulesFile(path)).toEqual({ ok: false, problems: [`${path}: file not found`] })
  })

  it('reports problems found in a file on disk with paths', async () => {
    const path = join(dir, 'bad.yaml')
    await writeFile(path, 'version: 1\norgs:\n  - id: acme\n    hubspot: { timeZone: Mars/Olympus }\n')
    expect(await loadRulesFile(path)).toEqual({
      ok: false,
      problems: [
        'orgs[0].hubspot.timeZone: unknown time zone "Mars/Olympus" (expected an IANA name like Europe/Berlin)',
      ],
    })
  })
})
