// The gateway's state database: one SQLite file (better-sqlite3) in the state
// directory, so that leases, the generated ULA prefix, the clients' last
// endpoints and their usage per accounting period survive a restart.
//
//   stateDir/            created 0700
//     state.db           0600 (SQLite gives its -wal and -shm files the same mode)
//
// Settings, and why:
//   journal_mode = WAL   readers (the CLI) never block the gateway's writes, and
//                        a commit appends to one file instead of rewriting pages.
//   synchronous = FULL   each commit is fsynced before it returns, so it survives
//                        power loss, not only a crash of the process. NORMAL+WAL
//                        would lose the last commits on power loss; for leases
//                        that could hand an address to a second key after a
//                        reboot while the first still uses it. The price is one
//                        fsync per transaction, which the callers keep rare: one
//                        transaction per plan of all leases, endpoint writes only
//                        when an endpoint changes, usage counters of all clients
//                        in one transaction at most once a second. Measured on the project VM (ext4, virtio):
//                        0.33 ms per commit with FULL, 0.03 ms with NORMAL.
//   foreign_keys = ON    for tables that refer to others.
//   busy timeout 5 s     a second process (the CLI) may hold the write lock briefly.
//
// The schema version is PRAGMA user_version; MIGRATIONS[i] (store-migrations.ts) moves a database from
// version i to i + 1. All pending migrations run in one IMMEDIATE transaction,
// so two processes opening a fresh directory at once cannot both migrate. A
// database from a newer meshgate (a higher version) is refused, never touched.
//
// Not safe for concurrent use from several threads (nothing in Node is); several
// processes may open the same directory.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { Lease } from './leases.js';
import type { UsageRow } from './traffic/usage.js';
import { CodedError } from '../shared/errors.js';
import { MIGRATIONS } from './store-migrations.js';

export const STATE_DB_FILE = 'state.db';
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const BUSY_TIMEOUT_MS = 5_000;
const MAX_META_KEY_LEN = 64;
const MAX_ENDPOINT_LEN = 64; // "[ffff:…:ffff%zone]:65535" fits
const MAX_PUBLIC_KEY_LEN = 64; // base64 keys are 44 characters
const USAGE_COLUMNS =
  'public_key, period_start, period_end, down_bytes, up_bytes, down_packets, up_packets, updated_at';

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export const StoreErrorCodes = [
  'state-dir', // the state directory cannot be created or is not a directory
  'open-failed', // the database cannot be opened or is not a database
  'schema-too-new', // written by a newer meshgate
  'invalid-input', // a value that cannot be stored (wrong lengths, conflicting leases, …)
  'corrupt', // a row that does not read back as a valid value
  'closed', // used after close()
] as const;

export type StoreErrorCode = (typeof StoreErrorCodes)[number];

export class StoreError extends CodedError<StoreErrorCode> {
  override readonly name = 'StoreError';
}

interface UsageDbRow {
  public_key: string;
  period_start: number;
  period_end: number;
  down_bytes: number;
  up_bytes: number;
  down_packets: number;
  up_packets: number;
  updated_at: number;
}

interface LeaseRow {
  public_key: string;
  ipv4: Uint8Array;
  ipv6: Uint8Array;
  ipv6_prefix_length: number;
  assigned_at: number;
}

export class Store {
  /** Path of the database file. */
  readonly file: string;
  private db: Database.Database | null;
  private readonly statements: ReturnType<typeof prepare>;
  /** Endpoints as last written, so an unchanged endpoint costs no write. */
  private endpointCache: Map<string, string> | null = null;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.db = db;
    this.statements = prepare(db);
  }

  /** Opens (creating and migrating as needed) the database in `stateDir`. */
  static open(stateDir: string): Store {
    if (typeof stateDir !== 'string' || stateDir === '') {
      throw new StoreError('state-dir', 'the state directory must be a non-empty path');
    }
    const dir = path.resolve(stateDir);
    makeStateDir(dir);
    const file = path.join(dir, STATE_DB_FILE);
    createPrivateFile(file);
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('trusted_schema = OFF');
      migrate(db, file);
      for (const suffix of ['-wal', '-shm']) tightenIfPresent(file + suffix);
      return new Store(file, db);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError('open-failed', `${file}: ${messageOf(err)}`, { cause: err });
    }
  }

  /** Every lease and reservation, ordered by public key. */
  leases(): Lease[] {
    this.live();
    const rows = this.statements.allLeases.all() as LeaseRow[];
    return rows.map((row) => leaseOfRow(row, this.file));
  }

  /**
   * Writes the given leases in one transaction (all or none): a key's row is
   * replaced by its new lease. Another key's row that claims an address given
   * here is deleted first: the address has moved on, and the store never holds
   * one address twice. Leases not given are left as they are.
   */
  saveLeases(leases: Lease[]): void {
    const s = this.statements;
    this.writeBatch('saveLeases', 'leases', leases, checkLeaseBatch, (l) => {
      const ipv4 = Buffer.from(l.ipv4);
      const ipv6 = Buffer.from(l.ipv6);
      s.dropIpv4Claim.run(ipv4, l.publicKey);
      s.dropIpv6Claim.run(ipv6, l.publicKey);
      s.upsertLease.run(l.publicKey, ipv4, ipv6, l.ipv6PrefixLength, l.assignedAt);
    });
  }

  /** Forgets a key's lease (its addresses become free); false if it had none. */
  releaseLease(publicKey: string): boolean {
    this.live();
    if (typeof publicKey !== 'string') return false;
    return this.statements.deleteLease.run(publicKey).changes > 0;
  }

  getMeta(key: string): string | undefined {
    this.live();
    checkMetaKey(key);
    const row = this.statements.getMeta.get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.live();
    checkMetaKey(key);
    if (typeof value !== 'string') throw new StoreError('invalid-input', `meta ${key}: the value must be a string`);
    this.statements.setMeta.run(key, value);
  }

  /**
   * Records the UDP endpoint (`192.0.2.1:51820`, `[2001:db8::1]:51820`) a client
   * was last seen at. Written only when it differs from the recorded one, so it
   * may be called on every authenticated handshake; `at` (unix ms) is when the
   * client moved to this endpoint.
   */
  saveEndpoint(publicKey: string, endpoint: string, at: number): void {
    this.live();
    if (typeof publicKey !== 'string' || publicKey === '' || publicKey.length > MAX_PUBLIC_KEY_LEN) {
      throw new StoreError('invalid-input', 'saveEndpoint: invalid public key');
    }
    if (typeof endpoint !== 'string' || endpoint === '' || endpoint.length > MAX_ENDPOINT_LEN) {
      throw new StoreError('invalid-input', `saveEndpoint: invalid endpoint for ${publicKey}`);
    }
    if (!Number.isSafeInteger(at) || at < 0) {
      throw new StoreError('invalid-input', `saveEndpoint: invalid time ${at} for ${publicKey}`);
    }
    const cache = (this.endpointCache ??= this.endpoints());
    if (cache.get(publicKey) === endpoint) return;
    this.statements.upsertEndpoint.run(publicKey, endpoint, at);
    cache.set(publicKey, endpoint);
  }

  /** Last known endpoint of each client key. */
  endpoints(): Map<string, string> {
    this.live();
    const rows = this.statements.allEndpoints.all() as { public_key: string; endpoint: string }[];
    return new Map(rows.map((r) => [r.public_key, r.endpoint]));
  }

  /**
   * Writes usage rows in one transaction (all or none), each as absolute values
   * keyed by (public key, period start): writing the same snapshot again, as a
   * replayed checkpoint does, changes nothing, so nothing is charged twice.
   * Rows of other periods (history) are left as they are.
   */
  saveUsage(rows: UsageRow[]): void {
    const s = this.statements;
    this.writeBatch('saveUsage', 'usage rows', rows, checkUsageBatch, (r) =>
      s.upsertUsage.run(
        r.publicKey,
        r.periodStart,
        r.periodEnd,
        r.downBytes,
        r.upBytes,
        r.downPackets,
        r.upPackets,
        r.updatedAt,
      ),
    );
  }

  /** Usage rows of every period, of one key or of all: newest period first, then by key. */
  usage(publicKey?: string): UsageRow[] {
    this.live();
    const rows = (
      publicKey === undefined ? this.statements.allUsage.all() : this.statements.usageOf.all(publicKey)
    ) as UsageDbRow[];
    return rows.map((row) => usageOfRow(row, this.file));
  }

  /** The open database. */
  sqlite(): Database.Database {
    this.live();
    return this.db!;
  }

  /**
   * Each SQL text of `sql` prepared on the open database, under the same key:
   * the statements of the tables other modules own (the admin API's
   * client-table.ts and token-table.ts).
   */
  prepare<K extends string>(sql: Record<K, string>): Record<K, Database.Statement> {
    return prepareAll(this.sqlite(), sql);
  }

  /** Closes the database (a WAL checkpoint happens here); later calls are no-ops. */
  close(): void {
    if (this.db === null) return;
    this.db.close();
    this.db = null;
  }

  /** Checks a batch whole, then writes its rows in one transaction (all or none). */
  private writeBatch<T>(
    method: string,
    what: string,
    rows: T[],
    check: (rows: T[]) => void,
    write: (row: T) => void,
  ): void {
    this.live();
    if (!Array.isArray(rows)) throw new StoreError('invalid-input', `${method} takes an array of ${what}`);
    check(rows);
    this.db!.transaction(() => {
      for (const row of rows) write(row);
    }).immediate();
  }

  private live(): void {
    if (this.db === null || !this.db.open) throw new StoreError('closed', `${this.file}: the store is closed`);
  }
}

function prepare(db: Database.Database) {
  return prepareAll(db, {
    allLeases: 'SELECT public_key, ipv4, ipv6, ipv6_prefix_length, assigned_at FROM leases ORDER BY public_key',
    dropIpv4Claim: 'DELETE FROM leases WHERE ipv4 = ? AND public_key <> ?',
    dropIpv6Claim: 'DELETE FROM leases WHERE ipv6 = ? AND public_key <> ?',
    upsertLease: `INSERT INTO leases (public_key, ipv4, ipv6, ipv6_prefix_length, assigned_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (public_key) DO UPDATE SET ipv4 = excluded.ipv4, ipv6 = excluded.ipv6,
         ipv6_prefix_length = excluded.ipv6_prefix_length, assigned_at = excluded.assigned_at`,
    deleteLease: 'DELETE FROM leases WHERE public_key = ?',
    getMeta: 'SELECT value FROM meta WHERE key = ?',
    setMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    upsertEndpoint: `INSERT INTO endpoints (public_key, endpoint, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (public_key) DO UPDATE SET endpoint = excluded.endpoint, updated_at = excluded.updated_at`,
    allEndpoints: 'SELECT public_key, endpoint FROM endpoints ORDER BY public_key',
    upsertUsage: `INSERT INTO usage (public_key, period_start, period_end, down_bytes, up_bytes, down_packets, up_packets,
         updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (public_key, period_start) DO UPDATE SET period_end = excluded.period_end,
         down_bytes = excluded.down_bytes, up_bytes = excluded.up_bytes, down_packets = excluded.down_packets,
         up_packets = excluded.up_packets, updated_at = excluded.updated_at`,
    allUsage: `SELECT ${USAGE_COLUMNS} FROM usage ORDER BY period_start DESC, public_key`,
    usageOf: `SELECT ${USAGE_COLUMNS} FROM usage WHERE public_key = ? ORDER BY period_start DESC`,
  });
}

/** Each SQL text of `sql` prepared on `db`, under the same key. */
function prepareAll<K extends string>(db: Database.Database, sql: Record<K, string>): Record<K, Database.Statement> {
  const out = {} as Record<K, Database.Statement>;
  for (const key of Object.keys(sql) as K[]) out[key] = db.prepare(sql[key]);
  return out;
}

function migrate(db: Database.Database, file: string): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new StoreError(
        'schema-too-new',
        `${file}: schema version ${version} was written by a newer meshgate (this one knows up to ${MIGRATIONS.length})`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    if (version !== MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function makeStateDir(dir: string): void {
  let created: string | undefined;
  try {
    created = fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new StoreError('state-dir', `state directory ${dir}: ${messageOf(err)}`, { cause: err });
  }
  // mkdir's mode passes through the umask; set it exactly on what we created.
  // An existing directory is the admin's, and its mode is left alone.
  if (created !== undefined) {
    for (let d = dir; ; d = path.dirname(d)) {
      fs.chmodSync(d, DIR_MODE);
      if (d === created || d === path.dirname(d)) break;
    }
  } else if (!fs.statSync(dir).isDirectory()) {
    throw new StoreError('state-dir', `state directory ${dir} is not a directory`);
  }
}

/** Creates the database file 0600 before SQLite opens it (SQLite would use 0644). */
function createPrivateFile(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, FILE_MODE);
  } catch (err) {
    throw new StoreError('open-failed', `${file}: ${messageOf(err)}`, { cause: err });
  }
  try {
    if (!fs.fstatSync(fd).isFile()) throw new StoreError('open-failed', `${file} is not a regular file`);
    fs.fchmodSync(fd, FILE_MODE);
  } finally {
    fs.closeSync(fd);
  }
}

function tightenIfPresent(file: string): void {
  try {
    fs.chmodSync(file, FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function checkMetaKey(key: string): void {
  if (typeof key !== 'string' || key === '' || key.length > MAX_META_KEY_LEN) {
    throw new StoreError('invalid-input', `a meta key is a string of 1 to ${MAX_META_KEY_LEN} characters`);
  }
}

/** Rejects a batch that could not be stored as given, before anything is written. */
function checkLeaseBatch(leases: Lease[]): void {
  const keys = new Set<string>();
  const ipv4s = new Map<string, string>();
  const ipv6s = new Map<string, string>();
  leases.forEach((l, i) => {
    const where = `lease ${i}`;
    if (l === null || typeof l !== 'object') throw new StoreError('invalid-input', `${where} is not an object`);
    const key = l.publicKey;
    if (typeof key !== 'string' || key === '' || key.length > MAX_PUBLIC_KEY_LEN) {
      throw new StoreError('invalid-input', `${where}: invalid public key`);
    }
    if (keys.has(key)) throw new StoreError('invalid-input', `${where}: ${key} appears twice`);
    keys.add(key);
    if (!(l.ipv4 instanceof Uint8Array) || l.ipv4.length !== 4) {
      throw new StoreError('invalid-input', `${where} (${key}): ipv4 must be 4 bytes`);
    }
    if (!(l.ipv6 instanceof Uint8Array) || l.ipv6.length !== 16) {
      throw new StoreError('invalid-input', `${where} (${key}): ipv6 must be 16 bytes`);
    }
    if (!Number.isInteger(l.ipv6PrefixLength) || l.ipv6PrefixLength < 0 || l.ipv6PrefixLength > 128) {
      throw new StoreError('invalid-input', `${where} (${key}): ipv6PrefixLength must be 0..128`);
    }
    if (!Number.isSafeInteger(l.assignedAt) || l.assignedAt < 0) {
      throw new StoreError('invalid-input', `${where} (${key}): assignedAt must be a non-negative integer`);
    }
    for (const [seen, bytes, family] of [
      [ipv4s, l.ipv4, 'IPv4'],
      [ipv6s, l.ipv6, 'IPv6'],
    ] as const) {
      const hex = Buffer.from(bytes).toString('hex');
      const other = seen.get(hex);
      if (other !== undefined) {
        throw new StoreError('invalid-input', `${where}: ${key} and ${other} are given the same ${family} address`);
      }
      seen.set(hex, key);
    }
  });
}

const USAGE_COUNTERS = ['downBytes', 'upBytes', 'downPackets', 'upPackets'] as const;

/** Rejects a usage batch that could not be stored as given, before anything is written. */
function checkUsageBatch(rows: UsageRow[]): void {
  const seen = new Set<string>();
  rows.forEach((r, i) => {
    const where = `usage row ${i}`;
    if (r === null || typeof r !== 'object') throw new StoreError('invalid-input', `${where} is not an object`);
    const key = r.publicKey;
    if (typeof key !== 'string' || key === '' || key.length > MAX_PUBLIC_KEY_LEN) {
      throw new StoreError('invalid-input', `${where}: invalid public key`);
    }
    for (const field of ['periodStart', 'periodEnd', 'updatedAt', ...USAGE_COUNTERS] as const) {
      const v = r[field];
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new StoreError('invalid-input', `${where} (${key}): ${field} must be a non-negative integer`);
      }
    }
    if (r.periodEnd <= r.periodStart) {
      throw new StoreError('invalid-input', `${where} (${key}): periodEnd must be after periodStart`);
    }
    const id = `${key}/${r.periodStart}`;
    if (seen.has(id)) throw new StoreError('invalid-input', `${where}: ${key} appears twice for one period`);
    seen.add(id);
  });
}

function usageOfRow(row: UsageDbRow, file: string): UsageRow {
  const values = [
    row.period_start,
    row.period_end,
    row.down_bytes,
    row.up_bytes,
    row.down_packets,
    row.up_packets,
    row.updated_at,
  ];
  if (typeof row.public_key !== 'string' || !values.every((v) => Number.isSafeInteger(v))) {
    throw new StoreError('corrupt', `${file}: a usage row of ${String(row.public_key)} is malformed`);
  }
  return {
    publicKey: row.public_key,
    periodStart: row.period_start,
    periodEnd: row.period_end,
    downBytes: row.down_bytes,
    upBytes: row.up_bytes,
    downPackets: row.down_packets,
    upPackets: row.up_packets,
    updatedAt: row.updated_at,
  };
}

function leaseOfRow(row: LeaseRow, file: string): Lease {
  const ok =
    typeof row.public_key === 'string' &&
    row.ipv4 instanceof Uint8Array &&
    row.ipv4.length === 4 &&
    row.ipv6 instanceof Uint8Array &&
    row.ipv6.length === 16 &&
    Number.isInteger(row.ipv6_prefix_length) &&
    Number.isSafeInteger(row.assigned_at);
  if (!ok) throw new StoreError('corrupt', `${file}: the lease of ${String(row.public_key)} is malformed`);
  return {
    publicKey: row.public_key,
    ipv4: Uint8Array.from(row.ipv4),
    ipv6: Uint8Array.from(row.ipv6),
    ipv6PrefixLength: row.ipv6_prefix_length,
    assignedAt: row.assigned_at,
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
