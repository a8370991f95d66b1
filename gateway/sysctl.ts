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
// This file says which sysctls those are (forwardingSysctls) and maps the
// originals a HostConfigurator found to and from ForwardingState, the form
// kept in the state db. enableForwarding/restoreForwarding run just that part
// through a configurator of their own. If a write fails half way, the values
// already written are put back before the error is thrown.

import type { CommandRunner } from '../shared/host/command.js';
import { HostConfigurator, EMPTY_HOST_STATE, type SysctlState } from '../shared/host/configurator.js';
import { SysctlError } from '../shared/host/sysctl.js';
import { isSafeInterfaceName } from './firewall.js';

export { SysctlError, SysctlErrorCodes, type SysctlErrorCode } from '../shared/host/sysctl.js';

export const IPV4_FORWARD = 'net.ipv4.ip_forward';
export const IPV6_FORWARD = 'net.ipv6.conf.all.forwarding';
const ACCEPT_RA_EVEN_WHEN_FORWARDING = '2';
const ACCEPT_RA_UNLESS_FORWARDING = '1';

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

/** Both families forwarding; with `uplink`, its accept_ra raised from 1 to 2 (see above). */
export function forwardingSysctls(opts: { uplink?: string } = {}): SysctlState[] {
  const wanted: SysctlState[] = [
    { key: IPV4_FORWARD, value: '1' },
    { key: IPV6_FORWARD, value: '1' },
  ];
  if (opts.uplink !== undefined)
    wanted.push({
      key: acceptRaKey(opts.uplink),
      value: ACCEPT_RA_EVEN_WHEN_FORWARDING,
      when: ACCEPT_RA_UNLESS_FORWARDING,
    });
  return wanted;
}

/** The originals a configurator found (HostConfigurator.originals) as a ForwardingState. */
export function forwardingStateOf(originals: Readonly<Record<string, string>>, uplink?: string): ForwardingState {
  const state: ForwardingState = { ipv4: originals[IPV4_FORWARD]!, ipv6: originals[IPV6_FORWARD]! };
  const ra = uplink === undefined ? undefined : originals[acceptRaKey(uplink)];
  if (ra !== undefined) state.uplinkAcceptRa = { uplink: uplink!, value: ra };
  return state;
}

/** A ForwardingState as configurator originals (the inverse of forwardingStateOf). */
export function originalsOf(previous: ForwardingState): Record<string, string> {
  const out: Record<string, string> = { [IPV4_FORWARD]: previous.ipv4, [IPV6_FORWARD]: previous.ipv6 };
  if (previous.uplinkAcceptRa) out[acceptRaKey(previous.uplinkAcceptRa.uplink)] = previous.uplinkAcceptRa.value;
  return out;
}

/**
 * Turns IPv4 and IPv6 forwarding on and returns the previous values. With
 * `uplink`, also keeps router advertisements working on it (see above).
 */
export async function enableForwarding(r: CommandRunner, opts: { uplink?: string } = {}): Promise<ForwardingState> {
  const host = new HostConfigurator(r);
  try {
    await host.set({ ...EMPTY_HOST_STATE, sysctls: forwardingSysctls(opts) });
  } catch (err) {
    await host.reset().catch(() => undefined); // best effort: the original error is the one to report
    throw err;
  }
  return forwardingStateOf(host.originals(), opts.uplink);
}

/** Writes the values enableForwarding returned back (uplink accept_ra first, then forwarding). */
export async function restoreForwarding(r: CommandRunner, previous: ForwardingState): Promise<void> {
  const host = new HostConfigurator(r, { originals: originalsOf(previous) });
  // Every key is attempted: one that fails (the uplink is gone) must not keep forwarding on.
  host.adopt({ ...EMPTY_HOST_STATE, sysctls: forwardingSysctls(previous.uplinkAcceptRa ?? {}) });
  await host.reset();
}
