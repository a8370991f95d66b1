import { defineConfig } from 'vitest/config';

// Three projects: fast pure unit and vector tests, network-namespace tests
// that need root and run one file at a time (they create real devices), and
// the admin page in a real browser.
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
      {
        test: {
          // The admin web page in headless Chromium (Debian's chromium, driven by playwright-core).
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // A page answers in milliseconds, but a loaded machine may take seconds.
          expect: { poll: { timeout: 10_000 } },
        },
      },
    ],
  },
});
