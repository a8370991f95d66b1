// The one error of configuration input: a gateway or client YAML file, a
// wg-quick file, a key file named in them. Its message is one line naming the
// file, the line when known, the field when there is one, and what is wrong:
//
//   "gateway.yaml: clients[1].publicKey: not a WireGuard key (…)"
//   "wg0.conf:7: AllowedIPs: invalid address"
//
// The field validators throw FieldError (no file yet); a loader adds its file
// name and turns it into a ConfigError. Neither ever repeats a key's value.
// The CLI maps ConfigError (by instanceof) to exit status 2.

import { CodedError } from '../errors.js';

/** The closed list of configuration error codes (also the only values metric labels take). */
export const CONFIG_ERROR_CODES = [
  'unreadable', // the configuration file cannot be read
  'syntax', // not valid YAML, or a line a wg-quick file cannot have
  'missing', // a required field is absent
  'type', // a field has the wrong type
  'unknown-field', // a field the format does not have
  'range', // a number or list size out of range
  'invalid', // text that does not parse (address, prefix, endpoint, name, key)
  'key-file', // a key file is missing, unreadable, too open, or holds no key
  'conflict', // overlapping prefixes, an address outside its pool or taken, the gateway's own key
  'duplicate', // a value that must be unique appears twice
  'host', // the host disagrees with the configuration (read-only checks before any change)
] as const;
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

/** "<file>[:<line>]: [<field>: ]<problem>", one line. */
export class ConfigError extends CodedError<ConfigErrorCode> {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    /** Field path as the user writes it (`clients[1].publicKey`); empty for the whole file. */
    readonly field: string,
    code: ConfigErrorCode,
    /** What is wrong, without the file or field. */
    readonly problem: string,
    /** 1-based line, 0 when not known. */
    readonly line = 0,
  ) {
    const where = line > 0 ? `${file}:${line}` : file;
    super(code, field === '' ? `${where}: ${problem}` : `${where}: ${field}: ${problem}`);
  }
}

/**
 * A problem with one field, thrown by the field validators; a loader turns it
 * into a ConfigError with its file name (`inFile`).
 */
export class FieldError extends CodedError<ConfigErrorCode> {
  override readonly name = 'FieldError';
  constructor(
    /** Field path as the user writes it: `clients[1].publicKey`; empty for the whole file. */
    readonly field: string,
    code: ConfigErrorCode,
    /** What is wrong, without the field. */
    readonly problem: string,
  ) {
    super(code, field === '' ? problem : `${field}: ${problem}`);
  }

  /** This problem as a ConfigError of `file`. */
  inFile(file: string, line = 0): ConfigError {
    return new ConfigError(file, this.field, this.code, this.problem, line);
  }
}

/** The first line of a message, trimmed. */
export function oneLine(text: string): string {
  return text.trim().split(/\r?\n/)[0]!.trim();
}
