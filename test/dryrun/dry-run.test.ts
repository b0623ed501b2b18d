import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runRulesDryRun } from '../../src/cli/rules-dry-run.js'
import { type DryRunResult, dryRun, type TimelineEntry } from '../../src/dryrun/dry-run.js'
import { formatTimeline } from '../../src/dryrun/print.js'
import {
  checkScenarioAgainstRules,
  loadScenarioFile,
  parseScenarioText,
  type Scenario,
} from '../../src/dryrun/scenario.js'
import type { Rules } from '../../src/rules/compile.js'
import { loadRulesFile } from '../../src/rules/load.js'
import { spawnTs } from '../helpers/process.js'

const config = (path: string) => fileURLToPath(new URL(`../../config/${path}`, import.meta.url))
const SCENARIO_RULES = config('scenarios/rules.scenarios.yaml')
const EXAMPLE_RULES = config('rules.example.yaml')

async function rulesOf(path: string): Promise<Rules> {
  const r = await loadRulesFile(path)
  if (!r.ok) throw new Error(r.problems.join('\n'))
  return r.rules
}

async function scenarioOf(path: string): Promise<Scenario> {
  const s = await loadScenarioFile(path)
  if (!s.ok) throw new Error(s.problems.join('\n'))
  return s.scenario
}

async function play(rulesPath: string, scenarioPath: string): Promise<DryRunResult> {
  const rules = await rulesOf(rulesPath)
  const scenario = await scenarioOf(scenarioPath)
  expect(checkScenarioAgainstRules(scenario, rules)).toEqual([])
  return dryRun(rules, scenario)
}

type Kind = TimelineEntry['kind']
const only = <K extends Kind>(r: DryRunResult, kind: K) =>
  r.timeline.filter((e): e is Extract<TimelineEntry, { kind: K }> => e.kind === kind)
const iso = (ms: number) => new Date(ms).toISOString()

describe('rules dry-run: example scenarios', () => {
  it('Friday 16:30 with a 09:00-17:00 policy: every SLA level lands on Monday', async () => {
    const r = await play(SCENARIO_RULES, config('scenarios/friday-1630.yaml'))
    expect(r.timeZone).toEqual({
      zone: 'Europe/Berlin',
      source: 'calendar office of SLA policy sales-office-hours',
    })
    const [open] = only(r, 'sla-open')
    expect(open).toMatchObject({ policy: 'sales-office-hours', period: 'first', waitSeq: 1 })
    expect(iso(open!.waitingSince)).toBe('2026-11-20T15:30:00.000Z')
    // 30 minutes of Friday count (16:30-17:00), the rest on Monday from 09:00 (CET = UTC+1).
    expect(open!.levels.map((l) => iso(l.dueAt))).toEqual([
      '2026-11-23T08:15:00.000Z',
      '2026-11-23T08:30:00.000Z',
      '2026-11-23T09:30:00.000Z',
    ])
    expect(iso(open!.deadline)).toBe('2026-11-23T08:30:00.000Z')
    const levels = only(r, 'sla-level')
    expect(levels.map((l) => [l.level, iso(l.at)])).toEqual([
      [0, '2026-11-23T08:15:00.000Z'],
      [1, '2026-11-23T08:30:00.000Z'],
      [2, '2026-11-23T09:30:00.000Z'],
    ])
    expect(levels.map((l) => l.actions.map((a) => `${a.action}: ${a.detail}`))).toEqual([
      ['setState: warning', 'markUnread: marked unread on WhatsApp'],
      [
        'setState: breached',
        'crmTask: "Reply to Maria on WhatsApp (2 messages waiting)" for anna, priority HIGH',
      ],
      ['reassign: from anna to dora', 'webhook: POST https://hooks.example.com/tickbridge/sla'],
    ])
    // Level 3 moved the chat to the supervisor: her red counter, no more grey.
    const users = (e: (typeof levels)[number]) =>
      Object.fromEntries(e.counters.users.map((u) => [u.userId, [u.red, u.grey]]))
    expect(users(levels[1]!)).toEqual({ anna: [2, 0], ben: [0, 0], dora: [0, 2] })
    expect(users(levels[2]!)).toEqual({ anna: [0, 0], ben: [0, 0], dora: [2, 0] })
    // Receipts go out within seconds on Friday, one per message (the first was sent before the second came).
    const receipts = only(r, 'receipt')
    expect(receipts).toHaveLength(2)
    for (const receipt of receipts) {
      expect(receipt.messageIds).toHaveLength(1)
      expect(receipt.delayMs).toBeGreaterThanOrEqual(800)
      expect(receipt.delayMs).toBeLessThanOrEqual(20_000)
      expect(iso(receipt.at).startsWith('2026-11-20T15:30')).toBe(true)
    }
    expect(only(r, 'sla-close')).toMatchObject([{ cancelled: [] }])
    const text = formatTimeline(r).join('\n')
    expect(text).toContain('Times in Europe/Berlin (calendar office of SLA policy sales-office-hours)')
    expect(text).toMatch(/^Mon 2026-11-23 09:15:00\.0 CET {2}→ SLA level 1 \(sales-office-hours\)/m)
    expect(text).toContain('level 1 Mon 23 Nov 09:15 · level 2 09:30 · level 3 10:30')
  })

  it('the receipt delays are reproducible from the seed, and change with it', async () => {
    const rules = await rulesOf(SCENARIO_RULES)
    const scenario = await scenarioOf(config('scenarios/friday-1630.yaml'))
    const delays = (seed: number) =>
      only(dryRun(rules, { ...scenario, seed }), 'receipt').map((e) => e.delayMs)
    expect(delays(7)).toEqual(delays(7))
    expect(delays(8)).not.toEqual(delays(7))
  })

  it('an escalation ladder cut by a reply: later levels never fire', async () => {
    const r = await play(EXAMPLE_RULES, config('scenarios/ladder-cut-by-reply.yaml'))
    const levels = only(r, 'sla-level')
    expect(levels.map((l) => [l.policy, l.level, iso(l.at)])).toEqual([
      ['sales-dm', 0, '2026-11-24T09:20:00.000Z'],
    ])
    const reply = r.timeline.findIndex((e) => e.kind === 'event' && e.event.type === 'reply')
    expect(r.timeline.slice(reply).some((e) => e.kind === 'sla-level')).toBe(false)
    expect(only(r, 'sla-open').map((o) => [o.period, o.waitSeq])).toEqual([
      ['first', 1],
      ['next', 2],
    ])
    expect(only(r, 'sla-close').map((c) => c.cancelled)).toEqual([
      [1, 2],
      [0, 1, 2],
    ])
    // The bot's reply reads the chat first: the pending receipt goes out right then.
    const last = only(r, 'receipt').at(-1)!
    expect(last.reason).toBe('reply')
    expect(iso(last.at)).toBe('2026-11-24T09:27:01.000Z')
    const finalCounters = only(r, 'event').at(-1)!.counters
    expect(finalCounters.chats.map((c) => c.unanswered)).toEqual([0])
  })

  it('a counter reset by cron in another time zone: at 09:00 New York time, counters zero after', async () => {
    const r = await play(SCENARIO_RULES, config('scenarios/reset-other-timezone.yaml'))
    expect(r.timeZone).toEqual({ zone: 'Europe/Berlin', source: 'hubspot.timeZone of org acme' })
    const [reset] = only(r, 'reset')
    // 09:00 EST (UTC-5) = 14:00 UTC = 15:00 CET.
    expect(reset).toMatchObject({
      rule: 'support-new-york-morning',
      timeZone: 'America/New_York',
      chats: 2,
      messages: 3,
    })
    expect(iso(reset!.at)).toBe('2026-11-20T14:00:00.000Z')
    expect(reset!.counters.chats.every((c) => c.unanswered === 0 && c.waitingSince === null)).toBe(true)
    expect(reset!.counters.users.every((u) => u.red === 0 && u.grey === 0)).toBe(true)
    const before = only(r, 'event')[2]!.counters.users.find((u) => u.userId === 'ben')
    expect(before?.red).toBe(3)
    // The open clocks closed at the reset, their later levels cut.
    const closes = only(r, 'sla-close')
    expect(closes.map((c) => [iso(c.at), c.cancelled])).toEqual([
      ['2026-11-20T14:00:00.000Z', [1]],
      ['2026-11-20T14:00:00.000Z', [0, 1]],
    ])
    // Counting starts again afterwards: a new waiting period.
    expect(
      only(r, 'event')
        .at(-1)!
        .counters.users.find((u) => u.userId === 'ben')?.red,
    ).toBe(1)
    expect(only(r, 'sla-open').at(-1)?.waitSeq).toBe(2)
  })

  it('the reset follows its own zone across DST: 09:00 EDT is 14:00 in Berlin in mid-March', async () => {
    const rules = await rulesOf(SCENARIO_RULES)
    const parsed = parseScenarioText(
      [
        'start: 2026-03-20T10:00:00+01:00',
        'session: support',
        'until: +1d',
        'events:',
        '  - { at: +0s, type: customer, chat: "4915200000003" }',
      ].join('\n'),
    )
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
    const resets = only(dryRun(rules, parsed.scenario), 'reset')
    // New York is on daylight time from 8 March, Berlin only from 29 March.
    expect(resets.map((e) => [iso(e.at), e.chats])).toEqual([['2026-03-20T13:00:00.000Z', 1]])
  })

  it('reminders, a read on the phone, duplicates, the manual receipt policy', async () => {
    const rules = await rulesOf(SCENARIO_RULES)
    const run = (session: string, events: string[]) => {
      const parsed = parseScenarioText(
        [`start: 2026-11-24T10:00:00+01:00`, `session: ${session}`, 'events:', ...events].join('\n'),
      )
      if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
      return dryRun(rules, parsed.scenario)
    }
    const chat = 'chat: "4915112345678"'
    const a = run('sales', [
      `  - { at: +0s, type: customer, ${chat}, id: M1, text: hi }`,
      `  - { at: +100ms, type: customer, ${chat}, id: M1, text: hi }`,
      `  - { at: +200ms, type: read, ${chat} }`,
      `  - { at: +1m, type: remind, ${chat}, after: 1h }`,
      `  - { at: +2m, type: remind, ${chat}, after: 2h, clearFirst: false }`,
    ])
    expect(a.timeline.map((e) => e.kind)).toEqual([
      'event',
      'sla-open',
      'event',
      'event',
      'receipt-cancelled',
      'event',
      'reminder-set',
      'event',
      'reminder-set',
      'sla-level',
      'sla-level',
      'sla-level',
      'reminder',
    ])
    expect(only(a, 'event')[1]!.notes).toEqual(['duplicate of message M1: ignored'])
    expect(only(a, 'reminder-set').map((r) => r.replaced)).toEqual([false, true])
    expect(only(a, 'reminder')).toMatchObject([{ clearFirst: false, ok: true }])
    expect(iso(only(a, 'reminder')[0]!.at)).toBe('2026-11-24T11:02:00.000Z')

    // A customer message cancels the reminder (cancelOn: inbound); the manual policy only receipts
    // when our side replies (bot or CRM), never by itself.
    const b = run('support', [
      `  - { at: +0s, type: customer, ${chat}, text: hi }`,
      `  - { at: +1m, type: remind, ${chat}, after: 1h }`,
      `  - { at: +2m, type: customer, ${chat}, text: hello? }`,
      `  - { at: +3m, type: reply, from: phone, ${chat} }`,
      `  - { at: +4m, type: customer, ${chat}, text: thanks }`,
      `  - { at: +5m, type: reply, from: crm, ${chat} }`,
    ])
    expect(only(b, 'reminder-cancelled')).toMatchObject([{ why: 'the customer wrote again' }])
    expect(only(b, 'reminder')).toEqual([])
    expect(only(b, 'receipt').map((r) => [r.messageIds.length, r.reason, iso(r.at)])).toEqual([
      [3, 'reply', '2026-11-24T09:05:00.000Z'],
    ])
  })

  it('every example scenario runs against the rules it names', async () => {
    for (const [rules, scenario] of [
      [SCENARIO_RULES, 'friday-1630.yaml'],
      [EXAMPLE_RULES, 'ladder-cut-by-reply.yaml'],
      [SCENARIO_RULES, 'reset-other-timezone.yaml'],
    ] as const) {
      const r = await play(rules, config(`scenarios/${scenario}`))
      expect(r.timeline.length).toBeGreaterThan(3)
    }
  })
})

describe('rules dry-run: bad scenario files', () => {
  const head = 'start: 2026-11-20T16:30:00+01:00\nsession: sales\n'
  const cases: Array<[string, string, string[]]> = [
    [
      'a relative time without "+", an ISO time without offset',
      `${head}events:\n  - { at: 5m, type: read, chat: "4915112345678" }\n  - { at: "2026-11-20T16:31:00", type: read, chat: "4915112345678" }\n`,
      [
        'events[0].at: expected +<duration> or an ISO time',
        'events[1].at: an ISO time needs its offset (Z or +01:00)',
      ],
    ],
    [
      'a bad duration after "+"',
      `${head}events:\n  - { at: +0s, type: read, chat: "4915112345678" }\n  - { at: +2 minutes, type: read, chat: "4915112345678" }\n`,
      ['events[1].at: expected +<duration> or an ISO time (bad duration after "+")'],
    ],
    [
      'an unknown event type, an unknown field, a bad enum, a bad chat',
      `${head}events:\n  - { at: +0s, type: message, chat: "4915112345678" }\n  - { at: +1s, type: reply, chat: hello, from: agent, txt: hi }\n`,
      [
        'events[0].type: expected one of customer, reply, no-reply-needed, owner, reset, read, remind',
        'events[1].chat: expected phone digits (like 4915112345678) or a jid (…@s.whatsapp.net, …@lid or …@g.us)',
        'events[1].from: expected one of phone, bot, crm',
        'events[1].txt: unknown field',
      ],
    ],
    [
      'a group message without its sender, an owner change without the owner',
      `${head}events:\n  - { at: +0s, type: customer, chat: 120363000000000001@g.us }\n  - { at: +1s, type: owner, chat: "4915112345678" }\n`,
      ['events[0].participant: required for a customer message in a group', 'events[1].owner: required'],
    ],
    [
      'events out of order, no start, an empty list',
      'session: sales\nevents: []\n',
      ['start: required', 'events: needs at least one event'],
    ],
    [
      'events out of order',
      `${head}events:\n  - { at: +5m, type: read, chat: "4915112345678" }\n  - { at: +1m, type: read, chat: "4915112345678" }\n`,
      ['events[1].at: before the previous event (events are listed in time order)'],
    ],
    [
      'a YAML syntax error, with line and column',
      `${head}events:\n  - at: +0s\n  type: read\n`,
      ['line 5:1: All mapping items must start at the same column'],
    ],
  ]
  it.each(cases)('%s', (_name, text, problems) => {
    expect(parseScenarioText(text)).toEqual({ ok: false, problems })
  })

  it('names the session and users the rules do not know', async () => {
    const rules = await rulesOf(SCENARIO_RULES)
    const check = (text: string) => {
      const parsed = parseScenarioText(text)
      if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
      return checkScenarioAgainstRules(parsed.scenario, rules)
    }
    expect(check('start: 2026-11-20T16:30:00Z\nsession: nope\nevents: [{ at: +0s, type: reset }]\n')).toEqual(
      ['session: unknown session "nope" (the rules have sales, support)'],
    )
    expect(
      check(
        `${head}events:\n  - { at: +0s, type: owner, chat: "4915112345678", owner: zed }\n  - { at: +1s, type: reset, owner: anna }\n`,
      ),
    ).toEqual(['events[0].owner: unknown user "zed"'])
  })
})

describe('tickbridge rules dry-run (CLI)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tb-dry-run-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function cli(args: string[]) {
    const out: string[] = []
    const err: string[] = []
    const code = await runRulesDryRun(args, { out: (l) => out.push(l), err: (l) => err.push(l) })
    return { code, out, err }
  }

  const friday = config('scenarios/friday-1630.yaml')

  it('--json prints the actions and the steps with their counters', async () => {
    const r = await cli(['--rules', SCENARIO_RULES, '--scenario', friday, '--json'])
    expect(r.code).toBe(0)
    expect(r.err).toEqual([])
    const json = JSON.parse(r.out.join('\n'))
    expect(Object.keys(json)).toEqual([
      'session',
      'org',
      'start',
      'end',
      'seed',
      'timeZone',
      'actions',
      'steps',
    ])
    expect(json).toMatchObject({
      session: 'sales',
      org: 'acme',
      seed: 7,
      start: '2026-11-20T16:30:00.000+01:00',
      timeZone: { zone: 'Europe/Berlin' },
    })
    expect(json.actions.map((a: { kind: string }) => a.kind)).toEqual([
      'sla-open',
      'receipt',
      'receipt',
      'sla-level',
      'sla-level',
      'sla-level',
      'sla-close',
    ])
    expect(json.actions[3]).toMatchObject({
      kind: 'sla-level',
      at: '2026-11-23T09:15:00.000+01:00',
      dueAt: '2026-11-23T09:15:00.000+01:00',
      chat: '4915112345678@s.whatsapp.net',
      policy: 'sales-office-hours',
      level: 1,
      actions: [
        { action: 'setState', detail: 'warning', ok: true },
        { action: 'markUnread', ok: true },
      ],
    })
    expect(json.steps).toHaveLength(3)
    expect(json.steps[0]).toMatchObject({
      index: 0,
      at: '2026-11-20T16:30:00.000+01:00',
      type: 'customer',
      chat: '4915112345678@s.whatsapp.net',
      counters: {
        chats: [{ chat: '4915112345678@s.whatsapp.net', unanswered: 1, owner: 'anna' }],
        users: expect.arrayContaining([{ userId: 'dora', red: 0, grey: 1, counter: 1, type: 'grey' }]),
      },
    })
  })

  it('exits 0 with the timeline, 1 with every problem of an invalid file, 2 on bad usage', async () => {
    const ok = await cli(['--scenario', friday, '--rules', SCENARIO_RULES])
    expect(ok.code).toBe(0)
    expect(ok.out[1]).toBe('Times in Europe/Berlin (calendar office of SLA policy sales-office-hours)')

    const badScenario = join(dir, 'bad.yaml')
    await writeFile(badScenario, 'start: tomorrow\nsession: sales\nevents:\n  - { at: +0s, type: read }\n')
    expect(await cli(['--rules', SCENARIO_RULES, '--scenario', badScenario])).toEqual({
      code: 1,
      out: [],
      err: [
        `${badScenario}: 2 problems`,
        'start: expected an ISO time with an offset, like 2026-11-20T16:30:00+01:00',
        'events[0].chat: required',
      ],
    })
    const badRules = join(dir, 'rules.yaml')
    await writeFile(badRules, 'version: 2\norgs: []\n')
    expect(await cli(['--rules', badRules, '--scenario', friday])).toMatchObject({
      code: 1,
      err: [`${badRules}: 2 problems`, 'version: expected 1', 'orgs: needs at least one org'],
    })
    const unknownSession = await cli(['--rules', EXAMPLE_RULES, '--scenario', friday])
    expect(unknownSession.code).toBe(1)
    expect(unknownSession.err[1]).toBe(
      'session: unknown session "sales" (the rules have acme-sales, acme-support)',
    )
    expect(await cli(['--rules', SCENARIO_RULES, '--scenario', join(dir, 'missing.yaml')])).toMatchObject({
      code: 1,
      err: [`${join(dir, 'missing.yaml')}: 1 problem`, `${join(dir, 'missing.yaml')}: file not found`],
    })

    for (const args of [
      [],
      ['--rules', SCENARIO_RULES],
      ['--rules', SCENARIO_RULES, '--scenario'],
      ['--rules', SCENARIO_RULES, '--scenario', friday, '--yaml'],
      ['--rules', SCENARIO_RULES, '--scenario', friday, 'extra'],
    ]) {
      const r = await cli(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.err.at(-1)).toBe('Usage: tickbridge rules dry-run --rules FILE --scenario FILE [--json]')
    }
  })

  it('is wired into the tickbridge command', async () => {
    const p = spawnTs(
      'src/cli/tickbridge.ts',
      ['rules', 'dry-run', '--rules', SCENARIO_RULES, '--scenario', friday, '--json'],
      {},
    )
    expect(await p.exited).toBe(0)
    expect(JSON.parse(p.stdout.join('\n')).actions).toHaveLength(7)
    const usage = spawnTs('src/cli/tickbridge.ts', ['rules', 'dry-run', '--json'], {})
    expect(await usage.exited).toBe(2)
    expect(usage.stderr).toContain('missing --rules FILE')
  })
})
