// Tunnel peers: a running wireguard-go or meshgate with the same TunnelInfo view,
// and the addresses and options of Scene.tunnelPair()'s two-host topology.

import { MESHGATE_BIN } from './env.js';
import { stripPrefix } from './endpoint.js';
import { publicKeyOf } from './keys.js';
import type { Namespace } from './namespace.js';
import { jsonLines, type ExitStatus, type Proc } from './process.js';
import { DEFAULT_MTU, parseWgDump, type PeerInfo, type TunnelConfig, type TunnelInfo } from './wg-config.js';

export type PeerKind = 'meshgate' | 'wireguard-go';

/** Addresses, MTU, link up and AllowedIPs routes, as wg-quick would do them. */
export async function configureDevice(ns: Namespace, name: string, c: TunnelConfig): Promise<void> {
  for (const cidr of c.addresses) await ns.addAddress(name, cidr);
  await ns.linkUp(name, c.mtu ?? DEFAULT_MTU);
  for (const p of c.peers) for (const prefix of p.allowedIps) await ns.addRoute(prefix, name);
}

/** A running tunnel peer of either kind. */
export abstract class TunnelPeer {
  abstract readonly kind: PeerKind;
  readonly publicKey: string;

  constructor(
    readonly ns: Namespace,
    readonly name: string,
    readonly proc: Proc,
    readonly config: TunnelConfig,
  ) {
    this.publicKey = publicKeyOf(config.privateKey);
  }

  abstract show(): Promise<TunnelInfo>;

  /** The peer entry for a public key (throws if absent). */
  async peer(publicKey: string): Promise<PeerInfo> {
    const info = await this.show();
    const p = info.peers.find((x) => x.publicKey === publicKey);
    if (!p) throw new Error(`${this.name}: no peer ${publicKey}`);
    return p;
  }

  /** Inner address of this peer for a family (its first configured address), without prefix. */
  address(family: 4 | 6): string {
    const a = this.config.addresses.find((x) => x.includes(':') === (family === 6));
    if (!a) throw new Error(`${this.name}: no IPv${family} address`);
    return stripPrefix(a);
  }

  stop(): Promise<ExitStatus> {
    return this.proc.stop();
  }
}

export class WireguardGoPeer extends TunnelPeer {
  readonly kind = 'wireguard-go' as const;

  async show(): Promise<TunnelInfo> {
    const r = await this.ns.exec('wg', ['show', this.name, 'dump']);
    return parseWgDump(r.stdout, this.name);
  }

  /** Whether wireguard-go's verbose log shows it sent a handshake initiation (it initiated). */
  sentInitiation(): boolean {
    return /Sending handshake initiation/.test(this.proc.output());
  }

  /** Whether it received a handshake initiation (the other side initiated). */
  receivedInitiation(): boolean {
    return /Received handshake initiation/.test(this.proc.output());
  }
}

export class MeshgatePeer extends TunnelPeer {
  readonly kind = 'meshgate' as const;

  async show(): Promise<TunnelInfo> {
    const r = await this.ns.exec('node', [MESHGATE_BIN, 'show', this.name, '--json'], { timeoutMs: 15_000 });
    return JSON.parse(r.stdout) as TunnelInfo;
  }

  /** The JSON log lines printed so far (lines that do not parse are skipped). */
  events(): Record<string, unknown>[] {
    return jsonLines(this.proc.output());
  }
}

export interface PairOptions {
  a: PeerKind;
  b: PeerKind;
  underlay: 'v4' | 'v6';
  psk?: boolean;
  mtu?: number;
  /** Leave this side without an Endpoint for its peer (it must learn it from the first handshake). */
  noEndpoint?: 'a' | 'b';
}

export interface TunnelPair {
  a: TunnelPeer;
  b: TunnelPeer;
  nsA: Namespace;
  nsB: Namespace;
  /** veth device names (the underlay) in a and b */
  veth: { a: string; b: string };
  /** underlay addresses of the chosen family */
  underlay: { a: string; b: string };
  inner4: { a: string; b: string };
  inner6: { a: string; b: string };
  port: number;
}

/** Addresses used by Scene.tunnelPair(). */
export const PAIR = {
  underlay4: ['192.0.2.1', '192.0.2.2'],
  underlay6: ['2001:db8:77::1', '2001:db8:77::2'],
  inner4: ['10.77.0.1', '10.77.0.2'],
  inner6: ['fd00:77::1', 'fd00:77::2'],
  port: 51820,
} as const;
