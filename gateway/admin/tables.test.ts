import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../store.js';
import { ClientTable, type ApiClientRow } from './client-table.js';
import { TOKEN_PREFIX, TokenTable } from './token-table.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function open(dir?: string): { store: Store; dir: string } {
  const d = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mg-admin-'));
  if (dir === undefined) dirs.push(d);
  const store = Store.open(d);
  stores.push(store);
  return { store, dir: d };
}
const KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const row = (over: Partial<ApiClientRow> = {}): ApiClientRow => ({
  name: 'flat-2b',
  publicKey: KEY,
  presharedKey: null,
  policy: 'unlimited',
  weight: null,
  enabled: true,
  notes: '',
  createdAt: 1_700_000_000_000,
  ...over,
});
let counter = 0;
const random = (n: number) => new Uint8Array(n).fill(++counter);

describe('ClientTable', () => {
  it('keeps API clients across a reopen, updates and removes them', () => {
    const { store, dir } = open();
    const t = new ClientTable(store);
    t.insert(row({ presharedKey: new Uint8Array(32).fill(7), weight: 3, notes: 'second floor' }));
    store.close();
    const again = new ClientTable(open(dir).store);
    expect(again.all()).toEqual([row({ presharedKey: new Uint8Array(32).fill(7), weight: 3, notes: 'second floor' })]);
    again.update(row({ name: 'flat-2c', enabled: false, policy: 'resident', weight: null }));
    expect(again.all()[0]).toMatchObject({ name: 'flat-2c', enabled: false, policy: 'resident', weight: null });
    again.remove(KEY);
    expect(again.all()).toEqual([]);
  });

  it('refuses a second client with the same name or key, and out-of-range values', () => {
    const t = new ClientTable(open().store);
    t.insert(row());
    expect(() => t.insert(row({ publicKey: 'other' }))).toThrow(/UNIQUE/);
    expect(() => t.insert(row({ name: 'other' }))).toThrow(/UNIQUE|PRIMARY/);
    expect(() => t.insert(row({ name: 'w', publicKey: 'w', weight: 0 }))).toThrow(/CHECK/);
    expect(() => t.insert(row({ name: 'p', publicKey: 'p', presharedKey: new Uint8Array(31) }))).toThrow(/CHECK/);
  });

  it('stores a file client disabled as an override, enabled as its absence', () => {
    const t = new ClientTable(open().store);
    t.setEnabled(KEY, false);
    expect(t.overrides()).toEqual(new Map([[KEY, false]]));
    t.setEnabled(KEY, true);
    expect(t.overrides()).toEqual(new Map());
  });
});

describe('TokenTable', () => {
  it('creates a token shown once, stores only its hash, verifies it and notes its use', () => {
    const { store } = open();
    const t = new TokenTable(store);
    const text = t.create('grafana', random, 1000);
    expect(text.startsWith(TOKEN_PREFIX)).toBe(true);
    const raw = store.sqlite().prepare('SELECT hash FROM api_tokens').get() as { hash: Uint8Array };
    expect(Buffer.from(raw.hash).toString('latin1')).not.toContain(text.slice(TOKEN_PREFIX.length));
    expect(t.verify(text, 2000)).toBe('grafana');
    expect(t.list()).toEqual([{ name: 'grafana', createdAt: 1000, lastUsedAt: 2000 }]);
  });

  it('refuses wrong, malformed and revoked tokens', () => {
    const t = new TokenTable(open().store);
    const text = t.create('cli', random, 1);
    expect(t.verify(text.slice(0, -1) + (text.endsWith('A') ? 'B' : 'A'), 2)).toBeNull();
    expect(t.verify('', 2)).toBeNull();
    expect(t.verify(text.slice(TOKEN_PREFIX.length), 2)).toBeNull();
    expect(t.verify(TOKEN_PREFIX + 'x'.repeat(500), 2)).toBeNull();
    expect(t.verify(123 as unknown as string, 2)).toBeNull();
    expect(t.revoke('cli')).toBe(true);
    expect(t.revoke('cli')).toBe(false);
    expect(t.verify(text, 3)).toBeNull();
  });

  it('refuses two tokens with one name', () => {
    const t = new TokenTable(open().store);
    t.create('a', random, 1);
    expect(() => t.create('a', random, 1)).toThrow(/UNIQUE|PRIMARY/);
  });
});
