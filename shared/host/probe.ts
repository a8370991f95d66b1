import { readFileSync } from 'node:fs';
// Read-only questions to the host through `ip -j` (JSON output), asked before
// anything changes: does this link exist and what kind is it, which addresses
// and routes are already there. Nothing here changes the host; the policy
// (what counts as a conflict) is the caller's (gateway/host-check.ts).
//
// Every answer is a value or a one-line error; a missing device is "absent",
// not an error. Odd JSON is skipped entry by entry, never thrown.

import { oneLine } from '../config/config-error.js';
import { parseCidr, type Cidr } from '../net/address.js';
import { CommandError, type CommandRunner } from './command.js';

/** A failure of `ip` itself (permissions, no netlink, output that is not JSON), as one line. */
export interface ProbeFailure {
  error: string;
}

/** A link as `ip -j [-d] link show` describes it. */
export interface ProbedLink {
  /** linkinfo.info_kind with -d ("tun", "veth" …); undefined for a plain device. */
  kind: string | undefined;
  /** link_type ("ether", "none" …). */
  linkType: string | undefined;
}

/** An address on a host interface. */
export interface ProbedAddress {
  ifname: string | undefined;
  /** As ip printed it: "192.0.2.2/24". */
  text: string;
  /** The prefix it lies in (host bits cleared). */
  prefix: Cidr;
}

/** A route in any table. */
export interface ProbedRoute {
  /** As ip printed it ("192.0.2.0/24"); never "default". */
  dst: string;
  prefix: Cidr;
  type: string | undefined;
  dev: string | undefined;
  table: string | undefined;
}

/**
 * The link named `name`: null when there is none. `details` adds -d, which
 * tells the link's kind.
 */
export async function probeLink(
  runner: CommandRunner,
  name: string,
  options: { details?: boolean } = {},
): Promise<ProbedLink | null | ProbeFailure> {
  const args =
    options.details === true ? ['-j', '-d', 'link', 'show', 'dev', name] : ['-j', 'link', 'show', 'dev', name];
  const answer = await ipJson(runner, args);
  if (answer === null) return null;
  if ('error' in answer) return answer;
  const link = Array.isArray(answer.value) ? (answer.value[0] as IpLink | null | undefined) : undefined;
  if (typeof link !== 'object' || link === null) return null;
  return { kind: link.linkinfo?.info_kind, linkType: link.link_type };
}

/** Every address on the host, except those on `skip` (our own TUN device). */
export async function probeAddresses(runner: CommandRunner, skip?: string): Promise<ProbedAddress[] | ProbeFailure> {
  const answer = await ipJson(runner, ['-j', 'address', 'show']);
  if (answer === null || 'error' in answer || !Array.isArray(answer.value)) {
    return { error: answer !== null && 'error' in answer ? answer.error : 'unexpected output from ip' };
  }
  const out: ProbedAddress[] = [];
  for (const link of answer.value as (IpLink | null)[]) {
    if (typeof link !== 'object' || link === null || (skip !== undefined && link.ifname === skip)) continue;
    for (const info of Array.isArray(link.addr_info) ? link.addr_info : []) {
      if (typeof info?.local !== 'string' || typeof info.prefixlen !== 'number') continue;
      const text = `${info.local}/${info.prefixlen}`;
      const prefix = tryCidr(text);
      if (prefix !== null) out.push({ ifname: link.ifname, text, prefix });
    }
  }
  return out;
}

/**
 * The routes of one family in every table, except default routes, /0 routes
 * and routes through `skip` (our own TUN device).
 */
export async function probeRoutes(
  runner: CommandRunner,
  family: 4 | 6,
  skip?: string,
): Promise<ProbedRoute[] | ProbeFailure> {
  const answer = await ipJson(runner, ['-j', `-${family}`, 'route', 'show', 'table', 'all']);
  if (answer === null || 'error' in answer || !Array.isArray(answer.value)) {
    return { error: answer !== null && 'error' in answer ? answer.error : 'unexpected output from ip' };
  }
  const out: ProbedRoute[] = [];
  for (const route of answer.value as (IpRoute | null)[]) {
    if (typeof route !== 'object' || route === null) continue;
    if ((skip !== undefined && route.dev === skip) || typeof route.dst !== 'string' || route.dst === 'default')
      continue;
    const prefix = tryCidr(route.dst);
    if (prefix === null || prefix.prefixLength === 0) continue;
    out.push({ dst: route.dst, prefix, type: route.type, dev: route.dev, table: route.table });
  }
  return out;
}

interface IpLink {
  ifname?: string;
  link_type?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: ({ local?: string; prefixlen?: number } | null)[];
}

interface IpRoute {
  type?: string;
  dst?: string;
  dev?: string;
  table?: string;
}

/**
 * Runs `ip ARGS` and parses its JSON. null: the device does not exist; error:
 * any other failure, as one line.
 */
async function ipJson(runner: CommandRunner, args: string[]): Promise<{ value: unknown } | ProbeFailure | null> {
  let out: string;
  try {
    out = await runner.run('ip', args);
  } catch (e) {
    const text = e instanceof CommandError ? e.stderr : (e as Error).message;
    if (/does not exist|cannot find device/i.test(text)) return null;
    return { error: oneLine(text) || 'ip failed' };
  }
  try {
    return { value: JSON.parse(out === '' ? '[]' : out) as unknown };
  } catch {
    return { error: 'unexpected output from ip (not JSON)' };
  }
}

function tryCidr(text: string): Cidr | null {
  try {
    return parseCidr(text);
  } catch {
    return null;
  }
}

/** Whether a probe answer is a failure of `ip`. */
export function isProbeFailure(answer: unknown): answer is ProbeFailure {
  return typeof answer === 'object' && answer !== null && 'error' in answer;
}

/**
 * Whether a network interface is up, from sysfs (no command run): operstate
 * "up", or "unknown" (devices without carrier reporting, such as TUN) with
 * carrier. False when the interface does not exist.
 */
export function linkUp(name: string): boolean {
  const read = (file: string): string | null => {
    try {
      return readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim();
    } catch {
      return null;
    }
  };
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) return false;
  const state = read('operstate');
  return state === 'up' || (state === 'unknown' && read('carrier') === '1');
}
