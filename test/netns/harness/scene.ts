// A Scene owns everything one test builds (namespaces, veths, processes, tunnel
// peers, files) and removes all of it in teardown(); see harness.ts for its use.

import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatEndpoint } from './endpoint.js';
import { isRoot, MESHGATE_BIN, XFER_TOOL } from './env.js';
import { genKeyPair, genPsk, type KeyPair } from './keys.js';
import {
  listDir,
  MARKER_DIR,
  removeMarker,
  MESHGATE_RUN_DIR,
  NS_PREFIX,
  REMOVABLE_DIRS,
  removeNamespaceSync,
  removeStaleNamespaces,
  WG_RUN_DIR,
  writeMarker,
  nsPids,
} from './markers.js';
import { Namespace, type SpawnOptions } from './namespace.js';
import { Capture } from './pcap.js';
import {
  configureDevice,
  MeshgatePeer,
  PAIR,
  WireguardGoPeer,
  type PairOptions,
  type PeerKind,
  type TunnelPair,
  type TunnelPeer,
} from './peers.js';
import { childEnv, processAlive, Proc, signal } from './process.js';
import { sleep, sleepSync } from './sleep.js';
import { renderWgQuick, renderWgSetconf, type TunnelConfig } from './wg-config.js';
import { XferServer } from './xfer.js';

const ROLE_PATTERN = /^[a-z0-9]{1,7}$/;
const ID_LENGTH = 4;

/**
 * The live scenes and whether the signal hooks are installed, per process:
 * vitest imports this module afresh for each test file in a reused worker,
 * and one set of hooks must cover every file's scenes (one set per file would
 * pile up signal listeners).
 */
const PROCESS_STATE = Symbol.for('meshgate.netns.scenes');
const processState = ((globalThis as { [PROCESS_STATE]?: { live: Set<Scene>; hooks: boolean } })[PROCESS_STATE] ??= {
  live: new Set<Scene>(),
  hooks: false,
});
const liveScenes = processState.live;
let staleChecked = false;

export interface VethOptions {
  /** Addresses (CIDR) on a's end and b's end. */
  a?: readonly string[];
  b?: readonly string[];
  /** Device names in a and b (default eth<n>, counted per namespace). */
  names?: readonly [string, string];
  mtu?: number;
}

export interface LanMember {
  ns: Namespace;
  addresses: readonly string[];
  /** Device name in the member (default eth<n>). */
  dev?: string;
}

export interface TeardownOptions {
  /** Keep the scene's temp directory (logs, configs, captures). */
  keepLogs?: boolean;
}

/** Everything one test builds; see the file comment. */
export class Scene {
  readonly namespaces: Namespace[] = [];
  readonly procs: Proc[] = [];
  private readonly devCounters = new Map<string, number>();
  private readonly ownedFiles: string[] = [];
  private ifCounter = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';

  private constructor(
    readonly label: string,
    readonly id: string,
    /** Temp directory for logs, configs and captures (mode 0700). */
    readonly dir: string,
  ) {}

  /** A new scene; installs the process hooks and removes stale namespaces of crashed runs (once). */
  static async create(label = 'scene'): Promise<Scene> {
    if (!isRoot()) throw new Error('Scene.create needs root');
    installProcessHooks();
    if (!staleChecked) {
      staleChecked = true;
      await removeStaleNamespaces();
    }
    const taken = (await execa('ip', ['netns', 'list'])).stdout + '\n' + listDir(MARKER_DIR).join('\n');
    let id = shortId();
    while (taken.includes(`-${id}`) || [...liveScenes].some((s) => s.id === id)) id = shortId();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mg-netns-${label.replace(/[^a-z0-9-]/gi, '')}-${id}-`));
    const scene = new Scene(label, id, dir);
    liveScenes.add(scene);
    return scene;
  }

  /** Tears down every live scene of this process (for afterEach/afterAll). */
  static async teardownAll(opts: TeardownOptions = {}): Promise<void> {
    const errors: unknown[] = [];
    for (const s of [...liveScenes]) {
      try {
        await s.teardown(opts);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'scene teardown failed');
  }

  /** Scenes not yet torn down. */
  static live(): readonly Scene[] {
    return [...liveScenes];
  }

  assertOpen(): void {
    if (this.state !== 'open') throw new Error(`scene ${this.id} is torn down`);
  }

  /** A new namespace "mg-<role>-<id>" with lo up and the harness marker. */
  async namespace(role: string): Promise<Namespace> {
    this.assertOpen();
    if (!ROLE_PATTERN.test(role)) throw new Error(`role must match ${ROLE_PATTERN}: ${role}`);
    const name = `${NS_PREFIX}${role}-${this.id}`;
    if (this.namespaces.some((n) => n.name === name)) throw new Error(`namespace ${name} exists in this scene`);
    // Marker first: a crash between the two steps leaves a marker without a namespace, which is harmless.
    const ns = new Namespace(this, role, name);
    this.namespaces.push(ns);
    writeMarker(ns.name, this.id);
    await execa('ip', ['netns', 'add', name]);
    await ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** A device name unique across scenes and runs ("mg<kind><id><n>", ≤ 15 chars), for global names. */
  ifname(kind = 't'): string {
    if (!/^[a-z]{1,3}$/.test(kind)) throw new Error('kind: 1..3 lowercase letters');
    return `mg${kind}${this.id}${this.ifCounter++}`;
  }

  /** A veth pair between two namespaces, addresses added and both ends up; returns the device names. */
  async veth(a: Namespace, b: Namespace, opts: VethOptions = {}): Promise<{ a: string; b: string }> {
    this.assertOpen();
    const devA = opts.names?.[0] ?? this.nextDev(a);
    const devB = opts.names?.[1] ?? this.nextDev(b);
    await a.ip('link', 'add', devA, 'type', 'veth', 'peer', 'name', devB, 'netns', b.name);
    for (const [ns, dev, addrs] of [
      [a, devA, opts.a ?? []],
      [b, devB, opts.b ?? []],
    ] as const) {
      for (const cidr of addrs) await ns.addAddress(dev, cidr);
      await ns.linkUp(dev, opts.mtu);
    }
    return { a: devA, b: devB };
  }

  /**
   * One Ethernet segment: a bridge in its own namespace "mg-<switchRole>-<id>" and
   * one veth per member. Returns the member-side device names, in order.
   */
  async lan(members: readonly LanMember[], switchRole = 'sw'): Promise<string[]> {
    const sw = await this.namespace(switchRole);
    await sw.ip('link', 'add', 'br0', 'type', 'bridge');
    await sw.linkUp('br0');
    const devs: string[] = [];
    for (const [i, m] of members.entries()) {
      const port = `p${i}`;
      const dev = m.dev ?? this.nextDev(m.ns);
      await sw.ip('link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', m.ns.name);
      await sw.ip('link', 'set', port, 'master', 'br0');
      await sw.linkUp(port);
      for (const cidr of m.addresses) await m.ns.addAddress(dev, cidr);
      await m.ns.linkUp(dev);
      devs.push(dev);
    }
    return devs;
  }

  /** Used by Namespace.spawn. */
  spawnIn(ns: Namespace, label: string, command: string, args: readonly string[], opts: SpawnOptions): Proc {
    this.assertOpen();
    const safe = `${ns.role}-${label}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
    let logFile = path.join(this.dir, `${safe}.log`);
    for (let n = 2; fs.existsSync(logFile); n++) logFile = path.join(this.dir, `${safe}.${n}.log`);
    // `ip netns exec` execs the command after entering the namespace, so the pid is the command's.
    const proc = new Proc(`${ns.name}/${label}`, 'ip', ['netns', 'exec', ns.name, command, ...args], logFile, {
      env: childEnv(opts.env),
      stopGraceMs: opts.stopGraceMs,
    });
    this.procs.push(proc);
    return proc;
  }

  /** Registers a global file (a control socket) to remove at teardown, also after a crash. */
  ownFile(file: string, ns: Namespace): void {
    if (!REMOVABLE_DIRS.includes(path.dirname(file))) throw new Error(`not a removable path: ${file}`);
    this.ownedFiles.push(file);
    writeMarker(ns.name, this.id, file);
  }

  /** Writes a file into the scene directory (mode 0600) and returns its path. */
  writeFile(name: string, content: string | Uint8Array): string {
    const file = path.join(this.dir, name);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
  }

  // ------------------------------------------------------------ tunnels ----

  /**
   * A wireguard-go peer: `wireguard-go -f NAME` in the namespace (verbose log),
   * configured with `wg setconf`, addresses, MTU, link up and a route per AllowedIPs.
   */
  async wireguardGo(ns: Namespace, config: TunnelConfig): Promise<WireguardGoPeer> {
    const name = config.name ?? this.ifname('w');
    const sock = path.join(WG_RUN_DIR, `${name}.sock`);
    this.ownFile(sock, ns);
    const proc = ns.spawn(`wireguard-go-${name}`, 'wireguard-go', ['-f', name], {
      env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'verbose' },
    });
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(sock)) {
      if (proc.exitStatus) throw proc.failure('exited before creating its socket');
      if (Date.now() > deadline) throw proc.failure(`no ${sock} after 10 s`);
      await sleep(25);
    }
    const confFile = this.writeFile(`${name}.wg.conf`, renderWgSetconf(config));
    await ns.exec('wg', ['setconf', name, confFile]);
    await configureDevice(ns, name, config);
    return new WireguardGoPeer(ns, name, proc, config);
  }

  /**
   * A meshgate peer: writes NAME.conf (wg-quick format, mode 0600) into the scene
   * directory, runs `node bin/meshgate.js up NAME.conf` in the namespace and waits
   * for its "ready" event.
   */
  async meshgate(ns: Namespace, config: TunnelConfig, readyTimeoutMs = 20_000): Promise<MeshgatePeer> {
    const name = config.name ?? this.ifname('m');
    this.ownFile(path.join(MESHGATE_RUN_DIR, `${name}.sock`), ns);
    const confFile = this.writeFile(`${name}.conf`, renderWgQuick(config));
    const proc = ns.spawn(`meshgate-${name}`, 'node', [MESHGATE_BIN, 'up', confFile]);
    await proc.waitFor(/"event"\s*:\s*"ready"/, readyTimeoutMs);
    return new MeshgatePeer(ns, name, proc, config);
  }

  /** Starts a tunnel peer of either kind. */
  async tunnel(kind: PeerKind, ns: Namespace, config: TunnelConfig): Promise<TunnelPeer> {
    return kind === 'meshgate' ? this.meshgate(ns, config) : this.wireguardGo(ns, config);
  }

  /**
   * Two hosts "mg-a-<id>" and "mg-b-<id>" on one veth (underlay 192.0.2.1|2/24 and
   * 2001:db8:77::1|2/64, both always present), each running a tunnel peer of the
   * given kind with inner addresses 10.77.0.1|2/24 and fd00:77::1|2/64, each the
   * other's only peer (AllowedIPs: the other's /32 and /128), endpoints on the
   * chosen underlay family, no keepalive: the first packet decides who initiates.
   */
  async tunnelPair(opts: PairOptions): Promise<TunnelPair> {
    const nsA = await this.namespace('a');
    const nsB = await this.namespace('b');
    const veth = await this.veth(nsA, nsB, {
      a: [PAIR.underlay4[0] + '/24', PAIR.underlay6[0] + '/64'],
      b: [PAIR.underlay4[1] + '/24', PAIR.underlay6[1] + '/64'],
    });
    const ul = opts.underlay === 'v6' ? PAIR.underlay6 : PAIR.underlay4;
    const keysA = genKeyPair();
    const keysB = genKeyPair();
    const psk = opts.psk ? genPsk() : undefined;
    const port = PAIR.port;
    const side = (i: 0 | 1, keys: KeyPair, other: KeyPair): TunnelConfig => ({
      privateKey: keys.privateKey,
      listenPort: port,
      addresses: [`${PAIR.inner4[i]}/24`, `${PAIR.inner6[i]}/64`],
      mtu: opts.mtu,
      peers: [
        {
          publicKey: other.publicKey,
          presharedKey: psk,
          allowedIps: [`${PAIR.inner4[1 - i]}/32`, `${PAIR.inner6[1 - i]}/128`],
          endpoint: opts.noEndpoint === (i === 0 ? 'a' : 'b') ? undefined : formatEndpoint(ul[1 - i]!, port),
        },
      ],
    });
    const a = await this.tunnel(opts.a, nsA, side(0, keysA, keysB));
    const b = await this.tunnel(opts.b, nsB, side(1, keysB, keysA));
    return {
      a,
      b,
      nsA,
      nsB,
      veth,
      underlay: { a: ul[0]!, b: ul[1]! },
      inner4: { a: PAIR.inner4[0], b: PAIR.inner4[1] },
      inner6: { a: PAIR.inner6[0], b: PAIR.inner6[1] },
      port,
    };
  }

  // ------------------------------------------------------ traffic tools ----

  /** Starts `xfer.mjs serve` in the namespace and waits until it listens. */
  async xferServer(ns: Namespace, port = 5201, bind = '::'): Promise<XferServer> {
    const proc = ns.spawn(`xfer-${port}`, 'node', [XFER_TOOL, 'serve', String(port), '--bind', bind]);
    await proc.waitFor(/"event":"listening"/, 10_000);
    return new XferServer(ns, port, proc);
  }

  /**
   * Starts tcpdump on a device (writing <scene dir>/<file>) and waits until it listens.
   * stop() ends it and returns the UDP packets of the capture.
   */
  async capture(ns: Namespace, dev: string, filter = 'udp'): Promise<Capture> {
    let file = path.join(this.dir, `${ns.role}-${dev}.pcap`);
    for (let n = 2; fs.existsSync(file); n++) file = path.join(this.dir, `${ns.role}-${dev}.${n}.pcap`);
    const proc = ns.spawn(`tcpdump-${dev}`, 'tcpdump', [
      '-i',
      dev,
      '-n',
      '-U',
      '--immediate-mode',
      '-Z',
      'root',
      '-w',
      file,
      filter,
    ]);
    await proc.waitFor(/listening on/, 10_000);
    return new Capture(proc, file);
  }

  // ------------------------------------------------------------ teardown ----

  /** Stops processes, deletes namespaces, sockets and markers (and the temp directory unless keepLogs). */
  async teardown(opts: TeardownOptions = {}): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    const errors: string[] = [];
    await Promise.all(this.procs.map((p) => p.stop()));
    for (const ns of [...this.namespaces].reverse()) {
      const pids = await nsPids(ns.name);
      if (pids.length > 0) {
        for (const pid of pids) signal(pid, 'SIGTERM');
        await sleep(300);
        for (const pid of pids) signal(pid, 'SIGKILL');
        await sleep(50);
      }
      const r = await execa('ip', ['netns', 'del', ns.name], { reject: false });
      if (r.exitCode !== 0 && !/No such file/.test(r.stderr)) errors.push(`ip netns del ${ns.name}: ${r.stderr}`);
    }
    this.finish(opts);
    if (errors.length > 0) throw new Error(errors.join('\n'));
  }

  /** Synchronous teardown for signal and exit handlers. */
  teardownSync(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    for (const p of this.procs) if (!p.exitStatus) signal(p.pid, 'SIGTERM');
    const deadline = Date.now() + 1_000;
    while (Date.now() < deadline && this.procs.some((p) => !p.exitStatus && processAlive(p.pid))) sleepSync(20);
    for (const p of this.procs) p.stopSync(0);
    for (const ns of [...this.namespaces].reverse()) removeNamespaceSync(ns.name);
    this.finish({ keepLogs: true });
  }

  private finish(opts: TeardownOptions): void {
    for (const f of this.ownedFiles) fs.rmSync(f, { force: true });
    for (const ns of this.namespaces) removeMarker(ns.name);
    if (!opts.keepLogs && !process.env.MG_KEEP_LOGS) fs.rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`[harness] scene ${this.label}/${this.id}: logs kept in ${this.dir}\n`);
    this.state = 'closed';
    liveScenes.delete(this);
  }

  private nextDev(ns: Namespace): string {
    const n = this.devCounters.get(ns.name) ?? 0;
    this.devCounters.set(ns.name, n + 1);
    return `eth${n}`;
  }
}

/** A scene id: 4 base-36 characters, starting with a letter. */
function shortId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(ID_LENGTH);
  let id = alphabet[bytes[0]! % 26]!; // start with a letter
  for (let i = 1; i < ID_LENGTH; i++) id += alphabet[bytes[i]! % alphabet.length]!;
  return id;
}

function installProcessHooks(): void {
  if (processState.hooks) return;
  processState.hooks = true;
  const emergency = () => {
    for (const s of [...liveScenes]) {
      try {
        s.teardownSync();
      } catch {
        // best effort: keep going with the other scenes
      }
    }
  };
  // After tearing down, the process must really end: vitest replaces process.exit in
  // its workers with a function that throws, so the handler ends us with SIGKILL.
  const onSignal = (sig: NodeJS.Signals) => () => {
    if (liveScenes.size > 0) process.stderr.write(`[harness] ${sig}: tearing down ${liveScenes.size} scene(s)\n`);
    emergency();
    process.kill(process.pid, 'SIGKILL');
  };
  process.once('SIGINT', onSignal('SIGINT'));
  process.once('SIGTERM', onSignal('SIGTERM'));
  process.once('SIGHUP', onSignal('SIGHUP'));
  process.on('exit', emergency);
  // A forked test worker whose runner died (killed alone, without its process group)
  // sees its IPC channel close: tear down what is still live, then end.
  if (process.channel) {
    process.once('disconnect', () => {
      if (liveScenes.size === 0) return;
      process.stderr.write(`[harness] runner gone: tearing down ${liveScenes.size} scene(s)\n`);
      emergency();
      process.kill(process.pid, 'SIGKILL');
    });
  }
}
