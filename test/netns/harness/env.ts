// Probes: whether namespace tests can run here (root, commands on PATH, the built
// CLI), and where the tools they start live.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The meshgate command (bin/meshgate.js, which loads the compiled CLI from dist/). */
export const MESHGATE_BIN = path.resolve(here, '../../../bin/meshgate.js');
/** The compiled CLI that MESHGATE_BIN imports; absent until `npx tsc -p tsconfig.build.json`. */
export const MESHGATE_CLI_MAIN = path.resolve(here, '../../../dist/shared/cli/main.js');
/** The content-checked TCP transfer tool. */
export const XFER_TOOL = path.resolve(here, '../tools/xfer.mjs');

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether an executable of that name is on PATH. */
export function hasCommand(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/** Why namespace tests cannot run here (not root, a command missing), or null when they can. */
export function netnsSkipReason(commands: readonly string[] = ['ip']): string | null {
  if (!isRoot()) return 'network-namespace tests need root';
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length > 0) return `network-namespace tests need: ${missing.join(', ')}`;
  return null;
}

/** Whether the meshgate CLI has been built (dist/shared/cli/main.js exists). */
export function meshgateBuilt(): boolean {
  return fs.existsSync(MESHGATE_CLI_MAIN);
}
