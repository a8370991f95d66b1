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

  test('never shows the private key', () => {
    const text = renderStatus(tunnelStatus('mg0', device, 51820), 0);
    expect(text).toMatch(/private key: \(hidden\)/);
    expect(JSON.stringify(tunnelStatus('mg0', device, 51820))).not.toContain(Buffer.alloc(32, 7).toString('base64'));
  });
});
