import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../test/support/two-peers.js';
import { loadNativeCrypto } from '../io/native-aead.js';
import { nodeCrypto, publicKeyOf, type CryptoBackend } from './crypto.js';
import {
  consumeInitiation,
  consumeResponse,
  createIdentity,
  createInitiation,
  createRemoteKeys,
  createResponse,
} from './handshake.js';
import { tai64n } from './tai64n.js';

function setup(pskA?: Uint8Array, pskB?: Uint8Array) {
  const r = seededRandom('hs');
  const i = createIdentity(r(32));
  const resp = createIdentity(r(32));
  const iKnowsR = createRemoteKeys(i, resp.publicKey, pskA);
  const rKnowsI = createRemoteKeys(resp, i.publicKey, pskB);
  return { r, i, resp, iKnowsR, rKnowsI };
}

test('initiator and responder derive mirrored transport keys', () => {
  const { r, i, resp, iKnowsR, rKnowsI } = setup();
  const init = createInitiation(i, iKnowsR, 7, tai64n(1_700_000_000_000), r)!;
  const consumed = consumeInitiation(resp, init.message, (pub) =>
    Buffer.from(pub).equals(Buffer.from(i.publicKey)) ? rKnowsI : undefined,
  );
  expect(consumed.ok).toBe(true);
  if (!consumed.ok) return;
  expect(consumed.consumed.remoteIndex).toBe(7);
  expect(Buffer.from(consumed.consumed.remoteStatic)).toEqual(Buffer.from(i.publicKey));
  const response = createResponse(resp, rKnowsI, consumed.consumed, 9, r)!;
  const keys = consumeResponse(i, iKnowsR, init.state, response.message)!;
  expect(keys.remoteIndex).toBe(9);
  expect(Buffer.from(keys.sendKey)).toEqual(Buffer.from(response.keys.receiveKey));
  expect(Buffer.from(keys.receiveKey)).toEqual(Buffer.from(response.keys.sendKey));
});

test('an unknown static key, a tampered message and a wrong PSK all fail cleanly', () => {
  const { r, i, resp, iKnowsR, rKnowsI } = setup();
  const init = createInitiation(i, iKnowsR, 1, tai64n(0), r)!;
  expect(consumeInitiation(resp, init.message, () => undefined)).toEqual({ ok: false, reason: 'unknown-peer' });
  const tampered = Uint8Array.from(init.message);
  tampered[50]! ^= 1;
  expect(consumeInitiation(resp, tampered, () => rKnowsI)).toEqual({ ok: false, reason: 'handshake-invalid' });

  const p = setup(seededRandom('x')(32), seededRandom('y')(32));
  const init2 = createInitiation(p.i, p.iKnowsR, 1, tai64n(0), p.r)!;
  const c = consumeInitiation(p.resp, init2.message, () => p.rKnowsI);
  expect(c.ok).toBe(true); // the PSK enters only in the response
  if (!c.ok) return;
  const resp2 = createResponse(p.resp, p.rKnowsI, c.consumed, 2, p.r)!;
  expect(consumeResponse(p.i, p.iKnowsR, init2.state, resp2.message)).toBeNull();
});

test('a low-order peer key cannot be used to initiate', () => {
  const { r, i } = setup();
  const remote = createRemoteKeys(i, new Uint8Array(32));
  expect(remote.staticStatic).toBeNull();
  expect(createInitiation(i, remote, 1, tai64n(0), r)).toBeNull();
  expect(publicKeyOf(i.privateKey)).toEqual(i.publicKey);
});

describe('the crypto backends agree on whole handshakes', () => {
  const native = loadNativeCrypto();

  /** One seeded handshake; the initiator's keys prepared under `a`, the responder's under `b`. */
  function run(a: CryptoBackend, b: CryptoBackend): string[] {
    const r = seededRandom('backends');
    const i = createIdentity(r(32), a);
    const iPub = Uint8Array.from(i.publicKey);
    const resp = createIdentity(r(32), b);
    const rKnowsI = createRemoteKeys(resp, iPub);
    const iKnowsR = createRemoteKeys(i, resp.publicKey, undefined);
    const init = createInitiation(i, iKnowsR, 7, tai64n(1_700_000_000_000), r)!;
    const consumed = consumeInitiation(resp, init.message, () => rKnowsI);
    if (!consumed.ok) throw new Error(consumed.reason);
    const response = createResponse(resp, rKnowsI, consumed.consumed, 9, r)!;
    const keys = consumeResponse(i, iKnowsR, init.state, response.message)!;
    expect(Buffer.from(keys.sendKey)).toEqual(Buffer.from(response.keys.receiveKey));
    return [init.message, response.message, keys.sendKey, keys.receiveKey].map((x) => Buffer.from(x).toString('hex'));
  }

  test.skipIf(native === null)('node:crypto, the addon, and each side on a different one give the same bytes', () => {
    const reference = run(nodeCrypto, nodeCrypto);
    expect(run(native!, native!)).toEqual(reference);
    expect(run(nodeCrypto, native!)).toEqual(reference);
    expect(run(native!, nodeCrypto)).toEqual(reference);
  });
});
