// HostConfigurator against an in-memory host (fake-host.ts): the exact
// commands of a set, nothing the second time, only the difference for a
// change, reset back to the host as it was, and random sequences of desired
// states (fast-check) that end where the last state says.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCidr, parseCidr, parseIp, type Cidr } from '../net/address.js';
import { CommandError } from './command.js';
import { HostConfigurator, type HostState, type LinkState, type RuleState, type SysctlState } from './configurator.js';
import { FakeHost, type FakeHostSnapshot } from './fake-host.js';
import { ruleArgs } from './ip.js';

const LINK: LinkState = { name: 'mg0', mtu: 1420, up: true, owned: true };
const FORWARD = 'net.ipv4.ip_forward';
const RA = 'net/ipv6/conf/up0/accept_ra';

function state(over: Partial<HostState> = {}): HostState {
  return {
    link: LINK,
    addresses: [addr('100.64.0.1/10'), addr('fd00:1::1/64')],
    routes: [{ cidr: parseCidr('2001:db8::/32') }, { cidr: parseCidr('198.51.100.0/24'), table: 7 }],
    rules: [{ family: 4, not: true, fwmark: 7, table: 7 }],
    sysctls: [{ key: FORWARD, value: '1' }],
    ...over,
  };
}

/** An interface address: host bits kept (parseCidr would clear them). */
function addr(text: string): Cidr {
  const [ip, len] = text.split('/') as [string, string];
  const address = parseIp(ip);
  return { family: address.length === 4 ? 4 : 6, address, prefixLength: Number(len) };
}

const host = () => new FakeHost({ links: ['mg0'], sysctls: { [FORWARD]: '0', [RA]: '1' } });

describe('HostConfigurator', () => {
  it('runs exactly these commands for a state, and none when set again', async () => {
    const h = host();
    const c = new HostConfigurator(h);
    await c.set(state());
    expect(h.lines()).toEqual([
      'ip link set dev mg0 mtu 1420',
      'ip link set dev mg0 addrgenmode none multicast off',
      'ip -4 address replace 100.64.0.1/10 dev mg0',
      'ip -6 address replace fd00:1::1/64 dev mg0 nodad',
      'ip link set dev mg0 up',
      'ip -4 route replace 198.51.100.0/24 dev mg0 table 7',
      'ip -4 rule del not fwmark 7 table 7',
      'ip -4 rule add not fwmark 7 table 7',
      'ip -6 route replace 2001:db8::/32 dev mg0',
      'sysctl -n net.ipv4.ip_forward',
      'sysctl -q -w net.ipv4.ip_forward=1',
    ]);
    expect(await h.linesDuring(() => c.set(state()))).toEqual([]);
  });

  it('changes only the difference: an address swapped (the new one first), the MTU, a route and a rule gone', async () => {
    const h = host();
    const c = new HostConfigurator(h);
    await c.set(state());
    expect(
      await h.linesDuring(() =>
        c.set(
          state({
            link: { ...LINK, mtu: 1380 },
            addresses: [addr('100.64.0.2/10'), addr('fd00:1::1/64')],
            routes: [{ cidr: parseCidr('2001:db8::/32') }],
            rules: [],
          }),
        ),
      ),
    ).toEqual([
      'ip link set dev mg0 mtu 1380',
      'ip -4 rule del not fwmark 7 table 7',
      'ip -4 route del 198.51.100.0/24 dev mg0 table 7',
      'ip -4 address replace 100.64.0.2/10 dev mg0',
      'ip -4 address del 100.64.0.1/10 dev mg0',
    ]);
  });

  it('swapping the only IPv4 address keeps the IPv4 routes (the kernel flushes them when the last one goes)', async () => {
    const h = host();
    const c = new HostConfigurator(h);
    const route = { cidr: parseCidr('0.0.0.0/0'), table: 7 };
    await c.set(state({ addresses: [addr('100.64.0.1/32')], routes: [route], rules: [] }));
    await c.set(state({ addresses: [addr('100.65.0.2/32')], routes: [route], rules: [] }));
    expect(h.snapshot().addresses).toEqual(['100.65.0.2/32 dev mg0']);
    expect(h.snapshot().routes).toEqual(['0.0.0.0/0 dev mg0 table 7']);
  });

  it('reset: rules, sysctls back, then the owned link deleted (its addresses and routes with it)', async () => {
    const h = host();
    const before = h.snapshot();
    const c = new HostConfigurator(h);
    await c.set(state());
    expect(await h.linesDuring(() => c.reset())).toEqual([
      'ip -4 rule del not fwmark 7 table 7',
      'sysctl -q -w net.ipv4.ip_forward=0',
      'ip link del dev mg0',
    ]);
    expect(h.snapshot()).toEqual({ ...before, links: {} });
    expect(await h.linesDuring(() => c.reset())).toEqual([]); // nothing left to undo
  });

  it('reset of a link it does not own: routes and addresses removed one by one, the link stays', async () => {
    const h = host();
    const c = new HostConfigurator(h);
    await c.set(state({ link: { ...LINK, owned: false }, rules: [], sysctls: [] }));
    expect(await h.linesDuring(() => c.reset())).toEqual([
      'ip -4 route del 198.51.100.0/24 dev mg0 table 7',
      'ip -6 route del 2001:db8::/32 dev mg0',
      'ip -4 address del 100.64.0.1/10 dev mg0',
      'ip -6 address del fd00:1::1/64 dev mg0',
    ]);
    expect(h.snapshot()).toMatchObject({ addresses: [], routes: [], rules: [] });
  });

  it('a sysctl with `when` changes only from that value, and goes back to it', async () => {
    const ra: SysctlState = { key: RA, value: '2', when: '1' };
    for (const [found, written] of [
      ['1', ['sysctl -q -w net/ipv6/conf/up0/accept_ra=2']],
      ['0', []],
    ] as const) {
      const h = new FakeHost({ sysctls: { [RA]: found } });
      const c = new HostConfigurator(h);
      await c.set(state({ link: null, addresses: [], routes: [], rules: [], sysctls: [ra] }));
      expect(h.lines().filter((l) => l.includes('-w'))).toEqual(written);
      expect(c.originals()).toEqual(found === '1' ? { [RA]: '1' } : {});
      await c.reset();
      expect(h.sysctls.get(RA)).toBe(found);
    }
  });

  it('given the originals of a crashed run, puts those back, not the values it found', async () => {
    const h = new FakeHost({ sysctls: { [FORWARD]: '1' } }); // left on by the crashed run
    const c = new HostConfigurator(h, { originals: { [FORWARD]: '0' } });
    await c.set(state({ link: null, addresses: [], routes: [], rules: [] }));
    expect(h.lines()).toEqual(['sysctl -n net.ipv4.ip_forward']); // already 1: nothing written
    expect(c.originals()).toEqual({ [FORWARD]: '0' });
    await c.reset();
    expect(h.sysctls.get(FORWARD)).toBe('0');
  });

  it('after a failed command, reset undoes exactly the part that was applied', async () => {
    const h = host();
    const c = new HostConfigurator(h);
    const routes = [{ cidr: parseCidr('2001:db8::/32'), table: 7 }];
    // No link "mg1" on this host: its MTU fails first, nothing is recorded but the failure.
    await expect(c.set(state({ link: { ...LINK, name: 'mg1' } }))).rejects.toBeInstanceOf(CommandError);
    await c
      .set(
        state({
          routes,
          sysctls: [
            { key: FORWARD, value: '1' },
            { key: 'net.missing', value: '1' },
          ],
        }),
      )
      .catch((e: unknown) => expect(e).toMatchObject({ code: 'sysctl-failed' }));
    expect(h.sysctls.get(FORWARD)).toBe('0'); // every key is read before the first write
    await c.reset();
    expect(h.snapshot()).toMatchObject({ links: {}, rules: [], sysctls: { [FORWARD]: '0' } });
  });
});

// ---- random sequences -------------------------------------------------------

const ADDRESSES = ['100.64.0.1/10', '100.64.0.2/32', 'fd00:1::1/64', 'fd00:1::2/128'].map(addr);
const ROUTES = [
  { cidr: parseCidr('198.51.100.0/24') },
  { cidr: parseCidr('198.51.100.0/24'), table: 9 },
  { cidr: parseCidr('0.0.0.0/0'), table: 9 },
  { cidr: parseCidr('2001:db8::/32') },
  { cidr: parseCidr('::/0'), table: 9 },
];
const RULES: RuleState[] = [
  { family: 4, not: true, fwmark: 9, table: 9 },
  { family: 4, table: 'main', suppressPrefixLength: 0 },
  { family: 6, not: true, fwmark: 9, table: 9 },
];
const INITIAL_SYSCTLS: Record<string, string> = { a: '0', b: '1', c: '2' };

const sysctlArb = fc.record(
  { key: fc.constantFrom('a', 'b', 'c'), value: fc.constantFrom('0', '1', '2'), when: fc.constantFrom('0', '1') },
  { requiredKeys: ['key', 'value'] },
);
const stateArb: fc.Arbitrary<HostState> = fc.record({
  link: fc.record({
    name: fc.constant('mg0'),
    mtu: fc.constantFrom(1280, 1420),
    up: fc.boolean(),
    owned: fc.boolean(),
  }),
  addresses: fc.subarray(ADDRESSES),
  routes: fc.subarray(ROUTES),
  rules: fc.subarray(RULES),
  sysctls: fc.uniqueArray(sysctlArb, { selector: (s) => s.key, maxLength: 3 }),
});

/** What the host must hold after set(s) on a host that started with INITIAL_SYSCTLS (a reading independent of the diff). */
function expected(s: HostState): FakeHostSnapshot {
  const h = new FakeHost({ sysctls: INITIAL_SYSCTLS });
  for (const x of s.sysctls)
    if (x.when === undefined || x.when === INITIAL_SYSCTLS[x.key]) h.sysctls.set(x.key, x.value);
  h.links.set('mg0', { mtu: s.link!.mtu, up: s.link!.up, tunnelMode: true });
  for (const a of s.addresses) h.addresses.add(`${formatCidr(a)} dev mg0`);
  for (const r of s.routes) h.routes.add(`${formatCidr(r.cidr)} dev mg0 table ${r.table ?? 'main'}`);
  for (const r of s.rules) {
    const args = ruleArgs('add', r);
    h.rules.push([args[0], ...args.slice(3)].join(' '));
  }
  return h.snapshot();
}

describe('HostConfigurator with random sequences of states', () => {
  it('every set reaches its state, a second set runs nothing, reset leaves the host as it was', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stateArb, { minLength: 1, maxLength: 6 }), async (states) => {
        const h = new FakeHost({ links: ['mg0'], sysctls: INITIAL_SYSCTLS });
        const before = h.snapshot();
        const c = new HostConfigurator(h);
        for (const s of states) {
          await c.set(s);
          expect(h.snapshot()).toEqual(expected(s));
          expect(await h.linesDuring(() => c.set(s))).toEqual([]);
        }
        await c.reset();
        if (states.at(-1)!.link!.owned) expect(h.snapshot()).toEqual({ ...before, links: {} });
        else expect(h.snapshot()).toMatchObject({ addresses: [], routes: [], rules: [], sysctls: before.sysctls });
      }),
      { numRuns: 300 },
    );
  });
});
