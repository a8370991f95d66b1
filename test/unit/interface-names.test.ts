// One interface-name rule (shared/net/interface-name.ts): every place that
// takes a name from the user agrees on it, so a name one step accepts is never
// refused by a later one after the host has changed (a gateway config with
// `interface: mg+0` once passed the loader and failed in the firewall).

import { describe, expect, it } from 'vitest';
import { interfaceName } from '../../shared/config/fields.js';
import { interfaceNameOf } from '../../shared/cli/foreground.js';
import { parseEndpoint } from '../../shared/io/endpoint.js';
import { isInterfaceName } from '../../shared/net/address.js';
import { isSafeInterfaceName } from '../../gateway/firewall.js';

const NAMES = [
  'mg0',
  'wg_home',
  'br-lan',
  'eth0.100',
  'A23456789012345',
  'mg+0',
  'wg=1',
  'mg*',
  'a b',
  'a:b',
  '.',
  '..',
  'x'.repeat(16),
  'ümlaut',
];

const accepts = {
  'config loader': (n: string) => ok(() => interfaceName(n, 'interface')),
  firewall: (n: string) => isSafeInterfaceName(n),
  'meshgate up (file name)': (n: string) => ok(() => interfaceNameOf(`/etc/wireguard/${n}.conf`)),
  'endpoint zone': (n: string) => ok(() => parseEndpoint(`[fe80::1%${n}]:51820`, { ifindex: () => 7 })),
};

function ok(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

describe('interface names: one rule everywhere', () => {
  for (const [where, accept] of Object.entries(accepts)) {
    it(`${where} accepts exactly what isInterfaceName accepts`, () => {
      for (const name of NAMES) expect(accept(name), `${where}: ${JSON.stringify(name)}`).toBe(isInterfaceName(name));
    });
  }
});
