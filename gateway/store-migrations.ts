// The state database's schema, as the migrations that build it
// (store.ts runs them): MIGRATIONS[i] moves a database from version i to
// i + 1. Append only; never edit a released migration.

/** Schema migrations; append only, never edit a released one. */
export const MIGRATIONS: readonly string[] = [
  // 0 -> 1: leases, settings kept by the gateway, last endpoints.
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;

  -- One row per client key that holds (or reserves) addresses. An address is
  -- held by at most one key: saveLeases() drops other keys' claims first.
  CREATE TABLE leases (
    public_key         TEXT PRIMARY KEY,
    ipv4               BLOB NOT NULL CHECK (length(ipv4) = 4),
    ipv6               BLOB NOT NULL CHECK (length(ipv6) = 16),
    ipv6_prefix_length INTEGER NOT NULL CHECK (ipv6_prefix_length BETWEEN 0 AND 128),
    assigned_at        INTEGER NOT NULL CHECK (assigned_at >= 0)
  ) STRICT;
  CREATE UNIQUE INDEX leases_ipv4 ON leases (ipv4);
  CREATE UNIQUE INDEX leases_ipv6 ON leases (ipv6);

  CREATE TABLE endpoints (
    public_key TEXT PRIMARY KEY,
    endpoint   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 1 -> 2: each client's usage per accounting period; rows of finished periods are history.
  `
  CREATE TABLE usage (
    public_key   TEXT NOT NULL,
    period_start INTEGER NOT NULL CHECK (period_start >= 0),
    period_end   INTEGER NOT NULL CHECK (period_end > period_start),
    down_bytes   INTEGER NOT NULL CHECK (down_bytes >= 0),
    up_bytes     INTEGER NOT NULL CHECK (up_bytes >= 0),
    down_packets INTEGER NOT NULL CHECK (down_packets >= 0),
    up_packets   INTEGER NOT NULL CHECK (up_packets >= 0),
    updated_at   INTEGER NOT NULL CHECK (updated_at >= 0),
    PRIMARY KEY (public_key, period_start)
  ) STRICT;
  `,
  // 2 -> 3: clients made through the admin API, file clients' enable switch, API tokens
  // (gateway/admin/client-table.ts, token-table.ts).
  `
  CREATE TABLE clients (
    public_key    TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    preshared_key BLOB CHECK (preshared_key IS NULL OR length(preshared_key) = 32),
    policy        TEXT NOT NULL,
    weight        INTEGER CHECK (weight IS NULL OR weight BETWEEN 1 AND 100),
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    notes         TEXT NOT NULL,
    created_at    INTEGER NOT NULL CHECK (created_at >= 0)
  ) STRICT;

  CREATE TABLE client_overrides (
    public_key TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1))
  ) STRICT;

  CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    hash         BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at   INTEGER NOT NULL CHECK (created_at >= 0),
    last_used_at INTEGER CHECK (last_used_at IS NULL OR last_used_at >= 0)
  ) STRICT;
  `,
];
