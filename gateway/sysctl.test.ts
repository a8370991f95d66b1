// IP forwarding on and back, recorded by RecordingRunner (the kernel side is in
// test/netns/firewall.test.ts).

import { describe, expect, it } from 'vitest';
import { CommandError, RecordingRunner } from '../shared/host/command.js';
import { enableForwarding, forwardedBefore, restoreForwarding, SysctlError } from './sysctl.js';

/** A runner backed by a table of sysctl values; `failWrite` makes writing that key fail. */
function fakeSysctl(values: Record<string, string>, failWrite?: string): RecordingRunner {
  return new RecordingRunner((cmd, args) => {
    if (cmd !== 'sysctl') throw new Error(`unexpected ${cmd}`);
    if (args[0] === '-n') {
      const v = values[args[1]!];
      if (v === undefined)
        throw new CommandError(`sysctl -n ${args[1]}`, 255, `sysctl: cannot stat /proc/sys/${args[1]}`);
      return `${v}\n`;
    }
    const [key, value] = args[2]!.split('=') as [string, string];
    if (key === failWrite) throw new CommandError(`sysctl -q -w ${args[2]}`, 255, 'permission denied');
    values[key] = value;
    return '';
  });
}

describe('enableForwarding / restoreForwarding', () => {
  it('turns both families on and returns the previous values', async () => {
    const values = { 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' };
    const r = fakeSysctl(values);
    const prev = await enableForwarding(r);
    expect(prev).toEqual({ ipv4: '0', ipv6: '0' });
    expect(r.lines()).toEqual([
      'sysctl -n net.ipv4.ip_forward',
      'sysctl -n net.ipv6.conf.all.forwarding',
      'sysctl -q -w net.ipv4.ip_forward=1',
      'sysctl -q -w net.ipv6.conf.all.forwarding=1',
    ]);
    expect(values).toEqual({ 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' });
    await restoreForwarding(r, prev);
    expect(values).toEqual({ 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' });
  });

  it('keeps values that were already on', async () => {
    const values = { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '0' };
    const r = fakeSysctl(values);
    const prev = await enableForwarding(r);
    await restoreForwarding(r, prev);
    expect(values).toEqual({ 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '0' });
  });

  it('keeps router advertisements working on an uplink with accept_ra=1, and puts the 1 back', async () => {
    const values = {
      'net.ipv4.ip_forward': '0',
      'net.ipv6.conf.all.forwarding': '0',
      'net/ipv6/conf/eth0.100/accept_ra': '1',
    };
    const r = fakeSysctl(values);
    const prev = await enableForwarding(r, { uplink: 'eth0.100' });
    expect(prev).toEqual({ ipv4: '0', ipv6: '0', uplinkAcceptRa: { uplink: 'eth0.100', value: '1' } });
    expect(values['net/ipv6/conf/eth0.100/accept_ra']).toBe('2');
    await restoreForwarding(r, prev);
    expect(values).toEqual({
      'net.ipv4.ip_forward': '0',
      'net.ipv6.conf.all.forwarding': '0',
      'net/ipv6/conf/eth0.100/accept_ra': '1',
    });
  });

  it('leaves accept_ra alone unless it is 1', async () => {
    for (const ra of ['0', '2']) {
      const values = {
        'net.ipv4.ip_forward': '0',
        'net.ipv6.conf.all.forwarding': '0',
        'net/ipv6/conf/eth0/accept_ra': ra,
      };
      const r = fakeSysctl(values);
      const prev = await enableForwarding(r, { uplink: 'eth0' });
      expect(prev.uplinkAcceptRa).toBeUndefined();
      expect(r.lines().filter((l) => l.includes('accept_ra='))).toEqual([]);
    }
  });

  it('puts back what it wrote when a later write fails', async () => {
    const values = { 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' };
    const r = fakeSysctl(values, 'net.ipv6.conf.all.forwarding');
    const err = await enableForwarding(r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SysctlError);
    expect(err).toMatchObject({ code: 'sysctl-failed' });
    expect(values).toEqual({ 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' });
    expect(r.lines().at(-1)).toBe('sysctl -q -w net.ipv4.ip_forward=0');
  });

  it('fails clearly when IPv6 is missing, before changing anything', async () => {
    const values = { 'net.ipv4.ip_forward': '0' };
    const r = fakeSysctl(values);
    await expect(enableForwarding(r)).rejects.toMatchObject({ code: 'sysctl-failed' });
    expect(r.lines().filter((l) => l.includes('-w'))).toEqual([]);
  });

  it('rejects output that is not an integer, and unsafe uplink names without running anything', async () => {
    const r = fakeSysctl({ 'net.ipv4.ip_forward': 'yes', 'net.ipv6.conf.all.forwarding': '0' });
    await expect(enableForwarding(r)).rejects.toMatchObject({ code: 'sysctl-output' });
    const r2 = fakeSysctl({});
    await expect(enableForwarding(r2, { uplink: '../../kernel' })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(restoreForwarding(r2, { ipv4: '0; reboot', ipv6: '0' })).rejects.toMatchObject({
      code: 'invalid-argument',
    });
    expect(r2.lines().filter((l) => l.includes('kernel') || l.includes('reboot'))).toEqual([]);
  });

  it('restores every key even when one fails, then reports the failure', async () => {
    const values = { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' };
    const r = fakeSysctl(values, 'net/ipv6/conf/wwan0/accept_ra');
    await expect(
      restoreForwarding(r, { ipv4: '0', ipv6: '0', uplinkAcceptRa: { uplink: 'wwan0', value: '1' } }),
    ).rejects.toMatchObject({ code: 'sysctl-failed' });
    expect(values).toEqual({ 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' });
  });
});

describe('forwardedBefore', () => {
  it('reads each family from the values enableForwarding found', () => {
    expect(forwardedBefore({ ipv4: '0', ipv6: '0' })).toEqual({ ipv4: false, ipv6: false });
    expect(forwardedBefore({ ipv4: '1', ipv6: '0' })).toEqual({ ipv4: true, ipv6: false });
    expect(forwardedBefore({ ipv4: '0', ipv6: '1', uplinkAcceptRa: { uplink: 'eth0', value: '1' } })).toEqual({
      ipv4: false,
      ipv6: true,
    });
  });
});
