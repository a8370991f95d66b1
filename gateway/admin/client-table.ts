// The state db's clients made through the admin API, and the enable switch of
// clients from the configuration file (tables `clients` and
// `client_overrides`, store.ts migration 2 -> 3). Only this module writes them.

import type { Store } from '../store.js';

export interface ApiClientRow {
  name: string;
  publicKey: string;
  presharedKey: Uint8Array | null;
  policy: string;
  /** null: the policy's weight. */
  weight: number | null;
  enabled: boolean;
  notes: string;
  /** Unix ms. */
  createdAt: number;
}

interface DbRow {
  public_key: string;
  name: string;
  preshared_key: Uint8Array | null;
  policy: string;
  weight: number | null;
  enabled: number;
  notes: string;
  created_at: number;
}

export class ClientTable {
  private readonly s;

  constructor(store: Store) {
    this.s = store.prepare({
      all: 'SELECT * FROM clients ORDER BY name',
      insert: `INSERT INTO clients (public_key, name, preshared_key, policy, weight, enabled, notes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      update: 'UPDATE clients SET name = ?, policy = ?, weight = ?, enabled = ?, notes = ? WHERE public_key = ?',
      remove: 'DELETE FROM clients WHERE public_key = ?',
      overrides: 'SELECT public_key, enabled FROM client_overrides',
      setOverride: `INSERT INTO client_overrides (public_key, enabled) VALUES (?, ?)
         ON CONFLICT (public_key) DO UPDATE SET enabled = excluded.enabled`,
      dropOverride: 'DELETE FROM client_overrides WHERE public_key = ?',
    });
  }

  /** Every API client, by name. */
  all(): ApiClientRow[] {
    return (this.s.all.all() as DbRow[]).map((r) => ({
      name: r.name,
      publicKey: r.public_key,
      presharedKey: r.preshared_key === null ? null : Uint8Array.from(r.preshared_key),
      policy: r.policy,
      weight: r.weight,
      enabled: r.enabled === 1,
      notes: r.notes,
      createdAt: r.created_at,
    }));
  }

  insert(c: ApiClientRow): void {
    this.s.insert.run(
      c.publicKey,
      c.name,
      c.presharedKey === null ? null : Buffer.from(c.presharedKey),
      c.policy,
      c.weight,
      c.enabled ? 1 : 0,
      c.notes,
      c.createdAt,
    );
  }

  /** Writes every changeable field of an existing API client (found by its key). */
  update(c: ApiClientRow): void {
    this.s.update.run(c.name, c.policy, c.weight, c.enabled ? 1 : 0, c.notes, c.publicKey);
  }

  remove(publicKey: string): void {
    this.s.remove.run(publicKey);
  }

  /** The enable switch of file clients, by public key (absent: enabled). */
  overrides(): Map<string, boolean> {
    const rows = this.s.overrides.all() as { public_key: string; enabled: number }[];
    return new Map(rows.map((r) => [r.public_key, r.enabled === 1]));
  }

  /** Enabled is the default, so it is stored as the absence of an override. */
  setEnabled(publicKey: string, enabled: boolean): void {
    if (enabled) this.s.dropOverride.run(publicKey);
    else this.s.setOverride.run(publicKey, 0);
  }
}
