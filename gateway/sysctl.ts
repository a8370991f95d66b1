// IP forwarding for the gateway: on while it runs, back to what it was after.
//
//   enableForwarding   read net.ipv4.ip_forward and net.ipv6.conf.all.forwarding, set both to 1,
//                      return the previous values
//   restoreForwarding  write the previous values back
//   forwardedBefore    which families the host forwarded before (the firewall then
//                      lets forwarding past the tunnel be; otherwise it drops it)
//
// Turning IPv6 forwarding on makes Linux ignore router advertisements on every
// interface whose accept_ra is 1, so an uplink configured by SLAAC would lose
// its IPv6 default route some minutes later. Given the uplink, enableForwarding
// therefore also raises that interface's accept_ra from 1 to 2 ("accept even
// when forwarding"), which keeps exactly the behaviour it had before, and
// restoreForwarding puts the 1 back.
//
// Everything runs through the CommandRunner (`sysctl`), so the values are those
// of the runner's network namespace. If a write fails half way, the values
// already written are put back before the error is thrown.

import type { CommandRunner } from '../shared/host/command.js';
import { readSysctl, SysctlError, writeSysctl } from '../shared/host/sysctl.js';
import { isSafeInterfaceName } from './firewall.js';

export { SysctlError, SysctlErrorCodes, type SysctlErrorCode } from '../shared/host/sysctl.js';

export const IPV4_FORWARD = 'net.ipv4.ip_forward';
export const IPV6_FORWARD = 'net.ipv6.conf.all.forwarding';

/** The per-interface key in slash form, so that names with dots (eth0.100) stay one path element. */
function acceptRaKey(uplink: string): string {
  if (!isSafeInterfaceName(uplink)) throw new SysctlError('invalid-argument', `uplink: ${JSON.stringify(uplink)}`);
  return `net/ipv6/conf/${uplink}/accept_ra`;
}

/** Previous values, as sysctl printed them ("0", "1", …). */
export interface ForwardingState {
  ipv4: string;
  ipv6: string;
  /** Set when enableForwarding changed the uplink's accept_ra (from `value`). */
  uplinkAcceptRa?: { uplink: string; value: string };
}

/** Whether each family forwarded in the state enableForwarding found (any value but "0" is on). */
export function forwardedBefore(previous: ForwardingState): { ipv4: boolean; ipv6: boolean } {
  return { ipv4: previous.ipv4 !== '0', ipv6: previous.ipv6 !== '0' };
}

/** Writes key/value pairs in order; on a failure puts back the ones already written, then throws. */
async function writeAll(r: CommandRunner, writes: { key: string; value: string; previous: string }[]): Promise<void> {
  const done: typeof writes = [];
  try {
    for (const w of writes) {
      await writeSysctl(r, w.key, w.value);
      done.push(w);
    }
  } catch (err) {
    for (const w of done.reverse()) {
      try {
        await writeSysctl(r, w.key, w.previous);
      } catch {
        // best effort: the original error is the one to report
      }
    }
    throw err;
  }
}

/**
 * Turns IPv4 and IPv6 forwarding on and returns the previous values. With
 * `uplink`, also keeps router advertisements working on it (see above).
 */
export async function enableForwarding(r: CommandRunner, opts: { uplink?: string } = {}): Promise<ForwardingState> {
  const raKey = opts.uplink === undefined ? null : acceptRaKey(opts.uplink);
  const state: ForwardingState = { ipv4: await readSysctl(r, IPV4_FORWARD), ipv6: await readSysctl(r, IPV6_FORWARD) };
  const writes = [
    { key: IPV4_FORWARD, value: '1', previous: state.ipv4 },
    { key: IPV6_FORWARD, value: '1', previous: state.ipv6 },
  ];
  if (raKey !== null) {
    const ra = await readSysctl(r, raKey);
    if (ra === '1') {
      writes.push({ key: raKey, value: '2', previous: ra });
      state.uplinkAcceptRa = { uplink: opts.uplink!, value: ra };
    }
  }
  await writeAll(r, writes);
  return state;
}

/** Writes the values enableForwarding returned back (uplink accept_ra first, then forwarding). */
export async function restoreForwarding(r: CommandRunner, previous: ForwardingState): Promise<void> {
  const writes: [key: string, value: string][] = [];
  if (previous.uplinkAcceptRa) {
    writes.push([acceptRaKey(previous.uplinkAcceptRa.uplink), previous.uplinkAcceptRa.value]);
  }
  writes.push([IPV6_FORWARD, previous.ipv6], [IPV4_FORWARD, previous.ipv4]);
  // Every key is attempted: one that fails (the uplink is gone) must not keep forwarding on.
  let first: unknown = null;
  for (const [key, value] of writes) {
    try {
      await writeSysctl(r, key, value);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== null) throw first;
}
