import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { writerLease } from '../test/support/store-writer.mjs';
import { parseCidr, parseIp } from '../shared/net/address.js';
import { expectCoded } from '../test/support/thrown.js';
import { planLeases, type Lease } from './leases.js';
import { SCHEMA_VERSION, STATE_DB_FILE, Store, StoreError, type StoreErrorCode } from './store.js';
import { ClientUsage, type UsageRow } from './traffic/usage.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WRITER = path.resolve(here, '../test/support/store-writer.mjs');
const BUILT_STORE = path.resolve(here, '../dist/gateway/store.js');
// A version-1 database written by the store of commit 327a6d3 (before the usage
// table): one lease, the ULA prefix in meta, one endpoint; cleanly closed.
const V1_DB = path.resolve(here, 'testdata/state-v1.db');
const V1_KEY = 'kZ8/YvGzN5tRfQ9XbN0ZkH1v7Q9yq3C2m3Xb9l6W6mI=';
const T0 = 1_700_000_000_000;

const dirs: string[] = [];
const open: Store[] = [];

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mg-store-'));
  dirs.push(d);
  return d;
}

function openStore(dir: string): Store {
  const s = Store.open(dir);
  open.push(s);
  return s;
}

function key(name: string | number): string {
  return createHash('sha256').update(String(name)).digest('base64');
}

function lease(name: string, ip4: string, ip6: string, assignedAt = T0, ipv6PrefixLength = 128): Lease {
  return { publicKey: key(name), ipv4: parseIp(ip4), ipv6: parseIp(ip6), ipv6PrefixLength, assignedAt };
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

function expectStoreError(fn: () => unknown, code: StoreErrorCode, message?: RegExp): void {
  expectCoded(fn, StoreError, code, message);
}

/** A connection of its own to the database file, as a second process would have. */
function rawDb(dir: string): Database.Database {
  return new Database(path.join(dir, STATE_DB_FILE));
}

describe('Store: opening, modes, migrations', () => {
  it('creates the state directory 0700 and the database 0600, with the current schema', () => {
    const dir = path.join(tempDir(), 'var', 'lib', 'meshgate');
    const oldMask = process.umask(0o000); // the modes must not depend on the umask
    let s: Store;
    try {
      s = openStore(dir);
    } finally {
      process.umask(oldMask);
    }
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.dirname(dir))).toBe(0o700);
    expect(s.file).toBe(path.join(dir, STATE_DB_FILE));
    expect(mode(s.file)).toBe(0o600);
    s.saveLeases([lease('a', '100.64.0.2', 'fd00::2')]);
    // SQLite gives the WAL and shared-memory files the database file's mode.
    expect(mode(`${s.file}-wal`)).toBe(0o600);
    expect(mode(`${s.file}-shm`)).toBe(0o600);
    const raw = rawDb(dir);
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(
      raw
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .all()
        .map((r) => (r as { name: string }).name),
    ).toEqual(['api_tokens', 'client_overrides', 'clients', 'endpoints', 'leases', 'meta', 'usage']);
    raw.close();
  });

  it('uses synchronous=FULL and foreign keys on its connection', () => {
    const s = openStore(tempDir());
    const db = (s as unknown as { db: Database.Database }).db;
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('leaves an existing directory mode alone and tightens an existing database file', () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o750);
    const file = path.join(dir, STATE_DB_FILE);
    fs.writeFileSync(file, '', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    openStore(dir).close();
    expect(mode(dir)).toBe(0o750);
    expect(mode(file)).toBe(0o600);
  });

  it('opens an existing database again without migrating it twice, keeping its data', () => {
    const dir = tempDir();
    const a = openStore(dir);
    a.setMeta('ula-prefix', 'fd12:3456:789a::/48');
    a.close();
    const b = openStore(dir);
    expect(b.getMeta('ula-prefix')).toBe('fd12:3456:789a::/48');
  });

  it('refuses a database from a newer meshgate and leaves it untouched', () => {
    const dir = tempDir();
    openStore(dir).close();
    const raw = rawDb(dir);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expectStoreError(() => Store.open(dir), 'schema-too-new', /newer meshgate/);
    const check = rawDb(dir);
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    check.close();
  });

  it('gives clear errors for a file that is not a database and a state dir that is a file', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, STATE_DB_FILE), 'this is not a database, just some text '.repeat(40));
    expectStoreError(() => Store.open(dir), 'open-failed', /state\.db: file is not a database/);
    const file = path.join(tempDir(), 'plain-file');
    fs.writeFileSync(file, '');
    expectStoreError(() => Store.open(file), 'state-dir');
    expectStoreError(() => Store.open(path.join(file, 'below')), 'state-dir');
    expectStoreError(() => Store.open(''), 'state-dir');
    const linked = tempDir();
    fs.symlinkSync(path.join(dir, STATE_DB_FILE), path.join(linked, STATE_DB_FILE));
    expectStoreError(() => Store.open(linked), 'open-failed');
  });

  it('refuses to be used after close(); close() twice is fine', () => {
    const s = Store.open(tempDir());
    s.close();
    s.close();
    expectStoreError(() => s.leases(), 'closed');
    expectStoreError(() => s.setMeta('a', 'b'), 'closed');
  });
});

describe('Store: round trips', () => {
  it('stores leases exactly and reads them back ordered by key, after a reopen too', () => {
    const dir = tempDir();
    const s = openStore(dir);
    expect(s.leases()).toEqual([]);
    const given = [
      lease('a', '100.64.0.2', 'fd12:3456:789a::2', T0),
      lease('b', '100.64.255.254', 'fd12:3456:789a:ffff:ffff:ffff:ffff:ffff', T0 + 1),
      lease('c', '100.64.0.3', 'fd12:3456:789a:1::', T0 + 2, 64),
    ];
    s.saveLeases(given);
    const sorted = given.slice().sort((x, y) => (x.publicKey < y.publicKey ? -1 : 1));
    expect(s.leases()).toEqual(sorted);
    for (const l of s.leases()) {
      expect(Object.getPrototypeOf(l.ipv4)).toBe(Uint8Array.prototype); // not a Buffer
      expect(Object.getPrototypeOf(l.ipv6)).toBe(Uint8Array.prototype);
    }
    s.close();
    expect(openStore(dir).leases()).toEqual(sorted);
  });

  it('replaces a key’s lease, keeps leases not given, and drops other keys’ claims on a given address', () => {
    const s = openStore(tempDir());
    s.saveLeases([
      lease('a', '100.64.0.2', 'fd00::2'),
      lease('b', '100.64.0.3', 'fd00::3'),
      lease('c', '100.64.0.4', 'fd00::4'),
    ]);
    s.saveLeases([lease('a', '100.64.0.9', 'fd00::2', T0 + 5)]);
    expect(s.leases().find((l) => l.publicKey === key('a'))).toEqual(lease('a', '100.64.0.9', 'fd00::2', T0 + 5));
    expect(s.leases()).toHaveLength(3);
    // d takes b's IPv4 address and c's IPv6 address: both moved on.
    s.saveLeases([lease('d', '100.64.0.3', 'fd00::4', T0 + 6)]);
    expect(
      s
        .leases()
        .map((l) => l.publicKey)
        .sort(),
    ).toEqual([key('a'), key('d')].sort());
    // Two keys swapping addresses in one batch.
    s.saveLeases([lease('a', '100.64.0.3', 'fd00::4', T0 + 7), lease('d', '100.64.0.9', 'fd00::2', T0 + 7)]);
    expect(s.leases()).toEqual(
      [lease('a', '100.64.0.3', 'fd00::4', T0 + 7), lease('d', '100.64.0.9', 'fd00::2', T0 + 7)].sort((x, y) =>
        x.publicKey < y.publicKey ? -1 : 1,
      ),
    );
  });

  it('rejects a bad batch with a clear error and writes none of it', () => {
    const s = openStore(tempDir());
    s.saveLeases([lease('a', '100.64.0.2', 'fd00::2')]);
    const before = s.leases();
    const good = lease('b', '100.64.0.3', 'fd00::3');
    const cases: [Lease[], RegExp][] = [
      [[good, lease('b', '100.64.0.4', 'fd00::4')], /appears twice/],
      [[good, lease('c', '100.64.0.3', 'fd00::5')], /same IPv4 address/],
      [[good, lease('c', '100.64.0.5', 'fd00::3')], /same IPv6 address/],
      [[good, { ...lease('c', '100.64.0.5', 'fd00::5'), ipv4: new Uint8Array(16) }], /ipv4 must be 4 bytes/],
      [[good, { ...lease('c', '100.64.0.5', 'fd00::5'), ipv6: new Uint8Array(4) }], /ipv6 must be 16 bytes/],
      [[good, { ...lease('c', '100.64.0.5', 'fd00::5'), ipv6PrefixLength: 129 }], /ipv6PrefixLength/],
      [[good, { ...lease('c', '100.64.0.5', 'fd00::5'), assignedAt: -1 }], /assignedAt/],
      [[good, { ...lease('c', '100.64.0.5', 'fd00::5'), publicKey: '' }], /invalid public key/],
      [[good, null as unknown as Lease], /not an object/],
    ];
    for (const [batch, message] of cases) {
      expectStoreError(() => s.saveLeases(batch), 'invalid-input', message);
      expect(s.leases()).toEqual(before);
    }
    expectStoreError(() => s.saveLeases('nope' as unknown as Lease[]), 'invalid-input');
  });

  it('releases a lease, freeing its addresses', () => {
    const s = openStore(tempDir());
    s.saveLeases([lease('a', '100.64.0.2', 'fd00::2'), lease('b', '100.64.0.3', 'fd00::3')]);
    expect(s.releaseLease(key('a'))).toBe(true);
    expect(s.releaseLease(key('a'))).toBe(false);
    expect(s.releaseLease('not a key')).toBe(false);
    expect(s.leases().map((l) => l.publicKey)).toEqual([key('b')]);
    s.saveLeases([lease('c', '100.64.0.2', 'fd00::2')]);
    expect(s.leases()).toHaveLength(2);
  });

  it('keeps meta values', () => {
    const s = openStore(tempDir());
    expect(s.getMeta('ula-prefix')).toBeUndefined();
    s.setMeta('ula-prefix', 'fd12:3456:789a::/48');
    s.setMeta('other', '');
    expect(s.getMeta('ula-prefix')).toBe('fd12:3456:789a::/48');
    s.setMeta('ula-prefix', 'fdaa::/48');
    expect(s.getMeta('ula-prefix')).toBe('fdaa::/48');
    expect(s.getMeta('other')).toBe('');
    expectStoreError(() => s.getMeta(''), 'invalid-input');
    expectStoreError(() => s.setMeta('x'.repeat(65), 'v'), 'invalid-input');
    expectStoreError(() => s.setMeta('k', 5 as unknown as string), 'invalid-input');
  });

  it('keeps the last endpoint of each client, writing only changes', () => {
    const dir = tempDir();
    const s = openStore(dir);
    expect(s.endpoints()).toEqual(new Map());
    s.saveEndpoint(key('a'), '192.0.2.10:51820', T0);
    s.saveEndpoint(key('b'), '[2001:db8::7]:40000', T0);
    s.saveEndpoint(key('a'), '192.0.2.10:51820', T0 + 1_000); // unchanged: no write
    const updatedAt = (): number => {
      const raw = rawDb(dir);
      const row = raw.prepare('SELECT updated_at FROM endpoints WHERE public_key = ?').get(key('a'));
      raw.close();
      return (row as { updated_at: number }).updated_at;
    };
    expect(updatedAt()).toBe(T0);
    s.saveEndpoint(key('a'), '198.51.100.4:1024', T0 + 2_000);
    expect(updatedAt()).toBe(T0 + 2_000);
    s.close();
    expect(openStore(dir).endpoints()).toEqual(
      new Map([
        [key('a'), '198.51.100.4:1024'],
        [key('b'), '[2001:db8::7]:40000'],
      ]),
    );
    const t = openStore(dir);
    expectStoreError(() => t.saveEndpoint('', '192.0.2.1:1', T0), 'invalid-input');
    expectStoreError(() => t.saveEndpoint(key('a'), '', T0), 'invalid-input');
    expectStoreError(() => t.saveEndpoint(key('a'), 'x'.repeat(65), T0), 'invalid-input');
    expectStoreError(() => t.saveEndpoint(key('a'), '192.0.2.1:1', Number.NaN), 'invalid-input');
  });

  it('lets a second connection (another process) read what the first committed', () => {
    const dir = tempDir();
    const a = openStore(dir);
    const b = openStore(dir);
    a.saveLeases([lease('a', '100.64.0.2', 'fd00::2')]);
    expect(b.leases()).toHaveLength(1);
    b.saveLeases([lease('b', '100.64.0.3', 'fd00::3')]);
    expect(a.leases()).toHaveLength(2);
  });

  it('gives the gateway the same leases after a restart (plan, save, reopen, plan)', () => {
    const dir = tempDir();
    const pools = {
      ipv4: parseCidr('100.64.0.0/16'),
      ipv6: parseCidr('fd12:3456:789a::/48'),
      ipv6LeasePrefixLength: 128 as const,
    };
    const wants = Array.from({ length: 10_000 }, (_, i) => ({ publicKey: key(i) }));
    const plan = planLeases([], wants, pools, T0);
    const s = openStore(dir);
    let t = performance.now();
    s.saveLeases(plan.leases);
    const saveMs = performance.now() - t;
    s.close();
    const r = openStore(dir);
    t = performance.now();
    const back = r.leases();
    const loadMs = performance.now() - t;
    const again = planLeases(back, wants, pools, T0 + 60_000);
    expect(again.leases).toEqual(plan.leases);
    t = performance.now();
    r.saveLeases(again.leases); // the unchanged plan written again, as at every start
    const resaveMs = performance.now() - t;
    console.log(
      `Store, 10,000 leases: save ${saveMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms, ` +
        `save unchanged ${resaveMs.toFixed(0)} ms`,
    );
    expect(saveMs + loadMs + resaveMs).toBeLessThan(10_000);
  });
});

describe('Store: usage', () => {
  const DEC_1 = Date.UTC(2026, 11, 1);
  const JAN_1 = Date.UTC(2027, 0, 1);
  const FEB_1 = Date.UTC(2027, 1, 1);
  function usageRow(name: string, periodStart: number, periodEnd: number, n: number): UsageRow {
    return {
      publicKey: key(name),
      periodStart,
      periodEnd,
      downBytes: n * 1000,
      upBytes: n * 100,
      downPackets: n * 10,
      upPackets: n,
      updatedAt: periodStart + n,
    };
  }

  it('migrates a version-1 database written by the old store to the current version, keeping its data', () => {
    const dir = tempDir();
    fs.copyFileSync(V1_DB, path.join(dir, STATE_DB_FILE));
    const before = rawDb(dir);
    expect(before.pragma('user_version', { simple: true })).toBe(1);
    expect(before.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'usage'").get()).toEqual({ n: 0 });
    before.close();
    const s = openStore(dir);
    expect(SCHEMA_VERSION).toBe(3);
    expect(s.leases()).toEqual([
      {
        publicKey: V1_KEY,
        ipv4: parseIp('100.64.0.2'),
        ipv6: parseIp('fd00:db8:1::2'),
        ipv6PrefixLength: 128,
        assignedAt: 1_700_000_000_000,
      },
    ]);
    expect(s.getMeta('ula-prefix')).toBe('fd12:3456:789a::/48');
    expect(s.endpoints()).toEqual(new Map([[V1_KEY, '192.0.2.10:51820']]));
    expect(s.usage()).toEqual([]);
    const row = { ...usageRow('x', DEC_1, JAN_1, 3), publicKey: V1_KEY };
    s.saveUsage([row]);
    s.close();
    const again = openStore(dir); // current now: nothing migrated twice
    expect(again.usage(V1_KEY)).toEqual([row]);
    const raw = rawDb(dir);
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
  });

  it('upserts absolute values: a replayed checkpoint changes nothing, a new one replaces', () => {
    const s = openStore(tempDir());
    const a = usageRow('a', DEC_1, JAN_1, 1);
    const b = usageRow('b', DEC_1, JAN_1, 2);
    s.saveUsage([a, b]);
    s.saveUsage([a, b]);
    s.saveUsage([a]);
    expect(s.usage()).toEqual([a, b].sort((x, y) => (x.publicKey < y.publicKey ? -1 : 1)));
    const later = usageRow('a', DEC_1, JAN_1, 5);
    s.saveUsage([later]);
    expect(s.usage(key('a'))).toEqual([later]);
    s.saveUsage([]);
    expect(s.usage()).toHaveLength(2);
  });

  it('keeps history across periods, newest first, per key or for all', () => {
    const dir = tempDir();
    const s = openStore(dir);
    const decA = usageRow('a', DEC_1, JAN_1, 9);
    const janA = usageRow('a', JAN_1, FEB_1, 1);
    const janB = usageRow('b', JAN_1, FEB_1, 2);
    s.saveUsage([decA]);
    s.saveUsage([janA, janB]);
    s.close();
    const r = openStore(dir);
    expect(r.usage(key('a'))).toEqual([janA, decA]);
    expect(r.usage(key('b'))).toEqual([janB]);
    expect(r.usage(key('nobody'))).toEqual([]);
    const all = r.usage();
    expect(all.map((u) => u.periodStart)).toEqual([JAN_1, JAN_1, DEC_1]);
    expect(all[2]).toEqual(decA);
  });

  it('refuses bad rows with a clear error and writes none of the batch; the table CHECKs them too', () => {
    const dir = tempDir();
    const s = openStore(dir);
    const good = usageRow('a', DEC_1, JAN_1, 1);
    const cases: [UsageRow[], RegExp][] = [
      [[good, { ...good, downBytes: -1 }], /downBytes must be a non-negative integer/],
      [[good, { ...good, publicKey: key('b'), upPackets: 1.5 }], /upPackets/],
      [[good, { ...good, publicKey: key('b'), upBytes: Number.NaN }], /upBytes/],
      [[good, { ...good, publicKey: key('b'), periodEnd: DEC_1 }], /periodEnd must be after periodStart/],
      [[good, { ...good, publicKey: '' }], /invalid public key/],
      [[good, { ...good }], /appears twice/],
      [[good, null as unknown as UsageRow], /not an object/],
    ];
    for (const [batch, message] of cases) {
      expectStoreError(() => s.saveUsage(batch), 'invalid-input', message);
      expect(s.usage()).toEqual([]);
    }
    expectStoreError(() => s.saveUsage('nope' as unknown as UsageRow[]), 'invalid-input');
    // Written around the store (another tool, a bug): the schema refuses it.
    const raw = rawDb(dir);
    const insert = raw.prepare(
      `INSERT INTO usage (public_key, period_start, period_end, down_bytes, up_bytes, down_packets, up_packets,
         updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const values of [
      [key('a'), DEC_1, JAN_1, -1, 0, 0, 0, DEC_1],
      [key('a'), DEC_1, JAN_1, 0, -1, 0, 0, DEC_1],
      [key('a'), DEC_1, JAN_1, 0, 0, -1, 0, DEC_1],
      [key('a'), DEC_1, JAN_1, 0, 0, 0, -1, DEC_1],
      [key('a'), DEC_1, DEC_1, 0, 0, 0, 0, DEC_1],
      [key('a'), -5, JAN_1, 0, 0, 0, 0, DEC_1],
      [key('a'), DEC_1, JAN_1, 0, 0, 0, 0, -1],
      [key('a'), DEC_1, JAN_1, 1.5, 0, 0, 0, DEC_1], // STRICT: not an integer
      [null, DEC_1, JAN_1, 0, 0, 0, 0, DEC_1],
    ]) {
      expect(() => insert.run(...values), JSON.stringify(values)).toThrow(/constraint|cannot store/i);
    }
    raw.close();
    expect(s.usage()).toEqual([]);
  });

  it('a client’s usage survives checkpoints and a restart exactly (ClientUsage → store → ClientUsage)', () => {
    const dir = tempDir();
    const policy = {
      name: 'resident',
      quota: {
        bytes: 50_000,
        period: { unit: 'month' as const, resetDay: 1, resetHour: 0, timeZone: 'UTC' },
        count: 'both' as const,
        atQuota: 'block' as const,
        throttle: null,
      },
      down: null,
      up: null,
      weight: 1,
    };
    let now = JAN_1 - 3_000;
    let s = openStore(dir);
    let u = new ClientUsage(key('a'), policy, 'UTC', now, s.usage(key('a'))[0]);
    const checkpoint = () => {
      const finished = u.rollover(now);
      s.saveUsage(finished === null ? [u.row(now)] : [finished, u.row(now)]);
    };
    for (let second = 0; second < 6; second++) {
      for (let i = 0; i < 10; i++) u.add(i % 2 === 0 ? 'down' : 'up', 1_000);
      now += 1_000;
      checkpoint();
      checkpoint(); // a replay charges nothing twice
      if (second === 1) {
        s.close(); // restart just before the new year
        s = openStore(dir);
        u = new ClientUsage(key('a'), policy, 'UTC', now, s.usage(key('a'))[0]);
        expect(u.used).toBe(20_000);
      }
    }
    // Dec: seconds 0, 1 and the traffic of second 2 (counted before the rollover at its checkpoint).
    expect(s.usage(key('a'))).toEqual([
      { ...u.row(now), periodStart: JAN_1, periodEnd: FEB_1, downBytes: 15_000, upBytes: 15_000 },
      {
        ...usageRow('a', DEC_1, JAN_1, 0),
        downBytes: 15_000,
        upBytes: 15_000,
        downPackets: 15,
        upPackets: 15,
        updatedAt: JAN_1,
      },
    ]);
    s.close();
    s = openStore(dir);
    u = new ClientUsage(key('a'), policy, 'UTC', now + 10, s.usage(key('a'))[0]);
    expect([u.downBytes, u.upBytes, u.downPackets, u.upPackets, u.state]).toEqual([15_000, 15_000, 15, 15, 'ok']);
    for (let i = 0; i < 20; i++) u.add('down', 1_000);
    expect(u.state).toBe('blocked'); // the quota holds across the restart: 30 kB stored + 20 kB
  });

  it('saves 200 clients’ checkpoint in one short transaction', () => {
    const s = openStore(tempDir());
    const rows = Array.from({ length: 200 }, (_, i) => usageRow(`c${i}`, DEC_1, JAN_1, i + 1));
    s.saveUsage(rows);
    const runs = 20;
    const t = performance.now();
    for (let r = 0; r < runs; r++) s.saveUsage(rows.map((row) => ({ ...row, downBytes: row.downBytes + r })));
    const ms = (performance.now() - t) / runs;
    console.log(`Store: saveUsage of 200 rows ${ms.toFixed(2)} ms per checkpoint`);
    expect(s.usage()).toHaveLength(200);
    expect(ms).toBeLessThan(100);
  });
});

describe('Store: durability', () => {
  interface Round {
    reported: number; // batches the writer said were committed
    signal: NodeJS.Signals | null;
  }

  /** Runs the writer until it has reported `killAfter` commits, then SIGKILLs it. */
  function runWriter(dir: string, round: number, batchSize: number, killAfter: number): Promise<Round> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [WRITER, dir, String(round), String(batchSize)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let reported = 0;
      let buffered = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`writer too slow: ${reported} commits in 60 s; stderr: ${stderr}`));
      }, 60_000);
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => (stderr += d));
      child.stdout.on('data', (d: string) => {
        buffered += d;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const m = /^committed (\d+)$/.exec(line);
          if (m === null) continue;
          if (Number(m[1]) !== reported) reject(new Error(`writer reported batch ${m[1]}, expected ${reported}`));
          reported++;
          if (reported === killAfter) child.kill('SIGKILL');
        }
      });
      child.on('error', reject);
      child.on('exit', (_code, signal) => {
        clearTimeout(timer);
        if (signal !== 'SIGKILL') reject(new Error(`writer ended by itself (${_code}); stderr: ${stderr}`));
        else resolve({ reported, signal });
      });
    });
  }

  it('keeps every commit a writer reported before SIGKILL, and the database stays intact', async () => {
    if (!fs.existsSync(BUILT_STORE)) {
      throw new Error(`${BUILT_STORE} is missing: build first (npx tsc -p tsconfig.build.json)`);
    }
    const dir = tempDir();
    const batchSize = 25;
    const rounds = [
      { round: 0, killAfter: 40 },
      { round: 1, killAfter: 1 },
      { round: 2, killAfter: 200 },
      { round: 3, killAfter: 97 },
    ];
    const lines: string[] = [];
    const presentByRound: number[] = [];
    /** Number of whole batches of `round` in the store; fails on a partial batch or a wrong lease. */
    const batchesOf = (stored: Map<string, Lease>, round: number): number => {
      for (let batch = 0; ; batch++) {
        let n = 0;
        for (let j = 0; j < batchSize; j++) {
          const want = writerLease(round, batch * batchSize + j, 0);
          const got = stored.get(want.publicKey);
          if (got === undefined) continue;
          expect({ ...got, assignedAt: 0 }).toEqual(want);
          expect(got.assignedAt).toBeGreaterThan(T0);
          n++;
        }
        expect(n === 0 || n === batchSize, `batch ${batch} of round ${round} is partial (${n})`).toBe(true);
        if (n === 0) return batch;
      }
    };
    for (const { round, killAfter } of rounds) {
      const r = await runWriter(dir, round, batchSize, killAfter);
      expect(r.reported).toBeGreaterThanOrEqual(killAfter);
      // Killed: no clean close, so the commits are still in the WAL, not checkpointed into the db.
      expect(fs.statSync(path.join(dir, `${STATE_DB_FILE}-wal`)).size).toBeGreaterThan(0);
      // Reopen as the restarted gateway would: recovery from the WAL happens here.
      const s = openStore(dir);
      const stored = new Map(s.leases().map((l) => [l.publicKey, l]));
      s.close();
      // Every reported batch is there, exactly; batches are whole or absent (atomic); the
      // ones present form a prefix (the writer may have committed a few past its last report).
      const present = batchesOf(stored, round);
      expect(present).toBeGreaterThanOrEqual(r.reported);
      presentByRound.push(present);
      // Earlier rounds untouched, and nothing else in the store.
      for (let earlier = 0; earlier < round; earlier++)
        expect(batchesOf(stored, earlier)).toBe(presentByRound[earlier]);
      expect(stored.size).toBe(presentByRound.reduce((a, b) => a + b, 0) * batchSize);
      const raw = rawDb(dir);
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(raw.pragma('foreign_key_check')).toEqual([]);
      raw.close();
      lines.push(`round ${round}: killed after ${r.reported} reported commits, ${present} batches present`);
    }
    console.log(`Store crash test (SIGKILL, ${batchSize} leases per commit):\n  ${lines.join('\n  ')}`);
  }, 120_000);
});
