import { expect, test } from 'vitest';
import { seededRandom } from '../../test/support/two-peers.js';
import { Keypair, MAX_SEND_COUNTER, paddedLength, REKEY_SEND_COUNTER } from './keypair.js';
import { TRANSPORT_OVERHEAD } from './messages.js';

test('padding rounds up to 16 bytes but never past the MTU (whitepaper 5.4.6)', () => {
  expect(paddedLength(0, 1420)).toBe(0);
  expect(paddedLength(1, 1420)).toBe(16);
  expect(paddedLength(16, 1420)).toBe(16);
  expect(paddedLength(17, 1420)).toBe(32);
  expect(paddedLength(1419, 1420)).toBe(1420);
  expect(paddedLength(1420, 1420)).toBe(1420);
  expect(paddedLength(1415, 1418)).toBe(1418);
});

test('seal and open are inverse; a packet is refused under the other direction key', () => {
  const r = seededRandom('kp');
  const k1 = r(32);
  const k2 = r(32);
  const a = new Keypair({ sendKey: k1, receiveKey: k2, localIndex: 1, remoteIndex: 2, isInitiator: true }, 0);
  const b = new Keypair({ sendKey: k2, receiveKey: k1, localIndex: 2, remoteIndex: 1, isInitiator: false }, 0);
  const out = new Uint8Array(2000);
  const packet = r(100);
  const n = a.seal(packet, 1420, out);
  expect(n).toBe(112 + TRANSPORT_OVERHEAD);
  const opened = b.open(out.subarray(0, n), new Uint8Array(2048))!;
  expect(Buffer.from(opened.subarray(0, 100))).toEqual(Buffer.from(packet));
  expect(opened.subarray(100).every((x) => x === 0)).toBe(true);
  expect(a.open(out.subarray(0, n), new Uint8Array(2048))).toBeNull();
  expect(a.sendCounter).toBe(1);
});

test('keypair lifetime follows Reject-After-Time', () => {
  const kp = new Keypair(
    { sendKey: new Uint8Array(32), receiveKey: new Uint8Array(32), localIndex: 1, remoteIndex: 2, isInitiator: true },
    1000,
  );
  expect(kp.canSend(1000 + 179_999)).toBe(true);
  expect(kp.canSend(1000 + 180_000)).toBe(false);
  expect(kp.wantsRekey(1000 + 120_000, 120_000)).toBe(true);
  kp.wipe();
  expect(kp.canSend(1001)).toBe(false);
});

test('Rekey-After-Messages applies to both sides, Rekey-After-Time only to the initiator', () => {
  const keys = { sendKey: new Uint8Array(32), receiveKey: new Uint8Array(32), localIndex: 1, remoteIndex: 2 };
  const responder = new Keypair({ ...keys, isInitiator: false }, 0);
  const initiator = new Keypair({ ...keys, isInitiator: true }, 0);
  expect(REKEY_SEND_COUNTER).toBeLessThan(MAX_SEND_COUNTER);
  for (const kp of [responder, initiator]) {
    kp.sendCounter = REKEY_SEND_COUNTER - 1;
    expect(kp.wantsRekey(1, 120_000)).toBe(false);
    kp.sendCounter = REKEY_SEND_COUNTER;
    expect(kp.wantsRekey(1, 120_000)).toBe(true);
    expect(kp.canSend(1)).toBe(true); // still usable while the new handshake runs
    kp.sendCounter = 0;
  }
  expect(responder.wantsRekey(120_000, 120_000)).toBe(false);
  expect(initiator.wantsRekey(120_000, 120_000)).toBe(true);
});
