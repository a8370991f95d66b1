// Probes: whether namespace tests can run here (root, commands on PATH, ping, the
// built CLI) and each file's skip reason (netnsSkip), and where the tools they
// start live.

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

/** Whether some ping is available: iputils ping, or BusyBox's (see ping.ts). */
export function havePing(): boolean {
  return hasCommand('ping') || hasCommand('busybox');
}

/** Whether the meshgate CLI has been built (dist/shared/cli/main.js exists). */
export function meshgateBuilt(): boolean {
  return fs.existsSync(MESHGATE_CLI_MAIN);
}

/** Why namespace tests cannot run here (not root, a command missing), or null when they can. */
export function netnsSkipReason(commands: readonly string[] = ['ip']): string | null {
  if (!isRoot()) return 'network-namespace tests need root';
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length > 0) return `network-namespace tests need: ${missing.join(', ')}`;
  return null;
}

/** What a namespace test file needs besides root. */
export interface NetnsNeeds {
  /** executables on PATH */
  commands: readonly string[];
  /** some ping (iputils or BusyBox) */
  ping?: boolean;
  /** the built meshgate CLI */
  built?: boolean;
}

/**
 * A test file's skip decision: why its tests cannot run here, or null when they
 * can. A reason is also printed once, as "skipping <what>: <reason>".
 */
export function netnsSkip(what: string, needs: NetnsNeeds): string | null {
  const reason =
    netnsSkipReason(needs.commands) ??
    (needs.ping && !havePing() ? 'no ping' : null) ??
    (needs.built && !meshgateBuilt() ? 'meshgate not built' : null);
  if (reason) console.warn(`skipping ${what}: ${reason}`);
  return reason;
}
