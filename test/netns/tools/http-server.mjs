#!/usr/bin/env node
// http-server.mjs: a plain HTTP server and client for namespace tests and the demo
// (Node only, no dependencies).
//
//   node http-server.mjs serve --bind ADDR[,ADDR…] [--bind ADDR …] --port P
//   node http-server.mjs get URL [--timeout SECONDS] [--local ADDR]
//   node http-server.mjs sha256 BYTES SEED
//
// serve: listens on every given address (each its own socket; IPv6 sockets are
// IPv6-only, so 0.0.0.0 and :: can be given together) and answers
//   GET /data/<BYTES>?seed=SEED[&rate=BYTES_PER_SECOND]
//       BYTES bytes of the deterministic stream for SEED (paced to `rate` if given)
//   GET /whoami
//       the client's address as this server sees it, one line of text
// It prints JSON lines: {"event":"listening","bind","port"} per socket, then
// {"event":"ready","binds":[…],"port"}; per request {"event":"request","remote",
// "remotePort","local","localPort","method","path"} and when the answer ends
// {"event":"done"|"aborted","remote","path","bytes","seconds"}. IPv4 addresses are
// printed plainly (never as ::ffff:a.b.c.d).
//
// get: fetches URL (from source address --local if given) and prints one JSON line
// {"url","status","bytes","sha256","seconds","ok",…}. For /data/<BYTES>?seed=SEED it
// compares every byte with the stream it expects and reports "expected" and, on a
// difference, "firstMismatch"; for anything else it includes the "body" (up to
// 4 KiB of text). Exit 0: status 200 (and for /data, every byte as expected);
// 1: another status or a content mismatch; 2: usage, connection errors, timeouts.
//
// sha256: prints the SHA-256 (hex) of the first BYTES bytes of SEED's stream.
//
// The stream is the one tools/xfer.mjs uses: the AES-128-CTR keystream (all-zero
// IV) under the key SHA-256("meshgate-xfer:" + SEED)[0..16), so both ends derive it
// independently. SEED: 1..128 of A-Z a-z 0-9 . _ : = + -.

import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from './args.mjs';
import { failer, print } from './output.mjs';
import { CHUNK, Keystream, SEED_PATTERN, streamSha256 } from './keystream.mjs';

const MAX_BYTES = 100 * 1024 ** 3; // 100 GiB: a typo, not a test, beyond that
const MAX_RATE = 10 * 1024 ** 3;
const BODY_KEEP = 4096;

const fail = failer('http-server');

/** "::ffff:192.0.2.1" → "192.0.2.1"; anything else unchanged. */
function plainAddress(address) {
  if (typeof address !== 'string') return null;
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1] : address;
}

function parseCount(text, what, max) {
  if (!/^\d{1,15}$/.test(text ?? '')) fail(`${what} must be a non-negative integer, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n > max) fail(`${what} must be at most ${max}, got ${n}`);
  return n;
}

/** `/data/<bytes>?seed=S[&rate=R]` → {bytes, seed, rate} or an error text; null for other paths. */
function parseDataPath(url) {
  const m = /^\/data\/(\d{1,15})$/.exec(url.pathname);
  if (!m) return url.pathname.startsWith('/data/') ? { error: 'BYTES must be a non-negative integer' } : null;
  const bytes = Number(m[1]);
  if (bytes > MAX_BYTES) return { error: `BYTES must be at most ${MAX_BYTES}` };
  const seed = url.searchParams.get('seed') ?? '';
  if (!SEED_PATTERN.test(seed)) return { error: 'seed must be 1..128 of A-Z a-z 0-9 . _ : = + -' };
  let rate = 0;
  const rateText = url.searchParams.get('rate');
  if (rateText !== null) {
    if (!/^\d{1,12}$/.test(rateText) || Number(rateText) < 1 || Number(rateText) > MAX_RATE)
      return { error: `rate must be 1..${MAX_RATE} bytes per second` };
    rate = Number(rateText);
  }
  return { bytes, seed, rate };
}

// ---------------------------------------------------------------- server ----

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Streams `bytes` bytes of the seed's stream into res, honouring back-pressure and the pace. */
async function writeData(res, seed, bytes, rate, closed) {
  const stream = new Keystream(seed);
  const started = Date.now();
  let sent = 0;
  while (sent < bytes && !closed()) {
    const n = Math.min(CHUNK, bytes - sent, rate > 0 ? Math.max(1024, Math.floor(rate / 20)) : CHUNK);
    const chunk = stream.next(n);
    sent += n;
    if (!res.write(chunk)) {
      await new Promise((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    if (rate > 0) {
      const due = started + (sent / rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    }
  }
  return sent;
}

function handle(req, res) {
  const startedAt = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - startedAt) / 1e9;
  const remote = plainAddress(req.socket.remoteAddress);
  const info = {
    remote,
    remotePort: req.socket.remotePort,
    local: plainAddress(req.socket.localAddress),
    localPort: req.socket.localPort,
  };
  print({ event: 'request', ...info, method: req.method, path: req.url });
  let closed = false;
  res.on('close', () => (closed = true));
  const answer = (status, text) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    print({ event: 'done', remote, path: req.url, status, bytes: Buffer.byteLength(text), seconds: seconds() });
  };

  let url;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    answer(400, 'bad request target\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    answer(405, 'only GET\n');
    return;
  }
  if (url.pathname === '/whoami') {
    answer(200, `${remote}\n`);
    return;
  }
  const data = parseDataPath(url);
  if (data === null) {
    answer(404, 'not found: try /whoami or /data/<bytes>?seed=<seed>\n');
    return;
  }
  if (data.error) {
    answer(400, `${data.error}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.bytes) });
  if (req.method === 'HEAD') {
    res.end();
    print({ event: 'done', remote, path: req.url, status: 200, bytes: 0, seconds: seconds() });
    return;
  }
  writeData(res, data.seed, data.bytes, data.rate, () => closed).then(
    (sent) => {
      if (closed && sent < data.bytes) {
        print({ event: 'aborted', remote, path: req.url, bytes: sent, seconds: seconds() });
        return;
      }
      res.end(() => print({ event: 'done', remote, path: req.url, status: 200, bytes: sent, seconds: seconds() }));
    },
    (err) => {
      print({ event: 'aborted', remote, path: req.url, error: err.message, seconds: seconds() });
      res.destroy();
    },
  );
}

async function serve(binds, port) {
  const servers = [];
  for (const bind of binds) {
    const server = http.createServer(handle);
    server.keepAliveTimeout = 1000;
    await new Promise((resolve) => {
      server.once('error', (err) => fail(`listen on ${bind} port ${port}: ${err.message}`));
      server.listen({ host: bind, port, ipv6Only: net.isIPv6(bind) }, () => {
        const addr = server.address();
        print({ event: 'listening', bind: addr.address, port: addr.port });
        resolve();
      });
    });
    server.on('clientError', (err, socket) => {
      print({ event: 'client-error', remote: plainAddress(socket.remoteAddress), error: err.message });
      socket.destroy();
    });
    servers.push(server);
  }
  print({ event: 'ready', binds, port });
  const stop = () => {
    for (const s of servers) s.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ---------------------------------------------------------------- client ----

function get(target, timeoutSeconds, localAddress) {
  let url;
  try {
    url = new URL(target);
  } catch {
    fail(`not a URL: ${JSON.stringify(target)}`);
  }
  if (url.protocol !== 'http:') fail('only http:// URLs');
  if (localAddress !== undefined && net.isIP(localAddress) === 0)
    fail(`--local must be an IP address: ${localAddress}`);
  const data = parseDataPath(url);
  if (data?.error) fail(`${url.pathname}: ${data.error}`);

  const startedAt = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - startedAt) / 1e9;
  const base = { url: target, ...(localAddress ? { local: localAddress } : {}) };
  let received = 0;
  let finished = false;
  const finish = (result, code) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    print({ ...base, ...result, seconds: seconds() });
    process.exit(code);
  };
  const timer = setTimeout(() => {
    finish({ bytes: received, ok: false, error: `timeout after ${timeoutSeconds}s` }, 2);
  }, timeoutSeconds * 1000);

  const req = http.get(url, { agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
    const hash = createHash('sha256');
    const expected = data ? new Keystream(data.seed) : null;
    let firstMismatch = -1;
    let body = '';
    res.on('data', (chunk) => {
      hash.update(chunk);
      if (expected && firstMismatch < 0) {
        const inRange = Math.max(0, Math.min(chunk.length, data.bytes - received));
        let checked = 0;
        while (checked < inRange && firstMismatch < 0) {
          const n = Math.min(CHUNK, inRange - checked);
          const want = expected.next(n);
          const got = chunk.subarray(checked, checked + n);
          if (!want.equals(got)) {
            let i = 0;
            while (got[i] === want[i]) i++;
            firstMismatch = received + checked + i;
          }
          checked += n;
        }
        if (firstMismatch < 0 && inRange < chunk.length) firstMismatch = data.bytes; // longer than expected
      } else if (!expected && body.length < BODY_KEEP) {
        body += chunk.toString('utf8').slice(0, BODY_KEEP - body.length);
      }
      received += chunk.length;
    });
    res.on('error', (err) => finish({ status: res.statusCode, bytes: received, ok: false, error: err.message }, 2));
    res.on('aborted', () =>
      finish({ status: res.statusCode, bytes: received, ok: false, error: 'connection closed mid-answer' }, 2),
    );
    res.on('end', () => {
      const result = { status: res.statusCode, bytes: received, sha256: hash.digest('hex') };
      if (expected) {
        result.expected = data.bytes;
        if (firstMismatch >= 0) result.firstMismatch = firstMismatch;
        result.ok = res.statusCode === 200 && firstMismatch < 0 && received === data.bytes;
      } else {
        result.body = body;
        result.ok = res.statusCode === 200;
      }
      finish(result, result.ok ? 0 : 1);
    });
  });
  req.on('error', (err) => finish({ bytes: received, ok: false, error: err.message }, 2));
}

// ------------------------------------------------------------------ main ----

const USAGE =
  'usage: http-server.mjs serve --bind ADDR[,ADDR…] --port P | get URL [--timeout S] [--local ADDR] | sha256 BYTES SEED';
const { positional, options } = parseArgs(process.argv.slice(2), fail);
const [command, ...rest] = positional;
const one = (name) => {
  const v = options[name];
  if (v !== undefined && v.length > 1) fail(`--${name} given twice`);
  return v?.[0];
};
if (command === 'serve') {
  if (rest.length > 0) fail(USAGE);
  const binds = (options.bind ?? []).flatMap((b) => b.split(',')).filter(Boolean);
  if (binds.length === 0) fail('serve needs at least one --bind ADDR');
  for (const b of binds) if (net.isIP(b) === 0) fail(`--bind: not an IP address: ${JSON.stringify(b)}`);
  if (new Set(binds).size !== binds.length) fail('--bind: an address is given twice');
  const portText = one('port');
  if (portText === undefined) fail('serve needs --port P');
  const port = parseCount(portText, '--port', 65535);
  if (port < 1) fail('--port must be 1..65535');
  await serve(binds, port);
} else if (command === 'get') {
  if (rest.length !== 1) fail(USAGE);
  const timeoutText = one('timeout');
  const timeout = timeoutText === undefined ? 120 : parseCount(timeoutText, '--timeout', 86400);
  if (timeout < 1) fail('--timeout must be at least 1');
  get(rest[0], timeout, one('local'));
} else if (command === 'sha256') {
  if (rest.length !== 2) fail(USAGE);
  if (!SEED_PATTERN.test(rest[1])) fail(`SEED must match ${SEED_PATTERN}`);
  process.stdout.write(`${streamSha256(parseCount(rest[0], 'BYTES', MAX_BYTES), rest[1])}\n`);
} else {
  fail(USAGE);
}
