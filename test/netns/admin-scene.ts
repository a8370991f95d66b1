// The admin side of the gateway scene (issue 9, admin.test.ts), on top of
// gateway-scene.ts: the gateway with an `admin` section (TCP listeners on its
// uplink addresses), the `meshgate` admin commands run in mg-gw, HTTP and TCP
// probes from any namespace (tools/admin-probe.mjs), /metrics scrapes with a
// bearer token, and a timestamped ping stream for cut-off times.
//
//   mg-inet ── 198.51.100.2:9580, [2001:db8:100::2]:9580 (token) ── mg-gw ── /var/run/meshgate/<if>.api.sock (CLI)
//                                                                   └─ tunnel ── A, B: must not reach 9580

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminSocketPath } from '../../gateway/admin/api-address.js';
import { parseExposition, type Exposition } from '../support/exposition.js';
import { MESHGATE_BIN, type Namespace } from './harness.js';
import { GatewayScene, NET, httpUrl } from './gateway-scene.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PROBE_TOOL = path.resolve(here, 'tools/admin-probe.mjs');

export const ADMIN_PORT = 9580;
/** The TCP listeners of the scene's gateway: its uplink addresses (outside the tunnel pools). */
export const ADMIN_LISTEN = [
  { host: NET.uplink4, port: ADMIN_PORT },
  { host: NET.uplink6, port: ADMIN_PORT },
] as const;

/** Policies of the scene: two quotas far beyond what the test moves, so bob's limit shows in /metrics. */
export const ADMIN_POLICIES = {
  neighbour: { quota: { bytes: '10GB', period: 'month', count: 'both', atQuota: 'block' } },
  household: { quota: { bytes: '20GB', period: 'month', count: 'both', atQuota: 'block' } },
} as const;
export const POLICY_LIMIT = { neighbour: 10_000_000_000, household: 20_000_000_000 } as const;

/** The gateway scene with the admin section and alice (client A) alone in the file; nothing runs yet. */
export async function buildAdminScene(): Promise<GatewayScene> {
  const gs = await GatewayScene.build('admin');
  gs.writeGatewayConfig({
    fileClients: ['alice'],
    extra: {
      admin: { listen: ADMIN_LISTEN.map((l) => endpointText(l.host, l.port)), metricsPublic: false },
      policies: ADMIN_POLICIES,
    },
  });
  gs.scene.ownFile(adminSocketPath(gs.gwTun), gs.gw); // left behind by a SIGKILL
  return gs;
}

export function endpointText(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Wall-clock ms when the command was started and when it returned. */
  startedAt: number;
  endedAt: number;
}

/** `meshgate ARGS… --config <gateway.yaml>` in mg-gw; throws on a non-zero exit unless check is false. */
export async function meshgateCli(gs: GatewayScene, args: readonly string[], check = true): Promise<CliResult> {
  const startedAt = Date.now();
  const r = await gs.gw.exec('node', [MESHGATE_BIN, ...args, '--config', gs.gatewayConfigFile], {
    check,
    timeoutMs: 20_000,
  });
  return { ...r, startedAt, endedAt: Date.now() };
}

export interface ProbeAnswer {
  status?: number;
  contentType?: string | null;
  body?: string;
  error?: string;
}

/** One HTTP GET from `ns` (with the bearer token of `tokenFile`); never throws for a failed request. */
export async function probeGet(ns: Namespace, url: string, tokenFile?: string, timeoutS = 5): Promise<ProbeAnswer> {
  const args = [PROBE_TOOL, 'get', url, '--timeout', String(timeoutS)];
  if (tokenFile !== undefined) args.push('--token-file', tokenFile);
  const r = await ns.exec('node', args, { check: false, timeoutMs: timeoutS * 1000 + 10_000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ProbeAnswer;
  } catch {
    return { error: `exit ${r.exitCode}: ${r.stderr}${r.stdout}` };
  }
}

export interface ConnectResult {
  result: 'connected' | 'refused' | 'timeout' | 'error';
  code?: string;
  ms: number;
}

/** One TCP connect from `ns` to host:port, waiting at most timeoutS. */
export async function probeConnect(ns: Namespace, host: string, port: number, timeoutS = 3): Promise<ConnectResult> {
  const r = await ns.exec('node', [PROBE_TOOL, 'connect', host, String(port), '--timeout', String(timeoutS)], {
    timeoutMs: timeoutS * 1000 + 10_000,
  });
  return JSON.parse(r.stdout.trim()) as ConnectResult;
}

/** A URL of the gateway's first (IPv4) admin listener. */
export function adminUrl(pathAndQuery: string): string {
  return httpUrl(ADMIN_LISTEN[0].host, ADMIN_PORT, pathAndQuery);
}

export interface Scrape {
  text: string;
  expo: Exposition;
}

/** GET /metrics on the admin listener from the Internet side with the token; throws unless 200. */
export async function scrapeMetrics(gs: GatewayScene, tokenFile: string): Promise<Scrape> {
  const r = await probeGet(gs.inet, adminUrl('/metrics'), tokenFile);
  if (r.status !== 200 || r.body === undefined) throw new Error(`/metrics: ${JSON.stringify(r).slice(0, 2000)}`);
  return { text: r.body, expo: parseExposition(r.body) };
}

/** A per-client sample of a scrape; throws when absent. */
export function clientSample(s: Scrape, name: string, client: string, labels: Record<string, string> = {}): number {
  const want = { client, ...labels };
  const sample = s.expo.samples.find(
    (x) => x.name === name && Object.entries(want).every(([k, v]) => x.labels[k] === v),
  );
  if (sample === undefined) throw new Error(`/metrics has no ${name}${JSON.stringify(want)}`);
  return sample.value;
}

/** One reply of a ping stream: its receive time (Unix ms, ping -D) and sequence number. */
export interface PingReply {
  at: number;
  seq: number;
}

/**
 * `ping -D -i interval -w seconds address` in `ns`: every echo reply with the time
 * ping printed it (the shared host clock, so comparable with Date.now()). Resolves
 * when ping ends by itself after `seconds`.
 */
export async function pingStream(ns: Namespace, address: string, seconds: number, intervalS = 0.02) {
  const fam = address.includes(':') ? '-6' : '-4';
  const args = [fam, '-n', '-D', '-i', String(intervalS), '-W', '1', '-w', String(seconds), address];
  const r = await ns.exec('ping', args, { check: false, timeoutMs: (seconds + 10) * 1000 });
  const replies: PingReply[] = [...r.stdout.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+) .*time=/gm)].map((m) => ({
    at: Number(m[1]) * 1000,
    seq: Number(m[2]),
  }));
  return { replies, output: r.stdout + r.stderr };
}

/** The namespace's count of UDP datagrams dropped for a full socket receive buffer (/proc/net/snmp). */
export async function udpReceiveBufferErrors(ns: Namespace): Promise<number> {
  const lines = (await ns.exec('cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  const at = names?.indexOf('RcvbufErrors') ?? -1;
  if (at < 0 || values === undefined) throw new Error(`no Udp RcvbufErrors in /proc/net/snmp of ${ns.name}`);
  return Number(values[at]);
}
