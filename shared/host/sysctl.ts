// Reading and writing integer sysctls through the CommandRunner (`sysctl`), so
// the values are those of the runner's network namespace and unit tests can
// record them. Used by the gateway (forwarding) and by policy routing
// (src_valid_mark).

import type { CommandRunner } from './command.js';
import { CodedError } from '../errors.js';

export const SysctlErrorCodes = [
  'sysctl-failed', // sysctl exited non-zero (unknown key, no permission, IPv6 disabled …)
  'sysctl-output', // sysctl printed something that is not an integer
  'invalid-argument', // an interface name or value that cannot be used in a key
] as const;
export type SysctlErrorCode = (typeof SysctlErrorCodes)[number];

export class SysctlError extends CodedError<SysctlErrorCode> {
  override readonly name = 'SysctlError';
}

const VALUE = /^-?[0-9]{1,10}$/;

/** The value of an integer sysctl, as sysctl prints it ("0", "1", …). */
export async function readSysctl(r: CommandRunner, key: string): Promise<string> {
  let out: string;
  try {
    out = await r.run('sysctl', ['-n', key]);
  } catch (err) {
    throw new SysctlError('sysctl-failed', `sysctl ${key}: ${(err as Error).message}`, { cause: err });
  }
  const value = out.trim();
  if (!VALUE.test(value))
    throw new SysctlError('sysctl-output', `sysctl ${key}: not an integer: ${JSON.stringify(value)}`);
  return value;
}

export async function writeSysctl(r: CommandRunner, key: string, value: string): Promise<void> {
  if (!VALUE.test(value)) throw new SysctlError('invalid-argument', `${key}: not an integer: ${JSON.stringify(value)}`);
  try {
    await r.run('sysctl', ['-q', '-w', `${key}=${value}`]);
  } catch (err) {
    throw new SysctlError('sysctl-failed', `sysctl ${key}=${value}: ${(err as Error).message}`, { cause: err });
  }
}
