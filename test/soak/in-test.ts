import type { SoakInput } from './options.js'
import { runSoak } from './run.js'

/**
 * `runSoak` as the CI tests use it: progress lines kept (streamed instead with SOAK_VERBOSE=1) and, when
 * the soak failed, printed on stderr with the whole report: the examples, the faults and their timing,
 * and what the drain left. CI's log then says what went wrong, not only that something did.
 */
export async function runSoakInTest(input: Omit<SoakInput, 'verbose'>) {
  const progress: string[] = []
  const report = await runSoak({ ...input, verbose: true }, (line) =>
    process.env.SOAK_VERBOSE ? process.stderr.write(`${line}\n`) : progress.push(line),
  )
  if (!report.ok)
    process.stderr.write(`${progress.join('\n')}\nsoak report:\n${JSON.stringify(report, null, 2)}\n`)
  return report
}
