// Constants of the WireGuard protocol, and the implementation's own limits,
// kept apart so that a reader can tell which numbers are the protocol's.

// --- Specification (WireGuard whitepaper, section 6.1 "Timers", and 5.4) ---

/** Noise protocol name and WireGuard's prologue ("identifier"), section 5.4. */
export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

/** Time values in milliseconds, message limits as counts. */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1; // not exact as a double; see keypair.ts
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
/** Jitter added to each handshake retransmission (wireguard-go: up to 333 ms). */
export const REKEY_TIMEOUT_JITTER_MAX = 334;
/** How long a cookie (and the responder's cookie secret) is valid: section 5.4.7. */
export const COOKIE_REFRESH_TIME = 120_000;
/** At most one initiation per peer per this interval is processed (wireguard-go's HandshakeInitationRate). */
export const HANDSHAKE_INITIATION_RATE = 20;
/** Plaintext of transport messages is padded to a multiple of this (section 5.4.6). */
export const PADDING_MULTIPLE = 16;

/** Derived: retransmissions before a handshake attempt gives up (90 s / 5 s). */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** Derived: the initiator re-keys on receive this long after the session began. */
export const REKEY_ON_RECEIVE_AFTER = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;

// --- Implementation limits (meshgate's choices) ---

/** Packets queued per peer while waiting for a handshake; the oldest is dropped first. */
export const MAX_STAGED_PACKETS = 128;
/** Replay window size in packets (the paper asks for at least 2,000). */
export const REPLAY_WINDOW_SIZE = 8192;
/** Handshake messages per second above which the device is "under load" and demands cookies. */
export const UNDER_LOAD_HANDSHAKES_PER_SECOND = 512;
/** How long the device stays under load after the rate falls again. */
export const UNDER_LOAD_AFTER = 1_000;
/** Per-source-address token bucket for handshakes while under load. */
export const RATE_LIMIT_PACKETS_PER_SECOND = 20;
export const RATE_LIMIT_BURST = 5;
/** Largest IP packet accepted from the TUN device or from a peer. */
export const MAX_PACKET_SIZE = 65_535;
export const DEFAULT_MTU = 1420;
