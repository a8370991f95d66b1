// The gateway's host state on an in-memory host: TUN, forwarding and the
// firewall in one set, undone by one reset; the forwarding found before the
// first start is kept in the state db, so a restart after a crash (forwarding
// still on) still tells the firewall, and puts back, what the host had.
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../shared/host/fake-host.js';
import { parseCidr } from '../shared/net/address.js';
import { FORWARDING_META_KEY, GatewayHost, type GatewayHostState } from './host.js';
import { IPV4_FORWARD, IPV6_FORWARD } from './sysctl.js';

const NOT_TUNNEL = 'iifname != "mg0" oifname != "mg0" counter name "not_tunnel" drop';
const RA = 'net/ipv6/conf/up0/accept_ra';

const STATE: GatewayHostState = {
  interface: 'mg0',
  mtu: 1420,
  addresses: [parseCidr('100.64.0.0/10'), parseCidr('fd00:1::/64')],
  uplink: 'up0',
  firewall: {
    table: 'meshgate',
    tunnel: 'mg0',
    uplink: 'up0',
    ipv4Pool: parseCidr('100.64.0.0/10'),
    ipv6Pool: parseCidr('fd00:1::/64'),
    ipv6Mode: 'nat66',
    gatewayIpv4: parseCidr('100.64.0.1/32').address,
    gatewayIpv6: parseCidr('fd00:1::1/128').address,
    mtu: 1420,
    allowPrivate: [],
  },
};

function memoryStore() {
  const meta = new Map<string, string>();
  return { meta, getMeta: (k: string) => meta.get(k), setMeta: (k: string, v: string) => void meta.set(k, v) };
}

const nftInput = (h: FakeHost) => h.calls.filter((c) => c.command === 'nft' && c.args[0] === '-f').at(0)?.input ?? '';

describe('GatewayHost', () => {
  it('one set: TUN, forwarding and firewall; one reset puts the host back and forgets the kept values', async () => {
    const h = new FakeHost({ links: ['mg0'], sysctls: { [IPV4_FORWARD]: '0', [IPV6_FORWARD]: '0', [RA]: '1' } });
    const before = h.snapshot();
    const store = memoryStore();
    const host = new GatewayHost(h, store);
    await host.set(STATE);
    expect(h.snapshot()).toMatchObject({
      links: { mg0: { mtu: 1420, up: true } },
      addresses: ['100.64.0.0/10 dev mg0', 'fd00:1::/64 dev mg0'],
      sysctls: { [IPV4_FORWARD]: '1', [IPV6_FORWARD]: '1', [RA]: '2' },
    });
    expect(JSON.parse(store.meta.get(FORWARDING_META_KEY)!)).toEqual({
      ipv4: '0',
      ipv6: '0',
      uplinkAcceptRa: { uplink: 'up0', value: '1' },
    });
    expect(nftInput(h)).toContain(NOT_TUNNEL);
    const undo = await h.linesDuring(() => host.reset());
    expect(undo[0]).toBe('nft -f -'); // the firewall first
    expect(h.snapshot()).toEqual({ ...before, links: {} });
    expect(store.meta.get(FORWARDING_META_KEY)).toBe('');
  });

  it('after a crash: forwarding found on, yet the firewall and the reset use the values kept from before', async () => {
    const h = new FakeHost({ links: ['mg0'], sysctls: { [IPV4_FORWARD]: '1', [IPV6_FORWARD]: '1', [RA]: '2' } });
    const store = memoryStore();
    store.setMeta(
      FORWARDING_META_KEY,
      JSON.stringify({ ipv4: '0', ipv6: '0', uplinkAcceptRa: { uplink: 'up0', value: '1' } }),
    );
    const host = new GatewayHost(h, store);
    await host.set(STATE);
    expect(h.lines().filter((l) => l.startsWith('sysctl -q'))).toEqual([]); // already as wanted
    expect(nftInput(h)).toContain(NOT_TUNNEL);
    await host.reset();
    expect(h.snapshot().sysctls).toEqual({ [IPV4_FORWARD]: '0', [IPV6_FORWARD]: '0', [RA]: '1' });
  });

  it('a host that forwarded before: no not_tunnel rule, and forwarding stays on after reset', async () => {
    const h = new FakeHost({ links: ['mg0'], sysctls: { [IPV4_FORWARD]: '1', [IPV6_FORWARD]: '1', [RA]: '0' } });
    const host = new GatewayHost(h, memoryStore());
    await host.set(STATE);
    expect(nftInput(h)).not.toContain('not_tunnel" drop');
    await host.reset();
    expect(h.snapshot().sysctls).toEqual({ [IPV4_FORWARD]: '1', [IPV6_FORWARD]: '1', [RA]: '0' });
    expect(h.lines().filter((l) => l.startsWith('sysctl -q'))).toEqual([]);
  });
});
