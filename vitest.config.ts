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
          // Two files at a time on this 2-core machine: 335 s instead of 500 s. Every test file has its own
          // key prefix; tests wait for events, not for time, so the extra load only makes them slower.
          maxWorkers: 2,
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
