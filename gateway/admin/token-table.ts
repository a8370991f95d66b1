// Bearer tokens of the admin API (table `api_tokens`, store.ts migration
// 2 -> 3). A token is 32 random bytes, shown once as "mgt_" + base64url; only
// its SHA-256 is stored, and a presented token is checked by hashing it and
// comparing hashes in constant time (a timing difference tells nothing about
// a stored hash's bytes).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { RandomBytes } from '../../shared/wireguard/crypto.js';
import type { Store } from '../store.js';

export const TOKEN_PREFIX = 'mgt_';
const TOKEN_BYTES = 32;
/** Token names: what `meshgate gateway token` takes. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

export interface TokenInfo {
  name: string;
  /** Unix ms. */
  createdAt: number;
  lastUsedAt: number | null;
}

export class TokenTable {
  private readonly s;

  constructor(store: Store) {
    this.s = store.prepare({
      all: 'SELECT name, hash, created_at, last_used_at FROM api_tokens ORDER BY name',
      insert: 'INSERT INTO api_tokens (name, hash, created_at) VALUES (?, ?, ?)',
      remove: 'DELETE FROM api_tokens WHERE name = ?',
      touch: 'UPDATE api_tokens SET last_used_at = ? WHERE name = ?',
    });
  }

  /** Makes a token named `name` and returns its text (the only time it exists outside the caller). */
  create(name: string, random: RandomBytes, now: number): string {
    const text = TOKEN_PREFIX + Buffer.from(random(TOKEN_BYTES)).toString('base64url');
    this.s.insert.run(name, hashToken(text), now);
    return text;
  }

  /** False when there was no such token. */
  revoke(name: string): boolean {
    return this.s.remove.run(name).changes > 0;
  }

  list(): TokenInfo[] {
    return (this.s.all.all() as { name: string; created_at: number; last_used_at: number | null }[]).map((r) => ({
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  /**
   * The name of the token `presented` is, or null. Every stored hash is
   * compared (no early exit), each in constant time.
   */
  verify(presented: string, now: number): string | null {
    if (typeof presented !== 'string' || !presented.startsWith(TOKEN_PREFIX) || presented.length > 128) return null;
    const hash = hashToken(presented);
    let found: string | null = null;
    for (const row of this.s.all.all() as { name: string; hash: Uint8Array }[]) {
      if (timingSafeEqual(Buffer.from(row.hash), hash) && found === null) found = row.name;
    }
    if (found !== null) this.s.touch.run(now, found);
    return found;
  }
}

function hashToken(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
