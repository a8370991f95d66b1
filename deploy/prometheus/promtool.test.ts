// The Prometheus files as Prometheus reads them: promtool (Debian's
// prometheus package, installed by scripts/setup.sh) checks the scrape config,
// the alert rules, and runs the rule unit tests of alerts.test.yml.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HERE = dirname(fileURLToPath(import.meta.url));
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';
const missing = existsSync(PROMTOOL) ? null : `${PROMTOOL} not found (apt-get install prometheus; scripts/setup.sh)`;
if (missing !== null) console.log(`skipping the promtool checks: ${missing}`);

function promtool(...args: string[]): string {
  try {
    return execFileSync(PROMTOOL, args, { cwd: HERE, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    const { stdout = '', stderr = '' } = e as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${stdout}${stderr}`);
  }
}

describe.skipIf(missing !== null)('deploy/prometheus with promtool', () => {
  // check config also reads the files the config names: the rules and the
  // token file, which is not in the repository (a stand-in beside a copy)
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-promtool-'));
    for (const f of ['prometheus.yml', 'alerts.yml']) copyFileSync(join(HERE, f), join(dir, f));
    writeFileSync(join(dir, 'meshgate.token'), 'mgt_stand-in\n', { mode: 0o600 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the scrape config with its rule file and token file', () => {
    const out = promtool('check', 'config', join(dir, 'prometheus.yml'));
    expect(out).toContain('SUCCESS: 1 rule files found');
    expect(out).toContain('SUCCESS: 7 rules found');
  });

  it('accepts the alert rules', () => {
    expect(promtool('check', 'rules', 'alerts.yml')).toContain('SUCCESS: 7 rules found');
  });

  it('passes the rule unit tests: each alert firing and not firing', () => {
    expect(promtool('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS');
  });
});
