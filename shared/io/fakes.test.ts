import { describe, expect, it } from 'vitest';
import { parseEndpoint } from './endpoint.js';
import { createFakeUdpPair, FakeNetwork, FakeTun, type FakeDatagram } from './fakes.js';
import type { Endpoint, TunHandler, UdpHandler } from './types.js';

const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);

/** A handler that records copies of what it got and the batch boundaries. */
function tunRecorder(): TunHandler & { packets: number[][]; batches: number[] } {
  let n = 0;
  const rec = {
    packets: [] as number[][],
    batches: [] as number[],
    packet(data: Uint8Array) {
      rec.packets.push(Array.from(data));
      n++;
    },
    batchEnd() {
      rec.batches.push(n);
      n = 0;
    },
  };
  return rec;
}

function udpRecorder(): UdpHandler & { got: { data: number[]; from: string }[]; batches: number } {
  const rec = {
    got: [] as { data: number[]; from: string }[],
    batches: 0,
    datagram(data: Uint8Array, from: Endpoint) {
      rec.got.push({ data: Array.from(data), from: from.key });
    },
    batchEnd() {
      rec.batches++;
    },
  };
  return rec;
}

describe('FakeTun', () => {
  it('delivers injected packets in batches of `slots`, then batchEnd', () => {
    const tun = new FakeTun('t0', { slots: 2 });
    const h = tunRecorder();
    tun.start(h);
    expect(tun.inject(bytes(1), bytes(2, 2), bytes(3))).toBe(3);
    expect(h.packets).toEqual([[1], [2, 2], [3]]);
    expect(h.batches).toEqual([2, 1]);
  });

  it('poisons a view once the handler returns (catches kept views)', () => {
    const tun = new FakeTun();
    let kept: Uint8Array | undefined;
    tun.start({ packet: (d) => (kept = d), batchEnd: () => {} });
    tun.inject(bytes(1, 2, 3));
    expect(Array.from(kept!)).toEqual([0xee, 0xee, 0xee]);
  });

  it('keeps written packets (copies) once flushed, and flushes a full batch itself', () => {
    const tun = new FakeTun('t0', { slots: 3 });
    const p = bytes(9, 9);
    tun.write(p);
    p[0] = 0;
    expect(tun.written).toEqual([]);
    expect(tun.pendingWrites).toBe(1);
    tun.flush();
    expect(tun.written).toEqual([bytes(9, 9)]);
    tun.write(bytes(1));
    tun.write(bytes(2));
    tun.write(bytes(3));
    expect(tun.takeWritten()).toEqual([bytes(9, 9), bytes(1), bytes(2), bytes(3)]);
    expect(tun.written).toEqual([]);
  });

  it('counts write errors instead of throwing', () => {
    const tun = new FakeTun();
    tun.failNextWrites(1);
    tun.write(bytes(1));
    tun.write(bytes(2));
    tun.write(new Uint8Array(0));
    tun.flush();
    expect(tun.written).toEqual([bytes(2)]);
    expect(tun.writeErrors).toBe(2);
    tun.close();
    tun.close();
    tun.write(bytes(3));
    expect(tun.writeErrors).toBe(3);
    expect(tun.inject(bytes(4))).toBe(0);
  });

  it('flushes on close and refuses a second start', () => {
    const tun = new FakeTun();
    tun.start(tunRecorder());
    expect(() => tun.start(tunRecorder())).toThrow(/already started/);
    tun.write(bytes(5));
    tun.close();
    expect(tun.written).toEqual([bytes(5)]);
    expect(() => new FakeTun().inject(bytes(1))).toThrow(/before start/);
  });
});

describe('FakeNetwork', () => {
  it('delivers on deliver(), with the sender endpoint as source', () => {
    const { network, a, b } = createFakeUdpPair();
    const hb = udpRecorder();
    b.start(hb);
    a.send(bytes(1, 2), b.endpoint);
    a.send(bytes(3), b.endpoint);
    expect(network.pending).toBe(0); // not flushed yet
    a.flush();
    expect(network.pending).toBe(2);
    expect(hb.got).toEqual([]);
    expect(network.deliver()).toBe(2);
    expect(hb.got).toEqual([
      { data: [1, 2], from: '192.0.2.1:51820' },
      { data: [3], from: '192.0.2.1:51820' },
    ]);
    expect(hb.batches).toBe(1);
    expect(network.delivered).toBe(2);
  });

  it('copies on send: later changes by the sender do not leak', () => {
    const { network, a, b } = createFakeUdpPair();
    const hb = udpRecorder();
    b.start(hb);
    const buf = bytes(7);
    a.send(buf, b.endpoint);
    buf[0] = 8;
    a.flush();
    network.run();
    expect(hb.got[0]!.data).toEqual([7]);
  });

  it('lets the next round carry replies; run() goes until quiet', () => {
    const { network, a, b } = createFakeUdpPair();
    let rounds = 0;
    // b echoes with the value decremented; a bounces back while > 0
    b.start({
      datagram: (d, from) => b.send(bytes(d[0]! - 1), from),
      batchEnd: () => b.flush(),
    });
    a.start({
      datagram: (d, from) => {
        rounds++;
        if (d[0]! > 0) a.send(bytes(d[0]!), from);
      },
      batchEnd: () => a.flush(),
    });
    a.send(bytes(3), b.endpoint);
    a.flush();
    expect(network.deliver()).toBe(1); // only b got it; its reply waits
    expect(network.pending).toBe(1);
    network.run();
    expect(rounds).toBe(3); // a gets 2, 1, 0 and stops at 0
    expect(network.pending).toBe(0);
  });

  it('delivers at flush with autoDeliver, never re-entrantly', () => {
    const { a, b } = createFakeUdpPair({ autoDeliver: true });
    const order: string[] = [];
    let depth = 0;
    b.start({
      datagram: (d, from) => {
        depth++;
        order.push(`b got ${d[0]} at depth ${depth}`);
        b.send(bytes(d[0]! + 1), from);
        b.flush(); // queues: the outer run delivers it after this call returns
        order.push(`b flushed ${d[0]! + 1}`);
        depth--;
      },
      batchEnd: () => {},
    });
    a.start({ datagram: (d) => order.push(`a got ${d[0]}`), batchEnd: () => {} });
    a.send(bytes(1), b.endpoint);
    a.flush();
    expect(order).toEqual(['b got 1 at depth 1', 'b flushed 2', 'a got 2']);
  });

  it('drops, duplicates and captures through the filter', () => {
    const { network, a, b } = createFakeUdpPair({ capture: true });
    const hb = udpRecorder();
    b.start(hb);
    network.filter = (d) => (d.data[0] === 1 ? 'drop' : d.data[0] === 2 ? 'duplicate' : 'deliver');
    a.send(bytes(1), b.endpoint);
    a.send(bytes(2), b.endpoint);
    a.send(bytes(3), b.endpoint);
    a.flush();
    network.run();
    expect(hb.got.map((g) => g.data[0])).toEqual([2, 2, 3]);
    expect(network.dropped).toBe(1);
    expect(network.captured.map((d) => [d.from.key, d.to.key, d.data[0]])).toEqual([
      ['192.0.2.1:51820', '192.0.2.2:51820', 1],
      ['192.0.2.1:51820', '192.0.2.2:51820', 2],
      ['192.0.2.1:51820', '192.0.2.2:51820', 3],
    ]);
  });

  it('replays and forges with inject()', () => {
    const { network, a, b } = createFakeUdpPair({ capture: true });
    const hb = udpRecorder();
    b.start(hb);
    a.send(bytes(5), b.endpoint);
    a.flush();
    network.run();
    const forged: FakeDatagram = { ...network.captured[0]!, from: parseEndpoint('[2001:db8::66]:1234') };
    network.inject(network.captured[0]!);
    network.inject(forged);
    network.run();
    expect(hb.got.map((g) => g.from)).toEqual(['192.0.2.1:51820', '192.0.2.1:51820', '[2001:db8::66]:1234']);
  });

  it('batches per receiver in send order and respects the receiver slots', () => {
    const network = new FakeNetwork();
    const a = network.bind('192.0.2.1:1000');
    const b = network.bind('[2001:db8::2]:2000', { slots: 2 });
    const c = network.bind('192.0.2.3:3000');
    const hb = udpRecorder();
    const hc = udpRecorder();
    b.start(hb);
    c.start(hc);
    for (const [to, v] of [
      [b, 1],
      [b, 2],
      [b, 3],
      [c, 4],
      [b, 5],
    ] as const)
      a.send(bytes(v), to.endpoint);
    a.flush();
    network.run();
    expect(hb.got.map((g) => g.data[0])).toEqual([1, 2, 3, 5]);
    expect(hb.batches).toBe(3); // [1,2] [3] … [5]
    expect(hc.got.map((g) => g.data[0])).toEqual([4]);
  });

  it('loses datagrams to nobody, to unstarted and to closed binds (UDP semantics)', () => {
    const { network, a, b } = createFakeUdpPair();
    a.send(bytes(1), parseEndpoint('198.51.100.1:9'));
    a.send(bytes(2), b.endpoint); // b not started
    a.flush();
    network.run();
    expect(network.undeliverable).toBe(2);
    expect(a.sendErrors).toBe(0);
    b.close();
    a.send(bytes(3), b.endpoint);
    a.flush();
    network.run();
    expect(network.undeliverable).toBe(3);
  });

  it('counts send errors and refuses a taken address; port 0 picks a port', () => {
    const network = new FakeNetwork();
    const a = network.bind('192.0.2.1:0');
    const a2 = network.bind('192.0.2.1:0');
    expect(a.port).toBeGreaterThanOrEqual(49152);
    expect(a2.port).not.toBe(a.port);
    expect(() => network.bind(`192.0.2.1:${a.port}`)).toThrow(/in use/);
    a.failNextSends(1);
    a.send(bytes(1), a2.endpoint);
    a.send(new Uint8Array(70000), a2.endpoint);
    expect(a.sendErrors).toBe(2);
    a.close();
    a.send(bytes(1), a2.endpoint);
    expect(a.sendErrors).toBe(3);
    expect(network.bind(`192.0.2.1:${a.port}`).port).toBe(a.port); // free again after close
  });

  it('poisons a datagram view once the handler returns', () => {
    const { network, a, b } = createFakeUdpPair();
    let kept: Uint8Array | undefined;
    b.start({ datagram: (d) => (kept = d), batchEnd: () => {} });
    a.send(bytes(1, 2), b.endpoint);
    a.flush();
    network.run();
    expect(Array.from(kept!)).toEqual([0xee, 0xee]);
  });

  it('stops a run that never ends', () => {
    const { network, a, b } = createFakeUdpPair({ maxRounds: 50 });
    a.start({ datagram: (d, from) => a.send(d, from), batchEnd: () => a.flush() });
    b.start({ datagram: (d, from) => b.send(d, from), batchEnd: () => b.flush() });
    a.send(bytes(1), b.endpoint);
    a.flush();
    expect(() => network.run()).toThrow(/still busy/);
  });
});
