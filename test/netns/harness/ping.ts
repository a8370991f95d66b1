// ping inside a namespace (iputils or BusyBox), once or until a reply comes back.

import { hasCommand } from './env.js';
import type { Namespace } from './namespace.js';

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
