import { expect, test } from 'vitest';
import { endpoint, seededRandom } from '../../test/support/two-peers.js';
import { COOKIE_REFRESH_TIME } from './constants.js';
import { CookieChecker, CookieGenerator } from './cookie.js';
import { createIdentity } from './handshake.js';
import { INITIATION_SIZE } from './messages.js';

test('MAC1 binds the receiver key; MAC2 binds the cookie to the source address and expires', () => {
  const r = seededRandom('cookie');
  const responder = createIdentity(r(32));
  const other = createIdentity(r(32));
  const checker = new CookieChecker(responder.publicKey);
  const gen = new CookieGenerator(responder.publicKey);
  const wrongGen = new CookieGenerator(other.publicKey);
  const src = endpoint([192, 0, 2, 7], 9999);

  const msg = r(INITIATION_SIZE);
  msg[0] = 1;
  msg[1] = msg[2] = msg[3] = 0;
  gen.addMacs(msg, 0);
  expect(checker.checkMac1(msg)).toBe(true);
  expect(checker.checkMac2(msg, src, 0)).toBe(false);

  const other1 = Uint8Array.from(msg);
  wrongGen.addMacs(other1, 0);
  expect(checker.checkMac1(other1)).toBe(false);

  const reply = checker.createReply(msg, 1234, src, 0, r);
  expect(gen.consumeReply(reply, 0)).toBe(true);
  expect(gen.consumeReply(reply, 0)).toBe(false); // only once per message
  const retry = Uint8Array.from(msg);
  gen.addMacs(retry, 10);
  expect(checker.checkMac2(retry, src, 10)).toBe(true);
  expect(checker.checkMac2(retry, endpoint([192, 0, 2, 8], 9999), 10)).toBe(false);
  expect(checker.checkMac2(retry, src, COOKIE_REFRESH_TIME + 1)).toBe(false);
  // after the refresh time the generator stops sending MAC2
  const late = Uint8Array.from(msg);
  gen.addMacs(late, COOKIE_REFRESH_TIME + 10);
  expect(late.subarray(132).every((b) => b === 0)).toBe(true);
});

test('a forged cookie reply is refused', () => {
  const r = seededRandom('forged');
  const responder = createIdentity(r(32));
  const gen = new CookieGenerator(responder.publicKey);
  const msg = new Uint8Array(INITIATION_SIZE);
  msg[0] = 1;
  gen.addMacs(msg, 0);
  const forged = r(64);
  forged[0] = 3;
  expect(gen.consumeReply(forged, 0)).toBe(false);
});
