import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, test } from 'vitest';
import { seededRandom } from '../../test/support/two-peers.js';
import { TunnelRunner } from '../runner/runner.js';
import { parseCidr } from '../net/address.js';
import { publicKeyOf } from '../wireguard/crypto.js';
import { Device } from '../wireguard/device.js';
import { INITIATION_SIZE, MessageType } from '../wireguard/messages.js';
import { makeEndpoint, parseEndpoint } from './endpoint.js';
import { FakeTun } from './fakes.js';
import { MultiUdp, type FamilyBind } from './multi-udp.js';
import type { Endpoint, UdpHandler } from './types.js';

/** A socket stand-in: records where it sends; receive() stamps sources with itself, as LinuxUdp does. */
class StubBind implements FamilyBind {
  readonly port = 51820;
  readonly sendErrors = 0;
  sent: string[] = [];
  handler: UdpHandler | null = null;
  constructor(readonly family: 4 | 6) {}
  start(h: UdpHandler) {
    this.handler = h;
  }
  private last: [Endpoint, Endpoint] | null = null;
  receive(data: Uint8Array, from: Endpoint) {
    if (this.last?.[0] !== from) this.last = [from, makeEndpoint(from.address, from.port, from.scopeId, this)];
    this.handler!.datagram(data, this.last[1]);
    this.handler!.batchEnd();
  }
  send(_d: Uint8Array, to: Endpoint) {
    this.sent.push(to.key);
  }
  flush() {}
  close() {}
}

test('replies leave by the socket the endpoint arrived on; other endpoints by family', () => {
  const v4 = new StubBind(4);
  const ygg = new StubBind(6);
  const m = new MultiUdp([v4, ygg]);
  const got: Endpoint[] = [];
  m.start({ datagram: (_d, from) => got.push(from), batchEnd: () => {} });
  const peer6 = parseEndpoint('[200:1234::1]:51820');
  const peer4 = parseEndpoint('192.0.2.7:4000');
  m.send(new Uint8Array(1), peer6);
  m.send(new Uint8Array(1), peer4);
  expect(ygg.sent).toEqual([peer6.key]);
  expect(v4.sent).toEqual([peer4.key]);
  // a v6 peer that arrived on the first socket is answered there, the same address from the config by family
  const other6 = parseEndpoint('[2001:db8::9]:1');
  v4.receive(new Uint8Array(1), other6);
  expect(got[0]!.via).toBe(v4);
  expect(got[0]).toEqual(other6); // `via` is no part of the address
  m.send(new Uint8Array(1), got[0]!);
  m.send(new Uint8Array(1), other6);
  expect(v4.sent).toEqual([peer4.key, other6.key]);
  expect(ygg.sent).toEqual([peer6.key, other6.key]);
  // an endpoint heard on a socket that is not one of ours goes by family too
  m.send(new Uint8Array(1), makeEndpoint(other6.address, 1, 0, new StubBind(4)));
  expect(ygg.sent).toHaveLength(3);
});

/** globalThis.gc, also when the test runner did not pass --expose-gc. */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

test('a million junk datagrams from 125,000 sources on two sockets leave no state behind', () => {
  const gc = exposeGc();
  const random = seededRandom('junk');
  const key = random(32);
  const device = new Device({ privateKey: key, random });
  device.addPeer({ publicKey: publicKeyOf(random(32)), allowedIps: [parseCidr('10.0.0.2/32')] });
  const v4 = new StubBind(4);
  const v6 = new StubBind(6);
  const runner = new TunnelRunner(device, new FakeTun(), new MultiUdp([v4, v6]));
  runner.start();
  // junk of each kind the core sees: a transport message with an unknown index, an initiation with a bad MAC1
  const transport = new Uint8Array(48);
  transport[0] = MessageType.Transport;
  const initiation = random(INITIATION_SIZE);
  initiation.set([MessageType.Initiation, 0, 0, 0]);
  const addr4 = new Uint8Array(4);
  const addr6 = parseEndpoint('[2001:db8::]:1').address.slice();
  // Each source sends its datagrams in a row (a real socket's source cache would
  // hand out one Endpoint for them); odd sources on the IPv4 socket, even on IPv6.
  const PER_SOURCE = 8;
  const feed = (from: number, to: number): void => {
    for (let source = from; source < to; source++) {
      let bind: StubBind;
      let ep: Endpoint;
      if (source & 1) {
        addr4.set([198, 51, (source >> 8) & 0xff, source & 0xff]);
        bind = v4;
        ep = makeEndpoint(addr4, 1024 + (source >> 16), 0);
      } else {
        addr6[12] = source >> 16;
        addr6[13] = (source >> 8) & 0xff;
        addr6[14] = source & 0xff;
        bind = v6;
        ep = makeEndpoint(addr6, 40000, 0);
      }
      for (let k = 0; k < PER_SOURCE; k++) bind.receive((source + k) % 16 === 0 ? initiation : transport, ep);
    }
  };
  feed(0, 5_000); // warm up: code, the device's fixed-size tables
  gc();
  const before = process.memoryUsage().heapUsed;
  feed(5_000, 130_000); // 125,000 sources, 1,000,000 datagrams
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  runner.stop();
  expect(device.drops['unknown-index'] + device.drops['mac1-invalid']).toBe(130_000 * PER_SOURCE);
  expect(v4.sent.length + v6.sent.length).toBe(0);
  expect(grown, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(2 * 2 ** 20);
}, 60_000);
