// In-memory MetricsSource for the /metrics tests, the dashboard and alert
// checks and the scrape benchmark: plain data the caller may change between
// scrapes.

import type { ClientMetrics, GatewayMetrics, MetricsSource } from '../../gateway/admin/backend.js';
import { DropReasons } from '../../shared/wireguard/errors.js';

export interface FakeMetricsSource extends MetricsSource {
  clients: ClientMetrics[];
  gateway: GatewayMetrics;
}

export function fakeMetricsSource(
  clients: ClientMetrics[],
  gateway: GatewayMetrics = fakeGateway(),
): FakeMetricsSource {
  const source: FakeMetricsSource = {
    clients,
    gateway,
    clientMetrics: () => source.clients,
    gatewayMetrics: () => source.gateway,
  };
  return source;
}

/** Client `n` with figures derived from n; fields may be overridden. */
export function fakeClient(n: number, over: Partial<ClientMetrics> = {}): ClientMetrics {
  return {
    name: `client-${n}`,
    enabled: true,
    totals: { downBytes: 1000 * n, upBytes: 100 * n, downPackets: 10 * n, upPackets: n },
    quota: { limitBytes: 1_000_000, usedBytes: 500 * n, state: 'ok' },
    lastHandshake: 1_700_000_000 + n,
    drops: { quota: 0, queue: n },
    ...over,
  };
}

export function fakeGateway(over: Partial<GatewayMetrics> = {}): GatewayMetrics {
  return {
    version: '0.1.0',
    handshakes: { completed: 12, failed: 3 },
    drops: { 'mac1-invalid': 2 },
    sessions: 1,
    pools: {
      ipv4: { prefix: '10.66.0.0/24', used: 2, size: 253 },
      ipv6: { prefix: 'fd00:66::/64', used: 2, size: Number.MAX_SAFE_INTEGER },
    },
    uplinkUp: true,
    ...over,
  };
}

/**
 * A source that shows every label value and every optional series: each quota
 * state, a client with and one without a quota and handshake, a disabled
 * client, every drop reason of the device.
 */
export function everyVariantSource(): FakeMetricsSource {
  const drops: Record<string, number> = {};
  DropReasons.forEach((reason, i) => (drops[reason] = i + 1));
  return fakeMetricsSource(
    [
      fakeClient(1),
      fakeClient(2, { quota: { limitBytes: 1000, usedBytes: 1000, state: 'throttled' } }),
      fakeClient(3, { quota: { limitBytes: 1000, usedBytes: 1200, state: 'blocked' }, enabled: false }),
      fakeClient(4, { quota: { limitBytes: null, usedBytes: 0, state: 'ok' }, lastHandshake: null }),
    ],
    fakeGateway({ drops }),
  );
}
