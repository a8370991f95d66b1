// One connection attempt, closed at once: what answered, if anything. The
// gateway's uplink check (TCP to a target) and the admin socket's liveness
// check (a Unix socket) both ask it.

import { connect, type NetConnectOpts } from 'node:net';

/** connected; refused (ECONNREFUSED: something answered no); failed (any other error); timeout. */
export type ConnectOutcome = 'connected' | 'refused' | 'failed' | 'timeout';

export function tryConnect(to: NetConnectOpts, timeoutMs: number): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const socket = connect(to);
    const done = (outcome: ConnectOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('connected'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'failed'));
  });
}
