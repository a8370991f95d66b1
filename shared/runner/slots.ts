// Batch slot sizes for a tunnel's TUN device and UDP socket, from its MTU.
//
// A slot holds one packet; what does not fit is dropped (counted as rxDropped),
// so a slot must hold a full-size packet: the TUN device hands over IP packets
// of up to the MTU, and a peer's transport messages are its padded packet
// (a multiple of 16, at most its MTU) plus 32 bytes of header and tag. Normal
// MTUs keep the 2048-byte defaults; jumbo MTUs (up to 9000 on a gateway, 65535
// in a wg-quick file) get larger slots. UDP GRO needs nothing more: the addon
// receives super-datagrams into 64 KiB scratch entries and splits them into
// slots, each datagram no larger than the peer sent it.

import { TUN_DEFAULT_SLOT_SIZE } from '../io/tun.js';
import { UDP_DEFAULT_SLOT_SIZE } from '../io/udp.js';
import { TRANSPORT_OVERHEAD } from '../wireguard/messages.js';

/** A peer whose MTU is a little larger than ours pads up to 15 bytes more. */
const PADDING_SLACK = 16;
/** The native addon's largest slot (MAX_SLOT_SIZE in shared/native/io/meshgate_io.h). */
const MAX_SLOT_SIZE = 65536;

export interface SlotSizes {
  tun: number;
  udp: number;
}

export function slotSizesFor(mtu: number): SlotSizes {
  if (!Number.isInteger(mtu) || mtu < 1) throw new RangeError(`MTU must be a positive integer, got ${mtu}`);
  return {
    tun: Math.min(MAX_SLOT_SIZE, Math.max(TUN_DEFAULT_SLOT_SIZE, mtu)),
    udp: Math.min(MAX_SLOT_SIZE, Math.max(UDP_DEFAULT_SLOT_SIZE, mtu + TRANSPORT_OVERHEAD + PADDING_SLACK)),
  };
}
