// Golden-text tests of the gateway's nftables ruleset, and the nft commands it
// runs, recorded by RecordingRunner (no nft, no kernel). The kernel side is
// test/netns/firewall.test.ts.
//
// The golden files are gateway/testdata/firewall-*.nft. After a deliberate
// change to the ruleset, regenerate them with
//   UPDATE_GOLDEN=1 npx vitest run gateway/firewall.test.ts
// and review the diff.

import { describe, expect, it } from 'vitest';
import { CommandError, RecordingRunner } from '../shared/host/command.js';
import { formatCidr, parseCidr, parseIp } from '../shared/net/address.js';
import { PRIVATE_IPV4, PRIVATE_IPV6 } from '../shared/net/special-ranges.js';
import { expectReplacesTable, goldenNextTo } from '../test/support/nft-golden.js';
import { expectCoded } from '../test/support/thrown.js';
import {
  applyFirewall,
  checkFirewallState,
  FirewallCounters,
  firewallCounters,
  FirewallError,
  isSafeInterfaceName,
  parseCounters,
  removeFirewall,
  renderRuleset,
  type FirewallState,
} from './firewall.js';

const golden = goldenNextTo(import.meta.url);

function typical(over: Partial<FirewallState> = {}): FirewallState {
  return {
    table: 'meshgate',
    tunnel: 'mg0',
    uplink: 'eth0',
    ipv4Pool: parseCidr('100.64.0.0/16'),
    ipv6Pool: parseCidr('fd12:3456:789a::/48'),
    ipv6Mode: 'nat66',
    gatewayIpv4: parseIp('100.64.0.1'),
    gatewayIpv6: parseIp('fd12:3456:789a::1'),
    mtu: 1420,
    allowPrivate: [parseCidr('192.168.77.0/24'), parseCidr('fd00:77::/64')],
    hostForwarding: { ipv4: false, ipv6: false },
    ...over,
  };
}

// What `nft -j list counters table inet meshgate` prints (nft 1.0.6), plus a foreign table's counter.
const COUNTERS_JSON = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { counter: { family: 'inet', name: 'to_gateway', table: 'meshgate', handle: 5, packets: 7, bytes: 420 } },
    { counter: { family: 'inet', name: 'private_dst', table: 'meshgate', handle: 4, packets: 2, bytes: 120 } },
    { counter: { family: 'inet', name: 'to_gateway', table: 'other', handle: 1, packets: 99, bytes: 9900 } },
    { counter: { family: 'ip', name: 'to_gateway', table: 'meshgate', handle: 1, packets: 98, bytes: 9800 } },
  ],
});

describe('renderRuleset', () => {
  it('renders the typical nat66 state (golden)', () => {
    golden('firewall-nat66.nft', renderRuleset(typical()));
  });

  it('renders the typical routed state (golden): no IPv6 masquerade', () => {
    const text = renderRuleset(
      typical({ ipv6Mode: 'routed', ipv6Pool: parseCidr('2001:db8:42::/48'), gatewayIpv6: parseIp('2001:db8:42::1') }),
    );
    golden('firewall-routed.nft', text);
    expect(text).not.toMatch(/ip6 saddr [^\n]* masquerade/);
    expect(text).toContain('oifname "eth0" ip saddr 100.64.0.0/16 masquerade');
  });

  it('renders the state of a host that forwarded before meshgate (golden): nothing dropped past the tunnel', () => {
    const text = renderRuleset(typical({ hostForwarding: { ipv4: true, ipv6: true } }));
    golden('firewall-host-forwarding.nft', text);
    expect(text).not.toContain('counter name "not_tunnel"');
    expect(renderRuleset(typical())).toContain(
      '\t\toifname "mg0" jump to_clients\n\t\tiifname != "mg0" oifname != "mg0" counter name "not_tunnel" drop\n\t}',
    );
  });

  it('routes for the tunnel only, in each family the host did not forward before meshgate', () => {
    const forwardChain = (hostForwarding: FirewallState['hostForwarding']) => {
      const text = renderRuleset(typical({ hostForwarding }));
      const from = text.indexOf('\tchain forward {');
      return text.slice(from, text.indexOf('\t}', from));
    };
    const rule = 'iifname != "mg0" oifname != "mg0" counter name "not_tunnel" drop';
    const off = forwardChain({ ipv4: false, ipv6: false });
    expect(off).toContain('type filter hook forward priority filter; policy accept;');
    expect(off.trimEnd().split('\n').pop()).toBe(`\t\t${rule}`);
    expect(forwardChain({ ipv4: false, ipv6: true })).toContain(`\t\tmeta nfproto ipv4 ${rule}\n`);
    expect(forwardChain({ ipv4: true, ipv6: false })).toContain(`\t\tmeta nfproto ipv6 ${rule}\n`);
    const on = renderRuleset(typical({ hostForwarding: { ipv4: true, ipv6: true } }));
    expect(on).not.toContain('counter name "not_tunnel"');
    expect(on).toContain('\tcounter not_tunnel {\n'); // declared all the same: the same counters in every state
  });

  it('replaces only its own table, atomically: create-if-missing, delete, define', () => {
    const text = renderRuleset(typical());
    expectReplacesTable(text, 'meshgate');
    expect(text).not.toMatch(/flush ruleset|flush table/);
    expect(text.match(/^(?:add |delete )?table /gm)).toHaveLength(3);
    expect(renderRuleset(typical({ table: 'meshgate_test' }))).toContain('delete table inet meshgate_test\n');
  });

  it('clamps the MSS of SYNs in both directions, only ever lowering it', () => {
    const text = renderRuleset(typical({ mtu: 1280 }));
    expect(text).toContain('iifname "mg0" jump clamp');
    expect(text).toContain('oifname "mg0" jump clamp');
    expect(text).toContain(
      'meta nfproto ipv4 tcp flags & (syn | rst) == syn tcp option maxseg size > 1240 tcp option maxseg size set 1240',
    );
    expect(text).toContain(
      'meta nfproto ipv6 tcp flags & (syn | rst) == syn tcp option maxseg size > 1220 tcp option maxseg size set 1220',
    );
  });

  it('drops and counts packets without a conntrack entry before anything else from clients (NAT skips them)', () => {
    const text = renderRuleset(typical());
    const chain = text.slice(text.indexOf('\tchain from_clients {'));
    expect(chain.split('\n')[1]).toBe('\t\tct state invalid,untracked counter name "ct_invalid" drop');
  });

  it('declares every named counter, in both modes', () => {
    for (const mode of ['nat66', 'routed'] as const) {
      const text = renderRuleset(typical({ ipv6Mode: mode }));
      for (const c of FirewallCounters) {
        expect(text).toContain(`\tcounter ${c} {\n\t\tpackets 0 bytes 0\n\t}`);
        expect(text).toContain(`counter name "${c}" drop`);
      }
    }
  });

  it('is deterministic: allowPrivate order and nested prefixes do not matter', () => {
    const a = renderRuleset(
      typical({
        allowPrivate: [parseCidr('fd00:77::/64'), parseCidr('192.168.77.0/24'), parseCidr('192.168.77.8/29')],
      }),
    );
    const b = renderRuleset(
      typical({
        allowPrivate: [parseCidr('192.168.77.8/29'), parseCidr('fd00:77::/64'), parseCidr('192.168.77.0/24')],
      }),
    );
    expect(a).toBe(b);
    expect(a).toBe(renderRuleset(typical()));
    const many = renderRuleset(
      typical({
        allowPrivate: ['10.1.0.0/16', '10.0.0.0/16', '10.0.5.0/24', '10.1.0.0/16', '172.16.0.1/32'].map(parseCidr),
      }),
    );
    expect(many).toContain('elements = { 10.0.0.0/16, 10.1.0.0/16, 172.16.0.1/32 }');
  });

  it('renders the private sets from shared/net/special-ranges.ts: NAT64/6to4 of private IPv4 too, documentation ranges not', () => {
    const text = renderRuleset(typical());
    const set = (name: string) =>
      text.match(new RegExp(`\\tset ${name} \\{[^}]*elements = \\{ ([^}]*) \\}`))![1]!.split(', ');
    expect(set('private4')).toEqual(PRIVATE_IPV4.map(formatCidr));
    expect(set('private6')).toEqual(PRIVATE_IPV6.map(formatCidr));
    expect(set('private4')).toEqual(expect.arrayContaining(['192.0.0.0/24', '198.18.0.0/15', '10.0.0.0/8']));
    expect(set('private6')).toEqual(
      expect.arrayContaining(['64:ff9b:1::/48', '64:ff9b::c0a8:0/112', '2002:c0a8::/32', 'fc00::/7', '100::/64']),
    );
    for (const doc of [
      '192.0.2.0/24',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '2001:db8::/32',
      '64:ff9b::/96',
      '2002::/16',
    ])
      expect([...set('private4'), ...set('private6')]).not.toContain(doc);
  });

  it('renders empty allow sets when nothing is allowed', () => {
    const text = renderRuleset(typical({ allowPrivate: [] }));
    expect(text).toContain('\tset allow_private4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}');
    expect(text).toContain('\tset allow_private6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}');
  });

  it('starts counters from given values, ignoring unknown names and bad numbers', () => {
    const text = renderRuleset(typical(), {
      to_gateway: { packets: 7, bytes: 420 },
      private_dst: { packets: -1, bytes: 5 },
      'evil } chain x {': { packets: 1, bytes: 1 },
    });
    expect(text).toContain('\tcounter to_gateway {\n\t\tpackets 7 bytes 420\n\t}');
    expect(text).toContain('\tcounter private_dst {\n\t\tpackets 0 bytes 0\n\t}');
    expect(text).not.toContain('evil');
  });
});

describe('state validation', () => {
  /** Bad values by field, each refused naming the field (values a caller could only pass around the types, too). */
  const badValues: Partial<Record<keyof FirewallState, unknown[]>> = {
    table: ['counter', 'meshgate x', 'meshgate"', 'Meshgate', ''],
    tunnel: ['mg0" accept #', 'mg 0', '', 'a'.repeat(16), 'eth*', '..'],
    uplink: ['eth0\\', "eth'0", 'eth0\n', 'ethé', 'mg0'],
    ipv4Pool: [
      parseCidr('fd00::/48'),
      { family: 4, address: parseIp('100.64.0.1'), prefixLength: 16 },
      { family: 4, address: parseIp('100.64.0.0'), prefixLength: 33 },
      parseCidr('0.0.0.0/0'),
    ],
    ipv6Pool: [parseCidr('100.64.0.0/16'), { family: 6, address: parseIp('100.64.0.0'), prefixLength: 16 }],
    ipv6Mode: ['nat'],
    gatewayIpv4: [parseIp('100.65.0.1'), parseIp('fd12:3456:789a::1')],
    gatewayIpv6: [parseIp('fd12:3456:789b::1')],
    mtu: [575, 9001, 1420.5],
    hostForwarding: [undefined, { ipv4: 0, ipv6: true }],
  };
  const bad: [string, Partial<FirewallState>][] = [
    ...Object.entries(badValues).flatMap(([field, values]) =>
      values.map((v): [string, Partial<FirewallState>] => [field, { [field]: v }]),
    ),
    // A bad allowPrivate entry is named by its index.
    [
      'allowPrivate[1]',
      { allowPrivate: [parseCidr('10.0.0.0/8'), { family: 4, address: parseIp('10.0.0.1'), prefixLength: 8 }] },
    ],
    ['allowPrivate[0]', { allowPrivate: [{ family: 4, address: new Uint8Array(5), prefixLength: 8 }] }],
    ['allowPrivate', { allowPrivate: 'all' as unknown as [] }],
  ];
  it.each(bad)('rejects a bad %s', (field, over) => {
    const s = typical(over);
    const err = expectCoded(() => renderRuleset(s), FirewallError, 'invalid-state');
    expect(err.message).toContain(`firewall: ${field}:`);
  });

  it('accepts names with dots, dashes and underscores (VLANs, test devices)', () => {
    expect(() => checkFirewallState(typical({ tunnel: 'mg-tun_0', uplink: 'eth0.100' }))).not.toThrow();
    expect(renderRuleset(typical({ uplink: 'eth0.100' }))).toContain('oifname != "eth0.100" counter name');
  });

  it('refuses every character that could leave an nft quoted string or act as a wildcard', () => {
    for (const c of ['"', "'", '\\', ' ', '\t', '\n', '\r', '*', '#', ';', '{', '}', '$', '/', ':', '@', '\0']) {
      expect(isSafeInterfaceName(`eth${c}0`), JSON.stringify(c)).toBe(false);
    }
  });

  it('runs no command for an invalid state', async () => {
    const r = new RecordingRunner();
    await expect(applyFirewall(r, typical({ uplink: 'eth0"' }))).rejects.toMatchObject({ code: 'invalid-state' });
    await expect(removeFirewall(r, 'inet')).rejects.toMatchObject({ code: 'invalid-state' });
    await expect(firewallCounters(r, 'x;y')).rejects.toMatchObject({ code: 'invalid-state' });
    expect(r.calls).toEqual([]);
  });
});

describe('applyFirewall', () => {
  it('reads the counters, then replaces the table in one `nft -f -` carrying them over', async () => {
    const r = new RecordingRunner((_cmd, args) => (args[0] === '-j' ? COUNTERS_JSON : ''));
    await applyFirewall(r, typical());
    expect(r.lines()).toEqual(['nft -j list counters table inet meshgate', 'nft -f -']);
    const expected = renderRuleset(typical(), {
      to_gateway: { packets: 7, bytes: 420 },
      private_dst: { packets: 2, bytes: 120 },
    });
    expect(r.calls[1]!.input).toBe(expected);
    expect(expected).toContain('\tcounter to_gateway {\n\t\tpackets 7 bytes 420\n\t}');
  });

  it('starts from zero when there is no table yet', async () => {
    const r = new RecordingRunner((_cmd, args) => {
      if (args[0] === '-j')
        throw new CommandError('nft -j list counters table inet meshgate', 1, 'Error: No such file or directory');
      return '';
    });
    await applyFirewall(r, typical());
    expect(r.calls).toHaveLength(2);
    expect(r.calls[1]).toEqual({ command: 'nft', args: ['-f', '-'], input: renderRuleset(typical()) });
  });

  it('is idempotent: the same state gives the same transaction', async () => {
    const r = new RecordingRunner((_cmd, args) => (args[0] === '-j' ? COUNTERS_JSON : ''));
    await applyFirewall(r, typical());
    await applyFirewall(r, typical());
    expect(r.calls[3]).toEqual(r.calls[1]);
  });

  it('reports a failing nft with its message', async () => {
    const r = new RecordingRunner((_cmd, args) => {
      if (args[0] === '-f')
        throw new CommandError('nft -f -', 1, 'Error: Could not process rule: No such file or directory');
      return COUNTERS_JSON;
    });
    const err = await applyFirewall(r, typical()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FirewallError);
    expect(err).toMatchObject({ code: 'nft-failed' });
    expect((err as Error).message).toContain('Could not process rule');
  });
});

describe('removeFirewall', () => {
  it('deletes only our table, also when it is missing, in one transaction', async () => {
    const r = new RecordingRunner();
    await removeFirewall(r);
    await removeFirewall(r, 'meshgate_test');
    expect(r.calls).toEqual([
      { command: 'nft', args: ['-f', '-'], input: 'table inet meshgate {}\ndelete table inet meshgate\n' },
      { command: 'nft', args: ['-f', '-'], input: 'table inet meshgate_test {}\ndelete table inet meshgate_test\n' },
    ]);
  });
});

describe('firewallCounters', () => {
  it('lists the named counters of our table only', async () => {
    const r = new RecordingRunner(() => COUNTERS_JSON);
    expect(await firewallCounters(r)).toEqual({
      to_gateway: { packets: 7, bytes: 420 },
      private_dst: { packets: 2, bytes: 120 },
    });
    expect(r.lines()).toEqual(['nft -j list counters table inet meshgate']);
  });

  it('rejects output it cannot read', () => {
    for (const text of [
      '',
      'nope',
      '{}',
      '{"nftables": 3}',
      '{"nftables":[{"counter":{"family":"inet","table":"meshgate","name":"x"}}]}',
    ]) {
      expect(() => parseCounters(text), text).toThrow(FirewallError);
    }
    expect(parseCounters('{"nftables":[]}')).toEqual({});
  });

  it('reports a failing nft as nft-failed', async () => {
    const r = new RecordingRunner(() => {
      throw new CommandError('nft', 1, 'Error: No such file or directory');
    });
    await expect(firewallCounters(r)).rejects.toMatchObject({ code: 'nft-failed' });
  });
});
