// Network-namespace test harness: real namespaces, veths, tunnels and processes,
// always cleaned up.
//
// A Scene owns everything one test builds and removes all of it in teardown():
//
//   const scene = await Scene.create('interop');
//   const a = await scene.namespace('a');          // "mg-a-k3f9", lo up, marker written
//   const b = await scene.namespace('b');
//   await scene.veth(a, b, { a: ['192.0.2.1/24'], b: ['192.0.2.2/24'] });
//   const srv = a.spawn('server', 'node', [XFER_TOOL, 'serve', '5001']);
//   await srv.waitFor(/"listening"/, 5_000);
//   ...
//   afterEach(() => Scene.teardownAll());           // in every test file
//
// Names. Namespaces are "mg-<role>-<id>" (role: 1..7 of [a-z0-9], id: 4 random
// base-36 characters per scene, checked against existing namespaces), so names fit
// the kernel's 15 characters and parallel runs do not clash. Tunnel devices are
// filesystem-global through their control sockets (/var/run/wireguard/NAME.sock,
// /var/run/meshgate/NAME.sock), so scene.ifname() also embeds the scene id.
//
// Addresses. Only documentation ranges (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, 2001:db8::/32) and private ranges inside our own namespaces;
// nothing here touches the root namespace's interfaces, routes or firewall.
//
// Teardown. scene.teardown() stops every spawned process (SIGTERM, then SIGKILL
// after a grace period), kills whatever is still inside the scene's namespaces
// (`ip netns pids`), deletes the namespaces, the control sockets of devices it
// created, its markers and (unless asked to keep them) its temp directory of logs
// and configs. Scene.teardownAll() does this for every live scene of the process:
// call it from afterEach/afterAll; vitest runs those hooks after a failed or
// timed-out test too. Once per process the harness also installs SIGINT/SIGTERM/
// SIGHUP handlers that tear all live scenes down synchronously and then end the
// process (SIGKILL to itself: vitest workers cannot process.exit), an exit handler
// that does the same teardown, and, in a forked worker, the same when the IPC
// channel to the runner closes while scenes are live (the runner was killed alone).
//
// Crashed runs. Each namespace gets a marker /run/meshgate-test/<ns> (JSON: owner
// pid and its start time, files to remove). The first Scene.create() of a process
// removes namespaces whose marker names an owner process that no longer exists;
// namespaces without our marker, or whose owner is alive, are never touched.
//
// Tunnel peers. scene.wireguardGo(ns, config) and scene.meshgate(ns, config) start
// a tunnel from the same TunnelConfig (wg-quick terms) and return a TunnelPeer
// whose show() reads `wg show NAME dump` or `meshgate show NAME --json` into the
// same TunnelInfo shape. scene.tunnelPair() builds the common two-host topology.
// Also here: key generation, ping, a content-checked TCP transfer (tools/xfer.mjs),
// packet capture with a small classic-pcap reader, and a UDP sender for replays.

import { execa } from 'execa';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The meshgate command (bin/meshgate.js, which loads the compiled CLI from dist/). */
export const MESHGATE_BIN = path.resolve(here, '../../bin/meshgate.js');
/** The compiled CLI that MESHGATE_BIN imports; absent until `npx tsc -p tsconfig.build.json`. */
export const MESHGATE_CLI_MAIN = path.resolve(here, '../../dist/shared/cli/main.js');
/** The content-checked TCP transfer tool. */
export const XFER_TOOL = path.resolve(here, 'tools/xfer.mjs');

const MARKER_DIR = '/run/meshgate-test';
const WG_RUN_DIR = '/var/run/wireguard';
const MESHGATE_RUN_DIR = '/var/run/meshgate';
/** Only files under these directories may be listed in a marker for removal. */
const REMOVABLE_DIRS = [WG_RUN_DIR, MESHGATE_RUN_DIR];

const NS_PREFIX = 'mg-';
const ROLE_PATTERN = /^[a-z0-9]{1,7}$/;
const ID_LENGTH = 4;
const STOP_GRACE_MS = 3_000;
const OUTPUT_KEEP_CHARS = 4 * 1024 * 1024;

// ------------------------------------------------------------ environment ----

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether an executable of that name is on PATH. */
export function hasCommand(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/** Why namespace tests cannot run here (not root, a command missing), or null when they can. */
export function netnsSkipReason(commands: readonly string[] = ['ip']): string | null {
  if (!isRoot()) return 'network-namespace tests need root';
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length > 0) return `network-namespace tests need: ${missing.join(', ')}`;
  return null;
}

/** Whether the meshgate CLI has been built (dist/shared/cli/main.js exists). */
export function meshgateBuilt(): boolean {
  return fs.existsSync(MESHGATE_CLI_MAIN);
}

// ------------------------------------------------------------------- keys ----

export interface KeyPair {
  /** base64, 32 bytes, as `wg genkey` prints it */
  readonly privateKey: string;
  /** base64, 32 bytes */
  readonly publicKey: string;
}

function b64urlToB64(s: string): string {
  return Buffer.from(s, 'base64url').toString('base64');
}

/** A fresh Curve25519 key pair (node:crypto; same format as `wg genkey | wg pubkey`). */
export function genKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey: b64urlToB64(jwk.d!), publicKey: b64urlToB64(jwk.x!) };
}

// RFC 8410 PKCS#8 prefix of an X25519 private key (OID 1.3.101.110), followed by the 32 key bytes.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public key of a base64 private key (clamping as X25519 does). */
export function publicKeyOf(privateKeyB64: string): string {
  const d = Buffer.from(privateKeyB64, 'base64');
  if (d.length !== 32) throw new Error('private key must be 32 bytes of base64');
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return b64urlToB64(jwk.x!);
}

/** A fresh preshared key (32 random bytes, base64), as `wg genpsk` prints it. */
export function genPsk(): string {
  return randomBytes(32).toString('base64');
}

// -------------------------------------------------------------- utilities ----

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "192.0.2.1:51820" or "[2001:db8::1]:51820". */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The address part of "10.0.0.1/24". */
export function stripPrefix(cidr: string): string {
  return cidr.split('/')[0]!;
}

function shortId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(ID_LENGTH);
  let id = alphabet[bytes[0]! % 26]!; // start with a letter
  for (let i = 1; i < ID_LENGTH; i++) id += alphabet[bytes[i]! % alphabet.length]!;
  return id;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null. */
function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22 overall; fields[0] is field 3
  } catch {
    return null;
  }
}

/** True if the process exists and is not a zombie. */
function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Environment for child processes: ours, minus anything that would load test tooling into them. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

// -------------------------------------------------------------- processes ----

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A long-running process inside a namespace. stdout and stderr go, interleaved,
 * to logFile and to an in-memory buffer (the last 4 MiB) that waitFor() searches.
 */
export class Proc {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | null = null;
  private text = '';
  private dropped = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    if (child.pid === undefined) {
      child.on('error', () => {}); // reported by the throw below
      throw new Error(`${label}: failed to start`);
    }
    this.pid = child.pid;
    const log = fs.createWriteStream(logFile, { flags: 'a' });
    const onData = (chunk: string) => {
      log.write(chunk);
      this.text += chunk;
      if (this.text.length > OUTPUT_KEEP_CHARS) {
        const cut = this.text.length - OUTPUT_KEEP_CHARS / 2;
        this.dropped += cut;
        this.text = this.text.slice(cut);
      }
      this.notify();
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => onData(`[harness] spawn error: ${err.message}\n`));
      child.on('close', (code, sig) => {
        this.status = { code, signal: sig };
        log.end(`[harness] exited code=${code} signal=${sig}\n`);
        this.notify();
        resolve(this.status);
      });
    });
  }

  /** Exit status once the process has ended, else null. */
  get exitStatus(): ExitStatus | null {
    return this.status;
  }

  /** Everything the process printed so far (the last 4 MiB). */
  output(): string {
    return this.text;
  }

  /** Length of all output so far: pass it as `since` to waitFor() to match only newer output. */
  mark(): number {
    return this.dropped + this.text.length;
  }

  /** The last lines of output, for error messages. */
  tail(lines = 30): string {
    return tail(this.text, lines);
  }

  /**
   * Resolves with the first match of `pattern` in the output (after offset `since`,
   * see mark()); rejects on timeout or if the process exits first, with the log tail.
   */
  waitFor(pattern: RegExp, timeoutMs: number, since = 0): Promise<RegExpExecArray> {
    const re = new RegExp(pattern.source, pattern.flags.replace('g', '').replace('y', ''));
    return new Promise((resolve, reject) => {
      const check = () => {
        const start = Math.max(0, since - this.dropped);
        const m = re.exec(this.text.slice(start));
        if (m) {
          done();
          resolve(m);
        } else if (this.status) {
          done();
          reject(this.failure(`exited (code ${this.status.code}, signal ${this.status.signal}) before ${pattern}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(this.failure(`no ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
  async stop(graceMs = STOP_GRACE_MS): Promise<ExitStatus> {
    if (this.status) return this.status;
    signal(this.pid, 'SIGTERM');
    const timer = setTimeout(() => signal(this.pid, 'SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** Synchronous best effort for signal/exit handlers. */
  stopSync(graceMs = 1_000): void {
    if (this.status || !processAlive(this.pid)) return;
    signal(this.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && processAlive(this.pid)) sleepSync(20);
    signal(this.pid, 'SIGKILL');
  }

  failure(what: string): Error {
    return new Error(`${this.label}: ${what}\n--- ${this.logFile} (tail) ---\n${this.tail()}`);
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

// ------------------------------------------------------------- namespaces ----

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Throw on a non-zero exit (default true). */
  check?: boolean;
  /** Kill the command after this many ms (default 60 s). */
  timeoutMs?: number;
  env?: Record<string, string>;
  input?: string;
}

export interface SpawnOptions {
  env?: Record<string, string>;
}

/** One network namespace of a scene. */
export class Namespace {
  constructor(
    readonly scene: Scene,
    readonly role: string,
    readonly name: string,
  ) {}

  /** Runs a command inside the namespace (`ip netns exec NAME cmd args…`) and waits for it. */
  async exec(command: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    this.scene.assertOpen();
    const r = await execa('ip', ['netns', 'exec', this.name, command, ...args], {
      reject: false,
      timeout: opts.timeoutMs ?? 60_000,
      env: childEnv(opts.env),
      extendEnv: false,
      input: opts.input,
      stripFinalNewline: false,
    });
    const result: ExecResult = {
      exitCode: r.exitCode ?? -1,
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
    };
    if ((opts.check ?? true) && result.exitCode !== 0) {
      const why = r.timedOut ? `timed out after ${opts.timeoutMs ?? 60_000} ms` : `exit ${result.exitCode}`;
      throw new Error(`[${this.name}] ${command} ${args.join(' ')}: ${why}\n${result.stderr}${result.stdout}`.trim());
    }
    return result;
  }

  /** `ip -n NAME args…` (throws on failure). */
  async ip(...args: string[]): Promise<ExecResult> {
    this.scene.assertOpen();
    const r = await execa('ip', ['-n', this.name, ...args], { reject: false, timeout: 30_000 });
    if (r.exitCode !== 0) throw new Error(`ip -n ${this.name} ${args.join(' ')}: ${r.stderr}`);
    return { exitCode: 0, stdout: r.stdout, stderr: r.stderr };
  }

  /** Starts a long-running process in the namespace; its output goes to <scene dir>/<label>.log. */
  spawn(label: string, command: string, args: readonly string[] = [], opts: SpawnOptions = {}): Proc {
    return this.scene.spawnIn(this, label, command, args, opts);
  }

  /** Adds an address (IPv6 without duplicate address detection, so it is usable at once). */
  async addAddress(dev: string, cidr: string): Promise<void> {
    await this.ip('addr', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : []));
  }

  async linkUp(dev: string, mtu?: number): Promise<void> {
    await this.ip('link', 'set', 'dev', dev, ...(mtu ? ['mtu', String(mtu)] : []), 'up');
  }

  /** `ip route add` that tolerates an identical existing route (as wg-quick does). */
  async addRoute(prefix: string, dev: string, ...more: string[]): Promise<void> {
    const fam = prefix.includes(':') ? '-6' : '-4';
    const r = await execa('ip', ['-n', this.name, fam, 'route', 'add', prefix, 'dev', dev, ...more], { reject: false });
    if (r.exitCode !== 0 && !/File exists/.test(r.stderr)) throw new Error(`route ${prefix} dev ${dev}: ${r.stderr}`);
  }

  async sysctl(key: string, value: string | number): Promise<void> {
    await this.exec('sysctl', ['-qw', `${key}=${value}`]);
  }

  /** IPv4 and IPv6 forwarding on in this namespace. */
  async enableForwarding(): Promise<void> {
    await this.sysctl('net.ipv4.ip_forward', 1);
    await this.sysctl('net.ipv6.conf.all.forwarding', 1);
  }
}

// ----------------------------------------------------------------- scenes ----

interface Marker {
  ownerPid: number;
  ownerStart: string | null;
  scene: string;
  createdAt: string;
  /** Files (control sockets) to remove with the namespace. */
  files: string[];
}

const liveScenes = new Set<Scene>();
let processHooksInstalled = false;
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
    this.writeMarker(ns);
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
    const child = spawn('ip', ['netns', 'exec', ns.name, command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(opts.env),
    });
    const proc = new Proc(`${ns.name}/${label}`, child, logFile);
    this.procs.push(proc);
    return proc;
  }

  /** Registers a global file (a control socket) to remove at teardown, also after a crash. */
  ownFile(file: string, ns: Namespace): void {
    if (!REMOVABLE_DIRS.includes(path.dirname(file))) throw new Error(`not a removable path: ${file}`);
    this.ownedFiles.push(file);
    this.writeMarker(ns, file);
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
    for (const ns of this.namespaces) fs.rmSync(path.join(MARKER_DIR, ns.name), { force: true });
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

  private writeMarker(ns: Namespace, addFile?: string): void {
    fs.mkdirSync(MARKER_DIR, { recursive: true, mode: 0o700 });
    const file = path.join(MARKER_DIR, ns.name);
    let marker: Marker;
    try {
      marker = JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
    } catch {
      marker = {
        ownerPid: process.pid,
        ownerStart: processStartTime(process.pid),
        scene: this.id,
        createdAt: new Date().toISOString(),
        files: [],
      };
    }
    if (addFile) marker.files.push(addFile);
    fs.writeFileSync(file, JSON.stringify(marker) + '\n', { mode: 0o600 });
  }
}

async function nsPids(name: string): Promise<number[]> {
  const r = await execa('ip', ['netns', 'pids', name], { reject: false });
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
}

function removeNamespaceSync(name: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
  } catch {
    // namespace already gone
  }
  for (const pid of pids) signal(pid, 'SIGKILL');
  if (pids.length > 0) sleepSync(50);
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/**
 * Removes namespaces whose harness marker names an owner process that is gone
 * (with their leftover processes and control sockets). Scene.create() calls it once
 * per process; namespaces without a marker, or with a live owner, are never touched.
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of listDir(MARKER_DIR)) {
    if (!name.startsWith(NS_PREFIX)) continue;
    const file = path.join(MARKER_DIR, name);
    let marker: Marker;
    try {
      marker = JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
    } catch {
      continue; // not ours, or being written
    }
    if (typeof marker.ownerPid !== 'number') continue;
    const start = processStartTime(marker.ownerPid);
    // owner still running (the same process, not a later one with a reused pid)
    if (start !== null && (start === marker.ownerStart || marker.ownerStart === null)) continue;
    removeNamespaceSync(name);
    for (const f of marker.files ?? []) {
      if (REMOVABLE_DIRS.includes(path.dirname(f)) && path.basename(f).startsWith('mg')) fs.rmSync(f, { force: true });
    }
    fs.rmSync(file, { force: true });
    removed.push(name);
  }
  return removed;
}

function installProcessHooks(): void {
  if (processHooksInstalled) return;
  processHooksInstalled = true;
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

// ----------------------------------------------------------- tunnel peers ----

export type PeerKind = 'meshgate' | 'wireguard-go';

export interface PeerConfig {
  publicKey: string;
  presharedKey?: string | undefined;
  allowedIps: readonly string[];
  /** "192.0.2.1:51820" or "[2001:db8::1]:51820" */
  endpoint?: string | undefined;
  persistentKeepalive?: number | undefined;
}

/** One tunnel in wg-quick terms (the same config drives wireguard-go and meshgate). */
export interface TunnelConfig {
  /** Device name; default scene.ifname(). Must be unique across namespaces (control sockets). */
  name?: string | undefined;
  privateKey: string;
  listenPort?: number | undefined;
  /** CIDR addresses of the device. */
  addresses: readonly string[];
  /** default 1420 */
  mtu?: number | undefined;
  peers: readonly PeerConfig[];
}

/** What `wg show NAME dump` / `meshgate show NAME --json` say about one peer. */
export interface PeerInfo {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** unix seconds, 0 if never */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
}

export interface TunnelInfo {
  interface: string;
  publicKey: string;
  listenPort: number;
  peers: PeerInfo[];
  /** meshgate only: counts per drop reason */
  drops?: Record<string, number>;
}

export const DEFAULT_MTU = 1420;

/** The `wg setconf` file for a config (no Address/MTU: those are wg-quick's). */
export function renderWgSetconf(c: TunnelConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${c.privateKey}`];
  if (c.listenPort !== undefined) lines.push(`ListenPort = ${c.listenPort}`);
  for (const p of c.peers) lines.push('', ...peerLines(p));
  return lines.join('\n') + '\n';
}

/** A wg-quick file for a config. */
export function renderWgQuick(c: TunnelConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${c.privateKey}`];
  if (c.listenPort !== undefined) lines.push(`ListenPort = ${c.listenPort}`);
  if (c.addresses.length > 0) lines.push(`Address = ${c.addresses.join(', ')}`);
  lines.push(`MTU = ${c.mtu ?? DEFAULT_MTU}`);
  for (const p of c.peers) lines.push('', ...peerLines(p));
  return lines.join('\n') + '\n';
}

function peerLines(p: PeerConfig): string[] {
  const lines = ['[Peer]', `PublicKey = ${p.publicKey}`];
  if (p.presharedKey) lines.push(`PresharedKey = ${p.presharedKey}`);
  if (p.allowedIps.length > 0) lines.push(`AllowedIPs = ${p.allowedIps.join(', ')}`);
  if (p.endpoint) lines.push(`Endpoint = ${p.endpoint}`);
  if (p.persistentKeepalive) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  return lines;
}

/** Addresses, MTU, link up and AllowedIPs routes, as wg-quick would do them. */
async function configureDevice(ns: Namespace, name: string, c: TunnelConfig): Promise<void> {
  for (const cidr of c.addresses) await ns.addAddress(name, cidr);
  await ns.linkUp(name, c.mtu ?? DEFAULT_MTU);
  for (const p of c.peers) for (const prefix of p.allowedIps) await ns.addRoute(prefix, name);
}

/** Parses `wg show NAME dump`. */
export function parseWgDump(text: string, name: string): TunnelInfo {
  const [head, ...rest] = text.trim().split('\n');
  const h = (head ?? '').split('\t');
  const num = (s: string | undefined) => (s === undefined || s === 'off' ? 0 : Number(s));
  return {
    interface: name,
    publicKey: h[1] ?? '',
    listenPort: num(h[2]),
    peers: rest
      .filter((l) => l.trim())
      .map((line) => {
        const f = line.split('\t');
        return {
          publicKey: f[0] ?? '',
          endpoint: !f[2] || f[2] === '(none)' ? null : f[2],
          allowedIps: !f[3] || f[3] === '(none)' ? [] : f[3].split(','),
          latestHandshake: num(f[4]),
          rxBytes: num(f[5]),
          txBytes: num(f[6]),
          persistentKeepalive: num(f[7]),
        };
      }),
  };
}

/** A running tunnel peer of either kind. */
export abstract class TunnelPeer {
  abstract readonly kind: PeerKind;
  readonly publicKey: string;

  constructor(
    readonly ns: Namespace,
    readonly name: string,
    readonly proc: Proc,
    readonly config: TunnelConfig,
  ) {
    this.publicKey = publicKeyOf(config.privateKey);
  }

  abstract show(): Promise<TunnelInfo>;

  /** The peer entry for a public key (throws if absent). */
  async peer(publicKey: string): Promise<PeerInfo> {
    const info = await this.show();
    const p = info.peers.find((x) => x.publicKey === publicKey);
    if (!p) throw new Error(`${this.name}: no peer ${publicKey}`);
    return p;
  }

  /** Inner address of this peer for a family (its first configured address), without prefix. */
  address(family: 4 | 6): string {
    const a = this.config.addresses.find((x) => x.includes(':') === (family === 6));
    if (!a) throw new Error(`${this.name}: no IPv${family} address`);
    return stripPrefix(a);
  }

  stop(): Promise<ExitStatus> {
    return this.proc.stop();
  }
}

export class WireguardGoPeer extends TunnelPeer {
  readonly kind = 'wireguard-go' as const;

  async show(): Promise<TunnelInfo> {
    const r = await this.ns.exec('wg', ['show', this.name, 'dump']);
    return parseWgDump(r.stdout, this.name);
  }

  /** Whether wireguard-go's verbose log shows it sent a handshake initiation (it initiated). */
  sentInitiation(): boolean {
    return /Sending handshake initiation/.test(this.proc.output());
  }

  /** Whether it received a handshake initiation (the other side initiated). */
  receivedInitiation(): boolean {
    return /Received handshake initiation/.test(this.proc.output());
  }
}

export class MeshgatePeer extends TunnelPeer {
  readonly kind = 'meshgate' as const;

  async show(): Promise<TunnelInfo> {
    const r = await this.ns.exec('node', [MESHGATE_BIN, 'show', this.name, '--json'], { timeoutMs: 15_000 });
    return JSON.parse(r.stdout) as TunnelInfo;
  }

  /** The JSON log lines printed so far (lines that do not parse are skipped). */
  events(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.proc.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial or foreign line
      }
    }
    return out;
  }
}

export interface PairOptions {
  a: PeerKind;
  b: PeerKind;
  underlay: 'v4' | 'v6';
  psk?: boolean;
  mtu?: number;
  /** Leave this side without an Endpoint for its peer (it must learn it from the first handshake). */
  noEndpoint?: 'a' | 'b';
}

export interface TunnelPair {
  a: TunnelPeer;
  b: TunnelPeer;
  nsA: Namespace;
  nsB: Namespace;
  /** veth device names (the underlay) in a and b */
  veth: { a: string; b: string };
  /** underlay addresses of the chosen family */
  underlay: { a: string; b: string };
  inner4: { a: string; b: string };
  inner6: { a: string; b: string };
  port: number;
}

/** Addresses used by Scene.tunnelPair(). */
export const PAIR = {
  underlay4: ['192.0.2.1', '192.0.2.2'],
  underlay6: ['2001:db8:77::1', '2001:db8:77::2'],
  inner4: ['10.77.0.1', '10.77.0.2'],
  inner6: ['fd00:77::1', 'fd00:77::2'],
  port: 51820,
} as const;

// ------------------------------------------------------------------- ping ----

export interface PingResult {
  transmitted: number;
  received: number;
  output: string;
}

/** iputils ping if installed, else BusyBox's (Debian 12 images often lack iputils-ping). */
function pingCommand(): string[] {
  if (hasCommand('ping')) return ['ping'];
  if (hasCommand('busybox')) return ['busybox', 'ping'];
  throw new Error('neither ping (iputils-ping) nor busybox is installed');
}

/** Whether some ping is available (see pingCommand). */
export function havePing(): boolean {
  return hasCommand('ping') || hasCommand('busybox');
}

/**
 * `ping -c count -i interval -W wait address` inside a namespace (IPv4 or IPv6 by
 * the address). Never throws for lost replies: check `received`.
 */
export async function ping(
  ns: Namespace,
  address: string,
  opts: { count?: number; intervalS?: number; waitS?: number } = {},
): Promise<PingResult> {
  const count = opts.count ?? 3;
  const [cmd, ...pre] = pingCommand();
  const args = [...pre, address.includes(':') ? '-6' : '-4', '-c', String(count)];
  args.push('-i', String(opts.intervalS ?? 0.2), '-W', String(opts.waitS ?? 1));
  const r = await ns.exec(cmd!, [...args, address], { check: false, timeoutMs: 10_000 + count * 2_000 });
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
  return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output: r.stdout + r.stderr };
}

/** Pings once a time until a reply comes back; throws after timeoutMs. */
export async function waitForPing(ns: Namespace, address: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await ping(ns, address, { count: 1, waitS: 1 });
    if (r.received > 0) return;
    last = r.output;
  }
  throw new Error(`[${ns.name}] no ping reply from ${address} within ${timeoutMs} ms\n${last}`);
}

// --------------------------------------------------------------- transfer ----

export interface XferResult {
  mode: 'send' | 'recv';
  bytes: number;
  expected: number;
  sha256?: string;
  seconds: number;
  ok: boolean;
  error?: string;
  firstMismatch?: number;
  /** megabits per second */
  mbps: number;
}

/** A running `xfer.mjs serve`. */
export class XferServer {
  constructor(
    readonly ns: Namespace,
    readonly port: number,
    readonly proc: Proc,
  ) {}

  /**
   * One transfer from a client namespace: "send" = client → server, "recv" =
   * server → client. Never throws for a failed transfer: check `ok`.
   */
  async transfer(
    client: Namespace,
    host: string,
    mode: 'send' | 'recv',
    bytes: number,
    seed: string,
    timeoutMs = 120_000,
  ): Promise<XferResult> {
    if (!/^[A-Za-z0-9._:=+-]{1,128}$/.test(seed))
      throw new Error(`xfer seed must be 1..128 of [A-Za-z0-9._:=+-]: ${seed}`);
    const timeoutS = Math.ceil(timeoutMs / 1000);
    const r = await client.exec(
      'node',
      [XFER_TOOL, mode, host, String(this.port), String(bytes), seed, '--timeout', String(timeoutS)],
      { check: false, timeoutMs: timeoutMs + 10_000 },
    );
    const last = r.stdout.trim().split('\n').pop() ?? '';
    let parsed: Omit<XferResult, 'mbps'>;
    try {
      parsed = JSON.parse(last) as Omit<XferResult, 'mbps'>;
    } catch {
      return {
        mode,
        bytes: 0,
        expected: bytes,
        seconds: 0,
        ok: false,
        error: `xfer exit ${r.exitCode}: ${r.stderr}${r.stdout}`,
        mbps: 0,
      };
    }
    const ok = parsed.ok === true && r.exitCode === 0;
    const mbps = parsed.seconds > 0 ? (parsed.bytes * 8) / parsed.seconds / 1e6 : 0;
    return { ...parsed, ok, mbps };
  }

  /** Both directions one after the other, with seeds derived from `seed` (characters outside the seed alphabet become "_"). */
  async both(client: Namespace, host: string, bytes: number, seed: string, timeoutMs = 120_000): Promise<XferResult[]> {
    const base = seed.replace(/[^A-Za-z0-9._:=+-]/g, '_').slice(0, 120);
    const up = await this.transfer(client, host, 'send', bytes, `${base}-up`, timeoutMs);
    const down = await this.transfer(client, host, 'recv', bytes, `${base}-down`, timeoutMs);
    return [up, down];
  }

  stop(): Promise<ExitStatus> {
    return this.proc.stop();
  }
}

// ------------------------------------------------------------------- pcap ----

export interface UdpPacket {
  /** seconds since the epoch (fractional) */
  time: number;
  family: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const IPPROTO_UDP = 17;

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // compress the longest run of zero groups
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * The UDP datagrams of a classic pcap file (either byte order, micro- or nanosecond
 * timestamps; Ethernet with optional 802.1Q tag, or Linux cooked capture). Other
 * packets, IP fragments and IPv6 extension headers are skipped.
 */
export function parsePcap(data: Buffer): UdpPacket[] {
  if (data.length < 24) return [];
  const magicLE = data.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nano = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = data.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) throw new Error('not a classic pcap file');
    le = false;
    nano = magicBE === 0xa1b23c4d;
  }
  const u32 = (off: number) => (le ? data.readUInt32LE(off) : data.readUInt32BE(off));
  const linkType = u32(20) & 0x0fffffff;
  if (linkType !== LINKTYPE_ETHERNET && linkType !== LINKTYPE_LINUX_SLL)
    throw new Error(`unsupported link type ${linkType}`);
  const out: UdpPacket[] = [];
  let off = 24;
  while (off + 16 <= data.length) {
    const time = u32(off) + u32(off + 4) / (nano ? 1e9 : 1e6);
    const caplen = u32(off + 8);
    const frame = data.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    if (frame.length < caplen) break; // truncated file
    let etherType: number;
    let l3: number;
    if (linkType === LINKTYPE_ETHERNET) {
      if (frame.length < 14) continue;
      etherType = frame.readUInt16BE(12);
      l3 = 14;
      if (etherType === ETHERTYPE_VLAN && frame.length >= 18) {
        etherType = frame.readUInt16BE(16);
        l3 = 18;
      }
    } else {
      if (frame.length < 16) continue;
      etherType = frame.readUInt16BE(14);
      l3 = 16;
    }
    let family: 4 | 6;
    let src: string;
    let dst: string;
    let l4: number;
    let l4End: number;
    if (etherType === ETHERTYPE_IPV4) {
      if (frame.length < l3 + 20) continue;
      const ihl = (frame[l3]! & 0x0f) * 4;
      const fragment = frame.readUInt16BE(l3 + 6) & 0x3fff;
      if (frame[l3 + 9] !== IPPROTO_UDP || fragment !== 0) continue;
      family = 4;
      src = [...frame.subarray(l3 + 12, l3 + 16)].join('.');
      dst = [...frame.subarray(l3 + 16, l3 + 20)].join('.');
      l4 = l3 + ihl;
      l4End = Math.min(frame.length, l3 + frame.readUInt16BE(l3 + 2));
    } else if (etherType === ETHERTYPE_IPV6) {
      if (frame.length < l3 + 40 || frame[l3 + 6] !== IPPROTO_UDP) continue;
      family = 6;
      src = ipv6Text(frame.subarray(l3 + 8, l3 + 24));
      dst = ipv6Text(frame.subarray(l3 + 24, l3 + 40));
      l4 = l3 + 40;
      l4End = Math.min(frame.length, l4 + frame.readUInt16BE(l3 + 4));
    } else continue;
    if (l4End < l4 + 8) continue;
    const udpLen = frame.readUInt16BE(l4 + 4);
    out.push({
      time,
      family,
      src,
      dst,
      srcPort: frame.readUInt16BE(l4),
      dstPort: frame.readUInt16BE(l4 + 2),
      payload: Buffer.from(frame.subarray(l4 + 8, Math.min(l4End, l4 + udpLen))),
    });
  }
  return out;
}

/** A running tcpdump. */
export class Capture {
  constructor(
    readonly proc: Proc,
    readonly file: string,
  ) {}

  /** Ends tcpdump and returns the captured UDP datagrams. */
  async stop(): Promise<UdpPacket[]> {
    await sleep(200); // let the last packets reach the file
    await this.proc.stop();
    return parsePcap(fs.readFileSync(this.file));
  }
}

// -------------------------------------------------------------------- udp ----

// A tiny UDP sender run inside a namespace: argv = host port bindAddr|- sourcePort hex…
const UDP_SEND_SCRIPT = `
import dgram from 'node:dgram';
const [host, port, bind, sport, ...hex] = process.argv.slice(1);
const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
sock.on('error', (e) => { console.error(e.message); process.exit(2); });
sock.bind({ address: bind === '-' ? undefined : bind, port: Number(sport) }, async () => {
  for (const h of hex) {
    await new Promise((res, rej) => sock.send(Buffer.from(h, 'hex'), Number(port), host, (e) => (e ? rej(e) : res())));
    await new Promise((res) => setTimeout(res, 20));
  }
  console.log(JSON.stringify({ sent: hex.length, port: sock.address().port }));
  sock.close();
});
`;

/**
 * Sends datagrams from inside a namespace (20 ms apart), from `bind`:`sourcePort`
 * (default: any address, an ephemeral port). Returns the source port used.
 */
export async function sendUdp(
  ns: Namespace,
  to: { host: string; port: number },
  payloads: readonly Uint8Array[],
  from: { bind?: string; sourcePort?: number } = {},
): Promise<number> {
  const hex = payloads.map((p) => Buffer.from(p).toString('hex'));
  const r = await ns.exec('node', [
    '--input-type=module',
    '-e',
    UDP_SEND_SCRIPT,
    to.host,
    String(to.port),
    from.bind ?? '-',
    String(from.sourcePort ?? 0),
    ...hex,
  ]);
  return (JSON.parse(r.stdout.trim()) as { port: number }).port;
}
