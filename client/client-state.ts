// What a running client agent changed on the host, kept in a file so that a
// run killed with SIGKILL can be undone: by the next start, or by
// `meshgate client down --config FILE`.
//
//   /var/lib/meshgate/client-<iface>.state, 0600, JSON, written before each
//   change (and again after, with the sysctl originals found), removed on a
//   clean stop. Not on tmpfs: after a power cut resolv.conf still holds the
//   tunnel's servers, and only the record knows the host's own. It names the
//   boot it was written in, so a process that has the recorded pid after a
//   reboot is not taken for the agent.
//
// Routes and addresses on the agent's TUN need no record: the kernel removes
// them with the process. Left behind are the policy rules, the sysctls it
// set, DNS, the kill switch's and the router's nftables tables and a routed
// /64's address on the LAN interface;
// undo() removes the rules and the tables, puts the sysctls and DNS back, and deletes the TUN
// should it still exist.

import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandRunner } from '../shared/host/command.js';
import type { Logger } from '../shared/log.js';
import { EMPTY_HOST_STATE, HostConfigurator, type RuleState } from '../shared/host/configurator.js';
import { formatCidr, parseCidr } from '../shared/net/address.js';
import { isInterfaceName } from '../shared/net/interface-name.js';
import { restoreDns, type DnsRecord } from './dns.js';
import { removeKillSwitch } from './kill-switch.js';
import { removeRouter } from './router.js';

export const STATE_VERSION = 1;
/** Where the state files are (MESHGATE_CLIENT_STATE_DIR for tests). */
export const CLIENT_STATE_DIR = process.env.MESHGATE_CLIENT_STATE_DIR ?? '/var/lib/meshgate';
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** This boot's id (the kernel's random boot_id); null when it cannot be read. */
export function currentBootId(): string | null {
  try {
    return readFileSync(BOOT_ID_FILE, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** One sysctl the agent set: its value and the host's before. */
export interface SysctlRecord {
  key: string;
  value: string;
  original: string;
}

export interface ClientHostRecord {
  /** The agent that wrote it: a live one is never undone under it. */
  pid: number;
  /** The boot it ran in (null: unknown): after a reboot its pid means nothing. */
  bootId: string | null;
  interface: string;
  rules: RuleState[];
  sysctls: SysctlRecord[];
  dns: DnsRecord | null;
  /** The kill switch's nftables table (inet family) while it is up; null: none. */
  killSwitch: string | null;
  /** The router's nftables table (inet family, client/router.ts) while it is up; null: none. */
  router: string | null;
  /** Addresses put on the router's LAN interface (ipv6: routed: the /64's ::1). */
  lanAddresses: { device: string; cidr: string }[];
}

export const stateFileOf = (iface: string, dir = CLIENT_STATE_DIR): string => join(dir, `client-${iface}.state`);

type StoredRule = Omit<RuleState, 'to'> & { to?: string };

export function saveRecord(file: string, record: ClientHostRecord): void {
  const rules = record.rules.map(({ to, ...r }): StoredRule => (to ? { ...r, to: formatCidr(to) } : r));
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify({ version: STATE_VERSION, ...record, rules }) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** The record in `file`; null when there is none. Throws on a file it cannot read as one. */
export function loadRecord(file: string): ClientHostRecord | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const raw = JSON.parse(text) as Omit<ClientHostRecord, 'rules'> & { version: number; rules: StoredRule[] };
  if (raw.version !== STATE_VERSION || typeof raw.interface !== 'string' || !Array.isArray(raw.rules))
    throw new Error(`${file}: not a client state file of version ${STATE_VERSION}`);
  return {
    pid: raw.pid,
    bootId: typeof raw.bootId === 'string' ? raw.bootId : null,
    interface: raw.interface,
    rules: raw.rules.map(({ to, ...r }): RuleState => (to !== undefined ? { ...r, to: parseCidr(to) } : r)),
    sysctls: raw.sysctls ?? [],
    dns: raw.dns ?? null,
    killSwitch: raw.killSwitch ?? null,
    router: raw.router ?? null,
    lanAddresses: Array.isArray(raw.lanAddresses) ? raw.lanAddresses : [],
  };
}

export function removeRecord(file: string): void {
  rmSync(file, { force: true });
}

/** Whether process `pid` is alive (and not this one). */
export function otherAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Undoes what the record says was changed, then removes the file. Every step
 * is tried; the first failure is thrown. `keepKillSwitch` (a start that puts
 * its own kill switch up next) leaves the table up, so the machine is never
 * open in between, and the file naming only it (a start that fails before
 * replacing it still leaves it to `meshgate client down`).
 */
export async function undoRecord(
  file: string,
  record: ClientHostRecord,
  runner: CommandRunner,
  opts: { keepKillSwitch?: boolean } = {},
): Promise<void> {
  const keepTable = opts.keepKillSwitch === true && record.killSwitch !== null;
  const host = new HostConfigurator(runner, {
    originals: Object.fromEntries(record.sysctls.map((s) => [s.key, s.original])),
  });
  host.adopt({
    ...EMPTY_HOST_STATE,
    link: { name: record.interface, mtu: 0, up: true, owned: true },
    rules: record.rules,
    sysctls: record.sysctls.map(({ key, value }) => ({ key, value })),
  });
  let first: unknown = null;
  await host.reset().catch((e: unknown) => (first ??= e));
  if (record.dns !== null) await restoreDns(record.dns, runner).catch((e: unknown) => (first ??= e));
  if (record.router !== null) await removeRouter(runner, record.router).catch((e: unknown) => (first ??= e));
  // Already gone (the interface went, or a run removed it) is fine.
  for (const a of record.lanAddresses) {
    // As written (parseCidr would drop the host part); a record that is no address is skipped.
    if (!isInterfaceName(a.device) || !/^[0-9a-f:]+\/\d{1,3}$/i.test(a.cidr)) continue;
    await runner.run('ip', ['-6', 'address', 'del', a.cidr, 'dev', a.device]).catch(() => undefined);
  }
  if (record.killSwitch !== null && !keepTable)
    await removeKillSwitch(runner, record.killSwitch).catch((e: unknown) => (first ??= e));
  if (first !== null) throw first;
  if (keepTable) saveRecord(file, { ...record, rules: [], sysctls: [], dns: null, router: null, lanAddresses: [] });
  else removeRecord(file);
}

/**
 * Undoes what a killed earlier run on `iface` left (its state file), or
 * refuses when that run is still alive. `meshgate client down` and every
 * start call it. Returns whether there was anything to undo.
 */
export async function undoLeftovers(
  iface: string,
  file: string,
  runner: CommandRunner,
  log: Logger,
  opts: {
    keepKillSwitch?: boolean;
    /** This boot's id (default: read from the kernel). */ bootId?: string | null;
  } = {},
): Promise<boolean> {
  const record = loadRecord(file);
  if (record === null) return false;
  const boot = opts.bootId === undefined ? currentBootId() : opts.bootId;
  const rebooted = record.bootId !== null && boot !== null && record.bootId !== boot;
  if (!rebooted && otherAlive(record.pid))
    throw new Error(`a client agent (pid ${record.pid}) still runs on ${iface}; stop it with SIGINT or SIGTERM`);
  await undoRecord(file, record, runner, opts);
  log.info(
    {
      event: 'leftovers-undone',
      interface: iface,
      rules: record.rules.length,
      dns: record.dns?.kind ?? null,
      killSwitch: record.killSwitch,
      killSwitchKept: opts.keepKillSwitch === true && record.killSwitch !== null,
      rebooted,
    },
    `undid what an earlier agent on ${iface} left (rules, sysctls, DNS, kill switch)`,
  );
  return true;
}
