// Policy routing for default routes, recorded instead of run: the commands of
// wg-quick's FwMark scheme (applied by a HostConfigurator on an in-memory
// host), the choice of a free table, and an exact undo.
import { describe, expect, it } from 'vitest';
import { CommandError, RecordingRunner } from './command.js';
import { EMPTY_HOST_STATE, HostConfigurator, type HostState, type LinkState } from './configurator.js';
import { FakeHost } from './fake-host.js';
import { chooseTable, defaultRouteState, SRC_VALID_MARK } from './policy-routing.js';

const wg0 = (owned: boolean): LinkState => ({ name: 'wg0', mtu: 1420, up: true, owned });
const defaults = (table: number, families: (4 | 6)[], owned = true): HostState => ({
  ...EMPTY_HOST_STATE,
  link: wg0(owned),
  ...defaultRouteState(table, families),
});

describe('policy routing for default routes', () => {
  it('puts the default routes into a table behind a fwmark rule and undoes exactly that', async () => {
    const h = new FakeHost({ links: ['wg0'], sysctls: { [SRC_VALID_MARK]: '0' } });
    const before = h.snapshot();
    const host = new HostConfigurator(h);
    await host.set(defaults(51820, [4, 6]));
    expect(h.lines().filter((l) => !l.includes(' del ') && !l.startsWith('ip link'))).toEqual([
      'ip -4 route replace 0.0.0.0/0 dev wg0 table 51820',
      'ip -4 rule add not fwmark 51820 table 51820',
      'ip -4 rule add table main suppress_prefixlength 0',
      'ip -6 route replace ::/0 dev wg0 table 51820',
      'ip -6 rule add not fwmark 51820 table 51820',
      'ip -6 rule add table main suppress_prefixlength 0',
      'sysctl -n net.ipv4.conf.all.src_valid_mark',
      'sysctl -q -w net.ipv4.conf.all.src_valid_mark=1',
    ]);
    expect(host.originals()).toEqual({ [SRC_VALID_MARK]: '0' });
    expect(await h.linesDuring(() => host.reset())).toEqual([
      'ip -4 rule del not fwmark 51820 table 51820',
      'ip -4 rule del table main suppress_prefixlength 0',
      'ip -6 rule del not fwmark 51820 table 51820',
      'ip -6 rule del table main suppress_prefixlength 0',
      'sysctl -q -w net.ipv4.conf.all.src_valid_mark=0',
      'ip link del dev wg0', // the routes in table 51820 go with the link
    ]);
    expect(h.snapshot()).toEqual({ ...before, links: {} });
  });

  it('the client agent: the mesh ranges ahead of the tunnel table; lan tunnel drops suppress_prefixlength', async () => {
    const h = new FakeHost({ links: ['wg0'], sysctls: { [SRC_VALID_MARK]: '0' } });
    const before = h.snapshot();
    const host = new HostConfigurator(h);
    const state = (keepMain: boolean): HostState => ({
      ...EMPTY_HOST_STATE,
      link: wg0(true),
      ...defaultRouteState(51820, [4, 6], { keepMain, keepMesh: true }),
    });
    await host.set(state(true));
    // A rule added later is looked at first: the mesh rules win over the tunnel's table.
    expect(h.lines().filter((l) => l.includes(' rule add'))).toEqual([
      'ip -4 rule add not fwmark 51820 table 51820',
      'ip -4 rule add table main suppress_prefixlength 0',
      'ip -6 rule add not fwmark 51820 table 51820',
      'ip -6 rule add table main suppress_prefixlength 0',
      'ip -6 rule add to 200::/7 table main',
      'ip -6 rule add to fc00::/8 table main',
    ]);
    expect(await h.linesDuring(() => host.set(state(false)))).toEqual([
      'ip -4 rule del table main suppress_prefixlength 0',
      'ip -6 rule del table main suppress_prefixlength 0',
    ]);
    await host.reset();
    expect(h.snapshot()).toEqual({ ...before, links: {} });
  });

  it('a link it does not own: the routes in the table are deleted one by one', async () => {
    const h = new FakeHost({ links: ['wg0'], sysctls: { [SRC_VALID_MARK]: '1' } });
    const host = new HostConfigurator(h);
    await host.set(defaults(51820, [4, 6], false));
    const undo = await h.linesDuring(() => host.reset());
    expect(undo.filter((l) => l.includes(' route '))).toEqual([
      'ip -4 route del 0.0.0.0/0 dev wg0 table 51820',
      'ip -6 route del ::/0 dev wg0 table 51820',
    ]);
    expect(h.snapshot()).toMatchObject({ routes: [], rules: [] });
  });

  it('IPv6 only: no src_valid_mark; already 1: left alone', async () => {
    const v6 = new FakeHost({ links: ['wg0'] });
    const host6 = new HostConfigurator(v6);
    await host6.set(defaults(7, [6]));
    expect(host6.originals()).toEqual({});
    expect(v6.lines().some((l) => l.startsWith('sysctl'))).toBe(false);
    const set = new FakeHost({ links: ['wg0'], sysctls: { [SRC_VALID_MARK]: '1' } });
    const host = new HostConfigurator(set);
    await host.set(defaults(7, [4]));
    expect(set.lines()).not.toContain('sysctl -q -w net.ipv4.conf.all.src_valid_mark=1');
    await host.reset();
    expect(set.lines().filter((l) => l.startsWith('sysctl -q'))).toEqual([]);
  });

  it('removal tries every step even when some fail (the device is already gone)', async () => {
    const h = new FakeHost({ links: ['wg0'], sysctls: { [SRC_VALID_MARK]: '0' } });
    const host = new HostConfigurator(h);
    await host.set(defaults(9, [4, 6]));
    // Everything vanished under it: every command of the undo now fails.
    h.links.clear();
    h.rules.length = 0;
    h.sysctls.clear();
    const failed = await h.linesDuring(
      () => expect(host.reset()).rejects.toMatchObject({ code: 'sysctl-failed' }), // src_valid_mark not put back
    );
    expect(failed).toHaveLength(6);
  });

  it('chooses the configured FwMark, else the first table from 51820 with no routes in either family', async () => {
    expect(await chooseTable(new RecordingRunner(), 0x1234)).toBe(0x1234);
    const used = new RecordingRunner((_cmd, args) => {
      const table = args.at(-1);
      if (table === '51820' && args[0] === '-4') return 'default dev wg0 scope link';
      if (table === '51821' && args[0] === '-6') return 'default dev wg1 metric 1024 pref medium';
      if (table === '51822') throw new CommandError('ip', 2, 'ipv4: FIB table does not exist.');
      return '';
    });
    expect(await chooseTable(used, null)).toBe(51822);
  });
});
