// What the device tells its owner, synchronously, as it happens: the
// gateway checkpoints endpoints on `endpointChanged` instead of polling every
// peer. Called from inside fromNetwork; a listener must not call back into
// the device. Nothing is allocated when there is nothing to report.

import type { Now } from './sink.js';
import type { Peer } from './peer.js';

export interface DeviceEvents {
  /** An authenticated packet came from another address or port than the peer's endpoint (roaming, or the first contact). */
  endpointChanged?(peer: Peer, now: Now): void;
  /** A new session is current: as initiator on the response, as responder on the initiator's first packet. */
  handshakeCompleted?(peer: Peer, now: Now): void;
}
