// /metrics: the gateway's figures in the Prometheus text format.
//
// scrape → render() → registry.metrics() → each metric's get() → one read of
// the MetricsSource (shared by all metrics of that scrape) → samples.
//
// Nothing is kept between scrapes: every value, counters included, is read
// from the source at each scrape. Counters are the source's all-time totals
// (stored periods plus the current one), so they continue across a restart
// instead of starting again at 0; prom-client's Counter can only be
// incremented, so the counters here are collectors that emit counter-typed
// samples. Process metrics are prom-client's defaults under their standard
// names (process_*, nodejs_*), as every other exporter has them.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { DropReasons } from '../../shared/wireguard/errors.js';
import type { ClientMetrics, GatewayMetrics, MetricsSource, PoolUse } from './backend.js';

export interface Metrics {
  registry: Registry;
  /** The exposition text of one scrape. */
  render(): Promise<string>;
  /** The Content-Type header for render()'s text. */
  contentType: string;
}

export interface MetricsOptions {
  /** Add prom-client's process and Node.js metrics (default true). */
  processMetrics?: boolean;
}

const QUOTA_STATES = ['ok', 'throttled', 'blocked'] as const satisfies readonly ClientMetrics['quota']['state'][];
const POOL_FAMILIES = ['ipv4', 'ipv6'] as const;

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
}

/** What one scrape reads from the source. */
interface Snapshot {
  clients: ClientMetrics[];
  gateway: GatewayMetrics;
}

/** The samples of one metric, drawn from a snapshot. */
type Read = (s: Snapshot) => Sample[];

interface MetricSpec {
  kind: 'counter' | 'gauge';
  name: string;
  help: string;
  labelNames: string[];
  read: Read;
}

/**
 * Reads the source once per scrape: registry.metrics() starts every metric's
 * get() in one synchronous pass, so the snapshot is dropped in the next
 * microtask and each metric of a scrape sees the same figures.
 */
class SourceReader {
  private snapshot: Snapshot | null = null;
  constructor(private readonly source: MetricsSource) {}

  read(): Snapshot {
    if (this.snapshot === null) {
      this.snapshot = { clients: this.source.clientMetrics(), gateway: this.source.gatewayMetrics() };
      queueMicrotask(() => (this.snapshot = null));
    }
    return this.snapshot;
  }
}

/**
 * A metric whose samples are read from the source at each scrape; prom-client
 * only formats them. Built on Counter or Gauge for its type and registration.
 */
function sourced(
  kind: typeof Counter | typeof Gauge,
  spec: MetricSpec,
  reader: SourceReader,
  registry: Registry,
): void {
  const metric = new kind({ name: spec.name, help: spec.help, labelNames: spec.labelNames, registers: [registry] });
  const base = metric.get.bind(metric); // no samples of its own: only name, help, type
  metric.get = async () => {
    const values = spec.read(reader.read()); // before any await: within the scrape's synchronous pass
    return { ...(await base()), values };
  };
}

const bit = (b: boolean): number => (b ? 1 : 0);

/** A metric with one sample per client, labelled with its name; null leaves the client out. */
function perClient(
  kind: MetricSpec['kind'],
  name: string,
  help: string,
  value: (c: ClientMetrics) => number | null,
): MetricSpec {
  const read: Read = (s) => {
    const out: Sample[] = [];
    for (const c of s.clients) {
      const v = value(c);
      if (v !== null) out.push({ labels: { client: c.name }, value: v });
    }
    return out;
  };
  return { kind, name, help, labelNames: ['client'], read };
}

/** The all-time totals, a counter each: name, help, and the field of ClientMetrics['totals'] it reads. */
const CLIENT_TOTALS: [string, string, keyof ClientMetrics['totals']][] = [
  ['meshgate_client_receive_bytes_total', 'Inner bytes the client received (its download), all-time.', 'downBytes'],
  ['meshgate_client_transmit_bytes_total', 'Inner bytes the client sent (its upload), all-time.', 'upBytes'],
  ['meshgate_client_receive_packets_total', 'Inner packets the client received, all-time.', 'downPackets'],
  ['meshgate_client_transmit_packets_total', 'Inner packets the client sent, all-time.', 'upPackets'],
];

/** Per client, labelled with its name. */
const CLIENT_METRICS: MetricSpec[] = [
  ...CLIENT_TOTALS.map(([name, help, field]) => perClient('counter', name, help, (c) => c.totals[field])),
  perClient(
    'gauge',
    'meshgate_client_quota_limit_bytes',
    "The client's quota for the current period; absent for a client without one.",
    (c) => c.quota.limitBytes,
  ),
  perClient(
    'gauge',
    'meshgate_client_quota_used_bytes',
    'Bytes the client used of its quota in the current period.',
    (c) => c.quota.usedBytes,
  ),
  {
    kind: 'gauge',
    name: 'meshgate_client_quota_state',
    help: "The client's quota state: 1 for the current one (ok, throttled, blocked), 0 for the others.",
    labelNames: ['client', 'state'],
    read: (s) =>
      s.clients.flatMap((c) =>
        QUOTA_STATES.map((state) => ({ labels: { client: c.name, state }, value: bit(c.quota.state === state) })),
      ),
  },
  perClient(
    'gauge',
    'meshgate_client_last_handshake_timestamp_seconds',
    "Unix time of the client's latest handshake; absent before its first since the gateway started.",
    (c) => c.lastHandshake,
  ),
  {
    kind: 'counter',
    name: 'meshgate_client_dropped_packets_total',
    help: 'Packets of the client dropped by the shaper: over its quota (quota) or its queue full under its rate limit (queue).',
    labelNames: ['client', 'reason'],
    read: (s) =>
      s.clients.flatMap((c) => [
        { labels: { client: c.name, reason: 'quota' }, value: c.drops.quota },
        { labels: { client: c.name, reason: 'queue' }, value: c.drops.queue },
      ]),
  },
  perClient('gauge', 'meshgate_client_enabled', '1 if the client is enabled, 0 if disabled.', (c) => bit(c.enabled)),
];

const GATEWAY_METRICS: MetricSpec[] = [
  {
    kind: 'counter',
    name: 'meshgate_handshakes_total',
    help: 'Handshakes with clients by result (completed, failed).',
    labelNames: ['result'],
    read: (s) => [
      { labels: { result: 'completed' }, value: s.gateway.handshakes.completed },
      { labels: { result: 'failed' }, value: s.gateway.handshakes.failed },
    ],
  },
  {
    kind: 'counter',
    name: 'meshgate_drops_total',
    help: 'Packets the WireGuard device dropped, by coded reason.',
    labelNames: ['reason'],
    // every reason of the closed list, 0 until it happens, so rates exist from the start
    read: (s) => DropReasons.map((reason) => ({ labels: { reason }, value: s.gateway.drops[reason] ?? 0 })),
  },
  {
    kind: 'gauge',
    name: 'meshgate_sessions',
    help: 'Clients with a current session.',
    labelNames: [],
    read: (s) => [{ labels: {}, value: s.gateway.sessions }],
  },
  {
    kind: 'gauge',
    name: 'meshgate_pool_leases',
    help: 'Addresses of the tunnel pools (ipv4, ipv6) by state: used (leased) and free.',
    labelNames: ['pool', 'state'],
    read: (s) =>
      POOL_FAMILIES.flatMap((pool) => {
        const use: PoolUse = s.gateway.pools[pool];
        return [
          { labels: { pool, state: 'used' }, value: use.used },
          { labels: { pool, state: 'free' }, value: Math.max(0, use.size - use.used) },
        ];
      }),
  },
  {
    kind: 'gauge',
    name: 'meshgate_uplink_up',
    help: '1 if the uplink works (carrier, a default route through it, uplinkCheck when configured), 0 if not.',
    labelNames: [],
    read: (s) => [{ labels: {}, value: bit(s.gateway.uplinkUp) }],
  },
  {
    kind: 'gauge',
    name: 'meshgate_info',
    help: 'Always 1; the version of meshgate in its label.',
    labelNames: ['version'],
    read: (s) => [{ labels: { version: s.gateway.version }, value: 1 }],
  },
];

const METRICS = [...CLIENT_METRICS, ...GATEWAY_METRICS];

/** A registry over `source`, read afresh at each scrape. */
export function createMetrics(source: MetricsSource, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const reader = new SourceReader(source);
  for (const spec of METRICS) sourced(spec.kind === 'counter' ? Counter : Gauge, spec, reader, registry);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return { registry, render: () => registry.metrics(), contentType: registry.contentType };
}
