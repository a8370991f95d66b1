// `meshgate client status`: the agent's status by its configuration (the
// interface it names), in-process; the status itself is tested in
// client/agent-status.test.ts and client/agent.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFiles } from '../../test/support/config-files.js';
import { runMain } from '../../test/support/run-main.js';
import { loadClientConfig } from '../../client/config.js';

const files = configFiles('mg-clstatus-', 'client', loadClientConfig);

beforeAll(() => files.open());
afterAll(() => files.close());

describe('meshgate client status', () => {
  it('--help: its usage with --config and --json, exit 0', async () => {
    const r = await runMain(['client', 'status', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('meshgate client status');
    expect(r.stdout).toContain('--config FILE');
    expect(r.stdout).toContain('--json');
    expect(r.stderr).toBe('');
  });

  it('without --config: exit 2, one line naming it', async () => {
    const r = await runMain(['client', 'status']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing option --config FILE');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('no agent running on the configured interface: exit 1, one line naming it, no key', async () => {
    const { privateKey } = files.keyPair();
    const keyFile = files.writeKey('client.key', privateKey);
    const config = files.writeConfig({
      interface: 'mgst-none0',
      privateKeyFile: keyFile,
      gateway: { publicKey: files.keyPair().publicKey, endpoint: '192.0.2.1:51820' },
    });
    for (const json of [[], ['--json']]) {
      const r = await runMain(['client', 'status', '--config', config, ...json]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('meshgate: no tunnel named mgst-none0 is running\n');
      expect(r.stderr).not.toContain(privateKey);
    }
  });
});
