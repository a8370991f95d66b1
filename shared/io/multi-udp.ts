// Several UDP sockets behind one UdpBind: a gateway that listens on chosen
// addresses (say its uplink-side IPv4 and its Yggdrasil 200::/7 address)
// opens one socket per address.
//
//   receive: each socket's datagrams go to the one handler; every source
//            Endpoint carries the socket it arrived on (`via`, set by that
//            socket), and MultiUdp keeps nothing about it
//   send:    on the endpoint's `via` when it is one of these sockets, else the
//            first socket of the endpoint's family (a configured endpoint)
//
// So the socket a peer is answered on is the one its last authenticated
// datagram arrived on: the core stores `from` as the peer's endpoint only after
// authentication. Junk, or a forged source on another socket, leaves no trace.

import { isV4Mapped } from './endpoint.js';
import type { Endpoint, UdpBind, UdpHandler } from './types.js';

export interface FamilyBind extends UdpBind {
  /** 4 for an IPv4 socket, 6 for an IPv6 (possibly dual-stack) one. */
  readonly family: 4 | 6;
  /** True when an IPv6 socket also carries IPv4 (v4-mapped). */
  readonly dualStack?: boolean;
}

export class MultiUdp implements UdpBind {
  /** Where endpoints without a `via` of ours go, by family. */
  private readonly forV4: FamilyBind;
  private readonly forV6: FamilyBind;

  constructor(private readonly binds: readonly FamilyBind[]) {
    if (binds.length === 0) throw new RangeError('MultiUdp needs at least one socket');
    this.forV4 = binds.find((b) => b.family === 4 || b.dualStack === true) ?? binds[0]!;
    this.forV6 = binds.find((b) => b.family === 6) ?? binds[0]!;
  }

  get port(): number {
    return this.binds[0]!.port;
  }

  get sendErrors(): number {
    return this.binds.reduce((n, b) => n + b.sendErrors, 0);
  }

  start(handler: UdpHandler): void {
    for (const bind of this.binds) bind.start(handler);
  }

  private bindFor(to: Endpoint): FamilyBind {
    const via = to.via;
    if (via !== undefined) for (const b of this.binds) if (b === via) return b;
    return isV4Mapped(to.address) ? this.forV4 : this.forV6;
  }

  send(data: Uint8Array, to: Endpoint): void {
    this.bindFor(to).send(data, to);
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
