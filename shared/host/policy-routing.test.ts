// Policy routing for default routes, recorded instead of run: the commands of
// wg-quick's FwMark scheme, the choice of a free table, and an exact undo.
import { describe, expect, it } from 'vitest';
import { CommandError, RecordingRunner } from './command.js';
import { applyDefaultRoutes, chooseTable, removeDefaultRoutes } from './policy-routing.js';

describe('policy routing for default routes', () => {
  it('puts the default routes into a table behind a fwmark rule and undoes exactly that', async () => {
    const r = new RecordingRunner((cmd, args) => (cmd === 'sysctl' && args[0] === '-n' ? '0\n' : ''));
    const state = await applyDefaultRoutes(r, { device: 'wg0', table: 51820, families: [4, 6] });
    expect(r.lines().filter((l) => !l.includes(' del '))).toEqual([
      'ip -4 route replace 0.0.0.0/0 dev wg0 table 51820',
      'ip -4 rule add not fwmark 51820 table 51820',
      'ip -4 rule add table main suppress_prefixlength 0',
      'ip -6 route replace ::/0 dev wg0 table 51820',
      'ip -6 rule add not fwmark 51820 table 51820',
      'ip -6 rule add table main suppress_prefixlength 0',
      'sysctl -n net.ipv4.conf.all.src_valid_mark',
      'sysctl -q -w net.ipv4.conf.all.src_valid_mark=1',
    ]);
    expect(state.previousSrcValidMark).toBe('0');
    const undo = new RecordingRunner();
    await removeDefaultRoutes(undo, state);
    expect(undo.lines()).toEqual([
      'ip -4 rule del not fwmark 51820 table 51820',
      'ip -4 rule del table main suppress_prefixlength 0',
      'ip -4 route flush table 51820',
      'ip -6 rule del not fwmark 51820 table 51820',
      'ip -6 rule del table main suppress_prefixlength 0',
      'ip -6 route flush table 51820',
      'sysctl -q -w net.ipv4.conf.all.src_valid_mark=0',
    ]);
  });

  it('IPv6 only: no src_valid_mark; already 1: left alone', async () => {
    const v6 = new RecordingRunner();
    expect(await applyDefaultRoutes(v6, { device: 'wg0', table: 7, families: [6] })).toEqual({
      device: 'wg0',
      table: 7,
      families: [6],
    });
    expect(v6.lines().some((l) => l.startsWith('sysctl'))).toBe(false);
    const set = new RecordingRunner((cmd) => (cmd === 'sysctl' ? '1' : ''));
    const state = await applyDefaultRoutes(set, { device: 'wg0', table: 7, families: [4] });
    expect(state.previousSrcValidMark).toBeUndefined();
    expect(set.lines()).not.toContain('sysctl -q -w net.ipv4.conf.all.src_valid_mark=1');
  });

  it('removal tries every step even when some fail (the device is already gone)', async () => {
    const failing = new RecordingRunner(() => {
      throw new CommandError('ip', 2, 'No such file or directory');
    });
    await removeDefaultRoutes(failing, { device: 'wg0', table: 9, families: [4, 6], previousSrcValidMark: '0' });
    expect(failing.lines()).toHaveLength(7);
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
