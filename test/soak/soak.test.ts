import { describe, expect, it } from 'vitest'
import { runSoak } from './run.js'

/**
 * The soak in CI's short settings: 3 real worker processes, one SIGKILLed every 20 s (and restarted),
 * the soak's own Redis killed and restarted once (AOF), WhatsApp reconnects and HubSpot fault stretches;
 * afterwards every invariant must hold, and each must have checked something.
 */
describe('soak (short, with faults)', () => {
  it('keeps every invariant through worker kills, a Redis restart, reconnects and HubSpot faults', async () => {
    const progress: string[] = []
    const report = await runSoak(
      {
        sessions: 6,
        chats: 300,
        rate: 80,
        seconds: 45,
        workers: 3,
        killEvery: 20,
        redisRestarts: 1,
        waDisconnectEvery: 15,
        hubspotFaultEvery: 15,
        slaLevels: '10,25',
        // Bounded, so a stuck queue fails with the report naming it rather than a test timeout.
        drainTimeout: 90,
        verbose: true,
      },
      (line) => (process.env.SOAK_VERBOSE ? process.stderr.write(`${line}\n`) : progress.push(line)),
    )
    // On a failure CI's log gets the whole story: the progress lines, the examples, the faults, what was left.
    if (!report.ok)
      process.stderr.write(`${progress.join('\n')}\nsoak report:\n${JSON.stringify(report, null, 2)}\n`)
    const summary = Object.fromEntries(
      Object.entries(report.invariants).map(([name, inv]) => [
        name,
        { checked: inv.checked, violations: inv.examples },
      ]),
    )
    expect(summary).toEqual(
      Object.fromEntries(
        Object.entries(report.invariants).map(([name, inv]) => [
          name,
          { checked: inv.checked, violations: [] },
        ]),
      ),
    )
    expect(report.ok).toBe(true)
    expect(report.faults.kills).toBeGreaterThanOrEqual(2)
    expect(report.faults.redisRestarts).toHaveLength(1)
    expect(report.faults.recoveryAfterKillMs.unrecovered).toBe(0)
    // Each invariant checked real work, not an empty set.
    expect(report.invariants.receipts.checked).toBeGreaterThan(1000)
    expect(report.invariants.sla.verdicts.must).toBeGreaterThan(50)
    expect(report.invariants.sla.verdicts.mustNot).toBeGreaterThan(10)
    expect(report.invariants.reminders.verdicts.must).toBeGreaterThan(0)
    expect(report.invariants.hubspot.checked).toBeGreaterThan(100)
  }, 300_000)
})
