// DNS from the lease on a temporary resolv.conf (never the host's): the file
// written and put back byte for byte, a missing file removed again, and
// systemd-resolved's stub detected and driven by recorded resolvectl calls.

import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordingRunner } from '../shared/host/command.js';
import { parseIp } from '../shared/net/address.js';
import { applyDns, mountPoints, planDns, restoreDns } from './dns.js';

const SERVERS = [parseIp('198.51.100.53'), parseIp('2001:db8::53')];
let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mg-dns-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('DNS from the lease', () => {
  it('writes the servers over resolv.conf and puts the old bytes back exactly', async () => {
    const file = join(dir, 'resolv.conf');
    const old = Buffer.from('# mine\nnameserver 192.0.2.53\r\nsearch example.\n\u00e9\n', 'utf8');
    writeFileSync(file, old, { mode: 0o644 });
    const runner = new RecordingRunner();
    const record = planDns('mgc0', file);
    expect(record).toMatchObject({ kind: 'file', interface: 'mgc0', path: file });
    await applyDns(record, SERVERS, runner);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n').filter((l) => l.startsWith('nameserver'))).toEqual([
      'nameserver 198.51.100.53',
      'nameserver 2001:db8::53',
    ]);
    await restoreDns(JSON.parse(JSON.stringify(record)) as typeof record, runner); // as read back from the state file
    expect(readFileSync(file).equals(old)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(runner.lines()).toEqual([]);
  });

  it('no resolv.conf before: removed again', async () => {
    const file = join(dir, 'resolv.conf');
    const record = planDns('mgc0', file);
    await applyDns(record, SERVERS, new RecordingRunner());
    expect(existsSync(file)).toBe(true);
    await restoreDns(record, new RecordingRunner());
    expect(existsSync(file)).toBe(false);
  });

  it("systemd-resolved's stub: resolvectl dns and domain ~. on the link, revert on exit; the file untouched", async () => {
    const file = join(dir, 'resolv.conf');
    symlinkSync('../run/systemd/resolve/stub-resolv.conf', file);
    const runner = new RecordingRunner();
    const record = planDns('mgc0', file, () => '');
    expect(record).toEqual({ kind: 'resolved', interface: 'mgc0' });
    await applyDns(record, SERVERS, runner);
    await restoreDns(record, runner);
    expect(runner.lines()).toEqual([
      'resolvectl dns mgc0 198.51.100.53 2001:db8::53',
      'resolvectl domain mgc0 ~.',
      'resolvectl revert mgc0',
    ]);
  });

  it('a file mounted over the stub (ip netns exec with /etc/netns/NS/resolv.conf): the file, not resolved', () => {
    const stub = join(dir, 'run/systemd/resolve/stub-resolv.conf');
    mkdirSync(join(dir, 'run/systemd/resolve'), { recursive: true });
    writeFileSync(stub, 'nameserver 127.0.0.53\n');
    const file = join(dir, 'resolv.conf');
    symlinkSync(stub, file);
    const mountinfo = `36 35 98:0 / / rw - ext4 /dev/root rw\n90 36 0:5 /netns/x/resolv.conf ${stub} rw - ext4 /dev/root rw\n`;
    expect(planDns('mgc0', file, () => mountinfo)).toMatchObject({ kind: 'file', path: file });
    expect(mountPoints('1 2 3:4 / /a\\040b rw\n').has('/a b')).toBe(true);
  });
});
