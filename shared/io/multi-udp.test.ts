import { expect, test } from 'vitest';
import { parseEndpoint } from './endpoint.js';
import { MultiUdp, type FamilyBind } from './multi-udp.js';
import type { Endpoint, UdpHandler } from './types.js';

class StubBind implements FamilyBind {
  readonly port = 51820;
  readonly sendErrors = 0;
  sent: string[] = [];
  handler: UdpHandler | null = null;
  constructor(readonly family: 4 | 6) {}
  start(h: UdpHandler) {
    this.handler = h;
  }
  send(_d: Uint8Array, to: Endpoint) {
    this.sent.push(to.key);
  }
  flush() {}
  close() {}
}

test('replies leave by the socket the peer was heard on; new endpoints by family', () => {
  const v4 = new StubBind(4);
  const ygg = new StubBind(6);
  const m = new MultiUdp([v4, ygg]);
  const got: string[] = [];
  m.start({ datagram: (_d, from) => got.push(from.key), batchEnd: () => {} });
  const peer6 = parseEndpoint('[200:1234::1]:51820');
  const peer4 = parseEndpoint('192.0.2.7:4000');
  m.send(new Uint8Array(1), peer6);
  m.send(new Uint8Array(1), peer4);
  expect(ygg.sent).toEqual([peer6.key]);
  expect(v4.sent).toEqual([peer4.key]);
  // a v6 peer heard on the first socket is answered there
  const other6 = parseEndpoint('[2001:db8::9]:1');
  v4.handler!.datagram(new Uint8Array(1), other6);
  m.send(new Uint8Array(1), other6);
  expect(v4.sent).toContain(other6.key);
  expect(got).toEqual([other6.key]);
});
