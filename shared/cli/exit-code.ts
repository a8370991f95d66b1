// The exit status of `meshgate`, chosen by an error's class (never by its
// name as a string): 0 done, 1 a failure while running (I/O, a daemon's data
// path gone), 2 what the user gave us is wrong (the command line, a
// configuration or key file, a key or endpoint in it).

import { ConfigError } from '../config/wg-quick.js';
import { SecretFileError } from '../config/key-file.js';
import { EndpointError } from '../io/endpoint.js';
import { KeyFormatError } from '../wireguard/keys.js';
import { UsageError } from './usage-error.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Errors in what the user gave us; subclasses (GatewayConfigError, ClientConfigError ...) included. */
const USAGE_ERRORS: readonly (abstract new (...args: never[]) => Error)[] = [
  UsageError,
  ConfigError,
  SecretFileError,
  KeyFormatError,
  EndpointError,
];

export function exitCodeOf(error: unknown): number {
  return USAGE_ERRORS.some((c) => error instanceof c) ? EXIT_USAGE : EXIT_FAILURE;
}
