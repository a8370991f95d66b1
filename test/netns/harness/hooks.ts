// The vitest hooks every namespace test file shares.

import { afterAll, afterEach, beforeAll } from 'vitest';
import { MESHGATE_CLI_MAIN, meshgateBuilt } from './env.js';
import { Scene } from './scene.js';

/** Before the file's tests (unless they are skipped anyway): fail at once when the meshgate CLI is not built. */
export function requireBuiltCli(skipReason: string | null): void {
  beforeAll(() => {
    if (skipReason) return;
    if (!meshgateBuilt())
      throw new Error(`meshgate CLI not built (${MESHGATE_CLI_MAIN}): run npx tsc -p tsconfig.build.json`);
  });
}

/** After each test: tear down every live scene, keeping the logs of a failed test. */
export function teardownScenesAfterEach(): void {
  afterEach(async (ctx) => {
    await Scene.teardownAll({ keepLogs: ctx.task.result?.state === 'fail' });
  });
}

/**
 * For tests that share scenes built once in beforeAll: tear every live scene
 * down after the last test, keeping the logs when a test failed or when the
 * setup called setupFailed().
 */
export function teardownScenesAfterAll(): { setupFailed(): void } {
  let failed = false;
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    await Scene.teardownAll({ keepLogs: failed });
  });
  return {
    setupFailed: () => {
      failed = true;
    },
  };
}
