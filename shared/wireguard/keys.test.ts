import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { inSharedPool } from '../../test/support/secrets.js';
import { seededRandom } from '../../test/support/two-peers.js';
import {
  formatKey,
  generatePresharedKeyText,
  generatePrivateKeyText,
  KeyFormatError,
  parseKey,
  publicKeyText,
} from './keys.js';

const hasWg = (() => {
  try {
    execFileSync('wg', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

test('generated private keys are clamped, 44 characters of base64', () => {
  const r = seededRandom('keys');
  for (let i = 0; i < 50; i++) {
    const k = parseKey(generatePrivateKeyText(r));
    expect(k[0]! & 7).toBe(0);
    expect(k[31]! & 0x80).toBe(0);
    expect(k[31]! & 0x40).toBe(0x40);
  }
  expect(generatePresharedKeyText(r)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
});

test('bad keys give a clear error', () => {
  expect(() => parseKey('abc', 'PublicKey')).toThrow(KeyFormatError);
  expect(() => parseKey('abc', 'PublicKey')).toThrow(/PublicKey is not a WireGuard key/);
  expect(() => parseKey('A'.repeat(43) + '=')).not.toThrow();
  expect(() => parseKey('A'.repeat(42) + 'B=')).toThrow(); // non-canonical last character
  expect(formatKey(parseKey(' ' + 'A'.repeat(43) + '=\n'))).toBe('A'.repeat(43) + '=');
});

test.skipIf(!hasWg)('public keys agree with `wg pubkey`, both ways', () => {
  const r = seededRandom('wg');
  for (let i = 0; i < 5; i++) {
    const priv = generatePrivateKeyText(r);
    expect(publicKeyText(priv)).toBe(
      execFileSync('wg', ['pubkey'], { input: priv + '\n' })
        .toString()
        .trim(),
    );
    const wgPriv = execFileSync('wg', ['genkey']).toString().trim();
    expect(publicKeyText(wgPriv)).toBe(
      execFileSync('wg', ['pubkey'], { input: wgPriv + '\n' })
        .toString()
        .trim(),
    );
  }
});

test("a parsed key lives in memory of its own and leaves no copy in Node's shared Buffer pool (Hardening #11a)", () => {
  const text = generatePrivateKeyText(seededRandom('pool'));
  const key = parseKey(text);
  expect(key.buffer.byteLength).toBe(32);
  expect(key.byteOffset).toBe(0);
  expect(formatKey(key)).toBe(text);
  expect(inSharedPool(key)).toBe(false);
  // For contrast: Buffer.from(text, 'base64') would have left the key's bytes in the shared slab.
  Buffer.from(text, 'base64');
  expect(inSharedPool(key)).toBe(true);
});

test('key generation zeroes the random bytes it was given', () => {
  const given: Uint8Array[] = [];
  const random = (n: number): Uint8Array => {
    const bytes = new Uint8Array(n).fill(0xa5);
    given.push(bytes);
    return bytes;
  };
  generatePrivateKeyText(random);
  generatePresharedKeyText(random);
  expect(given).toHaveLength(2);
  for (const bytes of given) expect(bytes.every((b) => b === 0)).toBe(true);
});
