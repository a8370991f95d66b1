#!/usr/bin/env node
// dns-server.mjs: a tiny DNS responder for namespace tests (node:dgram, no dependencies).
//
//   node dns-server.mjs --bind ADDR [--bind ADDR …] --name NAME --a IPV4 --aaaa IPV6 [--port P]
//
// Answers a query (one question, class IN) for NAME with its A or AAAA record
// (TTL 60), any other type of NAME with no answer, any other name with
// NXDOMAIN, and drops what it cannot parse. Prints JSON lines:
// {"event":"listening","bind","port"} per socket, {"event":"ready"}, and per
// query {"event":"query","remote","name","type","answered"}.
//
// Wire format: RFC 1035 §4.1 (header, question, resource record).

import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from './args.mjs';
import { failer, print } from './output.mjs';

const HEADER_BYTES = 12;
const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const TTL_S = 60;
const FLAG_QR = 0x8000;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const RCODE_NXDOMAIN = 3;
/** A compression pointer to the question's name, right after the header. */
const NAME_POINTER = 0xc000 | HEADER_BYTES;

const fail = failer('dns-server');
const { options } = parseArgs(process.argv.slice(2), fail);
const one = (key) => {
  const v = options[key];
  if (!v || v.length !== 1) fail(`--${key} is needed once`);
  return v[0];
};
const binds = (options.bind ?? []).flatMap((b) => b.split(','));
if (binds.length === 0) fail('--bind is needed');
const name = one('name').toLowerCase().replace(/\.$/, '');
const a = one('a');
const aaaa = one('aaaa');
if (net.isIPv4(a) === false || net.isIPv6(aaaa) === false) fail('--a needs an IPv4, --aaaa an IPv6 address');
const port = Number(options.port?.[0] ?? 53);

const ipv4Bytes = (text) => Buffer.from(text.split('.').map(Number));
function ipv6Bytes(text) {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const words = (s) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = tail === null ? [] : words(tail);
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** The question: name, type, class and where it ends; null when malformed. */
function question(msg) {
  if (msg.length < HEADER_BYTES || msg.readUInt16BE(4) !== 1) return null;
  const labels = [];
  let at = HEADER_BYTES;
  for (;;) {
    if (at >= msg.length) return null;
    const len = msg[at];
    if (len === 0) break;
    if (len > 63 || at + 1 + len > msg.length) return null;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  at += 1;
  if (at + 4 > msg.length) return null;
  return {
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(at),
    klass: msg.readUInt16BE(at + 2),
    end: at + 4,
  };
}

function answer(msg, q) {
  const known = q.name === name;
  const rdata = known && q.type === TYPE_A ? ipv4Bytes(a) : known && q.type === TYPE_AAAA ? ipv6Bytes(aaaa) : null;
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
  header.writeUInt16BE(FLAG_QR | (msg.readUInt16BE(2) & FLAG_RD) | FLAG_RA | (known ? 0 : RCODE_NXDOMAIN), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rdata ? 1 : 0, 6);
  const parts = [header, msg.subarray(HEADER_BYTES, q.end)];
  if (rdata) {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(NAME_POINTER, 0);
    rr.writeUInt16BE(q.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL_S, 6);
    rr.writeUInt16BE(rdata.length, 10);
    parts.push(rr, rdata);
  }
  return { packet: Buffer.concat(parts), answered: rdata !== null };
}

let open = 0;
for (const bind of binds) {
  const socket = dgram.createSocket({ type: net.isIPv6(bind) ? 'udp6' : 'udp4', ipv6Only: net.isIPv6(bind) });
  socket.on('message', (msg, rinfo) => {
    const q = question(msg);
    if (q === null || q.klass !== CLASS_IN) return;
    const { packet, answered } = answer(msg, q);
    socket.send(packet, rinfo.port, rinfo.address);
    print({ event: 'query', remote: rinfo.address, name: q.name, type: q.type, answered });
  });
  socket.on('error', (e) => fail(`${bind}: ${e.message}`));
  socket.bind(port, bind, () => {
    print({ event: 'listening', bind, port });
    if (++open === binds.length) print({ event: 'ready' });
  });
}
