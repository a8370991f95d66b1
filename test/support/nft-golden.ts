// Unit-test helpers for the rendered nftables text of meshgate's tables
// (gateway/firewall.ts, client/kill-switch.ts, client/router.ts): golden files
// in the testdata folder next to the test, regenerated with UPDATE_GOLDEN=1
// (then review the diff), and the opening every table replacement shares.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/** golden(name, actual) for the testdata folder next to the test file at `testUrl` (its import.meta.url). */
export function goldenNextTo(testUrl: string): (name: string, actual: string) => void {
  const testdata = path.join(path.dirname(fileURLToPath(testUrl)), 'testdata');
  return (name, actual) => {
    const file = path.join(testdata, name);
    if (process.env.UPDATE_GOLDEN === '1') {
      fs.mkdirSync(testdata, { recursive: true });
      fs.writeFileSync(file, actual);
    }
    expect(actual).toBe(fs.readFileSync(file, 'utf8'));
  };
}

/** Asserts `text` replaces `inet TABLE` as a whole after its comment line: create-if-missing, delete, define. */
export function expectReplacesTable(text: string, table: string): void {
  expect(text.split('\n').slice(1, 4)).toEqual([
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
  ]);
}
