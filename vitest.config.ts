import { configDefaults, defineConfig } from 'vitest/config'

const PRODUCTION_PROOF = ['test/soak/**/*.test.ts', 'test/cluster/**/*.test.ts']

export default defineConfig({
  test: {
    // Every test file uses its own Redis key prefix, so files can run in parallel safely.
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          // One file at a time on this 2-core machine (vitest's default: one worker fewer than the
          // cores). Two at a time took 335 s instead of 500 s, but the extra load surfaced timing races
          // in a few end-to-end tests (reminders, receipts) that are not all fixed yet.
          exclude: [...configDefaults.exclude, ...PRODUCTION_PROOF],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The soak and the cluster suite run worker processes of their own and check timings within a
        // few seconds: they run after the rest, one file at a time, so other tests do not starve them.
        extends: true,
        test: {
          name: 'production-proof',
          include: PRODUCTION_PROOF,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          hookTimeout: 90_000,
        },
      },
    ],
  },
})
