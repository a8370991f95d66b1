// How long one /metrics scrape takes with many clients: createMetrics over an
// in-memory source of CLIENTS clients, render() timed after a warm-up, the
// median (and 90th percentile) of SCRAPES scrapes, in wall time and in CPU
// time of this process (which other work on a shared machine does not raise).
// The target is under 50 ms with 1,000 clients. Pure computation; no
// network.
//
//   npx vite-node bench/metrics-scrape.ts          (CLIENTS=1000 SCRAPES=200 WARMUP=20)

import { createMetrics } from '../gateway/admin/metrics.js';
import { fakeClient, fakeMetricsSource } from '../test/support/metrics-source.js';

const CLIENTS = Number(process.env.CLIENTS ?? 1000);
const SCRAPES = Number(process.env.SCRAPES ?? 200);
const WARMUP = Number(process.env.WARMUP ?? 20);
const TARGET_MS = 50;

const STATES = ['ok', 'throttled', 'blocked'] as const;

/** A varied population: every quota state, some without quota or handshake. */
function client(i: number) {
  return fakeClient(i, {
    name: `neighbour-${i.toString().padStart(4, '0')}.flat-${i % 40}`,
    quota: {
      limitBytes: i % 5 === 0 ? null : 50_000_000_000,
      usedBytes: 7_654_321 * i,
      state: STATES[i % 3]!,
    },
    totals: { downBytes: 123_456_789 * i, upBytes: 12_345_678 * i, downPackets: 98_765 * i, upPackets: 9_876 * i },
    lastHandshake: i % 7 === 0 ? null : 1_764_000_000 + i,
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const source = fakeMetricsSource(Array.from({ length: CLIENTS }, (_, i) => client(i + 1)));
  const metrics = createMetrics(source);
  let size = 0;
  for (let i = 0; i < WARMUP; i++) size = (await metrics.render()).length;
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    // the counters move between scrapes, as in the daemon
    for (const c of source.clients) c.totals.downBytes += 1500;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await metrics.render();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const median = percentile(times, 0.5);
  console.log(
    `metrics scrape, ${CLIENTS} clients (${(size / 1024).toFixed(0)} KiB, ${SCRAPES} scrapes after ${WARMUP} warm-up): ` +
      `median ${median.toFixed(1)} ms, p90 ${percentile(times, 0.9).toFixed(1)} ms, ` +
      `min ${times[0]!.toFixed(1)} ms; CPU time median ${percentile(cpu, 0.5).toFixed(1)} ms; ` +
      `target < ${TARGET_MS} ms: ${median < TARGET_MS ? 'met' : 'MISSED'}`,
  );
  console.log(`node ${process.version}`);
}

await main();
