// The uplink watch over fake readers and a fake clock: the decision (carrier,
// default route, active check), the reason order, onChange once per change,
// the two-round rule of the check, the proc parsers on real and broken lines;
// tcpReach against real loopback sockets (a dropped target: the netns test).

import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  defaultRouteV4,
  defaultRouteV6,
  tcpReach,
  UPLINK_CHECK_TIMEOUT_MS,
  uplinkMessage,
  UplinkWatch,
  type UplinkCheckTarget,
  type UplinkState,
} from './uplink-watch.js';

const ROUTE4_HEADER =
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       ';
/** default via 198.51.100.1 dev up0, and the connected 198.51.100.0/24 (as the kernel prints them). */
const ROUTE4_DEFAULT_UP0 = [
  ROUTE4_HEADER,
  'up0\t00000000\t016433C6\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                               ',
  'up0\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                               ',
  '',
].join('\n');
const ROUTE4_CONNECTED_ONLY = [ROUTE4_HEADER, ROUTE4_DEFAULT_UP0.split('\n')[2]!, ''].join('\n');
const ZERO = '00000000000000000000000000000000';
/** default via 2001:db8:100::1 dev up0, the connected /64, and the kernel's unreachable ::/0 on lo. */
const ROUTE6_DEFAULT_UP0 = [
  `20010db8010000000000000000000000 40 ${ZERO} 00 ${ZERO} 00000100 00000001 00000000 00000001      up0`,
  `${ZERO} 00 ${ZERO} 00 20010db8010000000000000000000001 00000400 00000001 00000000 00000003      up0`,
  `${ZERO} 00 ${ZERO} 00 ${ZERO} ffffffff 00000001 00000000 00200200       lo`,
  '',
].join('\n');
const ROUTE6_UNREACHABLE_ONLY = ROUTE6_DEFAULT_UP0.split('\n')[2]! + '\n';

const TARGET: UplinkCheckTarget = { host: '198.51.100.1', port: 80, text: '198.51.100.1:80' };

/** A watch of "up0" over fake host readers that the test changes. */
function fakeHost(opts: { check?: boolean } = {}) {
  const host = {
    carrier: true,
    route4: ROUTE4_DEFAULT_UP0 as string | null,
    route6: ROUTE6_DEFAULT_UP0 as string | null,
    reach: true,
    probes: 0,
    clock: 1_000,
    changes: [] as UplinkState[],
  };
  const watch = new UplinkWatch({
    uplink: 'up0',
    check: opts.check === true ? { targets: [TARGET, { ...TARGET, port: 443 }], interval: 5 } : null,
    onChange: (s) => host.changes.push(s),
    readers: {
      linkUp: (name) => name === 'up0' && host.carrier,
      readFile: (p) => (p === '/proc/net/route' ? host.route4 : p === '/proc/net/ipv6_route' ? host.route6 : null),
      tcpReach: (_t, timeoutMs) => {
        expect(timeoutMs).toBe(UPLINK_CHECK_TIMEOUT_MS);
        host.probes++;
        return Promise.resolve(host.reach);
      },
      now: () => host.clock,
    },
  });
  return { host, watch };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('UplinkWatch: carrier and default route', () => {
  it('is up with carrier and a default route; the first state comes from the constructor, no onChange', () => {
    const { host, watch } = fakeHost();
    expect(watch.state).toEqual({ up: true, reason: null, since: 1_000 });
    expect(host.changes).toEqual([]);
  });

  it('starts down when the uplink has no carrier at creation (the first HEALTH already says so)', () => {
    const watch = new UplinkWatch({
      uplink: 'up0',
      check: null,
      readers: { linkUp: () => false, readFile: () => ROUTE4_DEFAULT_UP0, now: () => 5 },
    });
    expect(watch.state).toEqual({ up: false, reason: 'no-carrier', since: 5 });
  });

  it('says why, in order: no carrier before no default route; onChange once per change with its time', () => {
    const { host, watch } = fakeHost();
    host.clock = 2_000;
    host.carrier = false;
    watch.checkNow();
    watch.checkNow(); // no change, no second call
    host.clock = 3_000;
    host.route4 = ROUTE4_CONNECTED_ONLY;
    host.route6 = ROUTE6_UNREACHABLE_ONLY;
    watch.checkNow(); // still no carrier: the same reason
    host.clock = 4_000;
    host.carrier = true;
    watch.checkNow();
    host.clock = 5_000;
    host.route6 = ROUTE6_DEFAULT_UP0; // IPv6 alone is enough
    watch.checkNow();
    expect(host.changes).toEqual([
      { up: false, reason: 'no-carrier', since: 2_000 },
      { up: false, reason: 'no-default-route', since: 4_000 },
      { up: true, reason: null, since: 5_000 },
    ]);
    expect(watch.state).toBe(host.changes[2]);
  });

  it('IPv4 alone is enough; unreadable proc files count as no route', () => {
    const { host, watch } = fakeHost();
    host.route6 = null;
    expect(watch.checkNow().up).toBe(true);
    host.route4 = null;
    expect(watch.checkNow()).toMatchObject({ up: false, reason: 'no-default-route' });
  });
});

describe('UplinkWatch: the active check (uplinkCheck)', () => {
  it('fails after two rounds in a row that reached no target; one round with one reached makes it pass', async () => {
    const { host, watch } = fakeHost({ check: true });
    host.reach = false;
    await watch.checkRound();
    expect(watch.state.up).toBe(true); // one round is not enough
    expect(host.probes).toBe(2); // every target, each round
    host.clock = 7_000;
    await watch.checkRound();
    expect(watch.state).toEqual({ up: false, reason: 'check-failed', since: 7_000 });
    watch.checkNow(); // the once-a-second check keeps the check's verdict
    expect(watch.state.reason).toBe('check-failed');
    host.reach = true;
    host.clock = 8_000;
    await watch.checkRound();
    expect(watch.state).toEqual({ up: true, reason: null, since: 8_000 });
    expect(host.changes.map((c) => c.reason)).toEqual(['check-failed', null]);
  });

  it('a round with one failed round between good ones never fails; a rejected reader counts as not reached', async () => {
    const { host, watch } = fakeHost({ check: true });
    for (const reach of [false, true, false, true]) {
      host.reach = reach;
      await watch.checkRound();
      expect(watch.state.up).toBe(true);
    }
    const broken = new UplinkWatch({
      uplink: 'up0',
      check: { targets: [TARGET], interval: 1 },
      readers: {
        linkUp: () => true,
        readFile: (p) => (p === '/proc/net/route' ? ROUTE4_DEFAULT_UP0 : null),
        tcpReach: () => Promise.reject(new Error('boom')),
      },
    });
    await broken.checkRound();
    await broken.checkRound();
    expect(broken.state.reason).toBe('check-failed');
  });

  it('carrier before the check: a cut link says no-carrier; back, it asks the targets at once', async () => {
    const { host, watch } = fakeHost({ check: true });
    host.reach = false;
    host.carrier = false;
    watch.checkNow();
    await watch.checkRound();
    await watch.checkRound();
    expect(watch.state.reason).toBe('no-carrier');
    host.carrier = true;
    host.reach = true;
    const before = host.probes;
    watch.checkNow(); // carrier back: the check has failed so far, a round starts now
    expect(watch.state.reason).toBe('check-failed');
    expect(host.probes).toBe(before + 2);
    await new Promise((r) => setImmediate(r));
    expect(watch.state.up).toBe(true);
  });

  it('start() checks at once and on timers (a and b every second, a round every interval); stop() ends them', async () => {
    vi.useFakeTimers();
    const { host, watch } = fakeHost({ check: true });
    watch.start();
    expect(host.probes).toBe(2); // the first round at once
    host.carrier = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(watch.state.reason).toBe('no-carrier');
    await vi.advanceTimersByTimeAsync(4_000);
    expect(host.probes).toBe(4);
    watch.stop();
    host.carrier = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(watch.state.reason).toBe('no-carrier');
    expect(host.probes).toBe(4);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('without uplinkCheck no round runs and the check never fails', async () => {
    const { host, watch } = fakeHost();
    host.reach = false;
    await watch.checkRound();
    await watch.checkRound();
    await watch.checkRound();
    expect(host.probes).toBe(0);
    expect(watch.state.up).toBe(true);
  });
});

describe('the proc route parsers', () => {
  it('find a default route through the device only, not through another one or a reject route', () => {
    expect(defaultRouteV4(ROUTE4_DEFAULT_UP0, 'up0')).toBe(true);
    expect(defaultRouteV4(ROUTE4_DEFAULT_UP0, 'up1')).toBe(false);
    expect(defaultRouteV4(ROUTE4_CONNECTED_ONLY, 'up0')).toBe(false);
    expect(defaultRouteV6(ROUTE6_DEFAULT_UP0, 'up0')).toBe(true);
    expect(defaultRouteV6(ROUTE6_UNREACHABLE_ONLY, 'lo')).toBe(false); // RTF_REJECT
    expect(defaultRouteV6(ROUTE6_DEFAULT_UP0, 'up')).toBe(false);
    const rejected4 = ROUTE4_DEFAULT_UP0.replace('\t0003\t', '\t0203\t');
    expect(defaultRouteV4(rejected4, 'up0')).toBe(false);
  });

  it('skip lines that do not parse, never throw', () => {
    const junk = ['', 'up0', 'up0\t00000000', 'up0 00000000 0 zz 0 0 0 00000000', '\u0000\u0001', 'x'.repeat(10_000)];
    for (const line of junk) {
      expect(defaultRouteV4(`${ROUTE4_HEADER}\n${line}\n`, 'up0')).toBe(false);
      expect(defaultRouteV6(`${line}\n`, 'up0')).toBe(false);
    }
    expect(defaultRouteV4(`${ROUTE4_HEADER}\ngarbage line\n${ROUTE4_DEFAULT_UP0.split('\n')[1]!}\n`, 'up0')).toBe(true);
    expect(defaultRouteV6(`${ZERO} 00 zz\n${ROUTE6_DEFAULT_UP0}`, 'up0')).toBe(true);
  });
});

describe('uplinkMessage', () => {
  it('says the state in words', () => {
    expect(uplinkMessage('eth0', { up: true, reason: null, since: 0 })).toBe('uplink eth0 is up');
    expect(uplinkMessage('eth0', { up: false, reason: 'no-carrier', since: 0 })).toBe(
      'uplink eth0 is down: no carrier',
    );
    expect(uplinkMessage('eth0', { up: false, reason: 'check-failed', since: 0 })).toBe(
      'uplink eth0 is down: check failed',
    );
  });
});

describe('tcpReach (real loopback sockets)', () => {
  let server: Server | null = null;
  afterEach(() => {
    server?.close();
    server = null;
  });

  it('a listening port is reached, a closed one too (refused: something answered)', async () => {
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    expect(await tcpReach({ host: '127.0.0.1', port, text: '' }, 2_000)).toBe(true);
    server.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(await tcpReach({ host: '127.0.0.1', port, text: '' }, 2_000)).toBe(true);
  });
});
