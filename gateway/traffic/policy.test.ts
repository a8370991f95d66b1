// Traffic policies in gateway.yaml, through the real loader
// (parseGatewayConfig): what a building's configuration normalizes to, the
// defaults, and every refusal of the format as a table: the one-line
// ConfigError names the file and the exact field path, has the right code,
// and exits 2.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { EXIT_USAGE, exitCodeOf } from '../../shared/cli/exit-code.js';
import { generatePrivateKeyText, publicKeyText } from '../../shared/wireguard/keys.js';
import { thrownBy } from '../../test/support/thrown.js';
import { ConfigError, parseGatewayConfig, type ConfigErrorCode, type GatewayConfig } from '../config.js';
import {
  ACCOUNTING_PERIOD_DEFAULT,
  defaultBurst,
  hostTimeZone,
  MAX_POLICIES,
  normalizeTraffic,
  UNLIMITED,
  type TrafficPolicy,
} from './policy.js';

let dir: string;
let file: string;
/** Clients' public keys (made now: the tables below use them). */
const keys = Array.from({ length: 4 }, () => publicKeyText(generatePrivateKeyText(randomBytes)));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mg-policy-'));
  file = join(dir, 'gateway.yaml');
  writeFileSync(join(dir, 'gateway.key'), `${generatePrivateKeyText(randomBytes)}\n`, { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A valid configuration with `extra` fields (data, or YAML text appended). */
function load(extra: Record<string, unknown> | string = {}): GatewayConfig {
  const head = 'privateKeyFile: gateway.key\nuplink: eth0\n';
  const text = typeof extra === 'string' ? head + extra : head + YAML.stringify(extra);
  return parseGatewayConfig(text, file);
}

const client = (i: number, extra: Record<string, unknown> = {}) => ({
  name: `flat-${i}`,
  publicKey: keys[i],
  ...extra,
});
const policy = (body: Record<string, unknown>) => ({ policies: { resident: body } });
const quota = (q: Record<string, unknown>, rest: Record<string, unknown> = {}) =>
  policy({ quota: { bytes: '200GB', period: 'month', ...q }, ...rest });

describe('traffic policies: what the configuration becomes', () => {
  it('without the fields: unlimited for everyone, no capacity, the host zone', () => {
    const c = load({ clients: [client(0)] });
    expect(c.uplinkCapacity).toEqual({ down: null, up: null });
    expect(c.policies).toEqual([]);
    expect(c.defaultPolicy).toBe('unlimited');
    expect(c.accountingZone).toBe(hostTimeZone());
    expect(c.clients[0]!.policy).toBe(UNLIMITED);
    expect(UNLIMITED).toEqual({ name: 'unlimited', quota: null, down: null, up: null, weight: 1 });
  });

  it('a building: a throttled monthly default, fair share, one unlimited and one weighted client', () => {
    const c = load(`
uplinkCapacity:
  down: 100Mbit
  up: 20Mbit/s
defaultPolicy: resident
policies:
  resident:
    quota:
      bytes: 200GB
      period: month
      resetDay: 31
      resetHour: 3
      timeZone: Europe/Berlin
      count: download
      atQuota: throttle
      throttle: 1Mbit
    rate: { down: 50Mbit, up: 10Mbit, burst: 1MB }
  office:
    quota: { bytes: 1.5TiB, period: week, resetDay: Friday }
    weight: 3
clients:
  - { name: flat-1a, publicKey: "${keys[0]}" }
  - { name: caretaker, publicKey: "${keys[1]}", policy: unlimited }
  - { name: office, publicKey: "${keys[2]}", policy: office }
`);
    expect(c.uplinkCapacity).toEqual({ down: 100e6, up: 20e6 });
    expect(c.defaultPolicy).toBe('resident');
    const resident: TrafficPolicy = {
      name: 'resident',
      quota: {
        bytes: 200e9,
        period: { unit: 'month', resetDay: 31, resetHour: 3, timeZone: 'Europe/Berlin' },
        count: 'download',
        atQuota: 'throttle',
        throttle: { bitsPerSecond: 1e6, burstBytes: 16_384 },
      },
      down: { bitsPerSecond: 50e6, burstBytes: 1e6 },
      up: { bitsPerSecond: 10e6, burstBytes: 1e6 },
      weight: 1,
    };
    const office: TrafficPolicy = {
      name: 'office',
      quota: {
        bytes: 1.5 * 2 ** 40,
        period: { unit: 'week', resetDay: 5, resetHour: 0, timeZone: hostTimeZone() },
        count: 'both',
        atQuota: 'block',
        throttle: null,
      },
      down: null,
      up: null,
      weight: 3,
    };
    expect(c.policies).toEqual([resident, office]);
    expect(c.clients.map((x) => x.policy.name)).toEqual(['resident', 'unlimited', 'office']);
    // Clients share the one normalized object of their policy.
    expect(c.clients[0]!.policy).toBe(c.policies[0]);
    expect(c.clients[1]!.policy).toBe(UNLIMITED);
    expect(c.clients[2]!.policy).toBe(c.policies[1]);
  });

  it("docs/gateway-config.md's building example loads as it says", () => {
    const doc = readFileSync(new URL('../../docs/gateway-config.md', import.meta.url), 'utf8');
    const block = /<!-- example: building -->\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    let n = 0;
    const text = block!
      .replace('/etc/meshgate/gateway.key', 'gateway.key')
      .replace(/"base64…"/g, () => `"${keys[n++]!}"`);
    const c = parseGatewayConfig(text, file);
    expect(c.uplinkCapacity).toEqual({ down: 95e6, up: 19e6 });
    expect(c.clients.map((x) => [x.name, x.policy.name, x.policy.weight])).toEqual([
      ['flat-1a', 'resident', 1],
      ['flat-1b', 'resident', 1],
      ['caretaker', 'unlimited', 1],
      ['shop', 'shop', 2],
    ]);
    const resident = c.policies[0]!;
    expect(resident.quota).toEqual({
      bytes: 200e9,
      period: { unit: 'month', resetDay: 1, resetHour: 4, timeZone: 'Europe/Berlin' },
      count: 'download',
      atQuota: 'throttle',
      throttle: { bitsPerSecond: 2e6, burstBytes: 25_000 },
    });
    expect(resident.down!.bitsPerSecond).toBe(50e6);
    expect(c.policies[1]).toEqual({
      name: 'shop',
      quota: null,
      down: { bitsPerSecond: 80e6, burstBytes: 1e6 },
      up: null,
      weight: 2,
    });
  });

  it("docs/gateway-config.md's field reference of the section loads with the values it names", () => {
    const doc = readFileSync(new URL('../../docs/gateway-config.md', import.meta.url), 'utf8');
    const block = /## Quotas, rate limits and fair share[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    const c = load(block!.replace('"base64…"', `"${keys[0]!}"`));
    expect(c.defaultPolicy).toBe('resident');
    expect(c.policies[0]!.quota!.throttle!.bitsPerSecond).toBe(1e6);
    expect(c.clients[0]!.policy).toBe(c.policies[0]);
  });

  it('defaults: burst per direction, weight 1, block, both, day 1 at 00:00, monday', () => {
    const c = load(quota({}, { rate: { down: '50Mbit', up: '100kbit' } }));
    const p = c.policies[0]!;
    expect(p.down).toEqual({ bitsPerSecond: 50e6, burstBytes: 625_000 }); // 100 ms at 50 Mbit/s
    expect(p.up).toEqual({ bitsPerSecond: 100e3, burstBytes: 16_384 }); // the 16 KiB floor
    expect(p.weight).toBe(1);
    expect(p.quota).toEqual({
      bytes: 200e9,
      period: ACCOUNTING_PERIOD_DEFAULT(hostTimeZone()),
      count: 'both',
      atQuota: 'block',
      throttle: null,
    });
    expect(load(quota({ period: 'week' })).policies[0]!.quota!.period.resetDay).toBe(1);
    expect(load(quota({ period: 'day', resetHour: 23 })).policies[0]!.quota!.period).toMatchObject({
      unit: 'day',
      resetDay: 0,
      resetHour: 23,
    });
  });

  it('weekday names in any case; zones as the runtime spells them', () => {
    const days = ['monday', 'Tuesday', 'WEDNESDAY', 'thursday', 'friday', 'saturday', 'Sunday'];
    days.forEach((d, i) =>
      expect(load(quota({ period: 'week', resetDay: d })).policies[0]!.quota!.period.resetDay).toBe(i + 1),
    );
    expect(load(quota({ timeZone: 'europe/berlin' })).policies[0]!.quota!.period.timeZone).toBe('Europe/Berlin');
    expect(load(quota({ timeZone: 'UTC' })).policies[0]!.quota!.period.timeZone).toBe('UTC');
    expect(load(quota({ timeZone: 'Australia/Lord_Howe' })).policies[0]!.quota!.period.timeZone).toBe(
      'Australia/Lord_Howe',
    );
  });

  it('a throttle equal to the rate limits, one direction of capacity, numbers for sizes and rates', () => {
    const c = load({
      uplinkCapacity: { up: 20_000_000 },
      ...quota({ bytes: 1, atQuota: 'throttle', throttle: '10Mbit' }, { rate: { down: '10Mbit', up: 10_000_000 } }),
    });
    expect(c.uplinkCapacity).toEqual({ down: null, up: 20e6 });
    expect(c.policies[0]!.quota).toMatchObject({ bytes: 1, throttle: { bitsPerSecond: 10e6, burstBytes: 125_000 } });
  });

  it('a client may name the unlimited policy when there is a default, and the default may be unlimited', () => {
    const c = load({
      defaultPolicy: 'unlimited',
      ...quota({}),
      clients: [client(0), client(1, { policy: 'resident' })],
    });
    expect(c.clients.map((x) => x.policy.name)).toEqual(['unlimited', 'resident']);
  });

  it(`up to ${MAX_POLICIES} policies`, () => {
    const policies = Object.fromEntries(
      Array.from({ length: MAX_POLICIES }, (_, i) => [`p${i}`, { weight: 1 + (i % 100) }]),
    );
    expect(load({ policies }).policies).toHaveLength(MAX_POLICIES);
  });

  it('defaultBurst: 100 ms of the rate, at least 16 KiB', () => {
    expect(defaultBurst(8000)).toBe(16_384);
    expect(defaultBurst(1_310_720)).toBe(16_384);
    expect(defaultBurst(1e9)).toBe(12_500_000);
  });

  it('normalizeTraffic takes the accounting zone (the default timeZone of quotas)', () => {
    const t = normalizeTraffic({ policies: { a: { quota: { bytes: '1GB', period: 'month' } } } }, 'Asia/Kolkata');
    expect(t.accountingZone).toBe('Asia/Kolkata');
    expect(t.policies[0]!.quota!.period.timeZone).toBe('Asia/Kolkata');
  });
});

describe('traffic policies: refused at load, one line on the field, exit 2', () => {
  const manyPolicies = Object.fromEntries(Array.from({ length: MAX_POLICIES + 1 }, (_, i) => [`p${i}`, {}]));
  const P = 'policies.resident';
  const LONG_NAME = 'ab-'.repeat(11); // 33 characters, shown (no run that may be a key)
  const Q = `${P}.quota`;

  it.each<[string, Record<string, unknown> | string, string, ConfigErrorCode, RegExp]>([
    // negative, zero, NaN
    ['a negative quota', quota({ bytes: -1 }), `${Q}.bytes`, 'range', /-1 is negative/],
    ['a negative size as text', quota({ bytes: '-5GB' }), `${Q}.bytes`, 'range', /"-5GB" is negative/],
    ['a zero quota', quota({ bytes: 0 }), `${Q}.bytes`, 'range', /must be at least 1 byte/],
    ['a zero quota with a unit', quota({ bytes: '0GB' }), `${Q}.bytes`, 'range', /at least 1 byte/],
    [
      'a NaN quota',
      `policies:\n  resident:\n    quota: { bytes: .nan, period: month }\n`,
      `${Q}.bytes`,
      'invalid',
      /NaN is not a size/,
    ],
    ['a fractional byte count', quota({ bytes: 1.5 }), `${Q}.bytes`, 'invalid', /not a whole number/],
    ['a negative rate', policy({ rate: { down: '-1Mbit' } }), `${P}.rate.down`, 'range', /negative/],
    [
      'a zero rate',
      policy({ rate: { up: 0 } }),
      `${P}.rate.up`,
      'range',
      /0 is out of range \(8 kbit\/s to 100 Gbit\/s\)/,
    ],
    ['a NaN rate', policy({ rate: { up: 'NaN' } }), `${P}.rate.up`, 'invalid', /"NaN" is not a rate/],
    [
      'a rate below 8 kbit/s',
      policy({ rate: { down: '7kbit' } }),
      `${P}.rate.down`,
      'range',
      /"7kbit" is out of range/,
    ],
    [
      'a rate above 100 Gbit/s',
      { uplinkCapacity: { down: '200Gbit' } },
      'uplinkCapacity.down',
      'range',
      /out of range/,
    ],
    ['a zero capacity', { uplinkCapacity: { up: 0 } }, 'uplinkCapacity.up', 'range', /out of range/],
    ['a zero burst', policy({ rate: { down: '1Mbit', burst: 0 } }), `${P}.rate.burst`, 'range', /at least 1 byte/],
    ['a zero weight', policy({ weight: 0 }), `${P}.weight`, 'range', /from 1 to 100, got 0/],
    ['a weight above 100', policy({ weight: 101 }), `${P}.weight`, 'range', /from 1 to 100/],
    ['a fractional weight', policy({ weight: 1.5 }), `${P}.weight`, 'type', /whole number/],
    // units
    ['an unknown size unit', quota({ bytes: '5XB' }), `${Q}.bytes`, 'invalid', /"5XB" has an unknown unit/],
    ['bits for a size', quota({ bytes: '5Gbit' }), `${Q}.bytes`, 'invalid', /sizes are in bytes, not bits/],
    [
      'an unknown rate unit',
      policy({ rate: { down: '5Mbps' } }),
      `${P}.rate.down`,
      'invalid',
      /unknown unit \(write Mbit/,
    ],
    [
      'bytes for a rate',
      policy({ rate: { down: '5MB/s' } }),
      `${P}.rate.down`,
      'invalid',
      /rates are in bits per second/,
    ],
    [
      'an unknown burst unit',
      policy({ rate: { down: '1Mbit', burst: '1 lot' } }),
      `${P}.rate.burst`,
      'invalid',
      /"1 lot" has an unknown unit/,
    ],
    [
      'an unknown throttle unit',
      quota({ atQuota: 'throttle', throttle: '1Mbyte' }),
      `${Q}.throttle`,
      'invalid',
      /unknown unit/,
    ],
    [
      'a capacity that is not a rate',
      { uplinkCapacity: { down: 'fast' } },
      'uplinkCapacity.down',
      'invalid',
      /"fast" is not a rate/,
    ],
    ['a size of the wrong type', quota({ bytes: true }), `${Q}.bytes`, 'type', /got true/],
    ['a missing size', quota({ bytes: null }), `${Q}.bytes`, 'type', /got an empty value/],
    // periods, days, hours, zones
    ['an unknown period', quota({ period: 'year' }), `${Q}.period`, 'invalid', /one of "day", "week", "month"/],
    ['a missing period', policy({ quota: { bytes: '1GB' } }), `${Q}.period`, 'missing', /required/],
    ['a missing quota size', policy({ quota: { period: 'day' } }), `${Q}.bytes`, 'missing', /required/],
    ['resetDay 0 of a month', quota({ resetDay: 0 }), `${Q}.resetDay`, 'range', /from 1 to 31, got 0/],
    ['resetDay 32 of a month', quota({ resetDay: 32 }), `${Q}.resetDay`, 'range', /from 1 to 31, got 32/],
    [
      'a weekday for a month',
      quota({ resetDay: 'monday' }),
      `${Q}.resetDay`,
      'invalid',
      /a day of the month \(1\.\.31\), got "monday"/,
    ],
    [
      'a number for a week',
      quota({ period: 'week', resetDay: 1 }),
      `${Q}.resetDay`,
      'invalid',
      /a weekday \(monday\.\.sunday\), got 1/,
    ],
    ['an unknown weekday', quota({ period: 'week', resetDay: 'funday' }), `${Q}.resetDay`, 'invalid', /got "funday"/],
    [
      'resetDay with period day',
      quota({ period: 'day', resetDay: 1 }),
      `${Q}.resetDay`,
      'conflict',
      /not used with period: day/,
    ],
    ['resetHour 24', quota({ resetHour: 24 }), `${Q}.resetHour`, 'range', /from 0 to 23, got 24/],
    ['a negative resetHour', quota({ resetHour: -1 }), `${Q}.resetHour`, 'range', /from 0 to 23/],
    [
      'an unknown zone',
      quota({ timeZone: 'Europe/Atlantis' }),
      `${Q}.timeZone`,
      'invalid',
      /"Europe\/Atlantis" is not a time zone/,
    ],
    ['an offset instead of a zone', quota({ timeZone: '+02:00' }), `${Q}.timeZone`, 'invalid', /not a time zone/],
    ['an unknown count', quota({ count: 'all' }), `${Q}.count`, 'invalid', /one of "download", "upload", "both"/],
    ['an unknown atQuota', quota({ atQuota: 'drop' }), `${Q}.atQuota`, 'invalid', /one of "block", "throttle"/],
    // throttle
    [
      'a throttle with block',
      quota({ atQuota: 'block', throttle: '1Mbit' }),
      `${Q}.throttle`,
      'conflict',
      /only used with atQuota: throttle, and atQuota is block$/,
    ],
    [
      'a throttle with the default block',
      quota({ throttle: '1Mbit' }),
      `${Q}.throttle`,
      'conflict',
      /atQuota is block \(the default\)/,
    ],
    [
      'throttle without a rate',
      quota({ atQuota: 'throttle' }),
      `${Q}.throttle`,
      'missing',
      /required with atQuota: throttle/,
    ],
    [
      'a throttle above rate.down',
      quota({ atQuota: 'throttle', throttle: '2Mbit' }, { rate: { down: '1Mbit' } }),
      `${Q}.throttle`,
      'conflict',
      /: 2 Mbit\/s is above rate\.down 1 Mbit\/s$/,
    ],
    [
      'a throttle above rate.up',
      quota({ atQuota: 'throttle', throttle: '2Mbit' }, { rate: { down: '5Mbit', up: '1.5Mbit' } }),
      `${Q}.throttle`,
      'conflict',
      /: 2 Mbit\/s is above rate\.up 1\.5 Mbit\/s$/,
    ],
    ['a burst without a rate', policy({ rate: { burst: '1MB' } }), `${P}.rate.burst`, 'conflict', /neither is set/],
    // names and references
    [
      'an unknown defaultPolicy',
      { defaultPolicy: 'residnt', ...quota({}) },
      'defaultPolicy',
      'invalid',
      /"residnt" is not a policy \(one of: resident, unlimited\)/,
    ],
    [
      'a defaultPolicy without policies',
      { defaultPolicy: 'resident' },
      'defaultPolicy',
      'invalid',
      /one of: unlimited\)/,
    ],
    [
      'an unknown client policy',
      { ...quota({}), clients: [client(0), client(1, { policy: 'guest' })] },
      'clients[1].policy',
      'invalid',
      /"guest" is not a policy/,
    ],
    [
      'a policy named unlimited',
      { policies: { unlimited: { weight: 2 } } },
      'policies.unlimited',
      'invalid',
      /"unlimited" is reserved/,
    ],
    [
      'a policy name with a space',
      { policies: { 'flat a': {} } },
      'policies[(a name that may hold a key, not shown)]',
      'invalid',
      /not a policy name/,
    ],
    ['a policy name with a dot', { policies: { 'a.b': {} } }, 'policies[a.b]', 'invalid', /not a policy name/],
    ['a policy name too long', { policies: { [LONG_NAME]: {} } }, `policies.${LONG_NAME}`, 'invalid', /1-32/],
    [
      `more than ${MAX_POLICIES} policies`,
      { policies: manyPolicies },
      'policies',
      'range',
      /at most 256 policies, got 257/,
    ],
    // structure
    ['policies as a list', { policies: [{ name: 'resident' }] }, 'policies', 'type', /must be a mapping/],
    ['a policy that is not a mapping', { policies: { resident: 5 } }, P, 'type', /must be a mapping/],
    [
      'a client policy that is not text',
      { clients: [client(0, { policy: 3 })] },
      'clients[0].policy',
      'type',
      /must be text/,
    ],
    [
      'an empty client policy',
      { clients: [client(0, { policy: '' })] },
      'clients[0].policy',
      'invalid',
      /must not be empty/,
    ],
    // unknown fields
    ['an unknown policy field', policy({ limit: 1 }), `${P}.limit`, 'unknown-field', /unknown field/],
    ['a misspelt quota field', quota({ bytez: 1 }), `${Q}.bytez`, 'unknown-field', /did you mean bytes\?/],
    [
      'a misspelt rate field',
      policy({ rate: { dwon: '1Mbit' } }),
      `${P}.rate.dwon`,
      'unknown-field',
      /did you mean down\?/,
    ],
    [
      'an unknown capacity field',
      { uplinkCapacity: { both: '1Gbit' } },
      'uplinkCapacity.both',
      'unknown-field',
      /unknown field/,
    ],
    [
      'a misspelt client field',
      { clients: [client(0, { polcy: 'x' })] },
      'clients[0].polcy',
      'unknown-field',
      /did you mean policy\?/,
    ],
    [
      'a misspelt top-level field',
      { defaultpolicy: 'x' },
      'defaultpolicy',
      'unknown-field',
      /did you mean defaultPolicy\?/,
    ],
  ])('%s', (_, extra, field, code, pattern) => {
    const e = thrownBy(() => load(extra));
    expect(e).toBeInstanceOf(ConfigError);
    const err = e as ConfigError;
    expect({ field: err.field, code: err.code }).toEqual({ field, code });
    expect(err.message.startsWith(`${file}: ${field}: `), err.message).toBe(true);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(pattern);
    expect(exitCodeOf(err)).toBe(EXIT_USAGE);
  });

  it('never repeats a key pasted into a policy field', () => {
    const key = keys[3]!;
    for (const extra of [
      quota({ bytes: key }),
      quota({ timeZone: key }),
      { defaultPolicy: key },
      { policies: { [key]: {} } },
      { clients: [client(0, { policy: key })] },
    ]) {
      const e = thrownBy(() => load(extra)) as ConfigError;
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).not.toContain(key.slice(0, 16));
    }
  });

  it('lists the known policies without a name that may hold a key', () => {
    const keyLike = 'AbCdEfGhIjKlMnOpQrSt';
    const e = thrownBy(() => load({ policies: { [keyLike]: {}, guest: {} }, defaultPolicy: 'other' })) as ConfigError;
    expect(e.message).toMatch(
      /"other" is not a policy \(one of: \(a name that may hold a key, not shown\), guest, unlimited\)$/,
    );
    expect(e.message).not.toContain(keyLike);
  });
});
