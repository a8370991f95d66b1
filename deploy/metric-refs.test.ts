// Every metric the Grafana dashboard and the alert rules use exists in what
// the gateway's /metrics renders (createMetrics over a source that shows every
// label value), with the label values they select.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../gateway/admin/metrics.js';
import {
  ALERTS_FILE,
  alertSelectors,
  DASHBOARD_FILE,
  dashboardSelectors,
  missingReferences,
  referencedSelectors,
  selectorsOf,
} from '../test/support/metric-refs.js';
import { everyVariantSource } from '../test/support/metrics-source.js';

const exposition = () => createMetrics(everyVariantSource()).render();
const names = (selectors: { name: string }[]) => new Set(selectors.map((s) => s.name));

describe('selectorsOf', () => {
  it('finds names and matchers, not functions, label lists, variables, ranges or strings', () => {
    const expr =
      'sum by (job, pool) (meshgate_pool_leases{state="used", instance=~"$instance"}) / ignoring(state) ' +
      'rate(meshgate_handshakes_total{result!="failed"}[$__rate_interval] offset 1h) * 60 > 0.9 ' +
      'unless on (client) label_replace(up{job="meshgate"}, "x", "$1", "y", "(.*)") or {__name__="meshgate_info"}';
    expect(selectorsOf(expr, 'here')).toEqual([
      {
        name: 'meshgate_pool_leases',
        matchers: [
          { label: 'state', op: '=', value: 'used' },
          { label: 'instance', op: '=~', value: '$instance' },
        ],
        where: 'here',
      },
      { name: 'meshgate_handshakes_total', matchers: [{ label: 'result', op: '!=', value: 'failed' }], where: 'here' },
      { name: 'up', matchers: [{ label: 'job', op: '=', value: 'meshgate' }], where: 'here' },
      { name: 'meshgate_info', matchers: [], where: 'here' },
    ]);
  });
});

describe('the dashboard and the alert rules', () => {
  it('use only metrics and label values that /metrics has', async () => {
    expect(missingReferences(referencedSelectors(), await exposition())).toEqual([]);
  });

  it('cover usage against quota, throughput, handshakes, drops, sessions and pools', () => {
    const dashboard = names(dashboardSelectors(readFileSync(DASHBOARD_FILE, 'utf8')));
    for (const name of [
      'meshgate_client_quota_used_bytes',
      'meshgate_client_quota_limit_bytes',
      'meshgate_client_quota_state',
      'meshgate_client_receive_bytes_total',
      'meshgate_client_transmit_bytes_total',
      'meshgate_client_dropped_packets_total',
      'meshgate_handshakes_total',
      'meshgate_drops_total',
      'meshgate_sessions',
      'meshgate_pool_leases',
      'meshgate_uplink_up',
    ])
      expect(dashboard).toContain(name);
    const alerts = names(alertSelectors(readFileSync(ALERTS_FILE, 'utf8')));
    expect([...alerts].sort()).toEqual([
      'meshgate_client_quota_limit_bytes',
      'meshgate_client_quota_state',
      'meshgate_client_quota_used_bytes',
      'meshgate_handshakes_total',
      'meshgate_pool_leases',
      'meshgate_uplink_up',
      'up',
    ]);
  });

  it('would be caught using a name or a label value that /metrics lacks', async () => {
    const text = await exposition();
    const wrong = [
      ...selectorsOf('rate(meshgate_client_recieve_bytes_total[5m])', 'typo'),
      ...selectorsOf('meshgate_client_quota_state{state="over"} == 1', 'value'),
      ...selectorsOf('meshgate_sessions{pool=~".+"}', 'label'),
      ...selectorsOf('meshgate_client_quota_state{state="blocked", instance="x"}', 'fine'),
    ];
    expect(missingReferences(wrong, text)).toEqual([
      'meshgate_client_recieve_bytes_total: no such metric (typo)',
      'meshgate_client_quota_state{state="over"}: no such series (value)',
      'meshgate_sessions{pool=~".+"}: no such series (label)',
    ]);
  });
});
