// Several UDP sockets behind one UdpBind: a gateway that listens on chosen
// addresses (say its uplink-side IPv4 and its Yggdrasil 200::/7 address)
// opens one socket per address.
//
//   receive: each socket's datagrams go to the one handler; the socket a peer
//            was last heard on is remembered by endpoint key
//   send:    to the socket that peer was heard on, else the first socket of
//            the endpoint's family (a configured endpoint not heard from yet)

import { isV4Mapped } from './endpoint.js';
import type { Endpoint, UdpBind, UdpHandler } from './types.js';

export interface FamilyBind extends UdpBind {
  /** 4 for an IPv4 socket, 6 for an IPv6 (possibly dual-stack) one. */
  readonly family: 4 | 6;
  /** True when an IPv6 socket also carries IPv4 (v4-mapped). */
  readonly dualStack?: boolean;
}

export class MultiUdp implements UdpBind {
  private readonly heardOn = new Map<string, number>();

  constructor(private readonly binds: readonly FamilyBind[]) {
    if (binds.length === 0) throw new RangeError('MultiUdp needs at least one socket');
  }

  get port(): number {
    return this.binds[0]!.port;
  }

  get sendErrors(): number {
    return this.binds.reduce((n, b) => n + b.sendErrors, 0);
  }

  start(handler: UdpHandler): void {
    this.binds.forEach((bind, i) =>
      bind.start({
        datagram: (data, from) => {
          if (this.heardOn.get(from.key) !== i) this.heardOn.set(from.key, i);
          handler.datagram(data, from);
        },
        batchEnd: () => handler.batchEnd(),
      }),
    );
  }

  private bindFor(to: Endpoint): FamilyBind | undefined {
    const heard = this.heardOn.get(to.key);
    if (heard !== undefined) return this.binds[heard];
    const v4 = isV4Mapped(to.address);
    return this.binds.find((b) => (v4 ? b.family === 4 || b.dualStack === true : b.family === 6)) ?? this.binds[0];
  }

  send(data: Uint8Array, to: Endpoint): void {
    this.bindFor(to)!.send(data, to);
  }

  flush(): void {
    for (const b of this.binds) b.flush();
  }

  close(): void {
    for (const b of this.binds) b.close();
  }
}

/**
 * The sockets of a listener: one dual-stack socket on every address when
 * `addresses` is empty, else one socket per address (all on `port`).
 */
export function openListeners(
  port: number,
  addresses: readonly string[],
  open: (opts: { port: number; address?: string }) => FamilyBind,
): UdpBind {
  if (addresses.length === 0) return open({ port });
  const binds: FamilyBind[] = [];
  try {
    for (const address of addresses) binds.push(open({ port, address }));
  } catch (e) {
    for (const b of binds) b.close();
    throw e;
  }
  return binds.length === 1 ? binds[0]! : new MultiUdp(binds);
}
