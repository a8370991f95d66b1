#!/usr/bin/env node
// admin-probe.mjs: reaches (or fails to reach) the gateway's admin listener from
// inside a namespace, for test/netns/admin.test.ts (Node only, no dependencies).
//
//   node admin-probe.mjs get URL [--token-file FILE] [--timeout SECONDS]
//   node admin-probe.mjs connect HOST PORT [--timeout SECONDS]
//
// get: one HTTP GET (with "Authorization: Bearer <the file's first line>" when
// --token-file is given) and one JSON line {"status","contentType","body"} (body
// as text, whole), or {"error"} when no answer came. Exit 0 when an answer came.
//
// connect: one TCP connect and one JSON line {"result","ms"}: result is
// "connected", "refused" (RST), "timeout" (no answer: dropped) or "error" with
// the errno in "code". Exit 0 always (the result is the finding).

import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from './args.mjs';

const DEFAULT_TIMEOUT_S = 5;

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(message) {
  process.stderr.write(`admin-probe: ${message}\n`);
  process.exit(2);
}

function timeoutOf(options) {
  const text = options.timeout?.[0] ?? String(DEFAULT_TIMEOUT_S);
  const s = Number(text);
  if (!(s > 0 && s <= 600)) fail(`--timeout must be 0..600 seconds, got ${JSON.stringify(text)}`);
  return s * 1000;
}

function get(url, options) {
  const headers = {};
  const tokenFile = options['token-file']?.[0];
  if (tokenFile !== undefined) {
    const token = readFileSync(tokenFile, 'utf8').split('\n')[0].trim();
    headers.authorization = `Bearer ${token}`;
  }
  const limit = timeoutOf(options);
  const failed = (e) => {
    print({ error: `${e.code ?? e.name}: ${e.message}` });
    process.exitCode = 1;
  };
  const req = http.get(url, { headers }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      clearTimeout(timer);
      const body = Buffer.concat(chunks).toString('utf8');
      print({ status: res.statusCode, contentType: res.headers['content-type'] ?? null, body });
    });
    res.on('error', failed);
  });
  const timer = setTimeout(
    () => req.destroy(Object.assign(new Error(`no answer within ${limit} ms`), { code: 'timeout' })),
    limit,
  );
  req.on('error', (e) => {
    clearTimeout(timer);
    failed(e);
  });
}

function connect(host, portText, options) {
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad port ${JSON.stringify(portText)}`);
  const limit = timeoutOf(options);
  const started = Date.now();
  const socket = net.createConnection({ host, port });
  const done = (result, code) => {
    clearTimeout(timer);
    socket.destroy();
    print({ result, ...(code ? { code } : {}), ms: Date.now() - started });
  };
  const timer = setTimeout(() => done('timeout'), limit);
  socket.once('connect', () => done('connected'));
  socket.once('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error', e.code));
}

const { positional, options } = parseArgs(process.argv.slice(2), fail);
const [command, ...rest] = positional;
if (command === 'get' && rest.length === 1) get(rest[0], options);
else if (command === 'connect' && rest.length === 2) connect(rest[0], rest[1], options);
else fail('usage: get URL [--token-file F] [--timeout S] | connect HOST PORT [--timeout S]');
