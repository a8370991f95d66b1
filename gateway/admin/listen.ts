// Where the admin API listens (server.ts builds the apps, this file owns the
// sockets):
//
//   socketPath (trusted: no token)  dir 0700 (created), stale socket removed,
//                                   socket chmod 0600, removed on close
//   each `listen` host:port         one untrusted app (bearer token) per address
//
// Any failure to listen closes what was started and throws an AdminListenError
// naming the address.

import { chmodSync, lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { isIPv4, isIPv6, type AddressInfo } from 'node:net';
import { tryConnect } from '../../shared/io/try-connect.js';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CodedErrorAbout } from '../../shared/errors.js';
import { buildAdminApp, type AdminAppOptions } from './server.js';

export const ADMIN_LISTEN_ERROR_CODES = [
  'bad-address', // not an IP literal host:port / [v6]:port
  'address-in-use', // another process listens there
  'address-unavailable', // no interface has the address, or no permission
  'socket-in-use', // a live process serves the Unix socket path
  'socket-path', // the path is not a socket, or its directory is not private
] as const;
export type AdminListenErrorCode = (typeof ADMIN_LISTEN_ERROR_CODES)[number];

export class AdminListenError extends CodedErrorAbout<AdminListenErrorCode> {
  override readonly name = 'AdminListenError';
  /** The address or path at fault. */
  get address(): string {
    return this.about ?? '';
  }
}

const SOCKET_MODE = 0o600;
const SOCKET_DIR_MODE = 0o700;
/** Group or other may write: anyone could swap the socket. */
const DIR_UNSAFE_BITS = 0o022;
const LIVE_PROBE_MS = 500;
const PORT_MAX = 65_535;

export type AdminServersOptions = Omit<AdminAppOptions, 'trusted'> & {
  /** The trusted Unix socket (no token), e.g. /var/run/meshgate/<interface>.api.sock. */
  socketPath: string;
  /** TCP listeners, "host:port" or "[v6]:port" (port 0: any free port). */
  listen: string[];
};

export interface AdminServers {
  /** The socket path, then each TCP listener as host:port with its real port. */
  addresses: string[];
  /** Closes every listener and removes the socket; idempotent. */
  close(): Promise<void>;
}

/** "127.0.0.1:9580" / "[::1]:9580" → host and port; AdminListenError bad-address otherwise. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const v6 = match?.[1];
  const v4 = match?.[2];
  const port = Number(match?.[3]);
  const hostOk = v6 !== undefined ? isIPv6(v6) : v4 !== undefined && isIPv4(v4);
  if (!match || !hostOk || port > PORT_MAX) {
    throw new AdminListenError(
      'bad-address',
      `admin listen address ${JSON.stringify(text)} is not IPv4:port or [IPv6]:port`,
      text,
    );
  }
  return { host: (v6 ?? v4)!, port };
}

/** Starts the trusted socket app and one token app per `listen` address. */
export async function startAdminServers(options: AdminServersOptions): Promise<AdminServers> {
  const { socketPath, listen, ...appOptions } = options;
  const targets = listen.map((text) => ({ text, ...parseListenAddress(text) }));
  const apps: FastifyInstance[] = [];
  let closed = false;
  // Only a socket this call bound is removed: never a live gateway's.
  let ownSocket = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.allSettled(apps.map((app) => app.close()));
    if (ownSocket) rmSync(socketPath, { force: true });
  };
  try {
    await prepareSocketPath(socketPath);
    const trusted = buildAdminApp({ ...appOptions, trusted: true });
    apps.push(trusted);
    await trusted.listen({ path: socketPath });
    ownSocket = true;
    chmodSync(socketPath, SOCKET_MODE);
    const addresses = [socketPath];
    for (const target of targets) {
      const app = buildAdminApp({ ...appOptions, trusted: false });
      apps.push(app);
      try {
        await app.listen({ host: target.host, port: target.port });
      } catch (e) {
        throw listenError(e, target.text);
      }
      addresses.push(formatAddress(app.server.address() as AddressInfo));
    }
    return { addresses, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** A private directory, and no socket of a live process at `path`; a stale one is removed. */
async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  const created = mkdirSync(dir, { recursive: true, mode: SOCKET_DIR_MODE });
  if (created !== undefined) chmodSync(dir, SOCKET_DIR_MODE);
  else if ((statSync(dir).mode & DIR_UNSAFE_BITS) !== 0) {
    throw new AdminListenError('socket-path', `admin socket directory ${dir} is writable by others`, path);
  }
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!isSocket)
    throw new AdminListenError('socket-path', `admin socket path ${path} exists and is not a socket`, path);
  if (await isLive(path)) {
    throw new AdminListenError(
      'socket-in-use',
      `another process serves the admin socket ${path} (is this gateway already running?)`,
      path,
    );
  }
  rmSync(path, { force: true });
}

/** Whether something accepts connections on the Unix socket `path`. */
async function isLive(path: string): Promise<boolean> {
  // No answer in time: something holds it, busy (taken as live, never removed).
  const outcome = await tryConnect({ path }, LIVE_PROBE_MS);
  return outcome === 'connected' || outcome === 'timeout';
}

function listenError(e: unknown, address: string): AdminListenError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new AdminListenError('address-in-use', `admin API cannot listen on ${address}: address in use`, address);
  }
  const why = code === 'EADDRNOTAVAIL' ? 'no interface has this address' : (code ?? 'listen failed');
  return new AdminListenError('address-unavailable', `admin API cannot listen on ${address}: ${why}`, address);
}

function formatAddress(info: AddressInfo): string {
  return info.family === 'IPv6' ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
}
