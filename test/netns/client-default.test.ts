// The client agent with `routes: [default]` on the gateway scene (gateway-scene.ts):
// client A (mg-ca-…) runs `meshgate client`, everything goes through the tunnel.
//
// 1. HTTP to the Internet namespace over IPv4 and IPv6 goes through the tunnel (the
//    server sees the gateway's uplink address); the gateway's endpoint still leaves
//    on mesh0 (its UDP carries the table's fwmark, so it never loops); the mesh LAN
//    (the gateway's mesh addresses) is reached outside the tunnel (lan: outside); the
//    mesh ranges stay in the main table ahead of the tunnel's. With lan: tunnel the
//    mesh LAN goes into the tunnel, and still the tunnel's own packets do not.
// 2. DNS: the gateway's `dns:` reaches the agent in the lease; the agent writes it
//    into the namespace's own resolv.conf (/etc/netns/<ns>/resolv.conf, which
//    `ip netns exec` mounts over /etc/resolv.conf); a name is answered by the tiny
//    responder in the Internet namespace (tools/dns-server.mjs) over the tunnel.
// 3. After SIGINT, and after SIGKILL + `meshgate client down --config F` (and after
//    SIGKILL + a new start), the namespace's addresses, routes (every table), rules
//    and resolv.conf are exactly as before. The host's /etc/resolv.conf is never
//    touched (its SHA-256 before and after).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { MESHGATE_BIN, netnsSkip, teardownScenesAfterEach, type Namespace } from './harness.js';
import {
  GatewayScene,
  NET,
  canonicalIp,
  clientDump,
  eventually,
  httpGet,
  httpUrl,
  jsonLines,
} from './gateway-scene.js';

const skipReason = netnsSkip('client default-route tests', { commands: ['ip', 'nft', 'sysctl'], ping: true });

const here = path.dirname(fileURLToPath(import.meta.url));
const DNS_TOOL = path.resolve(here, 'tools/dns-server.mjs');
const HOST_RESOLV_CONF = '/etc/resolv.conf';
const NETNS_ETC = '/etc/netns';
/** A name under .test (RFC 6761), answered by the responder with the Internet namespace's addresses. */
const NAME = 'inet.meshgate.test';
const NS_RESOLV_CONF = '# mg test: the namespace resolver before the agent\nnameserver 192.0.2.53\n';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
let hostResolvSha = '';
let createdNetnsEtc = false;
const netnsDirs: string[] = [];

teardownScenesAfterEach();
afterEach(() => {
  for (const dir of netnsDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  if (createdNetnsEtc && fs.existsSync(NETNS_ETC) && fs.readdirSync(NETNS_ETC).length === 0) fs.rmdirSync(NETNS_ETC);
});
beforeAll(() => {
  hostResolvSha = sha256(HOST_RESOLV_CONF);
});
afterAll(() => {
  expect(sha256(HOST_RESOLV_CONF)).toBe(hostResolvSha);
});

/** The namespace's own resolv.conf; checks that `ip netns exec` mounts it (so the host's is never the one changed). */
async function ownResolvConf(ns: Namespace): Promise<string> {
  if (!fs.existsSync(NETNS_ETC)) {
    fs.mkdirSync(NETNS_ETC, { mode: 0o755 });
    createdNetnsEtc = true;
  }
  const dir = path.join(NETNS_ETC, ns.name);
  fs.mkdirSync(dir, { mode: 0o755 });
  netnsDirs.push(dir);
  const file = path.join(dir, 'resolv.conf');
  fs.writeFileSync(file, NS_RESOLV_CONF, { mode: 0o644 });
  const seen = (await ns.exec('cat', ['/etc/resolv.conf'])).stdout;
  if (seen.trim() !== NS_RESOLV_CONF.trim()) throw new Error(`ip netns exec does not mount ${file}: saw ${seen}`);
  return file;
}

const dump = (ns: Namespace, resolvConf: string) => clientDump(ns, resolvConf);

/** A name looked up in `ns` through its resolv.conf (c-ares reads it), A and AAAA. */
async function resolveIn(ns: Namespace, name: string): Promise<{ a: string[]; aaaa: string[] }> {
  const script = `const d=require('node:dns').promises;Promise.all([d.resolve4(${JSON.stringify(name)}),d.resolve6(${JSON.stringify(name)})]).then(([a,aaaa])=>console.log(JSON.stringify({a,aaaa})),e=>{console.log(JSON.stringify({error:e.code}));process.exit(1)})`;
  const r = await ns.exec('node', ['-e', script], { check: false, timeoutMs: 20_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as { a: string[]; aaaa: string[] };
}

async function routeDev(ns: Namespace, to: string, ...extra: string[]): Promise<string> {
  const out = (await ns.ip(to.includes(':') ? '-6' : '-4', 'route', 'get', to, ...extra)).stdout;
  return /\bdev (\S+)/.exec(out)?.[1] ?? `(no dev in: ${out})`;
}

describe.skipIf(skipReason !== null)('meshgate client with routes: [default]', () => {
  test('everything through the tunnel, mesh and LAN outside, DNS from the lease, the namespace restored after SIGINT and SIGKILL', async () => {
    const gs = await GatewayScene.build('cdef');
    // The agent's state file (client/client-state.ts) goes with the scene, also when a step fails after a SIGKILL.
    const dnsServer = gs.inet.spawn('dns', 'node', [
      DNS_TOOL,
      '--bind',
      `${NET.inet4},${NET.inet6}`,
      '--name',
      NAME,
      '--a',
      NET.inet4,
      '--aaaa',
      NET.inet6,
    ]);
    await dnsServer.waitFor(/"event":"ready"/, 10_000);
    gs.writeGatewayConfig({ extra: { dns: [NET.inet4, NET.inet6] } });
    await gs.startGateway();
    const resolvConf = await ownResolvConf(gs.ca);
    // Duplicate address detection of the new links settles first (else "tentative" differs later).
    await eventually(
      'no tentative address in ca',
      async () => ((await gs.ca.ip('addr')).stdout.includes('tentative') ? undefined : true),
      10_000,
    );
    const before = await dump(gs.ca, resolvConf);
    const configFile = gs.file('alice.yaml');
    const start = () => gs.startClientA(20_000, { routes: ['default'] });

    // ---- 1. up: routing ----
    const agent = await start();
    const lease = gs.clientALease();
    for (const [family, address] of [
      [4, NET.inet4],
      [6, NET.inet6],
    ] as const) {
      const r = await httpGet(gs.ca, httpUrl(address, NET.httpPort, '/whoami'), { timeoutS: 10 });
      expect(r, `whoami over IPv${family}: ${JSON.stringify(r)}`).toMatchObject({ ok: true });
      // The gateway's uplink address: through the tunnel and its NAT, not the lease's nor the mesh's.
      expect(canonicalIp(String(r.body).trim())).toBe(canonicalIp(family === 4 ? NET.uplink4 : NET.uplink6));
    }
    expect(await routeDev(gs.ca, NET.inet4)).toBe(gs.caTun);
    expect(await routeDev(gs.ca, NET.inet6)).toBe(gs.caTun);
    // The tunnel's own packets (marked with the table) leave on the mesh LAN, never into the tunnel.
    const table = /not from all fwmark 0x([0-9a-f]+) lookup (\d+)/.exec((await gs.ca.ip('-6', 'rule')).stdout);
    expect(table, 'the fwmark rule').not.toBeNull();
    expect(await routeDev(gs.ca, NET.gwMesh6, 'mark', String(parseInt(table![1]!, 16)))).toBe('mesh0');
    // lan: outside: the mesh LAN stays on mesh0 (the gateway's http-self sees A's mesh address).
    expect(await routeDev(gs.ca, NET.gwMesh6)).toBe('mesh0');
    for (const [address, from] of [
      [NET.gwMesh4, NET.caMesh4],
      [NET.gwMesh6, NET.caMesh6],
    ] as const) {
      const r = await httpGet(gs.ca, httpUrl(address, NET.gwHttpPort, '/whoami'), { timeoutS: 10 });
      expect(r, `LAN whoami ${address}: ${JSON.stringify(r)}`).toMatchObject({ ok: true });
      expect(canonicalIp(String(r.body).trim())).toBe(canonicalIp(from));
    }
    // The mesh ranges are looked up in main ahead of the tunnel's table.
    const rules6 = (await gs.ca.ip('-6', 'rule')).stdout;
    expect(rules6).toMatch(/to 200::\/7 lookup main/);
    expect(rules6).toMatch(/to fc00::\/8 lookup main/);

    // ---- 2. DNS from the lease ----
    const written = fs.readFileSync(resolvConf, 'utf8');
    expect(written).toContain(`nameserver ${NET.inet4}\n`);
    expect(await resolveIn(gs.ca, NAME)).toEqual({ a: [NET.inet4], aaaa: [canonicalIp(NET.inet6)] });
    const queries = jsonLines(dnsServer.output()).filter((e) => e.event === 'query' && e.name === NAME);
    expect(queries.length).toBeGreaterThanOrEqual(2);
    // Asked through the tunnel: the responder sees the gateway's uplink address.
    expect(queries.every((q) => [NET.uplink4, canonicalIp(NET.uplink6)].includes(canonicalIp(String(q.remote))))).toBe(
      true,
    );
    expect(lease.ipv4).not.toBe('');

    // ---- 3a. SIGINT: everything back ----
    process.kill(agent.pid, 'SIGINT');
    expect((await agent.exited).code).toBe(0);
    expect(await dump(gs.ca, resolvConf)).toEqual(before);

    // ---- 3b. SIGKILL: left behind, then `meshgate client down` ----
    const killed = await start();
    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;
    expect((await gs.ca.ip('-6', 'rule')).stdout).toMatch(/200::\/7/);
    expect(fs.readFileSync(resolvConf, 'utf8')).toBe(written);
    const down = await gs.ca.exec('node', [MESHGATE_BIN, 'client', 'down', '--config', configFile], { check: false });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await dump(gs.ca, resolvConf)).toEqual(before);
    const again = await gs.ca.exec('node', [MESHGATE_BIN, 'client', 'down', '--config', configFile], { check: false });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/"event":"nothing-to-undo"/);

    // ---- 3c. SIGKILL, then a new start undoes the leftovers first ----
    const killed2 = await start();
    process.kill(killed2.pid, 'SIGKILL');
    await killed2.exited;
    const restarted = await start();
    expect(restarted.output()).toMatch(/"event":"leftovers-undone"/);
    await eventually(
      'the name resolves after the restart',
      async () => ((await resolveIn(gs.ca, NAME)).a?.[0] === NET.inet4 ? true : undefined),
      10_000,
    );
    process.kill(restarted.pid, 'SIGINT');
    expect((await restarted.exited).code).toBe(0);
    expect(await dump(gs.ca, resolvConf)).toEqual(before);

    // ---- 4. lan: tunnel: the mesh LAN goes into the tunnel too, the tunnel's own UDP still does not ----
    const lanInside = await gs.startClientA(20_000, { routes: ['default'], lan: 'tunnel', dns: false });
    expect(await routeDev(gs.ca, NET.cbMesh4)).toBe(gs.caTun);
    expect(await routeDev(gs.ca, NET.cbMesh6)).toBe(gs.caTun);
    expect(await routeDev(gs.ca, NET.gwMesh6, 'mark', String(parseInt(table![1]!, 16)))).toBe('mesh0');
    const r = await httpGet(gs.ca, httpUrl(NET.inet4, NET.httpPort, '/whoami'), { timeoutS: 10 });
    expect(canonicalIp(String(r.body).trim())).toBe(NET.uplink4);
    expect(fs.readFileSync(resolvConf, 'utf8')).toBe(NS_RESOLV_CONF); // dns: false
    process.kill(lanInside.pid, 'SIGINT');
    expect((await lanInside.exited).code).toBe(0);
    expect(await dump(gs.ca, resolvConf)).toEqual(before);
    expect(sha256(HOST_RESOLV_CONF)).toBe(hostResolvSha);
  }, 180_000);
});
