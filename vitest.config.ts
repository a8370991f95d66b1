import { defineConfig } from 'vitest/config';

// Two projects: fast pure unit and vector tests, and network-namespace tests
// that need root and run one file at a time (they create real devices).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'shared/**/*.test.ts',
            'gateway/**/*.test.ts',
            'client/**/*.test.ts',
            'test/unit/**/*.test.ts',
            'test/vectors/**/*.test.ts',
            'deploy/**/*.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'netns',
          include: ['test/netns/**/*.test.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
