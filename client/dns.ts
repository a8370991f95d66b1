// The lease's DNS servers on this host, and the way back.
//
//   plan:    /etc/resolv.conf a symlink into systemd-resolved's run dir → resolved
//            (resolvectl dns IFACE …, resolvectl domain IFACE ~.), unless a file
//            is mounted over it (`ip netns exec` with /etc/netns/NS/resolv.conf:
//            the namespace has a resolver of its own); else the file:
//            its bytes are kept in the record (saved in the state file first)
//   apply:   resolved: the two resolvectl calls; file: nameserver lines written
//            over it in place (a bind mount, as `ip netns exec` makes, stays)
//   restore: resolved: resolvectl revert IFACE; file: the kept bytes written
//            back (or the file removed when there was none)

import { lstatSync, readFileSync, readlinkSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import type { CommandRunner } from '../shared/host/command.js';
import { formatIp } from '../shared/net/address.js';

export const RESOLV_CONF = '/etc/resolv.conf';
/** glibc reads at most this many nameserver lines (MAXNS). */
const MAX_NAMESERVERS = 3;
/** Where systemd-resolved keeps the files /etc/resolv.conf links to when it manages DNS. */
const RESOLVED_DIR = '/run/systemd/resolve/';

/** What was changed, enough to undo it after a crash (JSON in the state file). */
export type DnsRecord =
  | {
      kind: 'file';
      interface: string;
      path: string;
      /** base64 of the bytes before; null: there was no file */
      previous: string | null;
    }
  | { kind: 'resolved'; interface: string };

/** The mount points in /proc/self/mountinfo (field 5), octal escapes undone. */
export function mountPoints(mountinfo: string): Set<string> {
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  return new Set(points);
}

const readMountinfo = (): string => {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
};

/** How DNS is set on this host; reads the file's current bytes (call before anything is written). */
export function planDns(iface: string, path = RESOLV_CONF, mountinfo: () => string = readMountinfo): DnsRecord {
  let link: string | null = null;
  try {
    if (lstatSync(path).isSymbolicLink()) link = readlinkSync(path);
  } catch {
    return { kind: 'file', interface: iface, path, previous: null };
  }
  if (link !== null && link.includes(RESOLVED_DIR.slice(1))) {
    const mounted = mountPoints(mountinfo());
    const target = (() => {
      try {
        return realpathSync(path);
      } catch {
        return null;
      }
    })();
    if (!mounted.has(path) && (target === null || !mounted.has(target))) return { kind: 'resolved', interface: iface };
  }
  return { kind: 'file', interface: iface, path, previous: readFileSync(path).toString('base64') };
}

export function renderResolvConf(iface: string, servers: readonly Uint8Array[]): string {
  const lines = servers.slice(0, MAX_NAMESERVERS).map((s) => `nameserver ${formatIp(s)}`);
  return `# written by meshgate client ${iface} (the gateway's lease); put back when it stops\n${lines.join('\n')}\n`;
}

export async function applyDns(
  record: DnsRecord,
  servers: readonly Uint8Array[],
  runner: CommandRunner,
): Promise<void> {
  if (record.kind === 'resolved') {
    await runner.run('resolvectl', ['dns', record.interface, ...servers.map(formatIp)]);
    await runner.run('resolvectl', ['domain', record.interface, '~.']);
    return;
  }
  writeFileSync(record.path, renderResolvConf(record.interface, servers));
}

export async function restoreDns(record: DnsRecord, runner: CommandRunner): Promise<void> {
  if (record.kind === 'resolved') {
    await runner.run('resolvectl', ['revert', record.interface]);
    return;
  }
  if (record.previous === null) unlinkSync(record.path);
  else writeFileSync(record.path, Buffer.from(record.previous, 'base64'));
}
