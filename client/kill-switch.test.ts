// Golden-text tests of the client's kill switch ruleset and the nft commands
// it runs (RecordingRunner, no kernel). The kernel side is
// test/netns/client-kill-switch.test.ts. After a deliberate change, regenerate
// with UPDATE_GOLDEN=1 npx vitest run client/kill-switch.test.ts and review the diff.

import { describe, expect, it } from 'vitest';
import { CommandError, RecordingRunner } from '../shared/host/command.js';
import { formatCidr, parseCidr, parseIp } from '../shared/net/address.js';
import { expectReplacesTable, goldenNextTo } from '../test/support/nft-golden.js';
import { expectCoded } from '../test/support/thrown.js';
import {
  applyKillSwitch,
  KillSwitchError,
  lanPrefixes,
  removeKillSwitch,
  renderKillSwitch,
  renderKillSwitchLan,
  unmapAddress,
  type KillSwitchState,
} from './kill-switch.js';

const golden = goldenNextTo(import.meta.url);

function typical(over: Partial<KillSwitchState> = {}): KillSwitchState {
  return {
    table: 'meshgate_killswitch',
    tunnel: 'mgc0',
    mark: 51820,
    endpoints: [{ address: parseIp('::ffff:192.0.2.1'), port: 51820 }],
    lan: [parseCidr('192.0.2.0/24'), parseCidr('2001:db8:1::/64')],
    ...over,
  };
}

describe('renderKillSwitch', () => {
  it('renders lan: outside with an IPv4 endpoint (golden)', () => {
    golden('kill-switch-lan.nft', renderKillSwitch(typical()));
  });

  it('renders lan: tunnel with an IPv6 (Yggdrasil) endpoint (golden): empty LAN sets', () => {
    const text = renderKillSwitch(typical({ lan: [], endpoints: [{ address: parseIp('200:1234::1'), port: 443 }] }));
    golden('kill-switch-no-lan.nft', text);
    expect(text).toContain('ip6 daddr 200:1234::1 udp dport 443 accept');
    expect(text).not.toContain('elements');
  });

  it('allows every endpoint of every gateway, each once, in order', () => {
    const text = renderKillSwitch(
      typical({
        endpoints: [
          { address: parseIp('::ffff:192.0.2.1'), port: 51820 },
          { address: parseIp('2001:db8:1::1'), port: 51820 },
          { address: parseIp('192.0.2.2'), port: 4500 },
          { address: parseIp('192.0.2.1'), port: 51820 }, // the first one again, not v4-mapped
        ],
      }),
    );
    const rules = text.split('\n').filter((l) => l.includes('udp dport') && l.includes('daddr'));
    expect(rules.map((l) => l.trim())).toEqual([
      'ip daddr 192.0.2.1 udp dport 51820 accept',
      'ip6 daddr 2001:db8:1::1 udp dport 51820 accept',
      'ip daddr 192.0.2.2 udp dport 4500 accept',
    ]);
  });

  it('with a router LAN, the forward hook lets the replies from the tunnel to the LAN through (nothing else changes)', () => {
    const text = renderKillSwitch(typical({ router: 'br-lan' }));
    const rule = 'iifname "mgc0" oifname "br-lan" ct state established,related accept';
    expect(text.replace(`\t\t${rule}\n`, '')).toBe(renderKillSwitch(typical()));
    expect(text.indexOf(rule)).toBeGreaterThan(text.indexOf('hook forward'));
    expect(() => renderKillSwitch(typical({ router: 'a"b' }))).toThrow(KillSwitchError);
  });

  it('is deterministic, replaces the table as a whole and ends every path in a counted drop', () => {
    const text = renderKillSwitch(typical());
    expect(renderKillSwitch(typical())).toBe(text);
    expectReplacesTable(text, 'meshgate_killswitch');
    expect(text.match(/policy drop;/g)).toHaveLength(2);
    expect(text.match(/counter name "blocked" drop/g)).toHaveLength(2);
  });

  it('refuses what it cannot embed safely, naming the field', () => {
    const bad: [Partial<KillSwitchState>, RegExp][] = [
      [{ table: 'other' }, /table/],
      [{ table: 'meshgate; flush ruleset' }, /table/],
      [{ tunnel: 'mg0" accept #' }, /tunnel/],
      [{ mark: 0 }, /mark/],
      [{ mark: 2 ** 32 }, /mark/],
      [{ endpoints: [{ address: new Uint8Array(5), port: 1 }] }, /endpoints\[0\]/],
      [{ endpoints: [typical().endpoints[0]!, { address: parseIp('192.0.2.1'), port: 0 }] }, /endpoints\[1\]/],
      [{ endpoints: [] }, /endpoints/],
      [{ lan: [{ family: 4, address: parseIp('192.0.2.1'), prefixLength: 24 }] }, /lan\[0\]/],
    ];
    for (const [over, field] of bad) {
      const e = expectCoded(() => renderKillSwitch(typical(over)), KillSwitchError, 'invalid-state');
      expect(e.message).toMatch(field);
    }
  });
});

describe('renderKillSwitchLan', () => {
  it('replaces only the two LAN sets, in one transaction; an empty family is only flushed', () => {
    expect(renderKillSwitchLan(typical())).toBe(
      [
        'flush set inet meshgate_killswitch lan4',
        'add element inet meshgate_killswitch lan4 { 192.0.2.0/24 }',
        'flush set inet meshgate_killswitch lan6',
        'add element inet meshgate_killswitch lan6 { 2001:db8:1::/64 }',
        '',
      ].join('\n'),
    );
    expect(renderKillSwitchLan(typical({ lan: [] }))).toBe(
      'flush set inet meshgate_killswitch lan4\nflush set inet meshgate_killswitch lan6\n',
    );
    expectCoded(() => renderKillSwitchLan(typical({ table: 'x; flush ruleset' })), KillSwitchError, 'invalid-state');
  });
});

describe('the LAN the kill switch allows', () => {
  it('takes the prefixes of the other interfaces, not the tunnel, lo, link-local or duplicates', () => {
    const a = (ifname: string, text: string) => ({ ifname, prefix: parseCidr(text) });
    const lan = lanPrefixes(
      [
        a('lo', '127.0.0.0/8'),
        a('eth0', '192.0.2.0/24'),
        a('eth0', 'fe80::/64'),
        a('eth0', '2001:db8:1::/64'),
        a('wlan0', '192.0.2.0/24'),
        a('mgc0', '100.64.0.0/16'),
      ],
      'mgc0',
    );
    expect(lan.map(formatCidr)).toEqual(['192.0.2.0/24', '2001:db8:1::/64']);
  });

  it('unmaps v4-mapped endpoints only', () => {
    expect(unmapAddress(parseIp('::ffff:192.0.2.1'))).toEqual(parseIp('192.0.2.1'));
    expect(unmapAddress(parseIp('2001:db8::1'))).toEqual(parseIp('2001:db8::1'));
  });
});

describe('applying and removing', () => {
  it('one nft -f - each; removing deletes only our table', async () => {
    const r = new RecordingRunner();
    await applyKillSwitch(r, typical());
    await removeKillSwitch(r);
    expect(r.lines()).toEqual(['nft -f -', 'nft -f -']);
    expect(r.calls[0]!.input).toBe(renderKillSwitch(typical()));
    expect(r.calls[1]!.input).toBe('table inet meshgate_killswitch {}\ndelete table inet meshgate_killswitch\n');
  });

  it('an nft failure is a coded error with nft’s message', async () => {
    const r = new RecordingRunner(() => {
      throw new CommandError('nft -f -', 1, 'Error: Could not process rule: Operation not permitted');
    });
    const e = await applyKillSwitch(r, typical()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KillSwitchError);
    expect((e as KillSwitchError).code).toBe('nft-failed');
    expect((e as Error).message).toMatch(/Operation not permitted/);
    await expect(removeKillSwitch(r, 'x; flush ruleset')).rejects.toThrow(/table/);
  });
});
