// Quotas, rate limits and fair share end to end (issue 8, "Proof / Network
// namespaces"), each scenario in a fresh gateway scene (gateway-scene.ts: mg-inet with
// HTTP and iperf3 servers, mg-gw running `meshgate gateway`, client A the meshgate
// agent, client B a stock wireguard-go from `wg-quick up`):
//
//   1. A with a 50 MB download quota (block) fetches 80 MB: the transfer stalls within
//      one burst past the quota; the gateway's count agrees within 0.5 % with an nft
//      counter on A's tunnel input; state blocked in `gateway usage` and in the
//      agent's log; B's download at the same time completes intact
//   2. throttle: past a 20 MB quota A's download settles within 10 % of 4 Mbit/s
//   3. rate limit 20 Mbit/s down, 10 Mbit/s up: iperf3 within 10 % both ways
//   4. fair share of a 40 Mbit/s downlink: A with 16 flows, B with 1, Jain's index
//      >= 0.95; B's ping RTT under load within 20 ms of idle
//   5. SIGKILL mid-transfer at 20 Mbit/s and restart: the stored count lost at most
//      one second's worth; the quota still holds after the restart
//   6. the stock wireguard-go client under the rate limit of 3 measures the same
//
// Throughput is iperf3's goodput at the receiver (TCP payload), after a settle
// (--omit). The gateway limits inner IP bytes, so goodput sits about 4 % below the
// configured rate (52 bytes of headers per 1420-byte packet), inside the 10 %.

import { afterAll, describe, expect, test } from 'vitest';
import { netnsSkip, requireBuiltCli, sleep, teardownScenesAfterEach } from './harness.js';
import { GatewayScene, NET, eventually, expectedSha256, type GetResult } from './gateway-scene.js';
import {
  IPERF_PORTS,
  addByteCounters,
  byteCounters,
  iperf,
  iperfServer,
  jainIndex,
  mbit,
  median,
  pingRtts,
  quotaEvents,
  usageOf,
} from './traffic-scene.js';
import { BURST_DEFAULT_MIN_BYTES, defaultBurst } from '../../gateway/traffic/policy.js';

// iputils ping itself: pingRtts reads its per-reply times.
const skipReason = netnsSkip('quota tests', {
  commands: ['ip', 'nft', 'wg', 'wg-quick', 'wireguard-go', 'iperf3', 'ping'],
});

const MB = 1_000_000;
const MBIT = 1_000_000;
/** The smallest default burst: the overshoot bound of a quota without a rate limit. */
const MIN_BURST = BURST_DEFAULT_MIN_BYTES;
/** Issue 8's acceptance bounds: rates and the gateway's count as fractions, Jain's index, RTT rise under load. */
const BOUND = { rate: 0.1, count: 0.005, jainMin: 0.95, rttRiseMaxMs: 20 } as const;
/** iperf3 options of a measurement: seconds measured after a settle of `omit` seconds. */
const IPERF_RUN = { seconds: 8, omit: 2 } as const;
const SCENARIO_TIMEOUT_MS = 120_000;
const measured: string[] = [];

requireBuiltCli(skipReason);
teardownScenesAfterEach();

function note(line: string): void {
  measured.push(line);
  console.log(`quota: ${line}`);
}

afterAll(() => {
  if (measured.length > 0) console.log(`quota scene measurements:\n  ${measured.join('\n  ')}`);
});

function withinRate(got: number, want: number): void {
  expect(Math.abs(got - want) / want, `${mbit(got)} vs ${mbit(want)}`).toBeLessThanOrEqual(BOUND.rate);
}

function fetchSummary(r: GetResult): string {
  return `${r.bytes} bytes in ${r.seconds.toFixed(1)} s, ${r.ok ? 'complete' : `ended: ${r.error ?? `status ${r.status}`}`}`;
}

/** A scene with the given traffic fields, an nft byte counter on A's (and B's) tunnel input, the gateway up. */
async function trafficScene(
  opts: { extra: Record<string, unknown>; alice?: string; bob?: string },
  clients: { a: boolean; b: boolean },
): Promise<GatewayScene> {
  const gs = await GatewayScene.build('quota');
  gs.writeGatewayConfig({ extra: opts.extra, clientPolicy: { alice: opts.alice, bob: opts.bob } });
  await addByteCounters(gs.ca, [{ name: 'tun_in', hook: 'input', rule: `iifname "${gs.caTun}"` }]);
  await addByteCounters(gs.cb, [{ name: 'tun_in', hook: 'input', rule: `iifname "${gs.cbWg}"` }]);
  await gs.startGateway();
  if (clients.a) await gs.startClientA();
  if (clients.b) await gs.startClientB();
  return gs;
}

/** trafficScene options: one policy, given to one client. */
function onePolicy(client: 'alice' | 'bob', name: string, policy: Record<string, unknown>) {
  return { extra: { policies: { [name]: policy } }, [client]: name };
}

const RATE20 = { rate: { down: '20Mbit', up: '10Mbit' } };

/** Scenarios 3 and 6: client A (the agent) or B (wireguard-go) alone under RATE20, iperf3 down then up. */
async function rateLimitedBothWays(client: 'a' | 'b', label: string): Promise<void> {
  const gs = await trafficScene(onePolicy(client === 'a' ? 'alice' : 'bob', 'r20', RATE20), {
    a: client === 'a',
    b: client === 'b',
  });
  await iperfServer(gs.inet, IPERF_PORTS[0]);
  const ns = client === 'a' ? gs.ca : gs.cb;
  const down = await iperf(ns, { port: IPERF_PORTS[0], reverse: true, ...IPERF_RUN });
  const up = await iperf(ns, { port: IPERF_PORTS[0], reverse: false, ...IPERF_RUN });
  note(
    `${label} limited to 20/10 Mbit/s: down ${mbit(down.bitsPerSecond)} (${down.retransmits} retransmits), ` +
      `up ${mbit(up.bitsPerSecond)} (${up.retransmits} retransmits)`,
  );
  withinRate(down.bitsPerSecond, 20 * MBIT);
  withinRate(up.bitsPerSecond, 10 * MBIT);
}

describe.skipIf(skipReason !== null)('quotas, rate limits and fair share (issue 8)', () => {
  test(
    '1. a 50 MB download quota blocks within one burst, counted within 0.5 %; B is unaffected',
    async () => {
      const QUOTA = 50 * MB;
      const gs = await trafficScene(
        onePolicy('alice', 'q50', { quota: { bytes: '50MB', period: 'day', count: 'download', atQuota: 'block' } }),
        { a: true, b: true },
      );
      // The Internet side's own count of A's download (A over IPv4, B over IPv6; after NAT).
      await addByteCounters(gs.inet, [
        { name: 'to_a', hook: 'output', rule: `oifname "isp0" ip daddr ${NET.uplink4} tcp sport ${NET.httpPort}` },
      ]);
      await gs.inet.ip('link', 'set', 'dev', 'isp0', 'gso_max_segs', '1'); // count wire-sized packets

      const [a, b] = await Promise.all([
        gs.fetchData('a', 4, 80 * MB, 'quota-a', 20),
        gs.fetchData('b', 6, 30 * MB, 'quota-b', 60),
      ]);
      const usage = await usageOf(gs, 'alice');
      const seenByA = (await byteCounters(gs.ca)).tun_in ?? 0;
      const seenByInet = (await byteCounters(gs.inet)).to_a ?? 0;
      const events = await eventually(
        'the agent logs a quota event with state blocked',
        async () => {
          const e = quotaEvents(gs.clientA);
          return e.some((x) => x.state === 'blocked') ? e : undefined;
        },
        10_000,
      );
      note(`1. A: HTTP ${fetchSummary(a)}; B: HTTP ${fetchSummary(b)}`);
      note(
        `1. A download: gateway ${usage.download.bytes} bytes (${usage.download.packets} packets, state ${usage.state}, ` +
          `quota drops ${usage.drops.quota}), A's tunnel input ${seenByA}, inet sent ${seenByInet}; ` +
          `difference gateway/A ${(((usage.download.bytes - seenByA) / seenByA) * 100).toFixed(3)} %; ` +
          `past the quota: gateway ${usage.download.bytes - QUOTA}, A ${seenByA - QUOTA} bytes`,
      );
      note(`1. agent quota events: ${JSON.stringify(events)}`);

      expect(a.ok, 'A must not get all 80 MB').toBe(false);
      expect(a.error).toMatch(/timeout/);
      expect(seenByA, 'A received the quota').toBeGreaterThanOrEqual(QUOTA - 1500);
      expect(seenByA, 'A received at most one burst past the quota').toBeLessThanOrEqual(QUOTA + MIN_BURST);
      expect(usage.download.bytes).toBeLessThanOrEqual(QUOTA + MIN_BURST);
      expect(Math.abs(usage.download.bytes - seenByA) / seenByA).toBeLessThanOrEqual(BOUND.count);
      expect(usage.state).toBe('blocked');
      expect(usage.used).toBe(usage.download.bytes);
      expect(b.ok, `B: ${fetchSummary(b)}`).toBe(true);
      expect(b.sha256).toBe(expectedSha256(30 * MB, 'quota-b'));
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    '2. throttle: past a 20 MB quota the download settles within 10 % of 4 Mbit/s',
    async () => {
      const THROTTLE = 4 * MBIT;
      const gs = await trafficScene(
        onePolicy('alice', 't20', {
          quota: { bytes: '20MB', period: 'day', count: 'download', atQuota: 'throttle', throttle: '4Mbit' },
        }),
        { a: true, b: false },
      );
      await iperfServer(gs.inet, IPERF_PORTS[0]);
      // 20 MB at full speed, the last 1 MB already throttled.
      const fill = await gs.fetchData('a', 4, 21 * MB, 'throttle-a', 30);
      const before = await usageOf(gs, 'alice');
      const r = await iperf(gs.ca, { port: IPERF_PORTS[0], reverse: true, ...IPERF_RUN });
      const after = await usageOf(gs, 'alice');
      note(`2. fill: HTTP ${fetchSummary(fill)}; state ${before.state}, limits ${JSON.stringify(before.limits)}`);
      note(
        `2. throttled download: ${mbit(r.bitsPerSecond)} over ${r.seconds.toFixed(1)} s (target ${mbit(THROTTLE)}, ` +
          `${r.retransmits} retransmits, queue drops ${after.drops.queue})`,
      );
      expect(fill.ok, fetchSummary(fill)).toBe(true);
      expect(before.state).toBe('throttled');
      expect(before.limits.down).toBe(THROTTLE);
      expect(r.seconds).toBeGreaterThanOrEqual(IPERF_RUN.seconds - 0.5);
      withinRate(r.bitsPerSecond, THROTTLE);
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    '3. rate limit 20 Mbit/s down and 10 Mbit/s up: both within 10 %',
    () => rateLimitedBothWays('a', '3. A (meshgate agent)'),
    SCENARIO_TIMEOUT_MS,
  );

  test(
    "4. fair share of a 40 Mbit/s downlink: 16 flows against 1, Jain's index >= 0.95, B's RTT within 20 ms",
    async () => {
      const gs = await trafficScene({ extra: { uplinkCapacity: { down: '40Mbit' } } }, { a: true, b: true });
      await iperfServer(gs.inet, IPERF_PORTS[0]);
      await iperfServer(gs.inet, IPERF_PORTS[1]);
      const idle = await pingRtts(gs.cb, NET.inet4, 20);

      const load = { reverse: true, seconds: 10, omit: IPERF_RUN.omit };
      const runA = iperf(gs.ca, { ...load, port: IPERF_PORTS[0], parallel: 16 });
      const runB = iperf(gs.cb, { ...load, port: IPERF_PORTS[1], parallel: 1 });
      await sleep((IPERF_RUN.omit + 1) * 1000);
      const loaded = await pingRtts(gs.cb, NET.inet4, 40);
      const [a, b] = await Promise.all([runA, runB]);
      const jain = jainIndex(a.bitsPerSecond, b.bitsPerSecond);
      const rise = median(loaded) - median(idle);
      note(
        `4. capacity 40 Mbit/s down: A (16 flows) ${mbit(a.bitsPerSecond)}, B (1 flow) ${mbit(b.bitsPerSecond)}, ` +
          `sum ${mbit(a.bitsPerSecond + b.bitsPerSecond)}; Jain's index ${jain.toFixed(4)}`,
      );
      note(
        `4. B's ping RTT to the Internet: idle median ${median(idle).toFixed(2)} ms (${idle.length} replies), ` +
          `under load median ${median(loaded).toFixed(2)} ms (${loaded.length} replies, max ${Math.max(...loaded).toFixed(1)} ms); ` +
          `rise ${rise.toFixed(2)} ms`,
      );
      expect(idle.length).toBeGreaterThanOrEqual(15);
      expect(loaded.length).toBeGreaterThanOrEqual(30);
      expect(jain).toBeGreaterThanOrEqual(BOUND.jainMin);
      expect(rise).toBeLessThanOrEqual(BOUND.rttRiseMaxMs);
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    '5. SIGKILL mid-transfer: the stored count lost at most one second; the quota holds after the restart',
    async () => {
      const QUOTA = 15 * MB;
      const RATE = 20 * MBIT;
      const secondOfRate = RATE / 8;
      const gs = await trafficScene(
        onePolicy('alice', 'q15', {
          quota: { bytes: '15MB', period: 'day', count: 'download', atQuota: 'block' },
          rate: { down: '20Mbit' },
        }),
        { a: true, b: false },
      );
      const first = gs.fetchData('a', 4, 40 * MB, 'killed-a', 6);
      await sleep(3_500);
      await gs.stopGateway('SIGKILL');
      const atKill = (await byteCounters(gs.ca)).tun_in ?? 0;
      const firstResult = await first;
      const stored = await usageOf(gs, 'alice'); // the daemon is down: from the state db

      await gs.startGateway();
      const restored = await usageOf(gs, 'alice');
      await eventually(
        'A reaches the Internet again after the restart',
        async () => ((await gs.fetchData('a', 4, 1000, 'back-a', 3)).ok ? true : undefined),
        30_000,
        500,
      );
      const second = await gs.fetchData('a', 4, 40 * MB, 'after-a', 12);
      const after = await usageOf(gs, 'alice');
      const total = (await byteCounters(gs.ca)).tun_in ?? 0;
      const lost = atKill - stored.download.bytes;
      note(
        `5. at the SIGKILL A had received ${atKill} bytes (HTTP ${fetchSummary(firstResult)}); stored ${stored.download.bytes} ` +
          `(lost ${lost} bytes = ${((lost / secondOfRate) * 1000).toFixed(0)} ms at 20 Mbit/s); after the restart ` +
          `${restored.download.bytes}`,
      );
      note(
        `5. after the restart: HTTP ${fetchSummary(second)}; gateway ${after.download.bytes} bytes, state ${after.state}; ` +
          `A received ${total} in all (quota ${QUOTA})`,
      );
      expect(atKill, 'mid-transfer: some, not all of the quota').toBeGreaterThan(2 * MB);
      expect(atKill).toBeLessThan(QUOTA);
      expect(stored.download.bytes).toBeLessThanOrEqual(atKill);
      expect(stored.download.bytes).toBeGreaterThanOrEqual(atKill - secondOfRate);
      expect(restored.download.bytes).toBeGreaterThanOrEqual(stored.download.bytes);
      expect(second.ok, 'the download after the restart stalls at the quota').toBe(false);
      expect(after.state).toBe('blocked');
      expect(after.download.bytes).toBeGreaterThanOrEqual(QUOTA);
      expect(after.download.bytes).toBeLessThanOrEqual(QUOTA + defaultBurst(RATE));
      expect(total).toBeLessThanOrEqual(QUOTA + defaultBurst(RATE) + lost);
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    '6. a stock wireguard-go client is limited like the agent: 20 Mbit/s down and 10 Mbit/s up within 10 %',
    () => rateLimitedBothWays('b', '6. B (wireguard-go)'),
    SCENARIO_TIMEOUT_MS,
  );
});
