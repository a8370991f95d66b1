// Parser for wg-quick configuration files (the format of wg-quick(8) and
// wg(8) setconf), so the same file runs under meshgate or wg-quick.
//
// Only keys that concern the tunnel and its routes are used. wg-quick's
// host-scripting keys (DNS, PreUp, PostUp, PreDown, PostDown, SaveConfig) are
// accepted and reported as ignored; any other key is an error naming file,
// line and key.
//
// No message repeats a key, whatever the line: the values of PrivateKey,
// PresharedKey and PublicKey are never shown, a line that is not
// "Key = Value" is named by its number only, and other values and unknown key
// names are shown only when they cannot hold a key (redact.ts).

import { isInterfaceName, parseCidr, parseIp, type Cidr } from '../net/address.js';
import { wipe } from '../wireguard/crypto.js';
import { formatKey, parseKey } from '../wireguard/keys.js';
import { ConfigError, type ConfigErrorCode } from './config-error.js';
import { isDnsName } from './hostname.js';
import { readSecretFile, SecretFileError, type SecretFile } from './key-file.js';
import { pathMayHoldKey, show, showName } from './redact.js';

export { ConfigError };

export interface InterfaceSection {
  privateKey: Uint8Array;
  listenPort: number | null;
  addresses: Cidr[];
  mtu: number | null;
  fwMark: number | null;
  /**
   * Where AllowedIPs routes go, as wg-quick's Table: 'auto' (the main table;
   * default routes through a table of their own behind a fwmark rule), 'off'
   * (no routes at all), or a table number (every route there, no rules).
   */
  table: 'auto' | 'off' | number;
}

export interface PeerSection {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  allowedIps: Cidr[];
  /** As written (host:port); resolved by the caller. */
  endpoint: string | null;
  persistentKeepalive: number;
  /** Line of the [Peer] header, for messages. */
  line: number;
}

export interface WgQuickConfig {
  interface: InterfaceSection;
  peers: PeerSection[];
  /** Keys present but not acted on, as "Key (line N)". */
  ignored: string[];
}

const IGNORED_KEYS = new Set(['dns', 'preup', 'postup', 'predown', 'postdown', 'saveconfig']);

/** The keys of the format, as wg-quick(8) spells them: how a message names a key written in any case. */
const KEY_NAMES = new Map(
  [
    'PrivateKey',
    'ListenPort',
    'Address',
    'MTU',
    'FwMark',
    'Table',
    'PublicKey',
    'PresharedKey',
    'AllowedIPs',
    'Endpoint',
    'PersistentKeepalive',
    'DNS',
    'PreUp',
    'PostUp',
    'PreDown',
    'PostDown',
    'SaveConfig',
  ].map((name) => [name.toLowerCase(), name]),
);

const KEY_TEXT = "not a WireGuard key (44 characters of base64, ending in '=')";

function parseIntIn(text: string, min: number, max: number): number | null {
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/** A 32-bit number written in decimal or, with 0x, in hexadecimal (as wg(8) reads FwMark). */
function parseU32(text: string): number | null {
  return /^0x[0-9a-f]{1,8}$/i.test(text) ? Number.parseInt(text.slice(2), 16) : parseIntIn(text, 0, 0xffffffff);
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Largest wg-quick file read (a few hundred peers). */
const WG_QUICK_FILE_MAX = 1 << 20;

/**
 * Reads and parses a wg-quick file, which holds a private key: refused, with
 * a ConfigError, when it is a symbolic link, not a regular file or owned by
 * another user than us or root (shared/config/key-file.ts). A file that group
 * or others may access is read, as wg-quick does, with a warning through
 * `warn` (one line naming the file and its mode).
 */
export function loadWgQuickFile(file: string, warn: (message: string, mode: string) => void): WgQuickConfig {
  let content: SecretFile;
  try {
    content = readSecretFile(file, WG_QUICK_FILE_MAX);
  } catch (e) {
    if (e instanceof SecretFileError) throw new ConfigError(file, '', 'unreadable', `the file ${e.message}`);
    throw e;
  }
  try {
    const config = parseWgQuick(content.bytes.toString('utf8'), file);
    if ((content.mode & 0o077) !== 0) {
      const mode = content.mode.toString(8).padStart(4, '0');
      warn(`${file} holds a private key but group/others may access it (mode ${mode}): chmod 600 ${file}`, mode);
    }
    return config;
  } finally {
    wipe(content.bytes);
  }
}

/** Parses the text of a wg-quick file; `file` names it in errors. */
export function parseWgQuick(text: string, file: string): WgQuickConfig {
  type Draft = Partial<InterfaceSection> & { addresses: Cidr[]; seen: boolean };
  const iface: Draft = { addresses: [], seen: false };
  const peers: (Partial<PeerSection> & { allowedIps: Cidr[]; line: number })[] = [];
  const ignored: string[] = [];
  let section: 'none' | 'interface' | 'peer' = 'none';

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const fail = (msg: string, code: ConfigErrorCode = 'invalid'): never => {
      throw new ConfigError(file, '', code, msg, lineNo);
    };
    const raw = lines[i]!.replace(/#.*$/, '').trim();
    if (raw === '') continue;
    if (raw.startsWith('[')) {
      const name = raw.toLowerCase();
      if (name === '[interface]') {
        if (iface.seen) fail('a second [Interface] section', 'duplicate');
        iface.seen = true;
        section = 'interface';
      } else if (name === '[peer]') {
        peers.push({ allowedIps: [], line: lineNo });
        section = 'peer';
      } else {
        const header = /^\[([^\]]*)\]$/.exec(raw);
        fail(
          header === null
            ? 'not a section header ([Interface] or [Peer])'
            : `unknown section [${showName(header[1]!)}]`,
          header === null ? 'syntax' : 'unknown-field',
        );
      }
      continue;
    }
    const eq = raw.indexOf('=');
    if (eq <= 0) fail('expected "Key = Value" (the line is not shown: it may hold a key)', 'syntax');
    const key = raw.slice(0, eq).trim();
    const value = raw.slice(eq + 1).trim();
    const k = key.toLowerCase();
    /** The key as a message names it: its proper spelling, or the user's text when that cannot be a key. */
    const name = KEY_NAMES.get(k) ?? showName(key);
    const keyValue = (): Uint8Array => {
      try {
        return parseKey(value, name);
      } catch {
        return fail(`${name}: ${KEY_TEXT}`);
      }
    };
    /** Parses each comma-separated item of the value onto `into`; the first bad one fails as "<name>: <item> is not <what>". */
    const listValue = <T>(into: T[], parse: (item: string) => T, what: string): void => {
      for (const item of list(value)) {
        try {
          into.push(parse(item));
        } catch {
          fail(`${name}: ${show(item)} is not ${what}`);
        }
      }
    };

    if (section === 'none') fail(`${name} outside of a section`, 'syntax');
    if (section === 'interface') {
      if (IGNORED_KEYS.has(k)) {
        ignored.push(`${name} (line ${lineNo})`);
        continue;
      }
      switch (k) {
        case 'privatekey':
          iface.privateKey = keyValue();
          break;
        case 'listenport':
          iface.listenPort = parseIntIn(value, 0, 65535) ?? fail(`ListenPort must be 0..65535, got ${show(value)}`);
          break;
        case 'address':
          listValue(iface.addresses, parseAddressWithPrefix, 'an address with an optional /prefix length');
          break;
        case 'mtu':
          iface.mtu = parseIntIn(value, 576, 65535) ?? fail(`MTU must be 576..65535, got ${show(value)}`);
          break;
        case 'fwmark':
          iface.fwMark = value === 'off' ? null : (parseU32(value) ?? fail(`bad FwMark ${show(value)}`));
          break;
        case 'table':
          iface.table =
            value === 'off' || value === 'auto'
              ? value
              : (parseIntIn(value, 1, 0xffffffff) ??
                fail(`Table must be off, auto or a table number, got ${show(value)}`));
          break;
        default:
          fail(`unknown key ${name} in [Interface]`, 'unknown-field');
      }
    } else {
      const peer = peers[peers.length - 1]!;
      switch (k) {
        case 'publickey':
          peer.publicKey = keyValue();
          break;
        case 'presharedkey':
          peer.presharedKey = keyValue();
          break;
        case 'allowedips':
          listValue(peer.allowedIps, parseCidr, 'an IP prefix (address/length)');
          break;
        case 'endpoint':
          if (!isEndpoint(value)) fail(`Endpoint must be host:port or [ipv6]:port, got ${show(value)}`);
          peer.endpoint = value;
          break;
        case 'persistentkeepalive':
          peer.persistentKeepalive =
            value === 'off' ? 0 : (parseIntIn(value, 0, 65535) ?? fail(`PersistentKeepalive must be 0..65535 or off`));
          break;
        default:
          fail(`unknown key ${name} in [Peer]`, 'unknown-field');
      }
    }
  }

  if (!iface.seen) throw new ConfigError(file, '', 'missing', 'no [Interface] section');
  if (iface.privateKey === undefined) throw new ConfigError(file, '', 'missing', '[Interface] has no PrivateKey');
  const seen = new Set<string>();
  const out: PeerSection[] = peers.map((p) => {
    if (p.publicKey === undefined) throw new ConfigError(file, '', 'missing', '[Peer] has no PublicKey', p.line);
    const name = formatKey(p.publicKey);
    if (seen.has(name)) throw new ConfigError(file, '', 'duplicate', `peer ${name} appears twice`, p.line);
    seen.add(name);
    return {
      publicKey: p.publicKey,
      presharedKey: p.presharedKey ?? null,
      allowedIps: p.allowedIps,
      endpoint: p.endpoint ?? null,
      persistentKeepalive: p.persistentKeepalive ?? 0,
      line: p.line,
    };
  });
  return {
    interface: {
      privateKey: iface.privateKey,
      listenPort: iface.listenPort ?? null,
      addresses: iface.addresses,
      mtu: iface.mtu ?? null,
      fwMark: iface.fwMark ?? null,
      table: iface.table ?? 'auto',
    },
    peers: out,
    ignored,
  };
}

/** host:port or [IPv6]:port, the host an IP literal or a DNS name (resolved by the caller). */
function isEndpoint(text: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):\d{1,5}$/.exec(text);
  if (m === null) return false;
  if (m[1] !== undefined) {
    const pct = m[1].indexOf('%');
    return (
      /^[0-9A-Fa-f:.]+$/.test(pct < 0 ? m[1] : m[1].slice(0, pct)) && (pct < 0 || isInterfaceName(m[1].slice(pct + 1)))
    );
  }
  // A name that may be key material (a key pasted without its '=' padding is a
  // valid DNS name) is refused rather than sent to a resolver.
  return (isDnsName(m[2]!) && !pathMayHoldKey(m[2]!)) || /^\d{1,3}(\.\d{1,3}){3}$/.test(m[2]!);
}

/**
 * An interface address keeps its host bits ("10.0.0.2/24" is host .2 on a
 * /24), unlike an AllowedIPs prefix; a bare address is /32 or /128.
 */
export function parseAddressWithPrefix(text: string): Cidr {
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  const family = address.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { family, address, prefixLength: max };
  const prefix = text.slice(slash + 1);
  const n = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
  if (n < 0 || n > max) throw new RangeError(`bad prefix length in "${text}"`);
  return { family, address, prefixLength: n };
}
