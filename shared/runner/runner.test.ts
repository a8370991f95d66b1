import { afterEach, describe, expect, test } from 'vitest';
import { FakeClock } from '../../test/support/two-peers.js';
import { untilStopped } from '../cli/signals.js';
import { parseEndpoint } from '../io/endpoint.js';
import { createFakeUdpPair, FakeTun } from '../io/fakes.js';
import { IoError } from '../io/io-error.js';
import type { Logger } from '../log.js';
import type { Device, Now, Sink } from '../wireguard/device.js';
import { TunnelRunner } from './runner.js';

/** A stand-in for the core: echoes TUN packets to the network and datagrams to the TUN, throws on a 0xBAD marker. */
function echoDevice(to: string) {
  const peer = parseEndpoint(to);
  const seen = { tun: [] as number[], udp: [] as number[] };
  const fail = (data: Uint8Array) => {
    if (data[0] === 0x0b && data[1] === 0xad) throw new TypeError('cannot read properties of undefined');
  };
  const device = {
    fromTunnel(data: Uint8Array, _now: Now, sink: Sink) {
      fail(data);
      seen.tun.push(data[2]!);
      sink.toNetwork(data, peer);
    },
    fromNetwork(data: Uint8Array, _from: unknown, _now: Now, sink: Sink) {
      fail(data);
      seen.udp.push(data[2]!);
      sink.toTunnel(data);
    },
    tick() {},
  };
  return { device: device as unknown as Device, seen };
}

function recordingLog() {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  const log = { error: (obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg }) };
  return { log: log as unknown as Pick<Logger, 'error'>, lines };
}

const packet = (n: number, bad = false) => Uint8Array.of(bad ? 0x0b : 0x45, bad ? 0xad : 0, n, 0xc0, 0xff, 0xee);

const runners: TunnelRunner[] = [];
afterEach(() => {
  for (const r of runners.splice(0)) r.stop();
});

function setup() {
  const clock = new FakeClock();
  const { log, lines } = recordingLog();
  const { a, b } = createFakeUdpPair({ autoDeliver: true });
  const tun = new FakeTun();
  const { device, seen } = echoDevice(b.endpoint.key);
  const runner = new TunnelRunner(device, tun, a, { clock, log });
  runners.push(runner);
  const received: number[] = [];
  b.start({ datagram: (d) => received.push(d[2]!), batchEnd: () => {} });
  runner.start();
  return { clock, lines, a, b, tun, seen, runner, received };
}

describe('TunnelRunner: an exception while handling one packet', () => {
  test('is counted and logged once with its context; the rest of the batch and later batches go on', () => {
    const { clock, lines, b, tun, seen, runner, received } = setup();
    tun.inject(packet(1), packet(2, true), packet(3));
    expect(seen.tun).toEqual([1, 3]);
    expect(received).toEqual([1, 3]); // the batch end flushed what the good packets produced
    expect(runner.packetErrors).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.obj).toMatchObject({ event: 'packet-error', stage: 'tun-packet', length: 6, packetErrors: 1 });
    expect(lines[0]!.msg).toMatch(/tun-packet, 6 bytes\): TypeError: cannot read properties of undefined/);
    // never the packet's bytes
    const text = JSON.stringify(lines);
    for (const bytes of ['c0ffee', '192,255,238']) expect(text).not.toContain(bytes);

    // More of them within a minute: counted, not logged; then one line with how many went unlogged.
    tun.inject(packet(4, true), packet(5, true), packet(6));
    const to = parseEndpoint('192.0.2.1:51820');
    b.send(packet(7, true), to);
    b.send(packet(8), to);
    b.flush();
    expect(runner.packetErrors).toBe(4);
    expect(lines).toHaveLength(1);
    expect(seen.tun).toEqual([1, 3, 6]);
    expect(seen.udp).toEqual([8]);
    expect(tun.written.map((p) => p[2])).toEqual([8]);
    clock.advance(60_000);
    tun.inject(packet(9, true));
    expect(lines).toHaveLength(2);
    expect(lines[1]!.obj).toMatchObject({ stage: 'tun-packet', packetErrors: 5, unlogged: 3 });
  });

  test('from the network side is counted with its own stage', () => {
    const { lines, b, seen, runner } = setup();
    const to = parseEndpoint('192.0.2.1:51820');
    b.send(packet(1, true), to);
    b.send(packet(2), to);
    b.flush();
    expect(runner.packetErrors).toBe(1);
    expect(seen.udp).toEqual([2]);
    expect(lines[0]!.obj).toMatchObject({ stage: 'udp-datagram', length: 6 });
  });
});

describe('TunnelRunner: a fatal I/O error', () => {
  test('of the TUN device resolves failure with the reason', async () => {
    const { tun, runner } = setup();
    tun.failReading('EBADFD');
    const error = await runner.failure;
    expect(error).toBeInstanceOf(IoError);
    expect([error.code, error.errno, error.message]).toEqual([
      'tun-read',
      'EBADFD',
      'tun fake0: reading stopped: EBADFD',
    ]);
  });

  test('of the UDP socket resolves failure with the reason', async () => {
    const { a, runner } = setup();
    a.failReceiving('EBADF');
    const error = await runner.failure;
    expect([error.code, error.message]).toEqual(['udp-read', 'udp :51820: receiving stopped: EBADF']);
  });

  test('ends the daemon wait with one error line; no stop-signal listener is left behind', async () => {
    const { tun, runner } = setup();
    const logged: unknown[][] = [];
    const log = {
      info: (...a: unknown[]) => logged.push(['info', ...a]),
      error: (...a: unknown[]) => logged.push(['error', ...a]),
    } as unknown as Logger;
    const before = process.listenerCount('SIGTERM');
    const stopped = untilStopped(log, runner.failure);
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    tun.failReading('EBADFD');
    const reason = await stopped;
    expect('fatal' in reason && reason.fatal.message).toBe('tun fake0: reading stopped: EBADFD');
    expect(logged).toEqual([
      [
        'error',
        { event: 'fatal', code: 'tun-read', err: 'tun fake0: reading stopped: EBADFD' },
        'stopping: tun fake0: reading stopped: EBADFD',
      ],
    ]);
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});
