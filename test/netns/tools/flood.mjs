#!/usr/bin/env node
// flood.mjs: a bounded flood of WireGuard handshake initiations with a valid MAC1,
// for namespace tests of a responder under load (cookies, rate limits).
//
//   node flood.mjs --key RESPONDER_PUBLIC_KEY_B64 --port PORT --target4 ADDR
//                  [--target6 ADDR] --sources-file FILE [--ports N] --rate PPS
//                  --duration SECONDS [--max PACKETS]
//
// Every source address in FILE (one per line, IPv4 and/or IPv6; they must be
// local addresses of the namespace) gets N UDP sockets on ephemeral ports, so the
// flood comes from many addresses and ports. IPv4 sources send to --target4,
// IPv6 sources to --target6. Each message is a 148-byte type-1 initiation whose
// sender index, ephemeral, sealed static and sealed timestamp are random bytes,
// MAC1 = keyed BLAKE2s-128 (key BLAKE2s-256("mac1----" || responder public key))
// over the first 116 bytes, MAC2 zero: it passes the responder's MAC1 check and
// costs it a cookie reply (under load) or a failed Noise attempt (not under load).
//
// The sockets count what comes back: cookie replies (type 3, 64 bytes) and
// anything else. The process is bounded: it stops by itself after --duration
// seconds or --max packets (default rate × duration), and a watchdog ends it
// 5 s after that in any case. Output: JSON lines on stdout, first
// {"event":"flooding",...} once all sockets are bound, one {"event":"tick",...}
// per second, last {"event":"done","sent","seconds","rate","cookieReplies",...}.
// SIGTERM/SIGINT stop it early (the "done" line is still printed).

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
// The wire formats and MAC1 come from the compiled protocol core (dist/, built
// before any namespace test runs), so they are defined once.
import { CookieGenerator } from '../../../dist/shared/wireguard/cookie.js';
import { COOKIE_REPLY_SIZE, INITIATION_SIZE, MessageType } from '../../../dist/shared/wireguard/messages.js';

/** Distinct messages prepared up front and sent in turn (MAC1 per message, not per send). */
const POOL_SIZE = 4096;
/** Pacing: sends happen in ticks; one tick never sends more than this (no catch-up bursts after a stall). */
const TICK_MS = 2;
const MAX_PER_TICK = 1024;
const WATCHDOG_GRACE_MS = 5_000;

function usage(msg) {
  process.stderr.write(`flood.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { ports: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (!k?.startsWith('--') || v === undefined) usage(`bad argument ${k}`);
    opts[k.slice(2)] = v;
  }
  const num = (name, def) => {
    const n = Number(opts[name] ?? def);
    if (!Number.isFinite(n) || n <= 0) usage(`--${name} must be a positive number`);
    return n;
  };
  const key = Buffer.from(opts.key ?? '', 'base64');
  if (key.length !== 32) usage('--key must be a base64 public key (32 bytes)');
  if (!opts['sources-file']) usage('--sources-file is required');
  const sources = fs
    .readFileSync(opts['sources-file'], 'utf8')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (sources.length === 0) usage('no sources');
  const rate = num('rate');
  const duration = num('duration');
  return {
    key,
    port: num('port'),
    target4: opts.target4,
    target6: opts.target6,
    sources,
    ports: Math.floor(num('ports', 1)),
    rate,
    duration,
    max: Math.floor(num('max', Math.ceil(rate * duration))),
  };
}

/** The message pool: random initiations with a valid MAC1 for `responderKey`. */
function buildPool(responderKey) {
  const macs = new CookieGenerator(responderKey); // holds no cookie: MAC2 stays zero
  const pool = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    const msg = randomBytes(INITIATION_SIZE);
    msg[0] = MessageType.Initiation;
    msg.fill(0, 1, 4); // reserved
    macs.addMacs(msg, 0);
    pool.push(msg);
  }
  return pool;
}

function bind(socket, address) {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const pool = buildPool(o.key);
  const counts = { sent: 0, sendErrors: 0, cookieReplies: 0, otherReplies: 0 };
  const senders = [];
  for (const address of o.sources) {
    const v6 = address.includes(':');
    const target = v6 ? o.target6 : o.target4;
    if (!target) usage(`no --target${v6 ? 6 : 4} for source ${address}`);
    for (let p = 0; p < o.ports; p++) {
      const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
      socket.on('message', (m) => {
        if (m.length === COOKIE_REPLY_SIZE && m[0] === MessageType.CookieReply) counts.cookieReplies++;
        else counts.otherReplies++;
      });
      await bind(socket, address);
      socket.on('error', () => counts.sendErrors++);
      senders.push({ socket, target });
    }
  }
  const log = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  log({ event: 'flooding', sources: o.sources.length, sockets: senders.length, rate: o.rate, duration: o.duration });

  const start = performance.now();
  const deadline = start + o.duration * 1000;
  let next = 0; // round robin over sockets and pool
  let stopping = false;
  let ticker = null;
  let lastTick = start;
  let lastSent = 0;
  let lastCookies = 0;

  const finish = () => {
    if (stopping) return;
    stopping = true;
    clearTimeout(ticker);
    clearInterval(progress);
    const seconds = (performance.now() - start) / 1000;
    // give replies to the last packets a moment to arrive, then close
    setTimeout(() => {
      log({
        event: 'done',
        ...counts,
        seconds: Math.round(seconds * 1000) / 1000,
        rate: Math.round(counts.sent / seconds),
      });
      for (const s of senders) s.socket.close();
      process.exit(0);
    }, 200);
  };
  const watchdog = setTimeout(() => process.exit(3), o.duration * 1000 + WATCHDOG_GRACE_MS);
  watchdog.unref();

  const tick = () => {
    const now = performance.now();
    if (now >= deadline || counts.sent >= o.max) return finish();
    const due = Math.min(MAX_PER_TICK, Math.floor(((now - start) / 1000) * o.rate) - counts.sent, o.max - counts.sent);
    for (let i = 0; i < due; i++) {
      const s = senders[next % senders.length];
      s.socket.send(pool[next % POOL_SIZE], o.port, s.target); // errors: the socket's 'error' event
      next++;
      counts.sent++;
    }
    ticker = setTimeout(tick, TICK_MS);
  };
  const progress = setInterval(() => {
    const now = performance.now();
    const dt = (now - lastTick) / 1000;
    log({
      event: 'tick',
      t: Math.round((now - start) / 100) / 10,
      rate: Math.round((counts.sent - lastSent) / dt),
      cookieRate: Math.round((counts.cookieReplies - lastCookies) / dt),
    });
    lastTick = now;
    lastSent = counts.sent;
    lastCookies = counts.cookieReplies;
  }, 1000);
  process.once('SIGTERM', finish);
  process.once('SIGINT', finish);
  tick();
}

main().catch((err) => {
  process.stderr.write(`flood.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});
