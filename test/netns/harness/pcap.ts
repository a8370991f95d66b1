// Packet capture: tcpdump in a namespace (Capture) and a small reader for the
// UDP datagrams of a classic pcap file.

import fs from 'node:fs';
import { formatIp } from '../../../shared/net/address.js';
import { PROTO } from '../../support/ip-packets.js';
import type { Proc } from './process.js';
import { sleep } from './sleep.js';

export interface UdpPacket {
  /** seconds since the epoch (fractional) */
  time: number;
  family: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/** pcap link types (tcpdump.org linktypes): Ethernet, or Linux cooked capture v1 (`-i any`). */
const LINKTYPE = { ethernet: 1, linuxSll: 113 } as const;
/** EtherTypes (IEEE 802). */
const ETHERTYPE = { ipv4: 0x0800, ipv6: 0x86dd, vlan: 0x8100 } as const;

interface PcapRecord {
  /** seconds since the epoch (fractional) */
  time: number;
  frame: Buffer;
  /** the file ends inside this record */
  truncated: boolean;
}

/** The link type and records of a classic pcap file (either byte order, micro- or nanosecond timestamps). */
function readPcap(data: Buffer): { linkType: number; records: PcapRecord[] } {
  if (data.length < 24) return { linkType: 0, records: [] };
  const magicLE = data.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nano = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = data.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) throw new Error('not a classic pcap file');
    le = false;
    nano = magicBE === 0xa1b23c4d;
  }
  const u32 = (off: number) => (le ? data.readUInt32LE(off) : data.readUInt32BE(off));
  const records: PcapRecord[] = [];
  for (let off = 24; off + 16 <= data.length;) {
    const time = u32(off) + u32(off + 4) / (nano ? 1e9 : 1e6);
    const caplen = u32(off + 8);
    const frame = data.subarray(off + 16, off + 16 + caplen);
    records.push({ time, frame, truncated: frame.length < caplen });
    off += 16 + caplen;
  }
  return { linkType: u32(20) & 0x0fffffff, records };
}

/** Number of records (packets of any protocol) in a classic pcap file, a truncated last one included. */
export function pcapRecordCount(data: Buffer): number {
  return readPcap(data).records.length;
}

/**
 * The UDP datagrams of a classic pcap file (either byte order, micro- or nanosecond
 * timestamps; Ethernet with optional 802.1Q tag, or Linux cooked capture). Other
 * packets, IP fragments and IPv6 extension headers are skipped.
 */
export function parsePcap(data: Buffer): UdpPacket[] {
  if (data.length < 24) return [];
  const { linkType, records } = readPcap(data);
  if (linkType !== LINKTYPE.ethernet && linkType !== LINKTYPE.linuxSll)
    throw new Error(`unsupported link type ${linkType}`);
  const out: UdpPacket[] = [];
  for (const { time, frame, truncated } of records) {
    if (truncated) break; // truncated file
    let etherType: number;
    let l3: number;
    if (linkType === LINKTYPE.ethernet) {
      if (frame.length < 14) continue;
      etherType = frame.readUInt16BE(12);
      l3 = 14;
      if (etherType === ETHERTYPE.vlan && frame.length >= 18) {
        etherType = frame.readUInt16BE(16);
        l3 = 18;
      }
    } else {
      if (frame.length < 16) continue;
      etherType = frame.readUInt16BE(14);
      l3 = 16;
    }
    let family: 4 | 6;
    let src: string;
    let dst: string;
    let l4: number;
    let l4End: number;
    if (etherType === ETHERTYPE.ipv4) {
      if (frame.length < l3 + 20) continue;
      const ihl = (frame[l3]! & 0x0f) * 4;
      const fragment = frame.readUInt16BE(l3 + 6) & 0x3fff;
      if (frame[l3 + 9] !== PROTO.udp || fragment !== 0) continue;
      family = 4;
      src = formatIp(frame.subarray(l3 + 12, l3 + 16));
      dst = formatIp(frame.subarray(l3 + 16, l3 + 20));
      l4 = l3 + ihl;
      l4End = Math.min(frame.length, l3 + frame.readUInt16BE(l3 + 2));
    } else if (etherType === ETHERTYPE.ipv6) {
      if (frame.length < l3 + 40 || frame[l3 + 6] !== PROTO.udp) continue;
      family = 6;
      src = formatIp(frame.subarray(l3 + 8, l3 + 24));
      dst = formatIp(frame.subarray(l3 + 24, l3 + 40));
      l4 = l3 + 40;
      l4End = Math.min(frame.length, l4 + frame.readUInt16BE(l3 + 4));
    } else continue;
    if (l4End < l4 + 8) continue;
    const udpLen = frame.readUInt16BE(l4 + 4);
    out.push({
      time,
      family,
      src,
      dst,
      srcPort: frame.readUInt16BE(l4),
      dstPort: frame.readUInt16BE(l4 + 2),
      payload: Buffer.from(frame.subarray(l4 + 8, Math.min(l4End, l4 + udpLen))),
    });
  }
  return out;
}

/** A running tcpdump. */
export class Capture {
  constructor(
    readonly proc: Proc,
    readonly file: string,
  ) {}

  /** Ends tcpdump and returns the captured UDP datagrams. */
  async stop(): Promise<UdpPacket[]> {
    await sleep(200); // let the last packets reach the file
    await this.proc.stop();
    return parsePcap(fs.readFileSync(this.file));
  }
}
