// The WireGuard device: our static key, the peers, cryptokey routing, and
// the whole protocol behaviour, as a pure state machine. It never touches a
// socket, a file or a clock: every entry point takes `now` and a Sink, and
// says what to send by calling the sink.
//
// Outbound (fromTunnel): IP packet → allowed-IPs lookup on the destination →
//   peer → shaper (shaper.ts) → current keypair usable? seal and send to the peer's endpoint :
//   stage the packet and send a handshake initiation.
// Inbound (fromNetwork): datagram → message type →
//   1 initiation: MAC1 (→ cookie under load) → Noise → timestamp replay check
//     → response, new keypair as `next`;
//   2 response: MAC1 → index → Noise → keypair as `current` → keepalive or staged packets;
//   3 cookie reply: index → store the cookie for MAC2;
//   4 transport: index → keypair → open → replay window → roam endpoint →
//     confirm `next` → control handler (its reply goes back to the peer) →
//     inner source must be the peer's allowed IP → shaper → tunnel.
// Timers (tick): handshake retransmission, keepalives, key expiry.
// Everything refused is a counted DropReason (per device and per peer), never
// an exception; a new endpoint and a completed handshake are reported to the
// DeviceEvents given in the options.

import { AllowedIps, type Cidr } from './allowed-ips.js';
import {
  HANDSHAKE_INITIATION_RATE,
  MAX_PACKET_SIZE,
  MAX_STAGED_PACKETS,
  REKEY_AFTER_TIME,
  REKEY_ON_RECEIVE_AFTER,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  DEFAULT_MTU,
} from './constants.js';
import { CONSUMED, NOT_MINE, type ControlHandler } from './control.js';
import { KEY_LEN, nodeCrypto, wipe, type CryptoBackend, type RandomBytes } from './crypto.js';
import { newDropCounts, type DropCounts, type DropReason } from './errors.js';
import type { DeviceEvents } from './events.js';
import {
  consumeInitiation,
  consumeResponse,
  createIdentity,
  createInitiation,
  createRemoteKeys,
  createResponse,
  type StaticIdentity,
  wipeInitiation,
} from './handshake.js';
import { HandshakeGate } from './handshake-gate.js';
import { IndexTable } from './index-table.js';
import { ipPacketLength, isLinkLocalSource } from './inner-packet.js';
import { Keypair } from './keypair.js';
import { formatKey } from './keys.js';
import {
  COOKIE_RECEIVER,
  EXACT_SIZE,
  MessageType,
  messageTypeOf,
  readCounter,
  readU32,
  RESPONSE_RECEIVER,
  TRANSPORT_COUNTER,
  TRANSPORT_MIN_SIZE,
  TRANSPORT_OVERHEAD,
  TRANSPORT_RECEIVER,
} from './messages.js';
import { Peer, type PeerConfig, type PeerEndpoint } from './peer.js';
import { isAfter, tai64n } from './tai64n.js';
import type { Shaper } from './shaper.js';
import type { Now, Sink } from './sink.js';
import { Timer } from './timers.js';

export interface DeviceOptions {
  privateKey: Uint8Array;
  random: RandomBytes;
  /** ChaCha20-Poly1305, X25519 and BLAKE2s; default node:crypto and @noble (daemons pass the addon's). */
  crypto?: CryptoBackend;
  /** The tunnel MTU, for padding; default 1420. */
  mtu?: number;
  /** Handshakes per second above which cookies are demanded (tests lower it). */
  underLoadPerSecond?: number;
  /** Takes control packets (the lease protocol) out of the data path; its replies go back to the peer. */
  control?: ControlHandler;
  /** Told of new endpoints and completed handshakes. */
  events?: DeviceEvents;
  /** Counts, limits and schedules each peer's data packets (the gateway's quotas and fair share). */
  shaper?: Shaper;
}

export { ipPacketLength };
export type { ControlHandler, DeviceEvents, Now, Shaper, Sink };

/** What an index names: a handshake we initiated, or a keypair. */
type IndexEntry = { peer: Peer; keypair: Keypair | null };

export class DuplicatePeerError extends Error {
  override readonly name = 'DuplicatePeerError';
}

export class Device {
  readonly identity: StaticIdentity;
  readonly crypto: CryptoBackend;
  readonly mtu: number;
  /** Drops of the whole device; those of a known peer are also in its Peer.drops. */
  readonly drops: DropCounts = newDropCounts();
  private readonly control: ControlHandler | null;
  private readonly events: DeviceEvents;
  private readonly shaper: Shaper | null;
  private readonly random: RandomBytes;
  private readonly gate: HandshakeGate;
  private readonly routes = new AllowedIps<Peer>();
  private readonly index = new IndexTable<IndexEntry>();
  private readonly byKey = new Map<string, Peer>();
  /** Scratch for one sealed transport message. */
  private readonly out = new Uint8Array(MAX_PACKET_SIZE + TRANSPORT_OVERHEAD + 16);
  /** Scratch for one opened transport message (any UDP payload fits). */
  private readonly plain = new Uint8Array(MAX_PACKET_SIZE);
  private static readonly EMPTY = new Uint8Array(0);

  constructor(options: DeviceOptions) {
    if (options.privateKey.length !== KEY_LEN) throw new RangeError('private key must be 32 bytes');
    this.crypto = options.crypto ?? nodeCrypto;
    this.identity = createIdentity(options.privateKey, this.crypto);
    this.random = options.random;
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.gate = new HandshakeGate(this.identity.publicKey, this.crypto, this.random, options.underLoadPerSecond);
    this.control = options.control ?? null;
    this.events = options.events ?? {};
    this.shaper = options.shaper ?? null;
  }

  // ------------------------------------------------------------------ peers

  addPeer(config: PeerConfig): Peer {
    const text = formatKey(config.publicKey);
    if (this.byKey.has(text)) throw new DuplicatePeerError(`peer ${text} is already configured`);
    if (formatKey(this.identity.publicKey) === text)
      throw new DuplicatePeerError(`peer ${text} is this device's own key`);
    const remote = createRemoteKeys(this.identity, config.publicKey, config.presharedKey);
    const peer = new Peer(config, remote, text, this.crypto);
    this.byKey.set(text, peer);
    for (const cidr of config.allowedIps) this.routes.insert(cidr, peer);
    // A peer with a persistent keepalive says hello as soon as the device runs.
    if (peer.endpoint !== null) peer.timers.peerConfigured();
    return peer;
  }

  removePeer(publicKey: Uint8Array): boolean {
    const peer = this.byKey.get(formatKey(publicKey));
    if (peer === undefined) return false;
    this.wipeSessions(peer);
    if (peer.remote.staticStatic !== null) wipe(peer.remote.staticStatic);
    peer.timers.stopAll();
    this.routes.removeValue(peer);
    this.byKey.delete(peer.keyText);
    return true;
  }

  setAllowedIps(peer: Peer, allowedIps: readonly Cidr[]): void {
    this.routes.removeValue(peer);
    peer.allowedIps = [...allowedIps];
    for (const cidr of allowedIps) this.routes.insert(cidr, peer);
  }

  peer(publicKey: Uint8Array | string): Peer | undefined {
    return this.byKey.get(typeof publicKey === 'string' ? publicKey : formatKey(publicKey));
  }

  peers(): IterableIterator<Peer> {
    return this.byKey.values();
  }

  /** The peer whose allowed IPs hold this address (4 or 16 bytes). */
  route(address: Uint8Array): Peer | undefined {
    return this.routes.lookup(address);
  }

  // ------------------------------------------------------------- outbound

  /** An IP packet read from the TUN device. */
  fromTunnel(packet: Uint8Array, now: Now, sink: Sink): void {
    if (packet.length === 0) return;
    if (packet.length > MAX_PACKET_SIZE) return this.drop('too-large');
    const peer = this.routes.lookupPacket(packet, 'dst');
    if (peer === undefined) return this.drop('no-route');
    if (this.shaper !== null && !this.shaper.toPeer(peer, packet, now)) return;
    this.sendPacket(peer, packet, now, sink);
  }

  /** Sends an IP packet to a given peer, whatever its destination (control protocols use this). */
  sendPacket(peer: Peer, packet: Uint8Array, now: Now, sink: Sink): void {
    if (peer.endpoint === null) return this.drop('no-endpoint', peer);
    const kp = peer.current;
    if (kp !== null && kp.canSend(now.mono)) {
      this.sendTransport(peer, kp, packet, now, sink);
      if (kp.wantsRekey(now.mono, REKEY_AFTER_TIME)) this.sendInitiation(peer, now, sink, false);
      return;
    }
    if (peer.staged.length >= MAX_STAGED_PACKETS) {
      peer.staged.shift();
      this.drop('queue-full', peer);
    }
    peer.staged.push(Uint8Array.from(packet));
    this.sendInitiation(peer, now, sink, false);
  }

  private sendTransport(peer: Peer, kp: Keypair, packet: Uint8Array, now: Now, sink: Sink): void {
    const n = kp.seal(packet, this.mtu, this.out);
    peer.txBytes += n;
    peer.timers.anyAuthenticatedPacketTraversal(now.mono);
    peer.timers.anyAuthenticatedPacketSent();
    if (packet.length > 0) peer.timers.dataSent(now.mono);
    sink.toNetwork(this.out.subarray(0, n), peer.endpoint!);
  }

  private sendKeepalive(peer: Peer, now: Now, sink: Sink): void {
    const kp = peer.current;
    if (peer.endpoint === null) return;
    if (kp !== null && kp.canSend(now.mono)) this.sendTransport(peer, kp, Device.EMPTY, now, sink);
    else this.sendInitiation(peer, now, sink, false);
  }

  private sendStaged(peer: Peer, now: Now, sink: Sink): void {
    const kp = peer.current;
    if (kp === null || peer.endpoint === null) return;
    const staged = peer.staged;
    peer.staged = [];
    for (const packet of staged) {
      if (!kp.canSend(now.mono)) break;
      this.sendTransport(peer, kp, packet, now, sink);
    }
  }

  /** Starts a handshake with a peer now (unless one was sent within Rekey-Timeout). */
  initiateHandshake(peer: Peer, now: Now, sink: Sink): void {
    this.sendInitiation(peer, now, sink, false);
  }

  /**
   * Sends a new initiation unless one went out within Rekey-Timeout; `afterCookie`
   * (a cookie reply to the one waiting) sends at once, carrying MAC2.
   */
  private sendInitiation(peer: Peer, now: Now, sink: Sink, isRetry: boolean, afterCookie = false): void {
    if (!isRetry) peer.timers.handshakeAttempts = 0;
    if (peer.endpoint === null) return;
    if (!afterCookie && now.mono - peer.lastHandshakeSentAt < REKEY_TIMEOUT) return;
    peer.initiationResentForCookie = afterCookie;
    this.abandonInitiation(peer); // a new initiation replaces the one still waiting
    const localIndex = this.index.allocate({ peer, keypair: null }, this.random);
    const built = createInitiation(this.identity, peer.remote, localIndex, tai64n(now.wall), this.random);
    if (built === null) {
      this.index.delete(localIndex);
      return;
    }
    peer.cookies.addMacs(built.message, now.mono);
    peer.initiation = built.state;
    peer.lastHandshakeSentAt = now.mono;
    peer.timers.anyAuthenticatedPacketTraversal(now.mono);
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.handshakeInitiated(now.mono, this.jitter());
    sink.toNetwork(built.message, peer.endpoint);
  }

  private jitter(): number {
    const r = this.random(2);
    return ((r[0]! | (r[1]! << 8)) % REKEY_TIMEOUT_JITTER_MAX) | 0;
  }

  // -------------------------------------------------------------- inbound

  /** A datagram received from the network. */
  fromNetwork(data: Uint8Array, from: PeerEndpoint, now: Now, sink: Sink): void {
    const type = messageTypeOf(data);
    if (type === 0) return this.drop(data.length < 4 ? 'too-short' : 'unknown-type');
    if (type === MessageType.Transport) return this.receiveTransport(data, from, now, sink);
    if (data.length !== EXACT_SIZE[type]) return this.drop('bad-length');
    if (type === MessageType.CookieReply) return this.receiveCookieReply(data, now, sink);

    const refused = this.gate.check(data, type, from, now, sink);
    if (refused !== null) return this.drop(refused);
    if (type === MessageType.Initiation) this.receiveInitiation(data, from, now, sink);
    else this.receiveResponse(data, from, now, sink);
  }

  private receiveInitiation(data: Uint8Array, from: PeerEndpoint, now: Now, sink: Sink): void {
    const result = consumeInitiation(this.identity, data, (pub) => this.byKey.get(formatKey(pub))?.remote);
    if (!result.ok) return this.drop(result.reason);
    const consumed = result.consumed;
    const peer = this.byKey.get(formatKey(consumed.remoteStatic))!;
    if (peer.latestTimestamp !== null && !isAfter(consumed.timestamp, peer.latestTimestamp)) {
      wipe(consumed.chainingKey);
      return this.drop('replayed-initiation', peer);
    }
    if (now.mono - peer.lastInitiationConsumedAt < HANDSHAKE_INITIATION_RATE) {
      wipe(consumed.chainingKey);
      return this.drop('initiation-too-soon', peer);
    }
    peer.latestTimestamp = consumed.timestamp;
    peer.lastInitiationConsumedAt = now.mono;
    this.updateEndpoint(peer, from, now);
    peer.rxBytes += data.length;
    peer.timers.anyAuthenticatedPacketTraversal(now.mono);
    peer.timers.anyAuthenticatedPacketReceived();

    const localIndex = this.index.allocate({ peer, keypair: null }, this.random);
    const built = createResponse(this.identity, peer.remote, consumed, localIndex, this.random);
    if (built === null) {
      this.index.delete(localIndex);
      return this.drop('handshake-invalid', peer);
    }
    const kp = new Keypair(built.keys, now.mono, this.crypto.aead);
    this.index.set(localIndex, { peer, keypair: kp });
    for (const old of peer.installNext(kp)) this.retire(old);

    peer.cookies.addMacs(built.message, now.mono);
    peer.txBytes += built.message.length;
    peer.timers.anyAuthenticatedPacketTraversal(now.mono);
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.sessionDerived(now.mono);
    peer.lastHandshakeWall = now.wall;
    peer.lastHandshakeSentAt = now.mono;
    sink.toNetwork(built.message, from);
  }

  private receiveResponse(data: Uint8Array, from: PeerEndpoint, now: Now, sink: Sink): void {
    const receiver = readU32(data, RESPONSE_RECEIVER);
    const entry = this.index.get(receiver);
    if (entry === undefined) return this.drop('unknown-index');
    const peer = entry.peer;
    const state = peer.initiation;
    if (entry.keypair !== null || state === null || state.localIndex !== receiver) {
      return this.drop('unexpected-response', peer);
    }
    const keys = consumeResponse(this.identity, peer.remote, state, data);
    if (keys === null) return this.drop('handshake-invalid', peer);
    peer.initiation = null;
    wipeInitiation(state); // its index lives on as the keypair's

    const kp = new Keypair(keys, now.mono, this.crypto.aead);
    this.index.set(receiver, { peer, keypair: kp });
    for (const old of peer.installCurrent(kp)) this.retire(old);

    this.updateEndpoint(peer, from, now);
    peer.rxBytes += data.length;
    peer.lastHandshakeWall = now.wall;
    peer.sentLastMinuteHandshake = false;
    peer.timers.anyAuthenticatedPacketTraversal(now.mono);
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.handshakeComplete();
    peer.timers.sessionDerived(now.mono);
    this.events.handshakeCompleted?.(peer, now);
    // Confirm the session to the responder: with staged data, or with a keepalive.
    if (peer.staged.length === 0) this.sendTransport(peer, kp, Device.EMPTY, now, sink);
    else this.sendStaged(peer, now, sink);
  }

  /**
   * A cookie reply: the peer is under load and wants MAC2. When it answers the
   * initiation still waiting, that initiation goes again at once with the
   * cookie, instead of after Rekey-Timeout (5 s or more under a flood); at most
   * once per initiation sent the usual way, so replies cannot keep us sending.
   */
  private receiveCookieReply(data: Uint8Array, now: Now, sink: Sink): void {
    const entry = this.index.get(readU32(data, COOKIE_RECEIVER));
    if (entry === undefined) return this.drop('unknown-index');
    const peer = entry.peer;
    if (!peer.cookies.consumeReply(data, now.mono)) return this.drop('cookie-invalid', peer);
    if (entry.keypair === null && peer.initiation !== null && !peer.initiationResentForCookie) {
      this.sendInitiation(peer, now, sink, true, true);
    }
  }

  private receiveTransport(data: Uint8Array, from: PeerEndpoint, now: Now, sink: Sink): void {
    if (data.length < TRANSPORT_MIN_SIZE) return this.drop('too-short');
    const entry = this.index.get(readU32(data, TRANSPORT_RECEIVER));
    if (entry === undefined || entry.keypair === null) return this.drop('unknown-index');
    const { peer, keypair: kp } = entry;
    const counter = readCounter(data, TRANSPORT_COUNTER);
    if (counter < 0 || !kp.canReceive(now.mono)) return this.drop('keypair-expired', peer);
    const plain = kp.open(data, this.plain);
    if (plain === null) return this.drop('decrypt-failed', peer);
    if (!kp.replay.accept(counter)) return this.drop('replayed-counter', peer);

    if (kp === peer.next) {
      // The initiator used the session we answered: it becomes current.
      for (const old of peer.confirmNext()) this.retire(old);
      peer.timers.handshakeComplete();
      this.events.handshakeCompleted?.(peer, now);
      this.sendStaged(peer, now, sink);
    }
    this.updateEndpoint(peer, from, now);
    peer.rxBytes += data.length;
    peer.timers.anyAuthenticatedPacketTraversal(now.mono);
    peer.timers.anyAuthenticatedPacketReceived();
    const current = peer.current;
    if (
      current !== null &&
      current.isInitiator &&
      !peer.sentLastMinuteHandshake &&
      now.mono - current.createdAt >= REKEY_ON_RECEIVE_AFTER
    ) {
      peer.sentLastMinuteHandshake = true;
      this.sendInitiation(peer, now, sink, false);
    }
    if (plain.length === 0) return; // keepalive

    peer.timers.dataReceived(now.mono);
    const length = ipPacketLength(plain);
    if (length < 0) return this.drop('invalid-packet', peer);
    const packet = plain.subarray(0, length);
    if (this.control !== null) {
      const reply = this.control(peer, packet, now);
      if (reply !== NOT_MINE) {
        // Straight back to the authenticated peer it came from, never routed by address.
        if (reply !== CONSUMED) this.sendPacket(peer, reply, now, sink);
        return;
      }
    }
    if (this.routes.lookupPacket(packet, 'src') !== peer) {
      return this.drop(isLinkLocalSource(packet) ? 'link-local' : 'source-not-allowed', peer);
    }
    if (this.shaper !== null && !this.shaper.fromPeer(peer, packet, now)) return;
    sink.toTunnel(packet);
  }

  // --------------------------------------------------------------- timers

  /** Runs expired timers. Call at least every 100 ms or at nextDeadline(). */
  tick(now: Now, sink: Sink): void {
    for (const peer of this.byKey.values()) {
      const due = peer.timers.due(now.mono);
      if (due === 0) continue;
      if (due & Timer.RetransmitHandshake) {
        if (peer.timers.retransmitExpired(now.mono)) this.sendInitiation(peer, now, sink, true);
        else {
          peer.staged = []; // gave up: nobody is there
          this.abandonInitiation(peer);
        }
      }
      if (due & Timer.SendKeepalive) {
        this.sendKeepalive(peer, now, sink);
        peer.timers.keepaliveSent(now.mono);
      }
      if (due & Timer.NewHandshake) this.sendInitiation(peer, now, sink, false);
      if (due & Timer.ZeroKeyMaterial) this.wipeSessions(peer);
      if (due & Timer.PersistentKeepalive && peer.timers.persistentKeepalive > 0) this.sendKeepalive(peer, now, sink);
    }
  }

  /** The earliest timer deadline of any peer (monotonic ms), or Infinity. */
  nextDeadline(): number {
    let min = Infinity;
    for (const peer of this.byKey.values()) min = Math.min(min, peer.timers.next());
    return min;
  }

  // -------------------------------------------------------------- helpers

  private drop(reason: DropReason, peer?: Peer): void {
    this.drops[reason]++;
    if (peer !== undefined) peer.drops[reason]++;
  }

  /** The endpoint of the peer's latest authenticated packet; reported when its address or port changed. */
  private updateEndpoint(peer: Peer, from: PeerEndpoint, now: Now): void {
    const old = peer.endpoint;
    peer.endpoint = from; // always: `from` also names the socket it came in on
    if (old === from || (old !== null && old.key === from.key)) return;
    this.events.endpointChanged?.(peer, now);
  }

  private retire(kp: Keypair): void {
    this.index.delete(kp.localIndex);
    kp.wipe();
  }

  private wipeSessions(peer: Peer): void {
    for (const kp of peer.keypairs()) this.retire(kp);
    peer.previous = peer.current = peer.next = null;
    this.abandonInitiation(peer);
  }

  /** Drops the initiation waiting for a response, if any: its index and its secrets. */
  private abandonInitiation(peer: Peer): void {
    if (peer.initiation === null) return;
    this.index.delete(peer.initiation.localIndex);
    wipeInitiation(peer.initiation);
    peer.initiation = null;
  }
}
