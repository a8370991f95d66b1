// One network namespace of a scene: run commands in it, start processes, and the
// few `ip` and sysctl steps tests repeat (addresses, links, routes, forwarding).

import { execa } from 'execa';
import { childEnv, type Proc } from './process.js';
import type { Scene } from './scene.js';

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
  /** stop() sends SIGKILL this long after SIGTERM (default STOP_GRACE_MS). */
  stopGraceMs?: number;
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
