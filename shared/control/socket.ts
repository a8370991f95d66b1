// The control socket of a running tunnel: a unix socket at
// /var/run/meshgate/NAME.sock (mode 0600, root only). A client writes one
// JSON request line and reads one JSON response line.
//
//   request:  {"op":"status"}
//   response: {"ok":true,"status":{…TunnelStatus…}} | {"ok":false,"error":"…"}

import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';

export const CONTROL_DIR = process.env.MESHGATE_RUN_DIR ?? '/var/run/meshgate';
const MAX_REQUEST = 64 * 1024;

export function controlPath(name: string): string {
  return join(CONTROL_DIR, `${name}.sock`);
}

export type ControlHandler = (request: { op: string }) => unknown;

/** Serves requests on the control socket of `name`; returns a closer. */
export function serveControl(name: string, handle: ControlHandler): Server {
  mkdirSync(CONTROL_DIR, { recursive: true, mode: 0o700 });
  const path = controlPath(name);
  rmSync(path, { force: true });
  const server = createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST) return conn.end(JSON.stringify({ ok: false, error: 'request too large' }) + '\n');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: unknown;
      try {
        const req = JSON.parse(buf.slice(0, nl)) as { op?: unknown };
        if (typeof req.op !== 'string') throw new Error('missing op');
        reply = { ok: true, result: handle({ op: req.op }) };
      } catch (e) {
        reply = { ok: false, error: (e as Error).message };
      }
      conn.end(JSON.stringify(reply) + '\n');
    });
  });
  server.listen(path, () => chmodSync(path, 0o600));
  server.on('close', () => rmSync(path, { force: true }));
  return server;
}

/** Sends one request to a running tunnel's control socket. */
export function queryControl<T>(name: string, op: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(controlPath(name));
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${controlPath(name)}`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify({ op }) + '\n'));
    conn.on('data', (c: string) => (buf += c));
    conn.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new Error(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no tunnel named ${name} is running` : e.message),
      );
    });
    conn.on('end', () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as { ok: boolean; result?: T; error?: string };
        if (reply.ok) resolve(reply.result as T);
        else reject(new Error(reply.error ?? 'control request failed'));
      } catch {
        reject(new Error('malformed reply from control socket'));
      }
    });
  });
}
