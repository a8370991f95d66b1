// For configuration loader tests (gateway/config.test.ts, client/config.test.ts):
// a temporary folder of key and YAML files, and the one check every refused
// configuration must pass: a ConfigError on the expected field with the
// expected code, one line, starting with the file and the field, and holding
// none of the secrets the test wrote.

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import YAML from 'yaml';
import { ConfigError, type ConfigErrorCode } from '../../shared/config/config-error.js';
import type { OwnKeyConfig } from '../../shared/config/key-file.js';
import {
  formatKey,
  generatePresharedKeyText,
  generatePrivateKeyText,
  publicKeyText,
} from '../../shared/wireguard/keys.js';
import { thrownBy } from './thrown.js';

export interface ConfigFiles {
  /** The folder (valid between open() and close()). */
  readonly dir: string;
  /** Every secret the test wrote: none may appear in any message. */
  readonly secrets: string[];
  open(): string;
  close(): void;
  /** Writes a key file (with a newline, as genkey does) with `mode`; returns its path. */
  writeKey(name: string, text: string, mode?: number): string;
  /** Writes a YAML file from text or data under a fresh name; returns its path. */
  writeConfig(content: string | Record<string, unknown>): string;
  /** Writes `content`, loads it and expects a ConfigError: the file, the error and the content as YAML text. */
  thrown(content: string | Record<string, unknown>): { file: string; error: ConfigError; shown: string };
  /** Writes `content`, loads it and expects it refused on `field` with `code`; returns the message. */
  fails(content: string | Record<string, unknown>, field: string, code: ConfigErrorCode, pattern?: RegExp): string;
  /** A fresh key pair as base64 text; the private key joins `secrets`. */
  keyPair(): { privateKey: string; publicKey: string };
  /** A fresh preshared key as base64 text; it joins `secrets`. */
  presharedKey(): string;
}

/**
 * Files under a new temporary folder `${prefix}XXXXXX`; configs are
 * `${stem}-N.yaml`, loaded by `load` (the loader under test).
 */
const random = (n: number): Uint8Array => randomBytes(n);

/** A loaded configuration holds the file it came from and its own key as the test wrote them. */
export function expectOwnKey(
  c: OwnKeyConfig,
  want: { file: string; privateKey: string; publicKey: string; privateKeyFile: string },
): void {
  expect(c.file).toBe(want.file);
  expect(formatKey(c.privateKey)).toBe(want.privateKey);
  expect(formatKey(c.publicKey)).toBe(want.publicKey);
  expect(c.privateKeyFile).toBe(want.privateKeyFile);
}

export function configFiles(prefix: string, stem: string, load: (file: string) => unknown): ConfigFiles {
  let dir = '';
  let counter = 0;
  const secrets: string[] = [];
  const writeConfig = (content: string | Record<string, unknown>): string => {
    const file = join(dir, `${stem}-${++counter}.yaml`);
    writeFileSync(file, typeof content === 'string' ? content : YAML.stringify(content));
    return file;
  };
  const thrown = (content: string | Record<string, unknown>) => {
    const file = writeConfig(content);
    const error = thrownBy(() => load(file));
    const shown = typeof content === 'string' ? content : YAML.stringify(content);
    expect(error, shown).toBeInstanceOf(ConfigError);
    return { file, error: error as ConfigError, shown };
  };
  return {
    get dir() {
      return dir;
    },
    secrets,
    open() {
      dir = mkdtempSync(join(tmpdir(), prefix));
      return dir;
    },
    close() {
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    },
    writeKey(name, text, mode = 0o600) {
      const path = join(dir, name);
      writeFileSync(path, `${text}\n`, { mode });
      chmodSync(path, mode);
      return path;
    },
    writeConfig,
    thrown,
    fails(content, field, code, pattern) {
      const { file, error: e } = thrown(content);
      expect({ field: e.field, code: e.code }).toEqual({ field, code });
      expect(e.message.startsWith(field === '' ? file : `${file}: ${field}: `)).toBe(true);
      expect(e.message).not.toContain('\n');
      for (const secret of secrets) expect(e.message).not.toContain(secret);
      if (pattern !== undefined) expect(e.message).toMatch(pattern);
      return e.message;
    },
    keyPair() {
      const privateKey = generatePrivateKeyText(random);
      secrets.push(privateKey);
      return { privateKey, publicKey: publicKeyText(privateKey) };
    },
    presharedKey() {
      const key = generatePresharedKeyText(random);
      secrets.push(key);
      return key;
    },
  };
}
