import { describe, expect, it } from 'vitest';
import {
  ENDPOINT_RECORD_LEN,
  EndpointError,
  endpointFromBytes,
  formatAddress,
  formatEndpoint,
  makeEndpoint,
  parseAddress,
  parseEndpoint,
  resolveEndpoint,
  writeEndpointRecord,
} from './endpoint.js';
import type { Endpoint } from './types.js';

const ifindex = (name: string): number | undefined => ({ eth0: 2, 'mg-d0': 7 })[name];

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EndpointError);
    return (err as EndpointError).code;
  }
  throw new Error('did not throw');
}

describe('parseEndpoint', () => {
  it('parses IPv4 and stores it v4-mapped', () => {
    const ep = parseEndpoint('192.0.2.1:51820');
    expect(Array.from(ep.address)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
    expect(ep.port).toBe(51820);
    expect(ep.scopeId).toBe(0);
    expect(ep.key).toBe('192.0.2.1:51820');
  });

  it('parses bracketed IPv6 into the RFC 5952 key', () => {
    expect(parseEndpoint('[2001:DB8:0:0:0:0:0:1]:51820').key).toBe('[2001:db8::1]:51820');
    expect(parseEndpoint('[2001:db8::1]:1').port).toBe(1);
    expect(parseEndpoint('[::]:65535').key).toBe('[::]:65535');
    expect(parseEndpoint('[::1]:53').key).toBe('[::1]:53');
    expect(parseEndpoint(' [2001:db8::1]:51820 \n').key).toBe('[2001:db8::1]:51820');
  });

  it('treats Yggdrasil 200::/7 and cjdns fc00::/8 like any IPv6', () => {
    const ygg = parseEndpoint('[200:1234:5678:9abc:def0:1234:5678:9abc]:9001');
    expect(ygg.address[0]).toBe(0x02);
    expect(ygg.key).toBe('[200:1234:5678:9abc:def0:1234:5678:9abc]:9001');
    const ygg2 = parseEndpoint('[301:abcd::1]:51820');
    expect(ygg2.key).toBe('[301:abcd::1]:51820');
    expect(parseEndpoint('[fc12:3456:789a::1]:51820').key).toBe('[fc12:3456:789a::1]:51820');
  });

  it('gives one key to an IPv4 endpoint whichever way it is written', () => {
    expect(parseEndpoint('[::ffff:192.0.2.7]:4000').key).toBe('192.0.2.7:4000');
    expect(parseEndpoint('[::ffff:c000:207]:4000').key).toBe('192.0.2.7:4000');
  });

  it('resolves a link-local zone by interface name or index', () => {
    const a = parseEndpoint('[fe80::1%eth0]:51820', { ifindex });
    expect(a.scopeId).toBe(2);
    expect(a.key).toBe('[fe80::1%2]:51820');
    expect(parseEndpoint('[fe80::1%2]:51820').key).toBe(a.key);
    expect(parseEndpoint('[fe80::1%mg-d0]:51820', { ifindex }).scopeId).toBe(7);
    expect(parseEndpoint('[ff02::1%eth0]:51820', { ifindex }).scopeId).toBe(2);
    expect(parseEndpoint('[fe80::1]:51820').scopeId).toBe(0);
  });

  it('resolves a zone through /sys/class/net by default', () => {
    const v = parseEndpoint('[fe80::1%lo]:51820');
    expect(v.scopeId).toBeGreaterThan(0);
  });

  it('rejects bad input with a coded EndpointError', () => {
    const cases: [string, string][] = [
      ['192.0.2.1', 'syntax'],
      ['', 'syntax'],
      ['2001:db8::1:51820', 'syntax'],
      ['[2001:db8::1]51820', 'syntax'],
      ['[2001:db8::1', 'syntax'],
      ['192.0.2.1:0', 'port'],
      ['192.0.2.1:65536', 'port'],
      ['192.0.2.1:', 'port'],
      ['192.0.2.1:+80', 'port'],
      ['192.0.2.1:0x50', 'port'],
      ['256.0.2.1:80', 'address'],
      ['192.0.2:80', 'address'],
      ['192.0.02.1:80', 'address'],
      ['1.2.3.4.5:80', 'address'],
      ['[2001:db8:::1]:80', 'address'],
      ['[1:2:3:4:5:6:7:8:9]:80', 'address'],
      ['[1:2:3:4:5:6:7]:80', 'address'],
      ['[1::2::3]:80', 'address'],
      ['[12345::1]:80', 'address'],
      ['[::g]:80', 'address'],
      ['[:1::]:80', 'address'],
      ['[::1.2.3]:80', 'address'],
      ['example.com:51820', 'hostname'],
      ['localhost:80', 'hostname'],
      ['[fe80::1%nosuchif0]:80', 'zone'],
      ['[2001:db8::1%eth0]:80', 'zone'],
      ['[fe80::1%]:80', 'zone'],
      ['[fe80::1%a/b]:80', 'zone'],
      ['[fe80::1%0]:80', 'zone'],
      ['[::ffff:192.0.2.1%eth0]:80', 'zone'],
    ];
    for (const [text, code] of cases)
      expect([text, codeOf(() => parseEndpoint(text, { ifindex }))]).toEqual([text, code]);
  });

  it('accepts every IPv6 form of RFC 4291 §2.2', () => {
    const forms = [
      '1:2:3:4:5:6:7:8',
      '1::8',
      '1:2:3:4:5:6:7::',
      '::2:3:4:5:6:7:8',
      '::',
      '::1.2.3.4',
      '64:ff9b::192.0.2.33',
      '1:2:3:4:5:6:1.2.3.4',
    ];
    for (const f of forms) expect(() => parseAddress(f)).not.toThrow();
    expect(formatAddress(parseAddress('64:ff9b::192.0.2.33').address)).toBe('64:ff9b::c000:221');
  });
});

describe('formatAddress (RFC 5952)', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ['ABCD:EF01:2345:6789:ABCD:EF01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
  ];
  for (const [input, want] of cases)
    it(`${input} → ${want}`, () => {
      expect(formatAddress(parseAddress(input).address)).toBe(want);
    });
});

describe('endpoint records', () => {
  it('round-trips through the 24-byte record', () => {
    for (const text of ['192.0.2.1:51820', '[2001:db8::1]:443', '[fe80::abcd%4294967295]:1', '[200::1]:65535']) {
      const ep = parseEndpoint(text);
      const rec = new Uint8Array(ENDPOINT_RECORD_LEN + 8);
      writeEndpointRecord(ep, rec, 8);
      const back = endpointFromBytes(rec, 8);
      expect(back.key).toBe(ep.key);
      expect(back.scopeId).toBe(ep.scopeId);
      expect(Array.from(back.address)).toEqual(Array.from(ep.address));
    }
  });

  it('has the documented layout', () => {
    const rec = new Uint8Array(ENDPOINT_RECORD_LEN);
    writeEndpointRecord(parseEndpoint('[fe80::1%258]:51820'), rec);
    expect(Array.from(rec.subarray(16))).toEqual([0xca, 0x6c, 0, 0, 0x02, 0x01, 0, 0]);
    expect(rec[0]).toBe(0xfe);
    expect(rec[15]).toBe(1);
  });

  it('writes records of Endpoints it did not create', () => {
    const plain: Endpoint = { address: parseEndpoint('[2001:db8::5]:9').address, port: 4242, scopeId: 3, key: 'x' };
    const rec = new Uint8Array(ENDPOINT_RECORD_LEN);
    writeEndpointRecord(plain, rec);
    const back = endpointFromBytes(rec);
    expect(back.key).toBe('[2001:db8::5%3]:4242');
    expect(formatEndpoint(plain)).toBe('[2001:db8::5%3]:4242');
  });

  it('drops a scope id on IPv4 and copies the address', () => {
    const rec = new Uint8Array(ENDPOINT_RECORD_LEN);
    writeEndpointRecord(parseEndpoint('198.51.100.9:7'), rec);
    rec[20] = 9;
    const ep = endpointFromBytes(rec);
    expect(ep.scopeId).toBe(0);
    rec[15] = 1;
    expect(ep.key).toBe('198.51.100.9:7');
    expect(ep.address[15]).toBe(9);
  });

  it('rejects a record that does not fit', () => {
    expect(() => endpointFromBytes(new Uint8Array(23))).toThrow(RangeError);
    expect(() => endpointFromBytes(new Uint8Array(30), 7)).toThrow(RangeError);
  });

  it('makes endpoints from 4- or 16-byte addresses', () => {
    expect(makeEndpoint(Uint8Array.of(203, 0, 113, 5), 80).key).toBe('203.0.113.5:80');
    expect(() => makeEndpoint(new Uint8Array(5), 80)).toThrow(EndpointError);
    expect(() => makeEndpoint(new Uint8Array(16), 70000)).toThrow(EndpointError);
  });

  it('is immutable as an object', () => {
    const ep = parseEndpoint('192.0.2.1:1') as { port: number };
    expect(() => {
      ep.port = 2;
    }).toThrow(TypeError);
  });
});

describe('resolveEndpoint', () => {
  it('passes literals through without a lookup', async () => {
    const lookup = (): Promise<string> => Promise.reject(new Error('no lookup expected'));
    expect((await resolveEndpoint('[2001:db8::1]:51820', { lookup })).key).toBe('[2001:db8::1]:51820');
  });

  it('resolves a hostname with the given lookup', async () => {
    const seen: [string, number][] = [];
    const lookup = (host: string, family: 0 | 4 | 6): Promise<string> => {
      seen.push([host, family]);
      return Promise.resolve('2001:db8::7');
    };
    const ep = await resolveEndpoint('gw.example:51820', { lookup, family: 6 });
    expect(ep.key).toBe('[2001:db8::7]:51820');
    expect(seen).toEqual([['gw.example', 6]]);
  });

  it('reports a failed lookup as code resolve, and keeps syntax errors', async () => {
    const lookup = (): Promise<string> => Promise.reject(new Error('ENOTFOUND'));
    await expect(resolveEndpoint('gw.example:51820', { lookup })).rejects.toMatchObject({ code: 'resolve' });
    await expect(resolveEndpoint('gw.example:0', { lookup })).rejects.toMatchObject({ code: 'port' });
    await expect(resolveEndpoint('gw.example', { lookup })).rejects.toMatchObject({ code: 'syntax' });
  });

  it('never repeats a name that may be a key in its error (a key pasted without padding is a valid DNS name)', async () => {
    const keyish = 'q1Wk7ZcX3vNtR0pLmA9sDfGhJ2KbY5eUuIoP6wTz8xC';
    const lookup = (host: string): Promise<string> => Promise.reject(new Error(`getaddrinfo ENOTFOUND ${host}`));
    const err = (await resolveEndpoint(`${keyish}:51820`, { lookup }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'resolve' });
    expect(err.message).not.toContain(keyish.slice(0, 16));
    await expect(resolveEndpoint('gw.example:51820', { lookup })).rejects.toThrow(/"gw\.example"/);
  });

  it('resolves localhost through the system resolver', async () => {
    const ep = await resolveEndpoint('localhost:51820', { family: 4 });
    expect(ep.key).toBe('127.0.0.1:51820');
  });
});
