// Field helpers shared by meshgate's YAML configuration loaders (the
// gateway's gateway/config.ts and the client agent's client/config.ts): the
// YAML and schema front end, key files, interface names, addresses, prefixes,
// endpoints, and the closed list of configuration error codes. Each helper
// throws a FieldError naming the field; the loaders add the file name. No
// helper ever repeats a key's value in a message: values, unknown field names
// and key file names pass through redact.ts first.

import { readFileSync } from 'node:fs';
import { type Static, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import YAML, { LineCounter } from 'yaml';
import { EndpointError, isV4Mapped, parseEndpoint as parseIoEndpoint } from '../io/endpoint.js';
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr } from '../wireguard/allowed-ips.js';
import { isZero, wipe } from '../wireguard/crypto.js';
import { parseKey } from '../wireguard/keys.js';
import { isDnsName } from './hostname.js';
import { checkSecretFile, readSecretFile, SecretFileError } from './key-file.js';
import { mayHoldKey, show, showName, showPath } from './redact.js';

export { show };

/** The closed list of configuration error codes. */
export const CONFIG_ERROR_CODES = [
  'unreadable', // the configuration file cannot be read
  'syntax', // not valid YAML
  'missing', // a required field is absent
  'type', // a field has the wrong type
  'unknown-field', // a field the format does not have
  'range', // a number or list size out of range
  'invalid', // text that does not parse (address, prefix, endpoint, name, key)
  'key-file', // a key file is missing, unreadable, too open, or holds no key
  'conflict', // overlapping prefixes, an address outside its pool or taken, the gateway's own key
  'duplicate', // a value that must be unique appears twice
  'host', // checkHost: the host disagrees with the configuration
] as const;
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

/**
 * A problem with one field, thrown by the field helpers; the loaders turn it
 * into their own error class, which adds the file name.
 */
export class FieldError extends Error {
  override readonly name = 'FieldError';
  constructor(
    /** Field path as the user writes it: `clients[1].publicKey`; empty for the whole file. */
    readonly field: string,
    readonly code: ConfigErrorCode,
    /** What is wrong, without the field. */
    readonly problem: string,
  ) {
    super(field === '' ? problem : `${field}: ${problem}`);
  }
}

/**
 * Reads a configuration file's text. `wrap` turns a problem into the caller's
 * error class.
 */
export function readConfigText(file: string, wrap: (e: FieldError, line?: number) => Error): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw wrap(new FieldError('', 'unreadable', `cannot read the file: ${errnoText(e)}`));
  }
}

/**
 * Parses one YAML document and checks it against a schema. An empty file is
 * an empty mapping (so the first missing field is named).
 */
export function parseYamlDocument<S extends TSchema>(
  text: string,
  schema: S,
  wrap: (e: FieldError, line?: number) => Error,
): Static<S> {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true, lineCounter });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const line = lineCounter.linePos(syntax.pos[0]).line;
    const sourceLine = line > 0 ? (text.split(/\r?\n/)[line - 1] ?? '') : '';
    const hint = /\[[0-9A-Fa-f:.]*\]:\d/.test(sourceLine)
      ? ' (write an [IPv6]:port endpoint in quotes: "[2001:db8::1]:51820")'
      : '';
    throw wrap(
      new FieldError('', 'syntax', `YAML syntax: ${yamlProblem(syntax.message, syntax.code, text)}${hint}`),
      line,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // The yaml library's messages may quote the text (an alias name, say): never one that may hold a key.
    const message = oneLine((e as Error).message);
    throw wrap(
      new FieldError('', 'syntax', `YAML: ${quotesText(message, text) ? 'the document cannot be built' : message}`),
    );
  }
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw wrap(
      new FieldError('', 'type', `expected a mapping of settings (field: value), got ${describeValue(value)}`),
    );
  }
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First();
    if (first !== undefined) throw wrap(schemaProblem(first, propertyNames(schema)));
  }
  return value as Static<S>;
}

/** The first line of a yaml library message, without its position suffix (only its code when it quotes the text). */
function yamlProblem(message: string, code: string, source: string): string {
  const problem = oneLine(message.replace(/ at line \d+, column \d+:?[\s\S]*$/, ''));
  return quotesText(problem, source) ? code : problem;
}

/** Whether a library's message repeats a piece of the user's text that may hold a key. */
function quotesText(message: string, source: string): boolean {
  return (message.match(/[A-Za-z0-9+/]{16,}/g) ?? []).some((run) => source.includes(run));
}

/** Every property name a schema declares, at any depth: the field names a message may repeat as they are. */
function propertyNames(schema: TSchema, out = new Set<string>()): Set<string> {
  const s = schema as { properties?: Record<string, TSchema>; items?: TSchema; anyOf?: TSchema[] };
  for (const [name, sub] of Object.entries(s.properties ?? {})) {
    out.add(name);
    propertyNames(sub, out);
  }
  if (s.items !== undefined) propertyNames(s.items, out);
  for (const sub of s.anyOf ?? []) propertyNames(sub, out);
  return out;
}

/** A TypeBox error as a FieldError, in the user's words. */
function schemaProblem(e: ValueError, known: ReadonlySet<string>): FieldError {
  const field = fieldPath(e.path, known);
  const schema = e.schema as Record<string, unknown>;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return new FieldError(field, 'missing', 'required, but missing');
    case ValueErrorType.ObjectAdditionalProperties: {
      const known = Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
      const name = e.path
        .slice(e.path.lastIndexOf('/') + 1)
        .replace(/~1/g, '/')
        .replace(/~0/g, '~');
      const near = closest(name, known);
      return new FieldError(
        field,
        'unknown-field',
        `unknown field${near === undefined ? '' : ` (did you mean ${near}?)`}`,
      );
    }
    case ValueErrorType.String:
      return new FieldError(field, 'type', `must be text, got ${describeValue(e.value)}`);
    case ValueErrorType.StringMinLength:
      return new FieldError(field, 'invalid', 'must not be empty');
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum: {
      const range =
        typeof schema.minimum === 'number' && typeof schema.maximum === 'number'
          ? ` from ${schema.minimum} to ${schema.maximum}`
          : '';
      const code = typeof e.value === 'number' && Number.isInteger(e.value) ? 'range' : 'type';
      return new FieldError(field, code, `must be a whole number${range}, got ${describeValue(e.value)}`);
    }
    case ValueErrorType.Array:
      return new FieldError(field, 'type', `must be a list, got ${describeValue(e.value)}`);
    case ValueErrorType.ArrayMaxItems:
      return new FieldError(field, 'range', `at most ${String(schema.maxItems)} entries`);
    case ValueErrorType.Object:
      return new FieldError(field, 'type', `must be a mapping (field: value), got ${describeValue(e.value)}`);
    case ValueErrorType.Boolean:
      return new FieldError(field, 'type', `must be true or false, got ${describeValue(e.value)}`);
    case ValueErrorType.Union: {
      const options = ((schema.anyOf as { const?: unknown }[] | undefined) ?? []).map((s) => JSON.stringify(s.const));
      return new FieldError(field, 'invalid', `must be one of ${options.join(', ')}, got ${describeValue(e.value)}`);
    }
    default: {
      const message = oneLine(e.message).toLowerCase();
      return new FieldError(field, 'invalid', mayHoldKey(message) ? 'not valid here' : message);
    }
  }
}

/**
 * "/clients/1/publicKey" → "clients[1].publicKey". A name the schema does not
 * declare (an unknown field) is the user's text: shown only when it cannot
 * be a key.
 */
export function fieldPath(pointer: string, known: ReadonlySet<string> = new Set()): string {
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    const name = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(name)) out += `[${name}]`;
    else if (known.has(name)) out += out === '' ? name : `.${name}`;
    else {
      const shown = showName(name);
      out += shown === name && /^[A-Za-z0-9_-]+$/.test(name) ? (out === '' ? name : `.${name}`) : `[${shown}]`;
    }
  }
  return out;
}

/** What a value is, for type errors; never the value itself when it is text. */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'a number';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (value instanceof Date) return 'a date';
  return 'a mapping';
}

/** The known field a misspelt one most likely means, if any is close enough. */
function closest(name: string, known: string[]): string | undefined {
  const allowed = Math.max(2, Math.floor(name.length / 2));
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const k of known) {
    const d = editDistance(k, name);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[y.length]!;
}

export function oneLine(text: string): string {
  return text.trim().split(/\r?\n/)[0]!.trim();
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return code ?? oneLine((e as Error).message);
  }
}

/** Largest key file accepted: a key line with some whitespace around it. */
const KEY_FILE_MAX = 256;

/**
 * Reads a key file (base64 as `meshgate genkey` / `wg genkey` writes it). It
 * must be a regular file, not a symbolic link, owned by us or root, without
 * any group or other permission bits (shared/config/key-file.ts). The message
 * names the file and the problem, never its content. The key comes back in
 * memory of its own (not Node's shared Buffer pool): wipe it when done.
 */
export function readKeyFile(path: string, field: string): Uint8Array {
  let file;
  try {
    file = readSecretFile(path, KEY_FILE_MAX);
  } catch (e) {
    throw keyFileProblem(e, path, field);
  }
  try {
    refuseOpenMode(file.mode, path, field);
    try {
      return parseKey(file.bytes.toString('latin1'));
    } catch {
      throw new FieldError(
        field,
        'key-file',
        `${showPath(path)} does not hold a WireGuard key (44 characters of base64, as meshgate genkey writes)`,
      );
    }
  } finally {
    wipe(file.bytes);
  }
}

/**
 * Checks a key file as readKeyFile does, without reading the key: for a key
 * that is only read on demand (a stock client's, by export-client).
 */
export function checkKeyFile(path: string, field: string): void {
  let mode: number;
  try {
    mode = checkSecretFile(path).mode;
  } catch (e) {
    throw keyFileProblem(e, path, field);
  }
  refuseOpenMode(mode, path, field);
}

function refuseOpenMode(mode: number, path: string, field: string): void {
  if ((mode & 0o077) === 0) return;
  const shown = showPath(path);
  throw new FieldError(
    field,
    'key-file',
    `${shown} has mode ${mode.toString(8).padStart(4, '0')}: group/others may access it (chmod 600 ${shown})`,
  );
}

function keyFileProblem(e: unknown, path: string, field: string): FieldError {
  if (!(e instanceof SecretFileError)) throw e;
  if (e.code === 'too-large')
    return new FieldError(field, 'key-file', `${showPath(path)} is too large to be a key file`);
  return new FieldError(field, 'key-file', `${showPath(path)} ${e.message}`);
}

/** A public key written in the configuration; the value is never echoed. */
export function keyField(text: string, field: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = parseKey(text);
  } catch {
    throw new FieldError(field, 'invalid', "not a WireGuard key (44 characters of base64, ending in '=')");
  }
  if (isZero(key)) throw new FieldError(field, 'invalid', 'is all zeros, not a public key');
  return key;
}

const IFNAME = /^[A-Za-z0-9_=+.-]{1,15}$/;

/** A Linux interface name. */
export function interfaceName(text: string, field: string): string {
  if (!IFNAME.test(text) || text === '.' || text === '..') {
    throw new FieldError(field, 'invalid', `${show(text)} is not an interface name (1-15 of a-z A-Z 0-9 _ = + . -)`);
  }
  return text;
}

/** An IPv4 or IPv6 address literal, optionally of one family. */
export function ipLiteral(text: string, field: string, family?: 4 | 6): Uint8Array {
  let address: Uint8Array;
  try {
    address = parseIp(text.trim());
  } catch {
    const what = family === 4 ? 'an IPv4 address' : family === 6 ? 'an IPv6 address' : 'an IP address';
    throw new FieldError(field, 'invalid', `${show(text)} is not ${what}`);
  }
  if (family !== undefined && address.length !== (family === 4 ? 4 : 16)) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IPv${family} address`);
  }
  return address;
}

/**
 * A prefix written without host bits ("100.64.0.0/16"; "100.64.0.5/16" is
 * refused with the prefix it probably means). A bare address is a /32 or /128
 * unless `requireLength`.
 */
export function strictPrefix(text: string, field: string, opts: { family?: 4 | 6; requireLength: boolean }): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  if (opts.requireLength && slash < 0) {
    throw new FieldError(field, 'invalid', `${show(text)} is not a prefix (address/length, e.g. 100.64.0.0/16)`);
  }
  let cidr: Cidr;
  let address: Uint8Array;
  try {
    cidr = parseCidr(s);
    address = parseIp(slash < 0 ? s : s.slice(0, slash));
  } catch {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IP prefix (address/length, e.g. 192.168.77.0/24)`);
  }
  if (opts.family !== undefined && cidr.family !== opts.family) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IPv${opts.family} prefix`);
  }
  if (!equalBytes(address, cidr.address)) {
    throw new FieldError(field, 'invalid', `${show(text)} has host bits set (did you mean ${formatCidr(cidr)}?)`);
  }
  return cidr;
}

/** Entries of a list field, each checked by `parse`, with duplicates refused. */
export function uniqueList<T extends Uint8Array | Cidr>(
  items: readonly string[],
  field: string,
  parse: (text: string, field: string) => T,
): T[] {
  const seen = new Map<string, number>();
  return items.map((text, i) => {
    const value = parse(text, `${field}[${i}]`);
    const key = value instanceof Uint8Array ? formatIp(value) : formatCidr(value);
    const first = seen.get(key);
    if (first !== undefined) throw new FieldError(`${field}[${i}]`, 'duplicate', `${key} is ${field}[${first}] too`);
    seen.set(key, i);
    return value;
  });
}

/** Ranges a tunnel pool or a tunnel route must stay out of, and why. */
const SPECIAL: { cidr: Cidr; why: string }[] = [
  ['0.0.0.0/8', 'this-network addresses'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/8', 'loopback, unspecified and IPv4-mapped addresses'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
  ['200::/7', 'Yggdrasil: tunnelling it would cut the mesh the tunnel runs over'],
].map(([text, why]) => ({ cidr: parseCidr(text!), why: why! }));
/** The unique local range of RFC 4193 with L = 1 (fc00::/8 is cjdns's). */
export const ULA: Cidr = parseCidr('fd00::/8');

export function refuseSpecial(cidr: Cidr, field: string, what: string): void {
  for (const special of SPECIAL) {
    if (overlaps(cidr, special.cidr)) {
      throw new FieldError(
        field,
        'conflict',
        `${formatCidr(cidr)} overlaps ${formatCidr(special.cidr)} (${special.why}), which cannot be ${what}`,
      );
    }
  }
}

/** An endpoint as checked by endpointField. */
export interface CheckedEndpoint {
  /** As written (trimmed): "192.0.2.1:51820", "[200:1::1]:51820", "[fe80::1%wlan0]:51820", "gw.example.net:51820". */
  text: string;
  /** The address when the host is an IP literal (4 or 16 bytes); null for a DNS name, resolved by whoever connects. */
  address: Uint8Array | null;
}

/**
 * `host:port` or `[IPv6]:port` (a link-local address may carry a %zone); host
 * is an IP literal or a DNS name. Checked with the data path's own parser
 * (shared/io/endpoint.ts), without looking at the host's interfaces or DNS.
 */
export function endpointField(text: string, field: string): CheckedEndpoint {
  const s = text.trim();
  const anyZone = { ifindex: (name: string) => (IFNAME.test(name) ? 1 : undefined) };
  try {
    const ep = parseIoEndpoint(s, anyZone);
    if (s.startsWith('[') && isV4Mapped(ep.address)) {
      throw new FieldError(
        field,
        'invalid',
        'brackets are only for IPv6 addresses (192.0.2.1:51820, [2001:db8::1]:51820)',
      );
    }
    return { text: s, address: isV4Mapped(ep.address) ? ep.address.slice(12) : ep.address };
  } catch (e) {
    if (!(e instanceof EndpointError)) throw e;
    if (e.code === 'hostname') {
      const colon = s.lastIndexOf(':');
      const host = s.slice(0, colon);
      if (isDnsName(host)) return { text: s, address: null };
      throw new FieldError(field, 'invalid', `${show(host)} is neither an IP address nor a DNS name`);
    }
    const unbracketedIpv6 = !s.startsWith('[') && s.split(':').length > 2;
    if (e.code === 'syntax' && !unbracketedIpv6) {
      throw new FieldError(field, 'invalid', `${show(s)} is not host:port or [IPv6]:port`);
    }
    throw new FieldError(field, 'invalid', mayHoldKey(e.message) ? 'not host:port or [IPv6]:port' : e.message);
  }
}

/**
 * A listening address: an IP literal, a link-local IPv6 one optionally with a
 * %zone. Returns its canonical text and its bytes (4 or 16).
 */
export function listenAddressField(text: string, field: string): { text: string; address: Uint8Array } {
  const s = text.trim();
  const pct = s.indexOf('%');
  const address = ipLiteral(pct < 0 ? s : s.slice(0, pct), field);
  if (pct < 0) return { text: formatIp(address), address };
  const zone = s.slice(pct + 1);
  const linkLocal = address.length === 16 && address[0] === 0xfe && (address[1]! & 0xc0) === 0x80;
  if (!linkLocal) throw new FieldError(field, 'invalid', `a %zone is only for a link-local IPv6 address (fe80::/10)`);
  if (!IFNAME.test(zone)) throw new FieldError(field, 'invalid', `${show(zone)} is not an interface name`);
  return { text: `${formatIp(address)}%${zone}`, address };
}

// ---------------------------------------------------------------------------
// Prefix arithmetic

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `address` (same family) lies inside `prefix`. */
export function contains(prefix: Cidr, address: Uint8Array): boolean {
  if (address.length !== prefix.address.length) return false;
  let bits = prefix.prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (prefix.address[i]! & mask)) return false;
  }
  return true;
}

/** Whether two prefixes share an address (one contains the other). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefixLength <= b.prefixLength ? contains(a, b.address) : contains(b, a.address);
}

/** The first host address of a pool (its network address + 1): the gateway's. */
export function firstHost(pool: Cidr): Uint8Array {
  const out = Uint8Array.from(pool.address);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = (out[i]! + 1) & 0xff;
    if (out[i] !== 0) break;
  }
  return out;
}

/** The last address of a prefix (IPv4: its broadcast address). */
export function lastAddress(pool: Cidr): Uint8Array {
  const out = Uint8Array.from(pool.address);
  for (let bit = pool.prefixLength; bit < out.length * 8; bit++) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return out;
}

/**
 * The front end both loaders share: YAML and schema checks, then the loader's
 * own normalization; every FieldError becomes the loader's error via `wrap`.
 */
export function parseYamlConfig<S extends TSchema, T>(
  text: string,
  file: string,
  schema: S,
  normalize: (raw: Static<S>, file: string) => T,
  wrap: (e: FieldError, line?: number) => Error,
): T {
  const raw = parseYamlDocument(text, schema, wrap);
  try {
    return normalize(raw, file);
  } catch (e) {
    if (e instanceof FieldError) throw wrap(e);
    throw e;
  }
}
