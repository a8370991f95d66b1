import { describe, expect, it } from 'vitest';
import { INTERFACE_NAME_MAX, interfaceNameProblem, isInterfaceName } from './interface-name.js';

describe('interface names: the one rule', () => {
  it('accepts 1-15 of A-Z a-z 0-9 _ . -', () => {
    for (const name of ['mg0', 'eth0', 'wg_home', 'br-lan', 'eth0.100', 'a', 'A23456789012345']) {
      expect(isInterfaceName(name), name).toBe(true);
      expect(interfaceNameProblem(name), name).toBeNull();
    }
  });

  it('refuses what Linux, ip or nft cannot take, and + and =', () => {
    const bad: unknown[] = [
      '',
      '.',
      '..',
      'mg+0', // accepted by the loader once; the firewall refused it after the host had changed
      'wg=0',
      'x'.repeat(INTERFACE_NAME_MAX + 1),
      'eth 0',
      'eth0:1',
      'a/b',
      'mg*',
      'mg"0',
      'mg\\0',
      'mg%d',
      'ümlaut',
      'mg0\n',
      undefined,
      7,
    ];
    for (const name of bad) {
      expect(isInterfaceName(name), String(name)).toBe(false);
      expect(interfaceNameProblem(name), String(name)).toMatch(/interface name/);
    }
  });
});
