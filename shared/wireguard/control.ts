// The control path: inner packets meshgate answers itself (the lease
// protocol), taken out of the data path after decryption and before the
// cryptokey source check. A handler is a pure function of the packet, as
// boringtun's state machine is: it says what to send back, and the device
// sends it to the same authenticated peer (never routed by address).

import type { Now } from './sink.js';
import type { Peer } from './peer.js';

/** The handler did not want the packet: the data path goes on with it. */
export const NOT_MINE = 'not-mine';
/** The handler took the packet and has nothing to send back. */
export const CONSUMED = 'consumed';

/** An inner IP packet to send back to the peer, or what became of the packet. */
export type ControlResult = Uint8Array | typeof NOT_MINE | typeof CONSUMED;

/** Called once per decrypted inner packet from `peer`; the packet is only valid during the call. */
export type ControlHandler = (peer: Peer, packet: Uint8Array, now: Now) => ControlResult;
