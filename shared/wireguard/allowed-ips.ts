// Cryptokey routing (WireGuard paper, section 2): the table that maps IP
// prefixes to peers, used in both directions.
//
//   outbound  TUN packet -> lookupPacket(packet, 'dst') -> the peer to encrypt for (none: drop 'no-route')
//   inbound   decrypted packet -> lookupPacket(packet, 'src') -> must be the peer it came from
//             (otherwise drop 'source-not-allowed')
//
// Longest-prefix match over two path-compressed binary tries, one per address
// family. A node holds a prefix (its key, with every bit past `cidr` zero) and
// optionally a value; a node without a value is a fork and always has two
// children. Keys are kept as 32-bit words so that a lookup compares whole words
// and allocates nothing: no BigInt, no strings, no temporary arrays.
//
// Pure data structure: no I/O, no clock. Not safe for concurrent use (nothing
// in Node is); lookups never mutate.

import { IPV4_LEN, IPV6_LEN, type Cidr } from '../net/address.js';

export type { Cidr };

// IP header layout (RFC 791 section 3.1; RFC 8200 section 3).
export const IPV4_HEADER_MIN_LEN = 20;
export const IPV4_SRC_OFFSET = 12;
export const IPV4_DST_OFFSET = 16;
export const IPV6_HEADER_LEN = 40;
export const IPV6_SRC_OFFSET = 8;
export const IPV6_DST_OFFSET = 24;

const IPV4_BITS = 32;
const IPV6_BITS = 128;

// ---------------------------------------------------------------------------
// The tries

/** Reads a big-endian 32-bit word as an unsigned number. */
function readWord(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

class TrieNode<T> {
  zero: TrieNode<T> | null = null;
  one: TrieNode<T> | null = null;
  constructor(
    /** Four words; an IPv4 trie uses only the first. Bits past `cidr` are zero. */
    readonly key: Uint32Array,
    readonly cidr: number,
    public value: T | undefined,
    public hasValue: boolean,
    public parent: TrieNode<T> | null,
  ) {}
}

/** Bit `position` of a key, counting from the most significant bit of word 0. */
function bitAt(key: Uint32Array, position: number): number {
  return (key[position >>> 5]! >>> (31 - (position & 31))) & 1;
}

/** Length of the common leading bits of two keys, at most `limit`. */
function commonBits(a: Uint32Array, b: Uint32Array, limit: number): number {
  for (let i = 0; i * 32 < limit; i++) {
    const x = (a[i]! ^ b[i]!) >>> 0;
    if (x !== 0) return Math.min(limit, i * 32 + Math.clz32(x));
  }
  return limit;
}

function maskedKey(key: Uint32Array, cidr: number): Uint32Array {
  const out = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const bitsHere = cidr - i * 32;
    if (bitsHere >= 32) out[i] = key[i]!;
    else if (bitsHere > 0) out[i] = key[i]! & (-1 << (32 - bitsHere));
  }
  return out;
}

class Trie<T> {
  root: TrieNode<T> | null = null;
  size = 0;

  /** Adds or reassigns a prefix. `key` must already be masked to `cidr`. */
  insert(key: Uint32Array, cidr: number, value: T): void {
    if (this.root === null) {
      this.root = new TrieNode(key, cidr, value, true, null);
      this.size++;
      return;
    }
    let node: TrieNode<T> = this.root;
    for (;;) {
      const common = commonBits(node.key, key, Math.min(node.cidr, cidr));
      if (common === node.cidr) {
        if (node.cidr === cidr) {
          // The same prefix: it moves to the new value.
          if (!node.hasValue) this.size++;
          node.value = value;
          node.hasValue = true;
          return;
        }
        // `node` is a strict prefix of the new one: go down.
        const bit = bitAt(key, node.cidr);
        const next = bit === 0 ? node.zero : node.one;
        if (next === null) {
          setChild(node, bit, new TrieNode(key, cidr, value, true, node));
          this.size++;
          return;
        }
        node = next;
        continue;
      }
      // The new prefix leaves `node`'s path before `node.cidr`.
      const parent = node.parent;
      const leaf = new TrieNode(key, cidr, value, true, parent);
      if (common === cidr) {
        // It contains `node`: it takes `node`'s place, `node` below it.
        setChild(leaf, bitAt(node.key, cidr), node);
        this.replace(parent, node, leaf);
      } else {
        // They diverge at bit `common`: a fork holds both.
        const fork = new TrieNode<T>(maskedKey(key, common), common, undefined, false, parent);
        setChild(fork, bitAt(node.key, common), node);
        setChild(fork, bitAt(key, common), leaf);
        this.replace(parent, node, fork);
      }
      this.size++;
      return;
    }
  }

  /** Removes exactly this prefix; returns whether it was present. */
  remove(key: Uint32Array, cidr: number): boolean {
    let node = this.root;
    while (node !== null && node.cidr <= cidr) {
      if (commonBits(node.key, key, node.cidr) < node.cidr) return false;
      if (node.cidr === cidr) {
        if (!node.hasValue) return false;
        this.unlink(node);
        return true;
      }
      node = bitAt(key, node.cidr) === 0 ? node.zero : node.one;
    }
    return false;
  }

  /** Drops a node's value and restores the invariant that every fork has two children. */
  unlink(node: TrieNode<T>): void {
    node.value = undefined;
    node.hasValue = false;
    this.size--;
    if (node.zero !== null && node.one !== null) return; // it stays, as a fork
    const child = node.zero ?? node.one;
    const parent = node.parent;
    this.replace(parent, node, child);
    if (child === null && parent !== null && !parent.hasValue) {
      // The parent was a fork and is left with one child: splice it out.
      this.replace(parent.parent, parent, parent.zero ?? parent.one);
    }
  }

  replace(parent: TrieNode<T> | null, old: TrieNode<T>, replacement: TrieNode<T> | null): void {
    if (parent === null) this.root = replacement;
    else if (parent.zero === old) parent.zero = replacement;
    else parent.one = replacement;
    if (replacement !== null) replacement.parent = parent;
  }

  /** Nodes with a value, in address order (shorter prefix first). */
  collect(into: TrieNode<T>[]): void {
    const stack: TrieNode<T>[] = [];
    if (this.root !== null) stack.push(this.root);
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.hasValue) into.push(node);
      if (node.one !== null) stack.push(node.one);
      if (node.zero !== null) stack.push(node.zero);
    }
  }

  clear(): void {
    this.root = null;
    this.size = 0;
  }
}

function setChild<T>(parent: TrieNode<T>, bit: number, child: TrieNode<T>): void {
  if (bit === 0) parent.zero = child;
  else parent.one = child;
  child.parent = parent;
}

/** Longest match in the IPv4 trie for the address word `a0`. */
function find4<T>(root: TrieNode<T> | null, a0: number): T | undefined {
  let found: T | undefined;
  let node = root;
  while (node !== null) {
    const c = node.cidr;
    if (c !== 0 && (node.key[0]! ^ a0) >>> (32 - c) !== 0) break;
    if (node.hasValue) found = node.value;
    if (c === IPV4_BITS) break;
    node = ((a0 >>> (31 - c)) & 1) === 0 ? node.zero : node.one;
  }
  return found;
}

/** Longest match in the IPv6 trie for the address words a0..a3. */
function find6<T>(root: TrieNode<T> | null, a0: number, a1: number, a2: number, a3: number): T | undefined {
  let found: T | undefined;
  let node = root;
  while (node !== null) {
    const c = node.cidr;
    const k = node.key;
    // Does the node's prefix (its first c bits) match the address?
    if (c <= 32) {
      if (c !== 0 && (k[0]! ^ a0) >>> (32 - c) !== 0) break;
    } else if (k[0] !== a0) {
      break;
    } else if (c <= 64) {
      if ((k[1]! ^ a1) >>> (64 - c) !== 0) break;
    } else if (k[1] !== a1) {
      break;
    } else if (c <= 96) {
      if ((k[2]! ^ a2) >>> (96 - c) !== 0) break;
    } else if (k[2] !== a2 || (k[3]! ^ a3) >>> (128 - c) !== 0) {
      break;
    }
    if (node.hasValue) found = node.value;
    if (c === IPV6_BITS) break;
    const w = c >>> 5;
    const word = w === 0 ? a0 : w === 1 ? a1 : w === 2 ? a2 : a3;
    node = ((word >>> (31 - (c & 31))) & 1) === 0 ? node.zero : node.one;
  }
  return found;
}

function keyOf(cidr: Cidr): Uint32Array {
  const { address, prefixLength, family } = cidr;
  const length = family === 4 ? IPV4_LEN : IPV6_LEN;
  if ((family !== 4 && family !== 6) || address.length !== length) {
    throw new RangeError(`an IPv${family} prefix needs a ${length}-byte address, not ${address.length} bytes`);
  }
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > length * 8) {
    throw new RangeError(`invalid IPv${family} prefix length ${prefixLength}`);
  }
  const key = new Uint32Array(4);
  for (let i = 0; i < length / 4; i++) key[i] = readWord(address, i * 4);
  return maskedKey(key, prefixLength);
}

function cidrOf(node: TrieNode<unknown>, family: 4 | 6): Cidr {
  const address = new Uint8Array(family === 4 ? IPV4_LEN : IPV6_LEN);
  const view = new DataView(address.buffer);
  for (let i = 0; i < address.length / 4; i++) view.setUint32(i * 4, node.key[i]!);
  return { family, address, prefixLength: node.cidr };
}

/**
 * The cryptokey routing table: IPv4 and IPv6 prefixes, each owned by one value
 * (a peer). Lookups return the value of the longest matching prefix.
 */
export class AllowedIps<T> {
  private readonly v4 = new Trie<T>();
  private readonly v6 = new Trie<T>();

  /** Number of prefixes (both families). */
  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** Adds a prefix; a prefix already present moves to `value`, as in WireGuard. */
  insert(cidr: Cidr, value: T): void {
    this.trie(cidr).insert(keyOf(cidr), cidr.prefixLength, value);
  }

  /** Removes one prefix (host bits ignored); returns whether it was present. */
  remove(cidr: Cidr): boolean {
    return this.trie(cidr).remove(keyOf(cidr), cidr.prefixLength);
  }

  /** Removes every prefix owned by `value` (a peer going away); returns how many. */
  removeValue(value: T): number {
    let removed = 0;
    for (const trie of [this.v4, this.v6]) {
      const nodes: TrieNode<T>[] = [];
      trie.collect(nodes);
      for (const node of nodes) {
        if (node.value === value) {
          trie.unlink(node);
          removed++;
        }
      }
    }
    return removed;
  }

  clear(): void {
    this.v4.clear();
    this.v6.clear();
  }

  /** Longest-prefix match for a 4- or 16-byte address. */
  lookup(address: Uint8Array): T | undefined {
    if (address.length === IPV4_LEN) return find4(this.v4.root, readWord(address, 0));
    if (address.length === IPV6_LEN) {
      return find6(
        this.v6.root,
        readWord(address, 0),
        readWord(address, 4),
        readWord(address, 8),
        readWord(address, 12),
      );
    }
    throw new RangeError(`an IP address is 4 or 16 bytes, not ${address.length}`);
  }

  /**
   * Longest-prefix match for the source or destination address of an IP
   * packet, read in place (the hot path: no allocation). Returns undefined for
   * a packet that is too short for its header or is neither IPv4 nor IPv6.
   */
  lookupPacket(packet: Uint8Array, which: 'src' | 'dst'): T | undefined {
    if (packet.length === 0) return undefined;
    const version = packet[0]! >>> 4;
    if (version === 4) {
      if (packet.length < IPV4_HEADER_MIN_LEN) return undefined;
      return find4(this.v4.root, readWord(packet, which === 'src' ? IPV4_SRC_OFFSET : IPV4_DST_OFFSET));
    }
    if (version === 6) {
      if (packet.length < IPV6_HEADER_LEN) return undefined;
      const o = which === 'src' ? IPV6_SRC_OFFSET : IPV6_DST_OFFSET;
      return find6(
        this.v6.root,
        readWord(packet, o),
        readWord(packet, o + 4),
        readWord(packet, o + 8),
        readWord(packet, o + 12),
      );
    }
    return undefined;
  }

  /** The prefixes of one value (all prefixes if `value` is undefined), IPv4 first, in address order. */
  entries(value?: T): Cidr[] {
    const out: Cidr[] = [];
    const all = value === undefined;
    for (const [trie, family] of [
      [this.v4, 4],
      [this.v6, 6],
    ] as const) {
      const nodes: TrieNode<T>[] = [];
      trie.collect(nodes);
      for (const node of nodes) if (all || node.value === value) out.push(cidrOf(node, family));
    }
    return out;
  }

  private trie(cidr: Cidr): Trie<T> {
    return cidr.family === 4 ? this.v4 : this.v6;
  }
}
