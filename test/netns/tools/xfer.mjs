#!/usr/bin/env node
// xfer.mjs: a content-checked TCP transfer for namespace tests (plain Node, no dependencies).
//
//   node xfer.mjs serve PORT [--bind ADDR]
//   node xfer.mjs send HOST PORT BYTES SEED [--timeout SECONDS]   client -> server
//   node xfer.mjs recv HOST PORT BYTES SEED [--timeout SECONDS]   server -> client
//
// SEED: 1..128 of A-Z a-z 0-9 . _ : = + - (any text of that alphabet).
// The payload is a deterministic pseudo-random stream: the AES-128-CTR keystream
// (all-zero IV) under the key SHA-256("meshgate-xfer:" + SEED)[0..16). Both ends
// derive it independently, so the receiving end compares every byte with what it
// expects, not only the length, and reports the first differing offset.
//
// Wire: the client opens with one ASCII line "MGX1 <send|recv> <BYTES> <SEED>\n".
//   send: the client streams BYTES bytes and half-closes; the server checks them and
//         answers with one JSON verdict line, then closes.
//   recv: the server streams BYTES bytes and closes; the client checks them.
// The server handles any number of connections, one JSON line per connection on
// stdout, after a first line {"event":"listening",...}. The client prints one JSON
// line {"mode","bytes","expected","sha256","seconds","ok",...} and exits 0 when the
// transfer was complete and every byte matched, 1 on a mismatch or a short/long
// transfer, 2 on usage errors, connection errors and timeouts.

import { createHash } from 'node:crypto';
import net from 'node:net';
import { parseArgs } from './args.mjs';
import { failer, print } from './output.mjs';
import { CHUNK, Keystream, SEED_PATTERN } from './keystream.mjs';

const HEADER_MAX = 256;

/** Checks received chunks against the keystream; tracks length, hash and first mismatch. */
class Checker {
  constructor(seed, expected) {
    this.stream = new Keystream(seed);
    this.expected = expected;
    this.bytes = 0;
    this.hash = createHash('sha256');
    this.firstMismatch = -1;
  }
  push(chunk) {
    this.hash.update(chunk);
    if (this.firstMismatch < 0) {
      const inRange = Math.max(0, Math.min(chunk.length, this.expected - this.bytes));
      const want = this.stream.next(inRange);
      if (!want.equals(chunk.subarray(0, inRange))) {
        let i = 0;
        while (chunk[i] === want[i]) i++;
        this.firstMismatch = this.bytes + i;
      }
      if (this.firstMismatch < 0 && inRange < chunk.length) this.firstMismatch = this.expected; // too long
    }
    this.bytes += chunk.length;
  }
  result() {
    const ok = this.firstMismatch < 0 && this.bytes === this.expected;
    const out = { bytes: this.bytes, expected: this.expected, sha256: this.hash.digest('hex'), ok };
    if (this.firstMismatch >= 0) out.firstMismatch = this.firstMismatch;
    return out;
  }
}

/** Writes `bytes` bytes of the seed's stream to the socket, honouring back-pressure. */
async function writeStream(socket, seed, bytes) {
  const stream = new Keystream(seed);
  const hash = createHash('sha256');
  let left = bytes;
  while (left > 0) {
    const chunk = stream.next(Math.min(CHUNK, left));
    hash.update(chunk);
    left -= chunk.length;
    if (!socket.write(chunk)) {
      await new Promise((resolve, reject) => {
        const onDrain = () => {
          socket.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          socket.off('drain', onDrain);
          reject(new Error('connection closed while sending'));
        };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    }
  }
  return hash.digest('hex');
}

const fail = failer('xfer');

function parseCount(text, what) {
  if (!/^\d+$/.test(text ?? '')) fail(`${what} must be a non-negative integer, got ${text}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) fail(`${what} too large: ${text}`);
  return n;
}

// ---------------------------------------------------------------- server ----

function serve(port, bind) {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const started = process.hrtime.bigint();
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    let header = Buffer.alloc(0);
    let checker = null;
    let mode = null;
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    socket.on('error', (err) => print({ event: 'error', remote, error: err.message }));
    socket.on('data', (data) => {
      if (checker) {
        checker.push(data);
        return;
      }
      if (mode) return; // recv mode: the client has nothing more to say
      header = Buffer.concat([header, data]);
      const nl = header.indexOf(10);
      if (nl < 0) {
        if (header.length > HEADER_MAX) socket.destroy();
        return;
      }
      const [magic, m, bytesText, seed] = header.subarray(0, nl).toString('latin1').split(' ');
      const bytes = Number(bytesText);
      if (
        magic !== 'MGX1' ||
        (m !== 'send' && m !== 'recv') ||
        !Number.isSafeInteger(bytes) ||
        !SEED_PATTERN.test(seed ?? '')
      ) {
        print({ event: 'error', remote, error: 'bad header' });
        socket.destroy();
        return;
      }
      mode = m;
      const rest = header.subarray(nl + 1);
      if (mode === 'send') {
        checker = new Checker(seed, bytes);
        if (rest.length > 0) checker.push(rest);
      } else {
        writeStream(socket, seed, bytes).then(
          (sha256) => {
            socket.end();
            print({ event: 'sent', remote, mode, bytes, sha256, seconds: seconds() });
          },
          (err) => print({ event: 'error', remote, error: err.message }),
        );
      }
    });
    socket.on('end', () => {
      if (!checker) return;
      const verdict = { ...checker.result(), seconds: seconds() };
      print({ event: 'received', remote, mode, ...verdict });
      socket.end(JSON.stringify(verdict) + '\n');
    });
  });
  server.on('error', (err) => fail(`listen: ${err.message}`));
  server.listen({ port, host: bind, ipv6Only: false }, () => {
    const addr = server.address();
    print({ event: 'listening', bind: addr.address, port: addr.port });
  });
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ---------------------------------------------------------------- client ----

function client(mode, host, port, bytes, seed, timeoutSeconds) {
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  const timer = setTimeout(() => {
    print({ mode, bytes: 0, expected: bytes, ok: false, error: `timeout after ${timeoutSeconds}s` });
    process.exit(2);
  }, timeoutSeconds * 1000);
  const finish = (result) => {
    clearTimeout(timer);
    print({ mode, ...result, seconds: seconds() });
    process.exit(result.ok ? 0 : 1);
  };
  const socket = net.connect({ host, port }, () => {
    socket.setNoDelay(true);
    socket.write(`MGX1 ${mode} ${bytes} ${seed}\n`);
    if (mode === 'send') {
      let sentHash = null;
      let reply = '';
      socket.setEncoding('utf8');
      socket.on('data', (text) => (reply += text));
      socket.on('end', () => {
        let verdict;
        try {
          verdict = JSON.parse(reply.trim());
        } catch {
          finish({ bytes: 0, expected: bytes, ok: false, error: `no verdict from server: ${JSON.stringify(reply)}` });
          return;
        }
        const ok = verdict.ok === true && verdict.bytes === bytes && verdict.sha256 === sentHash;
        finish({ bytes: verdict.bytes, expected: bytes, sha256: sentHash, ok, server: verdict });
      });
      writeStream(socket, seed, bytes).then(
        (sha256) => {
          sentHash = sha256;
          socket.end();
        },
        (err) => finish({ bytes: 0, expected: bytes, ok: false, error: err.message }),
      );
    } else {
      const checker = new Checker(seed, bytes);
      socket.on('data', (data) => checker.push(data));
      socket.on('end', () => finish(checker.result()));
    }
  });
  socket.on('error', (err) => {
    clearTimeout(timer);
    print({ mode, bytes: 0, expected: bytes, ok: false, error: err.message });
    process.exit(2);
  });
}

// ------------------------------------------------------------------ main ----

const { positional, options } = parseArgs(process.argv.slice(2), fail);
const [command, ...rest] = positional;
if (command === 'serve') {
  serve(parseCount(rest[0], 'PORT'), options.bind?.at(-1) ?? '::');
} else if (command === 'send' || command === 'recv') {
  const [host, portText, bytesText, seed] = rest;
  if (!host || !seed) fail('usage: xfer.mjs send|recv HOST PORT BYTES SEED [--timeout SECONDS]');
  if (!SEED_PATTERN.test(seed)) fail(`SEED must match ${SEED_PATTERN}`);
  const timeout = options.timeout === undefined ? 300 : parseCount(options.timeout.at(-1), '--timeout');
  client(command, host, parseCount(portText, 'PORT'), parseCount(bytesText, 'BYTES'), seed, timeout);
} else {
  fail('usage: xfer.mjs serve PORT [--bind ADDR] | send|recv HOST PORT BYTES SEED [--timeout SECONDS]');
}
