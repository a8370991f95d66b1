// `meshgate gateway token create|list|revoke --config F` on a real state db in
// a temp dir: a token is printed once (stdout only) and verifies against the
// stored hash; list shows names and dates, never a token or hash; revoke
// makes it fail at once; bad names, duplicates and unknown names are exit 2.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../../test/support/run-main.js';
import { generatePrivateKeyText } from '../../shared/wireguard/keys.js';
import { Store } from '../store.js';
import { TOKEN_PREFIX, TokenTable } from './token-table.js';

let dir: string;
let config: string;

const run = runMain;

/** The name the state db's table gives `token`, or null. */
function verify(token: string): string | null {
  const store = Store.open(join(dir, 'state'));
  try {
    return new TokenTable(store).verify(token, Date.now());
  } finally {
    store.close();
  }
}

describe('meshgate gateway token', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-token-cli-'));
    config = join(dir, 'gateway.yaml');
    writeFileSync(join(dir, 'gateway.key'), generatePrivateKeyText((n) => randomBytes(n)) + '\n', { mode: 0o600 });
    writeFileSync(
      config,
      [
        `privateKeyFile: ${join(dir, 'gateway.key')}`,
        'uplink: eth0',
        'interface: mgtoktest0',
        `stateDir: ${join(dir, 'state')}`,
        'ipv4Pool: 100.64.0.0/24',
      ].join('\n') + '\n',
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('create prints the token once; it verifies; list shows names only; revoke ends it', async () => {
    expect(await run(['gateway', 'token', 'list', '--config', config])).toEqual({
      code: 0,
      stdout: 'no tokens\n',
      stderr: '',
    });
    const created = await run(['gateway', 'token', 'create', 'grafana', '--config', config]);
    expect(created.code).toBe(0);
    expect(created.stderr).toBe('');
    expect(created.stdout).toMatch(new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{43}\\n$`));
    const token = created.stdout.trim();
    expect(verify(token)).toBe('grafana');
    expect(verify(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))).toBeNull();
    expect((await run(['gateway', 'token', 'create', 'ops', '--config', config])).code).toBe(0);

    const list = await run(['gateway', 'token', 'list', '--config', config]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +CREATED +LAST-USED$/);
    expect(lines[1]).toMatch(/^grafana +\d{4}-\d\d-\d\dT[\d:.]+Z +\d{4}-/); // used once by verify()
    expect(lines[2]).toMatch(/^ops +\d{4}-\d\d-\d\dT[\d:.]+Z +never$/);
    const json = JSON.parse((await run(['gateway', 'token', 'list', '--json', '--config', config])).stdout) as {
      name: string;
      lastUsedAt: string | null;
    }[];
    expect(json.map((t) => [t.name, t.lastUsedAt === null])).toEqual([
      ['grafana', false],
      ['ops', true],
    ]);
    expect(list.stdout + JSON.stringify(json)).not.toContain(
      token.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + 12),
    );

    expect(await run(['gateway', 'token', 'revoke', 'grafana', '--config', config])).toEqual({
      code: 0,
      stdout: 'revoked token grafana\n',
      stderr: '',
    });
    expect(verify(token)).toBeNull();
  });

  it('refuses a bad name, a duplicate, an unknown name (exit 2, one line), and a missing --config', async () => {
    for (const [argv, says] of [
      [['create', '-bad'], 'unknown option'],
      [['create', 'a b'], 'token name "a b": 1 to 32 letters'],
      [['create', 'x'.repeat(33)], 'token name'],
      [['revoke', 'nobody'], 'no token named nobody'],
    ] as const) {
      const r = await run(['gateway', 'token', ...argv, '--config', config]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^meshgate: [^\n]+\n$/);
      expect(r.stderr).toContain(says);
    }
    expect((await run(['gateway', 'token', 'create', 'dup', '--config', config])).code).toBe(0);
    const dup = await run(['gateway', 'token', 'create', 'dup', '--config', config]);
    expect(dup).toEqual({ code: 2, stdout: '', stderr: 'meshgate: a token named dup exists (revoke it first)\n' });
    const missing = await run(['gateway', 'token', 'list']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing option --config FILE');
  });
});
