// The shaper: where an owner of the device (the gateway) counts, limits and
// schedules the data packets of each peer. The device asks it once per inner
// IP packet, after routing and before sealing on the way out (toPeer: a
// download, at a gateway), and after the cryptokey source check on the way
// in (fromPeer: an upload). Control packets (the lease protocol) and
// keepalives never pass through it.
//
// The shaper answers true ("send it now") or false ("I took it"): it either
// dropped the packet (and counted why), or copied it into a queue of its own
// and hands it back later: a download with device.sendPacket, an upload with
// sink.toTunnel. The packet buffer is only valid during the call.

import type { Now } from './sink.js';
import type { Peer } from './peer.js';

export interface Shaper {
  /** An IP packet from the tunnel device, routed to `peer`: true to seal and send it now. */
  toPeer(peer: Peer, packet: Uint8Array, now: Now): boolean;
  /** An IP packet from `peer`, authenticated and source-checked: true to write it to the tunnel device now. */
  fromPeer(peer: Peer, packet: Uint8Array, now: Now): boolean;
}
