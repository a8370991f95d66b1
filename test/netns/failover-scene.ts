// The two-gateway scene of issue 10 (failover, Proofs 3 and 4) in network namespaces:
//
//   mg-inet-ID  "the Internet": HTTP (/whoami) and DNS on 198.51.100.1 and 2001:db8:100::1
//    │     │    (and DNS also on .53 / ::53, south's resolvers), all on lo; only connected
//    │     │    routes, so it can answer nothing but the two gateways' uplink addresses
//    │ isp1 198.51.100.129/25 2001:db8:101::1/64      │ isp2 203.0.113.1/24 2001:db8:200::1/64
//    │ up0  198.51.100.130/25 2001:db8:101::2/64      │ up0  203.0.113.2/24 2001:db8:200::2/64
//   mg-gw1-ID  north: `meshgate gateway`,            mg-gw2-ID  south: `meshgate gateway`,
//    │          pools 100.64.0.0/16, fd64:6464:1::/48  │         pools 100.65.0.0/16, fd65:6565:2::/48
//    │ mesh0 192.0.2.1/24 2001:db8:1::1/64            │ mesh0 192.0.2.2/24 2001:db8:1::2/64
//   mg-mesh-ID  one bridge (br0; ports p0 north, p1 south, p2 the client), and a bridge
//    │          nftables table counting what the client's port sends (installCounters)
//   mg-cl-ID   mesh0 192.0.2.10/24 2001:db8:1::10/64: `meshgate client --config F`
//
// Cutting a gateway's uplink sets the Internet's end of its veth down (a dead modem:
// the gateway's up0 loses its carrier); isp1/isp2 keep their IPv6 addresses while down.
// The client namespace gets its own /etc/netns/NAME/resolv.conf (ip netns exec mounts
// it over /etc/resolv.conf; the test removes it with removeResolvConf() after each
// test); the host's file is never written.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseCidr } from '../../shared/net/address.js';
import { MESHGATE_BIN, Scene, genKeyPair, jsonLines, type KeyPair, type Namespace, type Proc } from './harness.js';
import {
  canonicalIp,
  clientDump,
  httpGet,
  httpServer,
  httpUrl,
  inCidr,
  nftCounters,
  type GetResult,
} from './gateway-scene.js';
import { stateFileOf } from '../../client/client-state.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DNS_TOOL = path.resolve(here, 'tools/dns-server.mjs');

/** Addresses of the scene (documentation ranges; the tunnel pools are the gateways'). */
export const FNET = {
  inet4: '198.51.100.1',
  inet6: '2001:db8:100::1',
  /** South's DNS servers, also answered in the Internet namespace. */
  dnsSouth4: '198.51.100.53',
  dnsSouth6: '2001:db8:100::53',
  clMesh4: '192.0.2.10',
  clMesh6: '2001:db8:1::10',
  mesh4: '192.0.2.0/24',
  mesh6: '2001:db8:1::/64',
  listenPort: 51820,
  httpPort: 80,
  /** A name under .test (RFC 6761) the DNS server answers with the Internet's addresses. */
  dnsName: 'inet.meshgate.test',
} as const;

export type GatewayName = 'north' | 'south';

/** One gateway's fixed facts. */
interface GatewayPlan {
  name: GatewayName;
  role: string;
  inetDev: string;
  inetSide: readonly [string, string];
  uplink4: string;
  uplink6: string;
  prefix4: number;
  prefix6: number;
  mesh4: string;
  mesh6: string;
  pool4: string;
  pool6: string;
  dns: readonly string[];
}

const PLANS: readonly GatewayPlan[] = [
  {
    name: 'north',
    role: 'gw1',
    inetDev: 'isp1',
    inetSide: ['198.51.100.129', '2001:db8:101::1'],
    uplink4: '198.51.100.130',
    uplink6: '2001:db8:101::2',
    prefix4: 25,
    prefix6: 64,
    mesh4: '192.0.2.1',
    mesh6: '2001:db8:1::1',
    pool4: '100.64.0.0/16',
    pool6: 'fd64:6464:1::/48',
    dns: [FNET.inet4, FNET.inet6],
  },
  {
    name: 'south',
    role: 'gw2',
    inetDev: 'isp2',
    inetSide: ['203.0.113.1', '2001:db8:200::1'],
    uplink4: '203.0.113.2',
    uplink6: '2001:db8:200::2',
    prefix4: 24,
    prefix6: 64,
    mesh4: '192.0.2.2',
    mesh6: '2001:db8:1::2',
    pool4: '100.65.0.0/16',
    pool6: 'fd65:6565:2::/48',
    dns: [FNET.dnsSouth4, FNET.dnsSouth6],
  },
];

const READY = /"event"\s*:\s*"ready"/;
/** A SIGTERM that does not end a gateway is followed by SIGKILL after this long. */
const GATEWAY_STOP_GRACE_MS = 10_000;
const MESHGATE_RUN_DIR = '/var/run/meshgate';
const NETNS_ETC = '/etc/netns';
/** The client namespace's resolv.conf before the agent. */
export const NS_RESOLV_CONF = '# mg test: the namespace resolver before the agent\nnameserver 192.0.2.53\n';
/** Bridge table in the mesh namespace counting what the client sends. */
const COUNT_TABLE = 'mgcount';
/** The client's bridge port in the mesh namespace (third LAN member). */
const CLIENT_PORT = 'p2';

/** A gateway of the scene: its namespace, files, addresses and (while running) its process. */
export class Gateway {
  proc: Proc | null = null;
  readonly tun: string;
  readonly configFile: string;

  constructor(
    readonly plan: GatewayPlan,
    readonly ns: Namespace,
    readonly keys: KeyPair,
    private readonly scene: Scene,
  ) {
    this.tun = scene.ifname('g');
    this.configFile = path.join(scene.dir, `${plan.name}.yaml`);
    scene.ownFile(path.join(MESHGATE_RUN_DIR, `${this.tun}.sock`), ns);
    // The admin API's socket: a SIGKILLed gateway leaves it behind.
    scene.ownFile(path.join(MESHGATE_RUN_DIR, `${this.tun}.api.sock`), ns);
  }

  get name(): GatewayName {
    return this.plan.name;
  }

  /** Whether an address (with or without prefix) lies in this gateway's IPv4 or IPv6 pool. */
  inPools(address: string): boolean {
    return [this.plan.pool4, this.plan.pool6].some((p) => inCidr(address, parseCidr(p)));
  }

  /** The gateway's YAML (docs/gateway-config.md). */
  writeConfig(clientPublicKey: string): void {
    const stateDir = path.join(this.scene.dir, `state-${this.name}`);
    const config = {
      privateKeyFile: this.scene.writeFile(`${this.name}.key`, this.keys.privateKey + '\n'),
      listenPort: FNET.listenPort,
      endpoint: `${this.plan.mesh4}:${FNET.listenPort}`,
      uplink: 'up0',
      interface: this.tun,
      mtu: 1420,
      ipv4Pool: this.plan.pool4,
      ipv6: { mode: 'nat66', pool: this.plan.pool6, leasePrefixLength: 128 },
      dns: [...this.plan.dns],
      leaseLifetime: 3600,
      stateDir,
      clients: [{ name: 'alice', publicKey: clientPublicKey }],
    };
    this.scene.writeFile(path.basename(this.configFile), YAML.stringify(config));
  }

  /** `meshgate gateway --config FILE`; resolves with the "ready" line's time (ms, the gateway's clock). */
  async start(timeoutMs = 20_000): Promise<number> {
    if (this.proc && !this.proc.exitStatus) throw new Error(`${this.name} is already running`);
    const proc = this.ns.spawn(`gateway-${this.name}`, 'node', [MESHGATE_BIN, 'gateway', '--config', this.configFile], {
      stopGraceMs: GATEWAY_STOP_GRACE_MS,
    });
    this.proc = proc;
    await proc.waitFor(READY, timeoutMs);
    const ready = jsonLines(proc.output()).find((e) => e.event === 'ready');
    return typeof ready?.time === 'number' ? ready.time : Date.now();
  }

  /** SIGKILL (a crashed gateway) and wait for it; returns the time the signal was sent. */
  async kill(): Promise<number> {
    const proc = this.proc;
    if (!proc || proc.exitStatus) throw new Error(`${this.name} is not running`);
    process.kill(proc.pid, 'SIGKILL');
    const t0 = Date.now();
    await proc.exited;
    return t0;
  }
}

/** One line of the whoami loop (startWhoamiLoop). */
export interface Try {
  family: 4 | 6;
  /** ms since the epoch: the connection's start and its end (answer, error or timeout). */
  start: number;
  end: number;
  ok: boolean;
  /** The remote address the server saw (canonical), when ok. */
  remote?: string;
  error?: string;
}

/**
 * Every `everyMs` a NEW HTTP connection (no keep-alive agent) to /whoami over IPv4
 * and over IPv6, each given up after `timeoutMs`; one JSON line per attempt.
 */
const WHOAMI_LOOP = `
const http = require('node:http');
const [everyMs, timeoutMs, t4, t6, port] = process.argv.slice(1);
function once(family, host) {
  const start = Date.now();
  let done = false;
  const finish = (ok, extra) => {
    if (done) return;
    done = true;
    console.log(JSON.stringify({ event: 'try', family, start, end: Date.now(), ok, ...extra }));
  };
  const req = http.get({ host, port: Number(port), path: '/whoami', agent: false, timeout: Number(timeoutMs) }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => finish(res.statusCode === 200, { remote: body.trim() }));
    res.on('error', (e) => finish(false, { error: e.code || e.message }));
  });
  req.on('timeout', () => { req.destroy(new Error('timeout')); });
  req.on('error', (e) => finish(false, { error: e.code || e.message }));
}
setInterval(() => { once(4, t4); once(6, t6); }, Number(everyMs));
console.log(JSON.stringify({ event: 'ready' }));
`;

/** Parses the whoami loop's output. */
export function tries(loop: Proc): Try[] {
  return jsonLines(loop.output())
    .filter((e) => e.event === 'try')
    .map((e) => ({
      family: e.family as 4 | 6,
      start: Number(e.start),
      end: Number(e.end),
      ok: e.ok === true,
      ...(typeof e.remote === 'string' && e.remote !== '' ? { remote: canonicalIp(e.remote) } : {}),
      ...(typeof e.error === 'string' ? { error: e.error } : {}),
    }));
}

export class FailoverScene {
  agent: Proc | null = null;
  readonly clientTun: string;
  readonly clientConfigFile: string;
  /** The client namespace's own resolv.conf (/etc/netns/NAME/resolv.conf), once ownResolvConf() made it. */
  resolvConf: string | null = null;
  private createdNetnsEtc = false;

  private constructor(
    readonly scene: Scene,
    readonly inet: Namespace,
    readonly mesh: Namespace,
    readonly client: Namespace,
    readonly north: Gateway,
    readonly south: Gateway,
    readonly alice: KeyPair,
    readonly servers: { http: Proc; dns: Proc },
  ) {
    this.clientTun = scene.ifname('c');
    this.clientConfigFile = path.join(scene.dir, 'alice.yaml');
    scene.ownFile(path.join(MESHGATE_RUN_DIR, `${this.clientTun}.sock`), client);
    scene.ownFile(stateFileOf(this.clientTun), client);
  }

  /** Namespaces, links, addresses, routes, the HTTP and DNS servers and both gateways' configs; nothing of meshgate runs. */
  static async build(label = 'failover'): Promise<FailoverScene> {
    const scene = await Scene.create(label);
    const inet = await scene.namespace('inet');
    const gws = [await scene.namespace(PLANS[0]!.role), await scene.namespace(PLANS[1]!.role)] as const;
    const client = await scene.namespace('cl');

    for (const a of [FNET.inet4, FNET.dnsSouth4]) await inet.addAddress('lo', `${a}/32`);
    for (const a of [FNET.inet6, FNET.dnsSouth6]) await inet.addAddress('lo', `${a}/128`);
    for (const [i, plan] of PLANS.entries()) {
      const gw = gws[i]!;
      await scene.veth(inet, gw, {
        names: [plan.inetDev, 'up0'],
        a: [`${plan.inetSide[0]}/${plan.prefix4}`, `${plan.inetSide[1]}/${plan.prefix6}`],
        b: [`${plan.uplink4}/${plan.prefix4}`, `${plan.uplink6}/${plan.prefix6}`],
      });
      // A cut (link down) must not flush the static IPv6 address: the restore brings the same link back.
      await inet.sysctl(`net.ipv6.conf.${plan.inetDev}.keep_addr_on_down`, 1);
      await gw.ip('-4', 'route', 'add', 'default', 'via', plan.inetSide[0], 'dev', 'up0');
      await gw.ip('-6', 'route', 'add', 'default', 'via', plan.inetSide[1], 'dev', 'up0');
    }
    await scene.lan(
      [
        { ns: gws[0], dev: 'mesh0', addresses: [`${PLANS[0]!.mesh4}/24`, `${PLANS[0]!.mesh6}/64`] },
        { ns: gws[1], dev: 'mesh0', addresses: [`${PLANS[1]!.mesh4}/24`, `${PLANS[1]!.mesh6}/64`] },
        { ns: client, dev: 'mesh0', addresses: [`${FNET.clMesh4}/24`, `${FNET.clMesh6}/64`] },
      ],
      'mesh',
    );
    const mesh = scene.namespaces.find((n) => n.role === 'mesh')!;

    const http = await httpServer(inet, 'http', [FNET.inet4, FNET.inet6], FNET.httpPort);
    const dns = inet.spawn('dns', 'node', [
      DNS_TOOL,
      '--bind',
      [FNET.inet4, FNET.inet6, FNET.dnsSouth4, FNET.dnsSouth6].join(','),
      '--name',
      FNET.dnsName,
      '--a',
      FNET.inet4,
      '--aaaa',
      FNET.inet6,
    ]);
    await dns.waitFor(READY, 10_000);

    const alice = genKeyPair();
    scene.writeFile('alice.key', alice.privateKey + '\n');
    const north = new Gateway(PLANS[0]!, gws[0], genKeyPair(), scene);
    const south = new Gateway(PLANS[1]!, gws[1], genKeyPair(), scene);
    for (const g of [north, south]) g.writeConfig(alice.publicKey);
    return new FailoverScene(scene, inet, mesh, client, north, south, alice, { http, dns });
  }

  gateway(name: GatewayName): Gateway {
    return name === 'north' ? this.north : this.south;
  }

  /** The gateway whose uplink address this is (canonical text), or null. */
  gatewayByUplink(address: string): GatewayName | null {
    const a = canonicalIp(address);
    for (const g of [this.north, this.south]) {
      if (a === canonicalIp(g.plan.uplink4) || a === canonicalIp(g.plan.uplink6)) return g.name;
    }
    return null;
  }

  /** Sets the Internet's end of a gateway's uplink down (a dead modem) or up again. */
  async setUplink(name: GatewayName, up: boolean): Promise<number> {
    await this.inet.ip('link', 'set', 'dev', this.gateway(name).plan.inetDev, up ? 'up' : 'down');
    return Date.now();
  }

  /**
   * The agent's config. `gateways`: the list form of issue 10 (north by two endpoints,
   * south by one, failover timers of the brief); a single name: the `gateway:` form.
   */
  writeClientConfig(gateways: 'both' | GatewayName, extra: Record<string, unknown> = {}): string {
    const base = {
      privateKeyFile: path.join(this.scene.dir, 'alice.key'),
      interface: this.clientTun,
      routes: ['default'],
      killSwitch: true,
      dns: true,
    };
    const one = (g: Gateway) => ({ publicKey: g.keys.publicKey, endpoint: `[${g.plan.mesh6}]:${FNET.listenPort}` });
    const config =
      gateways === 'both'
        ? {
            ...base,
            gateways: [
              {
                name: 'north',
                publicKey: this.north.keys.publicKey,
                endpoints: [
                  `[${this.north.plan.mesh6}]:${FNET.listenPort}`,
                  `${this.north.plan.mesh4}:${FNET.listenPort}`,
                ],
                priority: 1,
              },
              {
                name: 'south',
                publicKey: this.south.keys.publicKey,
                endpoint: `[${this.south.plan.mesh6}]:${FNET.listenPort}`,
                priority: 2,
              },
            ],
            failover: { probeInterval: 1, deadAfter: 3, holdDown: 8 },
          }
        : { ...base, gateway: one(this.gateway(gateways)) };
    return this.scene.writeFile(path.basename(this.clientConfigFile), YAML.stringify({ ...config, ...extra }));
  }

  /** `meshgate client --config F` in the client namespace; resolves once it logged "ready". */
  async startAgent(timeoutMs = 20_000): Promise<Proc> {
    if (this.agent && !this.agent.exitStatus) throw new Error('the agent is already running');
    const proc = this.client.spawn('agent', 'node', [MESHGATE_BIN, 'client', '--config', this.clientConfigFile]);
    this.agent = proc;
    await proc.waitFor(READY, timeoutMs);
    return proc;
  }

  /** The agent's JSON log lines of one event. */
  agentEvents(event: string): Record<string, unknown>[] {
    return jsonLines(this.agent?.output() ?? '').filter((e) => e.event === event);
  }

  /** `meshgate client status --config F --json`. */
  async status(): Promise<{ agent: Record<string, unknown> } & Record<string, unknown>> {
    const r = await this.client.exec(
      'node',
      [MESHGATE_BIN, 'client', 'status', '--config', this.clientConfigFile, '--json'],
      {
        check: false,
        timeoutMs: 15_000,
      },
    );
    if (r.exitCode !== 0) throw new Error(`client status: exit ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { agent: Record<string, unknown> };
  }

  /** One /whoami over a family from the client namespace; `remote` is who the Internet saw (a gateway name). */
  async whoami(family: 4 | 6, timeoutS = 5): Promise<GetResult & { via: GatewayName | null }> {
    const r = await httpGet(this.client, httpUrl(family === 4 ? FNET.inet4 : FNET.inet6, FNET.httpPort, '/whoami'), {
      timeoutS,
    });
    return { ...r, via: r.ok ? this.gatewayByUplink(String(r.body).trim()) : null };
  }

  /** The whoami loop (WHOAMI_LOOP) in the client namespace, already running when this resolves. */
  async startWhoamiLoop(label: string, everyMs = 200, timeoutMs = 1_000): Promise<Proc> {
    const loop = this.client.spawn(label, 'node', [
      '-e',
      WHOAMI_LOOP,
      String(everyMs),
      String(timeoutMs),
      FNET.inet4,
      FNET.inet6,
      String(FNET.httpPort),
    ]);
    await loop.waitFor(READY, 10_000);
    return loop;
  }

  /** The client namespace's own resolv.conf; checks that `ip netns exec` mounts it over /etc/resolv.conf. */
  async ownResolvConf(): Promise<string> {
    if (!fs.existsSync(NETNS_ETC)) {
      fs.mkdirSync(NETNS_ETC, { mode: 0o755 });
      this.createdNetnsEtc = true;
    }
    const dir = path.join(NETNS_ETC, this.client.name);
    fs.mkdirSync(dir, { mode: 0o755 });
    const file = path.join(dir, 'resolv.conf');
    this.resolvConf = file;
    fs.writeFileSync(file, NS_RESOLV_CONF, { mode: 0o644 });
    const seen = (await this.client.exec('cat', ['/etc/resolv.conf'])).stdout;
    if (seen.trim() !== NS_RESOLV_CONF.trim()) throw new Error(`ip netns exec does not mount ${file}: saw ${seen}`);
    return file;
  }

  /** Removes the namespace's resolv.conf directory (and /etc/netns when this scene created it and it is empty). */
  removeResolvConf(): void {
    if (this.resolvConf) fs.rmSync(path.dirname(this.resolvConf), { recursive: true, force: true });
    this.resolvConf = null;
    if (this.createdNetnsEtc && fs.existsSync(NETNS_ETC) && fs.readdirSync(NETNS_ETC).length === 0) {
      fs.rmdirSync(NETNS_ETC);
    }
  }

  /** Everything the agent may change in the client namespace, as data (addresses, routes, rules, nftables, resolv.conf). */
  async dump(): Promise<Record<string, unknown>> {
    return clientDump(this.client, this.resolvConf, { nft: true });
  }

  /** Addresses (CIDR) that lie outside the mesh, for probes: the Internet's and its ends of both uplinks. */
  probeAddresses(): string[] {
    return [FNET.inet4, FNET.inet6, ...[this.north, this.south].flatMap((g) => [...g.plan.inetSide])];
  }

  /**
   * Counters on the client's bridge port in the mesh namespace (bridge family: every frame
   * the client sends into the mesh): `probe` = to a probe address, `leak` = any IP packet
   * to outside the mesh's prefixes (link-local and multicast aside), `tunnel` = UDP to
   * the gateways' endpoint port.
   */
  async installCounters(): Promise<void> {
    const v4 = this.probeAddresses().filter((a) => !a.includes(':'));
    const v6 = this.probeAddresses().filter((a) => a.includes(':'));
    const text = [
      `table bridge ${COUNT_TABLE} {`,
      '\tcounter probe {',
      '\t}',
      '\tcounter leak {',
      '\t}',
      '\tcounter tunnel {',
      '\t}',
      '\tchain count {',
      '\t\ttype filter hook forward priority -200; policy accept;',
      `\t\tiifname "${CLIENT_PORT}" ip daddr { ${v4.join(', ')} } counter name "probe"`,
      `\t\tiifname "${CLIENT_PORT}" ip6 daddr { ${v6.join(', ')} } counter name "probe"`,
      `\t\tiifname "${CLIENT_PORT}" ip daddr != ${FNET.mesh4} counter name "leak"`,
      `\t\tiifname "${CLIENT_PORT}" ip6 daddr != { ${FNET.mesh6}, fe80::/10, ff00::/8 } counter name "leak"`,
      `\t\tiifname "${CLIENT_PORT}" udp dport ${FNET.listenPort} counter name "tunnel"`,
      '\t}',
      '}',
      '',
    ].join('\n');
    await this.mesh.exec('nft', ['-f', '-'], { input: text });
  }

  async counters(): Promise<{ probe: number; leak: number; tunnel: number }> {
    const c = await nftCounters(this.mesh, 'bridge', COUNT_TABLE, { required: true });
    return { probe: c.probe ?? 0, leak: c.leak ?? 0, tunnel: c.tunnel ?? 0 };
  }

  /** Probes from the client to every probe address, all at once: ping (routed, and bound to mesh0) and a UDP datagram; each may fail. */
  async probe(): Promise<number> {
    const runs = this.probeAddresses().flatMap((address) => {
      const family = address.includes(':') ? '-6' : '-4';
      return [
        this.client.exec('ping', [family, '-c', '1', '-W', '1', address], { check: false }),
        this.client.exec('ping', [family, '-c', '1', '-W', '1', '-I', 'mesh0', address], { check: false }),
        this.client.exec('bash', ['-c', `echo probe > /dev/udp/${address}/9`], { check: false }),
      ];
    });
    await Promise.all(runs);
    return runs.length;
  }
}
