// Measuring tools for the traffic-policy proofs of issue 8 (quota.test.ts), on top of
// gateway-scene.ts: iperf3 servers and clients (throughput from the receiver's
// intervals after the --omit settle), nftables byte counters as an independent
// count, the gateway's `meshgate gateway usage --json`, ping RTTs, Jain's index.

import type { UsageEntry, UsageReport } from '../../gateway/usage-report.js';
import { MESHGATE_BIN, jsonLines, type Namespace, type Proc } from './harness.js';
import { NET, nftCounters, type GatewayScene } from './gateway-scene.js';

/** The nft table quota.test.ts owns in a namespace (never the gateway's `inet meshgate`). */
const COUNT_TABLE = 'mgcount';
/** iperf3 ports on NET.inet4: one server answers one test at a time. */
export const IPERF_PORTS = [5201, 5202] as const;

// ------------------------------------------------------------------ iperf3 ----

/** `iperf3 -s` on NET.inet4 in `ns`; resolves once it listens. */
export async function iperfServer(ns: Namespace, port: number): Promise<Proc> {
  const proc = ns.spawn(`iperf3-${port}`, 'iperf3', ['-s', '-B', NET.inet4, '-p', String(port), '--forceflush']);
  await proc.waitFor(/Server listening/, 10_000);
  return proc;
}

export interface IperfOptions {
  port: number;
  /** -R: the server sends (a download, from the client's side). */
  reverse: boolean;
  /** Measured seconds after the settle (-t). */
  seconds: number;
  /** Settle seconds, not counted (-O). */
  omit: number;
  /** Parallel streams (-P). */
  parallel?: number;
}

export interface IperfResult {
  /** Receiver's goodput after the settle, bits per second. */
  bitsPerSecond: number;
  /** Seconds measured. */
  seconds: number;
  /** TCP retransmissions the sender counted. */
  retransmits: number;
}

interface IperfSum {
  bytes: number;
  seconds: number;
  retransmits?: number;
}
interface IperfJson {
  error?: string;
  end?: { sum_sent?: IperfSum; sum_received?: IperfSum };
}

/**
 * One iperf3 test from a client namespace to NET.inet4. end.sum_received is the
 * receiver's total without the omitted settle (the client's own with -R, else the
 * server's, which it reports back at the end).
 */
export async function iperf(ns: Namespace, opts: IperfOptions): Promise<IperfResult> {
  const args = ['-c', NET.inet4, '-p', String(opts.port), '-t', String(opts.seconds), '-O', String(opts.omit)];
  args.push('-P', String(opts.parallel ?? 1), '--json');
  if (opts.reverse) args.push('-R');
  const limitMs = (opts.seconds + opts.omit + 30) * 1000;
  const r = await ns.exec('iperf3', args, { check: false, timeoutMs: limitMs });
  let doc: IperfJson;
  try {
    doc = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 ${args.join(' ')}: exit ${r.exitCode}, no JSON: ${r.stderr}${r.stdout.slice(0, 2000)}`);
  }
  if (doc.error || r.exitCode !== 0) throw new Error(`iperf3 ${args.join(' ')}: ${doc.error ?? `exit ${r.exitCode}`}`);
  const got = doc.end?.sum_received;
  if (!got || !(got.seconds > 0)) throw new Error(`iperf3 ${args.join(' ')}: no receiver sum in its JSON`);
  return {
    bitsPerSecond: (got.bytes * 8) / got.seconds,
    seconds: got.seconds,
    retransmits: doc.end?.sum_sent?.retransmits ?? 0,
  };
}

// ---------------------------------------------------------------- counters ----

/** Named nft counters in a table of our own, each counting what `rule` matches (rule ends in `counter name X`). */
export async function addByteCounters(
  ns: Namespace,
  counters: readonly { name: string; hook: 'input' | 'output' | 'prerouting'; rule: string }[],
): Promise<void> {
  const hooks = [...new Set(counters.map((c) => c.hook))];
  const text = [
    `table inet ${COUNT_TABLE} {`,
    ...counters.map((c) => `  counter ${c.name} {\n  }`),
    ...hooks.map((h) =>
      [
        `  chain ${h} {`,
        `    type filter hook ${h} priority -300; policy accept;`,
        ...counters.filter((c) => c.hook === h).map((c) => `    ${c.rule} counter name "${c.name}"`),
        '  }',
      ].join('\n'),
    ),
    '}',
    '',
  ].join('\n');
  await ns.exec('nft', ['-f', '-'], { input: text });
}

/** Bytes each counter of our table has seen. */
export async function byteCounters(ns: Namespace): Promise<Record<string, number>> {
  return nftCounters(ns, 'inet', COUNT_TABLE, { unit: 'bytes', required: true });
}

// ------------------------------------------------------------------- usage ----

/** `meshgate gateway usage --config F --json` in gw: live from the daemon, or the state db when it is down. */
export async function usageOf(gs: GatewayScene, name: string): Promise<UsageEntry> {
  const r = await gs.gw.exec('node', [MESHGATE_BIN, 'gateway', 'usage', '--config', gs.gatewayConfigFile, '--json'], {
    timeoutMs: 20_000,
  });
  const report = JSON.parse(r.stdout) as UsageReport;
  const entry = report.clients.find((c) => c.name === name);
  if (!entry) throw new Error(`gateway usage lists no ${name}: ${r.stdout}`);
  return entry;
}

/** The agent's `quota` log events (client A). */
export function quotaEvents(agent: Proc | null): Record<string, unknown>[] {
  return jsonLines(agent?.output() ?? '').filter((e) => e.event === 'quota');
}

// ---------------------------------------------------------------- numbers ----

/** Round-trip times (ms) of `ping -c count -i interval address` in `ns`. */
export async function pingRtts(ns: Namespace, address: string, count: number, intervalS = 0.2): Promise<number[]> {
  const r = await ns.exec('ping', ['-4', '-n', '-c', String(count), '-i', String(intervalS), '-W', '2', address], {
    check: false,
    timeoutMs: (count * intervalS + 15) * 1000,
  });
  return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Jain's fairness index of two throughputs: (x1+x2)^2 / (2 (x1^2+x2^2)), 1 when equal. */
export function jainIndex(x1: number, x2: number): number {
  return (x1 + x2) ** 2 / (2 * (x1 * x1 + x2 * x2));
}

export function mbit(bitsPerSecond: number): string {
  return `${(bitsPerSecond / 1e6).toFixed(2)} Mbit/s`;
}
