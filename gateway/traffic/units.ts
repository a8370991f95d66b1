// Sizes and rates as the gateway's configuration writes them
// (docs/gateway-config.md, "Quotas, rate limits and fair share"), and their
// text for messages and the CLI.
//
//   size: 1500 | "1.5MB" | "200 GB" | "16KiB"   -> bytes (integer)
//   rate: 8000 | "50Mbit" | "1.5 mbit/s"         -> bits per second (integer)
//
// Decimal units are powers of 1000 and case-insensitive; binary sizes (KiB,
// MiB, GiB, TiB) are powers of 1024 and written exactly so. Each parser takes
// the value (text or number, as the YAML gave it) and its field path, and
// throws a FieldError naming both.

import { FieldError } from '../../shared/config/config-error.js';
import { show } from '../../shared/config/redact.js';

/** Rates outside these are refused: below, a full-size packet takes over a second; above, faster than any uplink here. */
export const RATE_MIN = 8_000;
export const RATE_MAX = 100_000_000_000;
/** Sizes above this are not exact in a JavaScript number. */
export const SIZE_MAX = Number.MAX_SAFE_INTEGER;

/** Decimal size units by lower-case spelling. */
const SIZE_UNITS = new Map<string, number>([
  ['b', 1],
  ['kb', 1e3],
  ['mb', 1e6],
  ['gb', 1e9],
  ['tb', 1e12],
]);
/** Binary size units, case-sensitive. */
const BINARY_SIZE_UNITS = new Map<string, number>([
  ['KiB', 2 ** 10],
  ['MiB', 2 ** 20],
  ['GiB', 2 ** 30],
  ['TiB', 2 ** 40],
]);
/** Rate units by lower-case spelling, in bits per second. */
const RATE_UNITS = new Map<string, number>([
  ['bit', 1],
  ['kbit', 1e3],
  ['mbit', 1e6],
  ['gbit', 1e9],
]);

/** "<number>[ ]<unit>": a decimal number (no sign, no exponent) and a unit of letters (and "/s"). */
const WITH_UNIT = /^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]+(?:\/[A-Za-z]+)?)$/;
const INTEGER = /^\d+$/;

const SIZE_SYNTAX = 'a number of bytes, or a number with B, kB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 200GB';
const RATE_SYNTAX =
  'a number of bits per second, or a number with bit, kbit, Mbit or Gbit (optionally /s), e.g. 50Mbit';

/** A size in bytes: a non-negative integer (the caller refuses 0 where it means nothing). */
export function parseSize(value: unknown, field: string): number {
  const parsed = parseQuantity(value, field, 'size', SIZE_SYNTAX, sizeUnit);
  const bytes = Math.round(parsed.amount);
  if (bytes > SIZE_MAX)
    throw new FieldError(field, 'range', `${parsed.shown} is too large (at most ${SIZE_MAX} bytes)`);
  return bytes;
}

/** A rate in bits per second, RATE_MIN to RATE_MAX. */
export function parseRate(value: unknown, field: string): number {
  const parsed = parseQuantity(value, field, 'rate', RATE_SYNTAX, rateUnit);
  const bps = Math.round(parsed.amount);
  if (bps < RATE_MIN || bps > RATE_MAX) {
    throw new FieldError(
      field,
      'range',
      `${parsed.shown} is out of range (${formatRate(RATE_MIN)} to ${formatRate(RATE_MAX)})`,
    );
  }
  return bps;
}

/** Bytes for messages and the CLI, in decimal units: "512 B", "1.5 MB", "200 GB". */
export function formatSize(bytes: number): string {
  return withUnit(bytes, ['B', 'kB', 'MB', 'GB', 'TB', 'PB']);
}

/** Bits per second for messages and the CLI: "8 kbit/s", "1.5 Mbit/s". */
export function formatRate(bitsPerSecond: number): string {
  return withUnit(bitsPerSecond, ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s']);
}

// ---------------------------------------------------------------------------

type UnitOf = (unit: string) => number | string;

/** The factor of a size unit, or a hint why it is not one. */
function sizeUnit(unit: string): number | string {
  const binary = BINARY_SIZE_UNITS.get(unit);
  if (binary !== undefined) return binary;
  const decimal = SIZE_UNITS.get(unit.toLowerCase());
  if (decimal !== undefined) return decimal;
  for (const name of BINARY_SIZE_UNITS.keys()) {
    if (name.toLowerCase() === unit.toLowerCase()) return `did you mean ${name}?`;
  }
  if (typeof rateUnit(unit) === 'number') return 'sizes are in bytes, not bits';
  return '';
}

/** The factor of a rate unit, or a hint why it is not one. */
function rateUnit(unit: string): number | string {
  const lower = unit.toLowerCase();
  const factor = RATE_UNITS.get(lower.endsWith('/s') ? lower.slice(0, -2) : lower);
  if (factor !== undefined) return factor;
  if (/^[kmg]?bps$/.test(lower)) return `write ${lower[0] === 'b' ? '' : unit[0]}bit for bits per second`;
  if (/^[kmgt]?b(\/s)?$/.test(lower) || /^[kmgt]ib(\/s)?$/.test(lower)) {
    return 'rates are in bits per second (8Mbit is 1 MB/s)';
  }
  return '';
}

/** The amount a size or rate stands for, before rounding and range checks. */
function parseQuantity(
  value: unknown,
  field: string,
  what: string,
  syntax: string,
  unitOf: UnitOf,
): { amount: number; shown: string } {
  if (typeof value === 'number') {
    const shown = String(value);
    if (Number.isNaN(value)) throw new FieldError(field, 'invalid', `${shown} is not a ${what} (${syntax})`);
    if (value < 0) throw new FieldError(field, 'range', `${shown} is negative; a ${what} is ${syntax}`);
    if (!Number.isInteger(value)) {
      throw new FieldError(field, 'invalid', `${shown} is not a whole number; a ${what} is ${syntax}`);
    }
    return { amount: value, shown };
  }
  if (typeof value !== 'string') {
    throw new FieldError(field, 'type', `must be a ${what} (${syntax}), got ${describe(value)}`);
  }
  const text = value.trim();
  const shown = show(text);
  if (INTEGER.test(text)) return { amount: Number(text), shown };
  const m = WITH_UNIT.exec(text);
  if (m === null) {
    if (/^-\s*\.?\d/.test(text)) throw new FieldError(field, 'range', `${shown} is negative; a ${what} is ${syntax}`);
    throw new FieldError(field, 'invalid', `${shown} is not a ${what} (${syntax})`);
  }
  const factor = unitOf(m[2]!);
  if (typeof factor === 'string') {
    const hint = factor === '' ? '' : ` (${factor})`;
    throw new FieldError(field, 'invalid', `${shown} has an unknown unit${hint}; a ${what} is ${syntax}`);
  }
  return { amount: Number(m[1]!) * factor, shown };
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/** `n` in the largest unit (steps of 1000) that keeps it at least 1, to three significant digits. */
function withUnit(n: number, units: readonly string[]): string {
  let value = n;
  let i = 0;
  while (i < units.length - 1 && Math.abs(round3(value)) >= 1000) {
    value /= 1000;
    i++;
  }
  return `${String(round3(value))} ${units[i]!}`;
}

/** Three significant digits, whole numbers kept whole ("1.5", "200", "123456" stays as is only in the last unit). */
function round3(v: number): number {
  if (v === 0 || Math.abs(v) >= 1000) return Math.round(v);
  const digits = 3 - Math.ceil(Math.log10(Math.abs(v) + Number.EPSILON));
  return Number(v.toFixed(Math.max(0, digits)));
}
