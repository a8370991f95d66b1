// Handshake capacity of a responder: how many initiations per second one core
// answers (consumeInitiation + createResponse through Device.fromNetwork, valid
// MAC1, not under load), with 1,000 distinct clients configured as peers.
// This is a gateway's defence against a handshake flood, so it is reported
// next to the ceiling the X25519 operations alone would allow. Pure
// computation; no network.
//
//   npx vite-node bench/handshake.ts                       (SECONDS=3 of timed CPU, CLIENTS=1000)
//   MESHGATE_AEAD=node npx vite-node bench/handshake.ts    (the node:crypto fallback)

import { systemRandom } from '../shared/io/random.js';
import { daemonCrypto } from '../shared/io/native-aead.js';
import { parseCidr } from '../shared/net/address.js';
import { CookieGenerator } from '../shared/wireguard/cookie.js';
import { generatePrivateKey, preparePrivateKey } from '../shared/wireguard/crypto.js';
import { Device, type Sink } from '../shared/wireguard/device.js';
import {
  createIdentity,
  createInitiation,
  createRemoteKeys,
  type StaticIdentity,
} from '../shared/wireguard/handshake.js';
import { INITIATION_SIZE, MessageType, writeHeader } from '../shared/wireguard/messages.js';
import type { PeerEndpoint } from '../shared/wireguard/peer.js';
import { tai64n } from '../shared/wireguard/tai64n.js';

const SECONDS = Number(process.env.SECONDS ?? 3);
const CLIENTS = Number(process.env.CLIENTS ?? 1000);
const MIN_ROUNDS = 6;
/**
 * Scalar multiplications per responder handshake: DH(s_r, e_i) in
 * consumeInitiation; the ephemeral's public key, DH(e_r, e_i) and DH(e_r, s_i)
 * in createResponse. DH(s_r, s_i) is computed once per peer, not per handshake.
 */
const DH_PER_HANDSHAKE = 4;
const random = systemRandom; // as the daemons draw it

/**
 * CPU time of this process in ms: the rates are per second of one core's time,
 * so that other work on a shared machine does not lower them.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const crypto = daemonCrypto(); // as the daemons do; MESHGATE_AEAD=node keeps node:crypto

function endpointOf(i: number): PeerEndpoint {
  const address = new Uint8Array(16);
  address.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, i >> 8, i & 0xff], 0);
  address[15] = 1;
  return { address, port: 51820, key: `[2001:db8:0:0:${i.toString(16)}::1]:51820` };
}

interface Client {
  identity: StaticIdentity;
  endpoint: PeerEndpoint;
  cookies: CookieGenerator;
}

const responderKey = generatePrivateKey(random);
const responder = new Device({ privateKey: responderKey, random, crypto });
const responderPublic = responder.identity.publicKey;
const clients: Client[] = [];
for (let i = 0; i < CLIENTS; i++) {
  const identity = createIdentity(generatePrivateKey(random), crypto);
  responder.addPeer({ publicKey: identity.publicKey, allowedIps: [parseCidr(`10.${i >> 8}.${i & 0xff}.2/32`)] });
  clients.push({ identity, endpoint: endpointOf(i), cookies: new CookieGenerator(responderPublic, crypto) });
}
const remotes = clients.map((c) => createRemoteKeys(c.identity, responderPublic));

/** One initiation from every client, timestamped `wall`, MAC1 filled. */
function round(wall: number): Uint8Array[] {
  return clients.map((c, i) => {
    const built = createInitiation(c.identity, remotes[i]!, i + 1, tai64n(wall), random)!;
    c.cookies.addMacs(built.message, 0);
    return built.message;
  });
}

let responses = 0;
const sink: Sink = {
  toNetwork: () => void responses++,
  toTunnel: () => undefined,
};

/** The X25519 ceiling's unit: one prepared private key against each client's public key in turn. */
const dhKey = preparePrivateKey(generatePrivateKey(random), crypto.x25519);
const dhOut = new Uint8Array(32);
const publics = clients.map((c) => c.identity.publicKey);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// Rounds: every client initiates once (built untimed), the responder answers
// all of them (timed), then as many X25519 operations run alone (timed). The
// two alternate so that both see the same state of a shared machine; the
// medians of the per-round rates are reported.
// The responder's clock advances 4 ms per message: 250 handshakes per (fake)
// second stays below the under-load threshold, and 1,000 messages between two
// initiations of one client is well past the per-peer initiation rate.
let mono = 1_000_000;
let wall = 1_750_000_000_000;
let timed = 0;
let handled = 0;
const handshakeRates: number[] = [];
const dhRates: number[] = [];
for (let r = 0; r < MIN_ROUNDS || timed < SECONDS * 1000; r++) {
  wall += 1000;
  const msgs = round(wall);
  let start = cpuMs();
  for (let i = 0; i < msgs.length; i++) {
    responder.fromNetwork(msgs[i]!, clients[i]!.endpoint, { mono: (mono += 4), wall }, sink);
  }
  const spent = cpuMs() - start;
  if (r === 0) continue; // warm-up
  timed += spent;
  handled += msgs.length;
  handshakeRates.push(msgs.length / (spent / 1000));
  start = cpuMs();
  for (const pub of publics) dhKey.backend.derive(dhKey.key, pub, dhOut);
  dhRates.push(publics.length / ((cpuMs() - start) / 1000));
}
const drops = Object.entries(responder.drops).filter(([, n]) => n > 0);
if (responses !== handled + CLIENTS || drops.length > 0) {
  throw new Error(`not every initiation was answered: ${responses} responses, drops ${JSON.stringify(drops)}`);
}

const handshakesPerSecond = median(handshakeRates);
const dhPerSecond = median(dhRates);
const ceiling = dhPerSecond / DH_PER_HANDSHAKE;
const n = (x: number): string => Math.round(x).toLocaleString('en');
const rows: [string, string][] = [
  ['X25519', crypto.x25519.name],
  ['BLAKE2s, HMAC, MAC', crypto.blake2s.name],
  ['ChaCha20-Poly1305', crypto.aead.name],
  ['clients (peers of the responder)', n(CLIENTS)],
  ['handshakes measured', `${n(handled)} in ${handshakeRates.length} rounds`],
  [
    'responder handshakes/s',
    `${n(handshakesPerSecond)}  (rounds ${n(Math.min(...handshakeRates))} to ${n(Math.max(...handshakeRates))})`,
  ],
  ['X25519 ops/s', n(dhPerSecond)],
  [`DH-only ceiling (ops/s / ${DH_PER_HANDSHAKE})`, n(ceiling)],
  ['handshakes/s of the ceiling', `${Math.round((100 * handshakesPerSecond) / ceiling)} %`],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log('Responder handshake capacity, one core (rates per CPU second, medians of rounds)');
for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);

// Under a flood: a responder under load answers every initiation that has a
// valid MAC1 but no MAC2 with a cookie reply (whitepaper section 5.4.7) and
// does no Diffie-Hellman for it. Junk initiations (random bodies, MAC1
// filled) from the 1,000 client endpoints.
const flooded = new Device({ privateKey: generatePrivateKey(random), random, crypto, underLoadPerSecond: 0 });
const floodMac = new CookieGenerator(flooded.identity.publicKey, crypto);
const junk = clients.map(() => {
  const m = random(INITIATION_SIZE);
  writeHeader(m, MessageType.Initiation);
  floodMac.addMacs(m, 0);
  return m;
});
let cookieReplies = 0;
const floodSink: Sink = { toNetwork: () => void cookieReplies++, toTunnel: () => undefined };
const floodRates: number[] = [];
for (let r = 0; r < MIN_ROUNDS * 4; r++) {
  const start = cpuMs();
  for (let i = 0; i < junk.length; i++)
    flooded.fromNetwork(junk[i]!, clients[i]!.endpoint, { mono: (mono += 1), wall }, floodSink);
  if (r > 0) floodRates.push(junk.length / ((cpuMs() - start) / 1000));
}
if (cookieReplies !== junk.length * MIN_ROUNDS * 4)
  throw new Error(`not every flood initiation got a cookie reply (${cookieReplies})`);
console.log(
  `  ${'cookie replies/s under a flood'.padEnd(width)}  ${n(median(floodRates))}  (valid MAC1, no MAC2; no DH)`,
);
