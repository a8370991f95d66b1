import { describe, expect, it } from 'vitest';
import { DropReasons } from '../../shared/wireguard/errors.js';
import { parseExposition, sampleValue } from '../../test/support/exposition.js';
import { fakeClient, fakeGateway, fakeMetricsSource } from '../../test/support/metrics-source.js';
import type { ClientMetrics } from './backend.js';
import { createMetrics } from './metrics.js';

const quiet = { processMetrics: false };

async function scrape(source: Parameters<typeof createMetrics>[0]) {
  return parseExposition(await createMetrics(source, quiet).render());
}

describe('createMetrics', () => {
  it('renders a small source as exact exposition text: HELP, TYPE, labels, units', async () => {
    const alice: ClientMetrics = {
      name: 'alice.flat-2_b',
      enabled: true,
      totals: { downBytes: 5_000_000_000, upBytes: 250_000, downPackets: 4_000_000, upPackets: 3_000 },
      quota: { limitBytes: 10_000_000_000, usedBytes: 9_500_000_000, state: 'throttled' },
      lastHandshake: 1_764_633_600,
      drops: { quota: 7, queue: 11 },
    };
    const bob: ClientMetrics = {
      name: 'bob',
      enabled: false,
      totals: { downBytes: 0, upBytes: 0, downPackets: 0, upPackets: 0 },
      quota: { limitBytes: null, usedBytes: 0, state: 'ok' },
      lastHandshake: null,
      drops: { quota: 0, queue: 0 },
    };
    const gateway = fakeGateway({
      version: '0.1.0',
      handshakes: { completed: 42, failed: 5 },
      drops: { 'mac1-invalid': 9, 'decrypt-failed': 1 },
      sessions: 1,
      pools: {
        ipv4: { prefix: '10.66.0.0/24', used: 3, size: 253 },
        ipv6: { prefix: 'fd00:66::/64', used: 3, size: 1000 },
      },
      uplinkUp: false,
    });
    const metrics = createMetrics(fakeMetricsSource([alice, bob], gateway), quiet);
    const drops = DropReasons.map((r) => `meshgate_drops_total{reason="${r}"} ${gateway.drops[r] ?? 0}`).join('\n');
    expect(await metrics.render()).toBe(
      `# HELP meshgate_client_receive_bytes_total Inner bytes the client received (its download), all-time.
# TYPE meshgate_client_receive_bytes_total counter
meshgate_client_receive_bytes_total{client="alice.flat-2_b"} 5000000000
meshgate_client_receive_bytes_total{client="bob"} 0

# HELP meshgate_client_transmit_bytes_total Inner bytes the client sent (its upload), all-time.
# TYPE meshgate_client_transmit_bytes_total counter
meshgate_client_transmit_bytes_total{client="alice.flat-2_b"} 250000
meshgate_client_transmit_bytes_total{client="bob"} 0

# HELP meshgate_client_receive_packets_total Inner packets the client received, all-time.
# TYPE meshgate_client_receive_packets_total counter
meshgate_client_receive_packets_total{client="alice.flat-2_b"} 4000000
meshgate_client_receive_packets_total{client="bob"} 0

# HELP meshgate_client_transmit_packets_total Inner packets the client sent, all-time.
# TYPE meshgate_client_transmit_packets_total counter
meshgate_client_transmit_packets_total{client="alice.flat-2_b"} 3000
meshgate_client_transmit_packets_total{client="bob"} 0

# HELP meshgate_client_quota_limit_bytes The client's quota for the current period; absent for a client without one.
# TYPE meshgate_client_quota_limit_bytes gauge
meshgate_client_quota_limit_bytes{client="alice.flat-2_b"} 10000000000

# HELP meshgate_client_quota_used_bytes Bytes the client used of its quota in the current period.
# TYPE meshgate_client_quota_used_bytes gauge
meshgate_client_quota_used_bytes{client="alice.flat-2_b"} 9500000000
meshgate_client_quota_used_bytes{client="bob"} 0

# HELP meshgate_client_quota_state The client's quota state: 1 for the current one (ok, throttled, blocked), 0 for the others.
# TYPE meshgate_client_quota_state gauge
meshgate_client_quota_state{client="alice.flat-2_b",state="ok"} 0
meshgate_client_quota_state{client="alice.flat-2_b",state="throttled"} 1
meshgate_client_quota_state{client="alice.flat-2_b",state="blocked"} 0
meshgate_client_quota_state{client="bob",state="ok"} 1
meshgate_client_quota_state{client="bob",state="throttled"} 0
meshgate_client_quota_state{client="bob",state="blocked"} 0

# HELP meshgate_client_last_handshake_timestamp_seconds Unix time of the client's latest handshake; absent before its first since the gateway started.
# TYPE meshgate_client_last_handshake_timestamp_seconds gauge
meshgate_client_last_handshake_timestamp_seconds{client="alice.flat-2_b"} 1764633600

# HELP meshgate_client_dropped_packets_total Packets of the client dropped by the shaper: over its quota (quota) or its queue full under its rate limit (queue).
# TYPE meshgate_client_dropped_packets_total counter
meshgate_client_dropped_packets_total{client="alice.flat-2_b",reason="quota"} 7
meshgate_client_dropped_packets_total{client="alice.flat-2_b",reason="queue"} 11
meshgate_client_dropped_packets_total{client="bob",reason="quota"} 0
meshgate_client_dropped_packets_total{client="bob",reason="queue"} 0

# HELP meshgate_client_enabled 1 if the client is enabled, 0 if disabled.
# TYPE meshgate_client_enabled gauge
meshgate_client_enabled{client="alice.flat-2_b"} 1
meshgate_client_enabled{client="bob"} 0

# HELP meshgate_handshakes_total Handshakes with clients by result (completed, failed).
# TYPE meshgate_handshakes_total counter
meshgate_handshakes_total{result="completed"} 42
meshgate_handshakes_total{result="failed"} 5

# HELP meshgate_drops_total Packets the WireGuard device dropped, by coded reason.
# TYPE meshgate_drops_total counter
${drops}

# HELP meshgate_sessions Clients with a current session.
# TYPE meshgate_sessions gauge
meshgate_sessions 1

# HELP meshgate_pool_leases Addresses of the tunnel pools (ipv4, ipv6) by state: used (leased) and free.
# TYPE meshgate_pool_leases gauge
meshgate_pool_leases{pool="ipv4",state="used"} 3
meshgate_pool_leases{pool="ipv4",state="free"} 250
meshgate_pool_leases{pool="ipv6",state="used"} 3
meshgate_pool_leases{pool="ipv6",state="free"} 997

# HELP meshgate_uplink_up 1 if the uplink works (carrier, a default route through it, uplinkCheck when configured), 0 if not.
# TYPE meshgate_uplink_up gauge
meshgate_uplink_up 0

# HELP meshgate_info Always 1; the version of meshgate in its label.
# TYPE meshgate_info gauge
meshgate_info{version="0.1.0"} 1
`,
    );
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(drops).toContain('meshgate_drops_total{reason="mac1-invalid"} 9');
  });

  it('names every metric by the conventions: prefix, base units, _total exactly on counters', async () => {
    const expo = await scrape(fakeMetricsSource([fakeClient(1)]));
    expect(expo.types.size).toBe(16);
    for (const [name, type] of expo.types) {
      expect(name).toMatch(/^meshgate_[a-z_]+$/);
      expect(name.endsWith('_total')).toBe(type === 'counter');
      expect(name).not.toMatch(/_(bits|kilobytes|megabytes|milliseconds|ms|kbps)(_|$)/);
      expect(expo.help.get(name)?.length).toBeGreaterThan(10);
    }
    for (const s of expo.samples) for (const label of Object.keys(s.labels)) expect(label).not.toMatch(/bytes|seconds/);
  });

  it('escapes client names in the label (quote, backslash, newline) and reads them back unchanged', async () => {
    const odd = 'we"ird\\na\nme';
    const expo = await scrape(fakeMetricsSource([fakeClient(1, { name: odd }), fakeClient(2, { name: 'A-z.0_9' })]));
    const text = await createMetrics(fakeMetricsSource([fakeClient(1, { name: odd })]), quiet).render();
    expect(text).toContain('meshgate_client_enabled{client="we\\"ird\\\\na\\nme"} 1');
    expect(sampleValue(expo, 'meshgate_client_receive_bytes_total', { client: odd })).toBe(1000);
    expect(sampleValue(expo, 'meshgate_client_receive_bytes_total', { client: 'A-z.0_9' })).toBe(2000);
  });

  it('renders the all-time totals as they are at each scrape: never accumulated, never from 0', async () => {
    const client = fakeClient(1, {
      totals: { downBytes: 8_000_000, upBytes: 900_000, downPackets: 6_000, upPackets: 700 },
      drops: { quota: 4, queue: 5 },
    });
    const source = fakeMetricsSource([client]);
    const metrics = createMetrics(source, quiet);
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      const expo = parseExposition(await metrics.render());
      const down = sampleValue(expo, 'meshgate_client_receive_bytes_total', { client: 'client-1' })!;
      expect(down).toBe(client.totals.downBytes);
      expect(sampleValue(expo, 'meshgate_client_transmit_packets_total', { client: 'client-1' })).toBe(
        client.totals.upPackets,
      );
      expect(sampleValue(expo, 'meshgate_client_dropped_packets_total', { client: 'client-1', reason: 'queue' })).toBe(
        client.drops.queue,
      );
      seen.push(down);
      client.totals.downBytes += i * 1500; // i = 0: no traffic between two scrapes
      client.totals.upPackets += i;
      client.drops.queue += i;
    }
    expect(seen).toEqual([8_000_000, 8_000_000, 8_001_500, 8_004_500]);

    // a restarted gateway: a new registry over a source that continues from the persisted totals
    const restarted = parseExposition(await createMetrics(fakeMetricsSource([{ ...client }]), quiet).render());
    const after = sampleValue(restarted, 'meshgate_client_receive_bytes_total', { client: 'client-1' })!;
    expect(after).toBe(client.totals.downBytes);
    expect(after).toBeGreaterThanOrEqual(seen.at(-1)!);
  });

  it('sets quota_state one-hot: exactly the current state is 1', async () => {
    for (const state of ['ok', 'throttled', 'blocked'] as const) {
      const client = fakeClient(1, { quota: { limitBytes: 1000, usedBytes: 1000, state } });
      const expo = await scrape(fakeMetricsSource([client]));
      const rows = expo.samples.filter((s) => s.name === 'meshgate_client_quota_state');
      expect(rows.map((r) => [r.labels.state, r.value])).toEqual(
        ['ok', 'throttled', 'blocked'].map((s) => [s, s === state ? 1 : 0]),
      );
    }
  });

  it('reads the source once per scrape and keeps nothing: a removed client disappears', async () => {
    const source = fakeMetricsSource([fakeClient(1), fakeClient(2)]);
    let reads = 0;
    const clientMetrics = source.clientMetrics;
    source.clientMetrics = () => (reads++, clientMetrics());
    const metrics = createMetrics(source, quiet);
    await metrics.render();
    expect(reads).toBe(1);
    source.clients = [fakeClient(2)];
    const expo = parseExposition(await metrics.render());
    expect(reads).toBe(2);
    expect(expo.samples.filter((s) => s.labels.client === 'client-1')).toEqual([]);
    expect(sampleValue(expo, 'meshgate_client_enabled', { client: 'client-2' })).toBe(1);
  });

  it('counts every device drop reason, 0 for those the source does not list', async () => {
    const expo = await scrape(fakeMetricsSource([], fakeGateway({ drops: { 'queue-full': 3 } })));
    const rows = expo.samples.filter((s) => s.name === 'meshgate_drops_total');
    expect(rows.map((r) => r.labels.reason)).toEqual([...DropReasons]);
    expect(rows.filter((r) => r.value !== 0)).toEqual([
      { name: 'meshgate_drops_total', labels: { reason: 'queue-full' }, value: 3 },
    ]);
  });

  it('adds the standard process and Node.js metrics unless told not to', async () => {
    const expo = parseExposition(await createMetrics(fakeMetricsSource([fakeClient(1)])).render());
    expect(expo.types.get('process_cpu_seconds_total')).toBe('counter');
    expect(expo.types.get('process_resident_memory_bytes')).toBe('gauge');
    expect(expo.types.get('process_start_time_seconds')).toBe('gauge');
    expect(expo.types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
    expect(sampleValue(expo, 'meshgate_sessions')).toBe(1);
  });
});
