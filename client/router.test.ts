// Golden-text tests of the client router's ruleset and the nft commands it
// runs (RecordingRunner, no kernel). The kernel side is
// test/netns/client-router.test.ts. After a deliberate change, regenerate
// with UPDATE_GOLDEN=1 npx vitest run client/router.test.ts and review the diff.

import { describe, expect, it } from 'vitest';
import { RecordingRunner } from '../shared/host/command.js';
import { parseCidr, parseIp } from '../shared/net/address.js';
import { expectReplacesTable, goldenNextTo } from '../test/support/nft-golden.js';
import { expectCoded } from '../test/support/thrown.js';
import { applyRouter, removeRouter, renderRouter, RouterError, type RouterState } from './router.js';

const golden = goldenNextTo(import.meta.url);

const typical = (over: Partial<RouterState> = {}): RouterState => ({
  table: 'meshgate_router',
  tunnel: 'mgc0',
  lan: 'br-lan',
  mtu: 1420,
  ...over,
});

describe('renderRouter', () => {
  it('renders the router table (golden)', () => {
    golden('router.nft', renderRouter(typical()));
  });

  it('is deterministic, replaces the table as a whole, clamps MSS to the MTU per family', () => {
    const text = renderRouter(typical());
    expect(renderRouter(typical())).toBe(text);
    expectReplacesTable(text, 'meshgate_router');
    expect(text).toContain('maxseg size set 1380');
    expect(text).toContain('maxseg size set 1360');
    const other = renderRouter(typical({ mtu: 1280 }));
    expect(other).toContain('maxseg size set 1240');
    expect(other).toContain('maxseg size set 1220');
  });

  it('ipv6: routed leaves the LAN /64 un-NATed, counted, and NATs the rest (golden)', () => {
    const routed6 = parseCidr('2001:db8:7000:5::/64');
    const text = renderRouter(typical({ routed6 }));
    golden('router-routed.nft', text);
    const nat = text.slice(text.indexOf('chain postrouting'));
    const accept = nat.indexOf('oifname "mgc0" ip6 saddr 2001:db8:7000:5::/64 counter name "routed" accept');
    expect(accept).toBeGreaterThan(0);
    expect(accept).toBeLessThan(nat.indexOf('masquerade'));
    expect(renderRouter(typical({ routed6: null }))).toBe(renderRouter(typical()));
    for (const bad of ['2001:db8:7000:5::/56', '2001:db8:7000:5::1/64', '192.0.2.0/24']) {
      const c = bad.includes('::1/')
        ? { ...parseCidr('2001:db8:7000:5::/64'), address: parseIp('2001:db8:7000:5::1') }
        : parseCidr(bad);
      expectCoded(() => renderRouter(typical({ routed6: c })), RouterError, 'invalid-state');
    }
  });

  it('refuses what it cannot embed safely', () => {
    expectCoded(() => renderRouter(typical({ lan: 'a"b' })), RouterError, 'invalid-state');
    expectCoded(() => renderRouter(typical({ lan: 'mgc0' })), RouterError, 'invalid-state');
    expectCoded(() => renderRouter(typical({ table: 'filter' })), RouterError, 'invalid-state');
    expectCoded(() => renderRouter(typical({ mtu: 500 })), RouterError, 'invalid-state');
  });
});

describe('applyRouter / removeRouter', () => {
  it('runs one nft -f - each', async () => {
    const r = new RecordingRunner();
    await applyRouter(r, typical());
    await removeRouter(r);
    expect(r.calls.map((c) => [c.command, ...c.args])).toEqual([
      ['nft', '-f', '-'],
      ['nft', '-f', '-'],
    ]);
    expect(r.calls[1]!.input).toBe('table inet meshgate_router {}\ndelete table inet meshgate_router\n');
  });
});
