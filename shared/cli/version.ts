// `meshgate --version`: the version in package.json, found from this file in
// the sources (shared/cli/) or in the build (dist/shared/cli/).

import { readFileSync } from 'node:fs';

/** How many folders up from here package.json may be. */
const LEVELS_UP = 4;

export function meshgateVersion(): string {
  for (let up = 1; up <= LEVELS_UP; up++) {
    let text: string;
    try {
      text = readFileSync(new URL(`${'../'.repeat(up)}package.json`, import.meta.url), 'utf8');
    } catch {
      continue;
    }
    const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (pkg.name === 'meshgate' && typeof pkg.version === 'string') return pkg.version;
  }
  throw new Error('package.json of meshgate not found: cannot tell the version');
}
