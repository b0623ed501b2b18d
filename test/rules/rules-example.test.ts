import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Rules } from '../../src/rules/compile.js'
import { loadRulesFile, resolveRulesPath } from '../../src/rules/load.js'

const examplePath = fileURLToPath(new URL('../../config/rules.example.yaml', import.meta.url))
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

describe('config/rules.example.yaml', () => {
  let rules: Rules
  beforeAll(async () => {
    const result = await loadRulesFile(examplePath)
    if (!result.ok) throw new Error(`example rules are invalid:\n${result.problems.join('\n')}`)
    rules = result.rules
  })

  it('has the documented shape', () => {
    expect([...rules.orgs.keys()]).toEqual(['acme'])
    expect(rules.orgs.get('acme')?.hubspot.timeZone).toBe('Europe/Berlin')
    expect([...rules.sessions.keys()]).toEqual(['acme-sales', 'acme-support'])
    expect(rules.sessionsOfOrg('acme').map((s) => s.id)).toEqual(['acme-sales', 'acme-support'])
    expect(rules.sessionsOfOrg('nobody')).toEqual([])
    expect(rules.calendars.get('berlin-office')?.hours.mon).toEqual([
      ['09:00', '12:30'],
      ['13:30', '17:00'],
    ])
    expect(rules.calendars.get('berlin-office')?.hours.sat).toBeUndefined()
  })

  it('parses durations to milliseconds and fills defaults', () => {
    const [sales, support] = rules.config.sla.policies
    expect(sales?.firstResponse).toBe(30 * 60_000)
    expect(sales?.levels.map((level) => level.after)).toEqual([20 * 60_000, 30 * 60_000, 90 * 60_000])
    expect(support?.nextResponse).toBe(support?.firstResponse)
    expect(support?.levels[1]?.actions[1]).toEqual({
      crmTask: { assignTo: 'dora', priority: 'HIGH', subject: 'Support SLA breached on WhatsApp' },
    })
    expect(sales?.levels[0]?.actions[1]).toEqual({ markUnread: {} })
    expect(rules.config.counters.crmSync.debounce).toBe(5_000)
    expect(rules.config.reminders.defaults.appStateRetryHorizon).toBe(24 * 3_600_000)
  })

  it('uses every kind of SLA action', () => {
    const kinds = new Set(
      rules.config.sla.policies.flatMap((p) =>
        p.levels.flatMap((l) => l.actions.flatMap((a) => Object.keys(a))),
      ),
    )
    expect([...kinds].sort()).toEqual(['crmTask', 'markUnread', 'reassign', 'setState', 'webhook'])
  })

  it('merges a session seen override over the defaults, field by field', () => {
    expect(rules.seenPolicyFor('acme-sales')).toEqual({
      policy: 'auto',
      markSeenBeforeReply: true,
      delay: {
        baseMin: 800,
        baseMax: 3_000, // the session's own
        wordsPerMinute: 200,
        jitter: 0.25,
        max: 20_000,
        mediaExtra: 1_500,
        batchDiscount: 0.5,
        backlogThreshold: 60_000,
        backlogSpread: 15_000,
      },
    })
    expect(rules.seenPolicyFor('acme-support')).toEqual(rules.config.seen.defaults)
    expect(rules.seenPolicyFor('unknown')).toBeUndefined()
  })

  it('answers who supervises whom', () => {
    expect(rules.supervisedBy('dora').map((u) => u.id)).toEqual(['anna', 'ben', 'carla'])
    expect(rules.supervisorsOf('anna').map((u) => u.id)).toEqual(['dora'])
    expect(rules.supervisorsOf('dora')).toEqual([])
    expect(rules.supervisedBy('anna')).toEqual([])
  })

  it('finds API keys by the hash of the example keys', () => {
    expect(rules.apiKeysByHash.get(sha256('tb_example_admin_key'))).toMatchObject({
      id: 'acme-admin',
      capabilities: ['read', 'send', 'admin'],
    })
    expect(rules.apiKeysByHash.get(sha256('tb_example_read_key'))).toMatchObject({
      id: 'acme-dashboard',
      capabilities: ['read'],
    })
  })

  it('is immutable', () => {
    expect(Object.isFrozen(rules)).toBe(true)
    expect(Object.isFrozen(rules.config.sessions[0])).toBe(true)
    expect(() => {
      ;(rules.config.sla.policies[0] as { id: string }).id = 'changed'
    }).toThrow(TypeError)
  })
})

describe('resolveRulesPath', () => {
  it('prefers TICKBRIDGE_RULES', () => {
    expect(resolveRulesPath('custom/rules.yaml', '/srv/app')).toEqual({
      path: '/srv/app/custom/rules.yaml',
      fellBackToExample: false,
    })
    expect(resolveRulesPath('/etc/tb.yaml', '/srv/app')).toEqual({
      path: '/etc/tb.yaml',
      fellBackToExample: false,
    })
  })

  it('falls back to the example when config/rules.yaml does not exist', () => {
    expect(resolveRulesPath(undefined, '/nonexistent-dir')).toEqual({
      path: '/nonexistent-dir/config/rules.example.yaml',
      fellBackToExample: true,
    })
  })

  it('uses config/rules.yaml when it exists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-rules-path-'))
    try {
      await mkdir(join(dir, 'config'))
      await writeFile(join(dir, 'config', 'rules.yaml'), 'version: 1\n')
      expect(resolveRulesPath(undefined, dir)).toEqual({
        path: join(dir, 'config', 'rules.yaml'),
        fellBackToExample: false,
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
