import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { Device } from '../wireguard/device.js';
import { renderStatus, tunnelStatus } from './status.js';

describe('tunnel status', () => {
  const device = new Device({ privateKey: new Uint8Array(32).fill(7), random: (n) => randomBytes(n) });

  test('carries the runner’s packet errors and shows them only when there are some', () => {
    const healthy = tunnelStatus('mg0', device, 51820);
    expect(healthy.packetErrors).toBe(0);
    expect(renderStatus(healthy, 0)).not.toMatch(/packet errors/);
    const sick = tunnelStatus('mg0', device, 51820, 3);
    expect(sick.packetErrors).toBe(3);
    expect(renderStatus(sick, 0)).toMatch(/^packet errors: 3 /m);
  });

  test('shows each peer’s drops under the peer, and the totals at the end', () => {
    const d = new Device({ privateKey: new Uint8Array(32).fill(7), random: (n) => randomBytes(n) });
    const peer = d.addPeer({ publicKey: new Uint8Array(32).fill(9), allowedIps: [] });
    d.fromTunnel(
      Uint8Array.of(0x45, 0, 0, 20, ...new Array<number>(16).fill(0)),
      { mono: 0, wall: 0 },
      {
        toNetwork: () => {},
        toTunnel: () => {},
      },
    ); // no route: a device drop only
    peer.drops['decrypt-failed'] = 2;
    const s = tunnelStatus('mg0', d, 51820);
    expect(s.peers[0]!.drops['decrypt-failed']).toBe(2);
    const text = renderStatus(s, 0);
    expect(text).toMatch(/^ {2}drops: decrypt-failed=2$/m);
    expect(text).toMatch(/^drops: no-route=1$/m);
  });

  test('never shows the private key', () => {
    const text = renderStatus(tunnelStatus('mg0', device, 51820), 0);
    expect(text).toMatch(/private key: \(hidden\)/);
    expect(JSON.stringify(tunnelStatus('mg0', device, 51820))).not.toContain(Buffer.alloc(32, 7).toString('base64'));
  });

  test('shows a client agent’s quota line under the interface, only when it has one', () => {
    const s = tunnelStatus('mg0', device, 51820);
    expect(renderStatus(s, 0)).not.toMatch(/quota/);
    expect(renderStatus({ ...s, quota: null }, 0)).not.toMatch(/quota/);
    const quota = {
      state: 'blocked',
      count: 'both',
      used: 50e6,
      quota: 50e6,
      periodEnd: '2026-12-31T23:00:00Z',
      limitDown: null,
      limitUp: null,
    } as const;
    expect(renderStatus({ ...s, quota }, 0).split('\n')[4]).toBe(
      '  quota: blocked, 50.0 MB of 50.0 MB used, period ends 2026-12-31T23:00:00Z',
    );
  });
});
