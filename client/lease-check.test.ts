import { describe, expect, test } from 'vitest';
import { parseIp } from '../shared/net/address.js';
import type { LeaseGrant } from '../shared/lease/message.js';
import { makeEndpoint } from '../shared/io/endpoint.js';
import { checkLease, LEASE_LIMITS, LeaseCheckCodes, type LeaseCheckCode } from './lease-check.js';

/** What a v1 gateway sends with its defaults (gateway/gateway.ts grantOf). */
function good(): LeaseGrant {
  return {
    ipv4: { address: parseIp('100.64.0.10'), prefixLength: 32 },
    ipv6: { address: parseIp('fd12:3456:789a::10'), prefixLength: 128 },
    gatewayIpv4: parseIp('100.64.0.1'),
    gatewayIpv6: parseIp('fd12:3456:789a::1'),
    dns: [parseIp('198.51.100.53'), parseIp('2001:db8::53')],
    mtu: 1420,
    lifetime: 3600,
  };
}

const v4 = (text: string, prefixLength = 32) => ({ ipv4: { address: parseIp(text), prefixLength } });
const v6 = (text: string, prefixLength = 128) => ({ ipv6: { address: parseIp(text), prefixLength } });
const endpointV4 = makeEndpoint(parseIp('192.0.2.7'), 51820).address; // ::ffff:192.0.2.7, as the agent has it
const endpointV6 = parseIp('2001:db8:7::1');

/** [name, change to the good grant, expected code (null: accepted), endpoint] */
const CASES: [string, Partial<LeaseGrant>, LeaseCheckCode | null, Uint8Array?][] = [
  ['the defaults of a v1 gateway', {}, null],
  ['a /64 IPv6 lease (leasePrefixLength 64, its prefix start)', v6('2001:db8:1:2::', 64), null],
  ['IPv4 only', { ipv6: null, gatewayIpv6: null }, null],
  ['IPv6 only, no MTU, no DNS', { ipv4: null, gatewayIpv4: null, mtu: null, dns: [] }, null],
  ['gateway address outside the /32 (on a point-to-point link it need not be on-link)', {}, null],
  // IPv4 address
  ['IPv4 /0', v4('100.64.0.10', 0), 'ipv4-prefix'],
  ['IPv4 /8', v4('10.0.0.10', 8), 'ipv4-prefix'],
  ['IPv4 /23 (one below the limit)', v4('100.64.0.10', LEASE_LIMITS.ipv4PrefixMin - 1), 'ipv4-prefix'],
  ['IPv4 /24 (the limit)', v4('100.64.0.10', LEASE_LIMITS.ipv4PrefixMin), null],
  ['IPv4 /31', v4('100.64.0.10', 31), null],
  ['IPv4 0.0.0.0', v4('0.0.0.0'), 'ipv4-address'],
  ['IPv4 0.1.2.3 (this network)', v4('0.1.2.3'), 'ipv4-address'],
  ['IPv4 loopback', v4('127.0.0.1'), 'ipv4-address'],
  ['IPv4 link-local', v4('169.254.1.1'), 'ipv4-address'],
  ['IPv4 multicast', v4('224.0.0.1'), 'ipv4-address'],
  ['IPv4 last multicast', v4('239.255.255.255'), 'ipv4-address'],
  ['IPv4 reserved', v4('240.0.0.1'), 'ipv4-address'],
  ['IPv4 broadcast', v4('255.255.255.255'), 'ipv4-address'],
  ['IPv4 just below multicast', v4('223.255.255.254'), null],
  ['IPv4 network address of its /24', v4('100.64.0.0', 24), 'ipv4-address'],
  ['IPv4 broadcast address of its /24', v4('100.64.0.255', 24), 'ipv4-address'],
  ['IPv4 network address of a /30', v4('100.64.0.8', 30), 'ipv4-address'],
  ['IPv4 host of a /30', v4('100.64.0.9', 30), null],
  ['IPv4 .0 as a /32 (a host address there)', v4('100.64.1.0', 32), null],
  // IPv6 address
  ['IPv6 /0', v6('fd12::10', 0), 'ipv6-prefix'],
  ['IPv6 /63 (one below the limit)', v6('fd12::', LEASE_LIMITS.ipv6PrefixMin - 1), 'ipv6-prefix'],
  ['IPv6 /96', v6('fd12::10', 96), null],
  ['IPv6 unspecified', v6('::'), 'ipv6-address'],
  ['IPv6 loopback', v6('::1'), 'ipv6-address'],
  ['IPv6 v4-mapped', v6('::ffff:100.64.0.10'), 'ipv6-address'],
  ['IPv6 link-local', v6('fe80::10'), 'ipv6-address'],
  ['IPv6 link-local, last of fe80::/10', v6('febf::1'), 'ipv6-address'],
  ['IPv6 just past link-local', v6('fec0::1'), null],
  ['IPv6 multicast', v6('ff02::1'), 'ipv6-address'],
  ['IPv6 Yggdrasil', v6('200:1234::10'), 'ipv6-address'],
  ['IPv6 Yggdrasil subnet', v6('300:1234::', 64), 'ipv6-address'],
  // gateway addresses
  ['gateway IPv4 loopback', { gatewayIpv4: parseIp('127.0.0.1') }, 'gateway-ipv4'],
  ['gateway IPv4 unspecified', { gatewayIpv4: parseIp('0.0.0.0') }, 'gateway-ipv4'],
  ['gateway IPv4 broadcast', { gatewayIpv4: parseIp('255.255.255.255') }, 'gateway-ipv4'],
  ['gateway IPv4 equal to ours', { gatewayIpv4: parseIp('100.64.0.10') }, 'gateway-ipv4'],
  ['gateway IPv6 link-local', { gatewayIpv6: parseIp('fe80::1') }, 'gateway-ipv6'],
  ['gateway IPv6 multicast', { gatewayIpv6: parseIp('ff02::2') }, 'gateway-ipv6'],
  ['gateway IPv6 equal to ours', { gatewayIpv6: parseIp('fd12:3456:789a::10') }, 'gateway-ipv6'],
  // DNS
  ['no DNS', { dns: [] }, null],
  [`${LEASE_LIMITS.dnsMax} DNS servers`, { dns: new Array(LEASE_LIMITS.dnsMax).fill(parseIp('198.51.100.53')) }, null],
  [
    `${LEASE_LIMITS.dnsMax + 1} DNS servers`,
    { dns: new Array(LEASE_LIMITS.dnsMax + 1).fill(parseIp('198.51.100.53')) },
    'dns-count',
  ],
  ['DNS loopback', { dns: [parseIp('127.0.0.53')] }, 'dns-address'],
  ['DNS unspecified IPv6', { dns: [parseIp('2001:db8::53'), parseIp('::')] }, 'dns-address'],
  ['DNS multicast', { dns: [parseIp('ff02::fb')] }, 'dns-address'],
  ['DNS on the gateway itself', { dns: [parseIp('100.64.0.1')] }, null],
  ['DNS on the mesh', { dns: [parseIp('200:1234::53')] }, null],
  // MTU
  ['MTU 0', { mtu: 0 }, 'mtu'],
  ['MTU 1279', { mtu: LEASE_LIMITS.mtuMin - 1 }, 'mtu'],
  ['MTU 1280', { mtu: LEASE_LIMITS.mtuMin }, null],
  ['MTU 9000', { mtu: LEASE_LIMITS.mtuMax }, null],
  ['MTU 9001', { mtu: LEASE_LIMITS.mtuMax + 1 }, 'mtu'],
  ['MTU 65535', { mtu: 65535 }, 'mtu'],
  // lifetime
  ['lifetime 0', { lifetime: 0 }, 'lifetime'],
  ['lifetime 59', { lifetime: LEASE_LIMITS.lifetimeMin - 1 }, 'lifetime'],
  ['lifetime 60', { lifetime: LEASE_LIMITS.lifetimeMin }, null],
  ['lifetime a week', { lifetime: LEASE_LIMITS.lifetimeMax }, null],
  ['lifetime a week + 1 s', { lifetime: LEASE_LIMITS.lifetimeMax + 1 }, 'lifetime'],
  ['lifetime 2^32 - 1', { lifetime: 0xffffffff }, 'lifetime'],
  // the gateway's endpoint
  ['our IPv4 address is the gateway endpoint', v4('192.0.2.7'), 'endpoint-in-lease', endpointV4],
  ['our IPv4 /24 holds the gateway endpoint', v4('192.0.2.10', 24), 'endpoint-in-lease', endpointV4],
  ['our IPv4 /24 next to the gateway endpoint', v4('192.0.3.10', 24), null, endpointV4],
  ['our IPv6 /64 holds the gateway endpoint', v6('2001:db8:7::', 64), 'endpoint-in-lease', endpointV6],
  ['our IPv6 /128 beside the gateway endpoint', v6('2001:db8:7::2'), null, endpointV6],
  ['an IPv4 endpoint against an IPv6 lease', v6('2001:db8:7::', 64), null, endpointV4],
];

describe('checkLease', () => {
  test.each(CASES)('%s', (_name, change, code, endpoint) => {
    const problem = checkLease(
      { ...good(), ...change },
      endpoint ? { endpoints: [parseIp('2001:db8:99::1'), endpoint] } : {},
    );
    expect(problem?.code ?? null).toBe(code);
    if (problem) expect(problem.detail).not.toBe('');
  });

  test('every reason code is exercised by the table', () => {
    const seen = new Set(CASES.map((c) => c[2]).filter((c) => c !== null));
    expect([...seen].sort()).toEqual([...LeaseCheckCodes].sort());
  });

  test('the first problem wins, in a fixed order (addresses before DNS, MTU, lifetime)', () => {
    const bad = { ...good(), ...v4('127.0.0.1', 0), mtu: 1, lifetime: 0 };
    expect(checkLease(bad)?.code).toBe('ipv4-prefix');
    expect(checkLease({ ...good(), mtu: 1, lifetime: 0 })?.code).toBe('mtu');
  });

  test('the detail names what was wrong', () => {
    expect(checkLease({ ...good(), ...v4('100.64.0.10', 0) })?.detail).toBe('100.64.0.10/0: prefix not /24 to /32');
    expect(checkLease({ ...good(), mtu: 70 })?.detail).toBe('70: not 1280 to 9000');
  });
});
