// The `clients` entries of the gateway's configuration (docs/gateway-config.md):
// each one's name, keys, fixed addresses and policy, checked against the gateway and
// against the clients before it; and reading a stock client's private key
// for export-client. Called by gateway/config.ts's normalization; throws
// FieldError naming the field (the loader adds the file).

import { resolve } from 'node:path';
import { FieldError } from '../shared/config/config-error.js';
import { ipLiteral, keyField, refuseLowOrder, show } from '../shared/config/fields.js';
import { checkKeyFile, readKeyFile } from '../shared/config/key-file.js';
import { showPath } from '../shared/config/redact.js';
import {
  containsAddress,
  equalBytes,
  formatCidr,
  formatIp,
  lastAddress,
  parseCidr,
  type Cidr,
} from '../shared/net/address.js';
import { equalConstantTime, publicKeyOf, wipe, type preparePrivateKey } from '../shared/wireguard/crypto.js';
import { formatKey } from '../shared/wireguard/keys.js';
import type { GatewayClient, GatewayConfig, RawGatewayClient as RawClient } from './config.js';
import { policyFor, type TrafficConfig } from './traffic/policy.js';

export interface ClientContext {
  base: string;
  index: number;
  names: Map<string, number>;
  keys: Map<string, number>;
  /** Fixed addresses (text) → field that holds it. */
  fixed: Map<string, string>;
  gatewayPublicKey: Uint8Array;
  gatewayKey: ReturnType<typeof preparePrivateKey>;
  ipv4Pool: Cidr;
  ipv4Gateway: Uint8Array;
  ipv6Pool: Cidr | null;
  ipv6Gateway: Uint8Array | null;
  leasePrefixLength: 64 | 128;
  /** The policies a client's `policy` names. */
  traffic: TrafficConfig;
}

const CLIENT_NAME = /^[A-Za-z0-9._-]{1,32}$/;

/** One entry of `clients`, checked against the gateway and the clients before it (`ctx`). */
export function normalizeClient(rc: RawClient, at: string, ctx: ClientContext): GatewayClient {
  if (!CLIENT_NAME.test(rc.name)) {
    throw new FieldError(`${at}.name`, 'invalid', `${show(rc.name)} is not a client name (1-32 of a-z A-Z 0-9 . _ -)`);
  }
  const sameName = ctx.names.get(rc.name);
  if (sameName !== undefined) {
    throw new FieldError(`${at}.name`, 'duplicate', `${show(rc.name)} is used by clients[${sameName}] too`);
  }
  ctx.names.set(rc.name, ctx.index);

  const publicKey = keyField(rc.publicKey, `${at}.publicKey`);
  if (equalConstantTime(publicKey, ctx.gatewayPublicKey)) {
    throw new FieldError(`${at}.publicKey`, 'conflict', "is the gateway's own public key");
  }
  const keyText = formatKey(publicKey);
  const sameKey = ctx.keys.get(keyText);
  if (sameKey !== undefined) {
    throw new FieldError(`${at}.publicKey`, 'duplicate', `is the key of clients[${sameKey}] too`);
  }
  ctx.keys.set(keyText, ctx.index);
  refuseLowOrder(ctx.gatewayKey, publicKey, `${at}.publicKey`);
  const policy = policyFor(ctx.traffic, rc.policy, `${at}.policy`);

  let ipv4: Uint8Array | null = null;
  if (rc.ipv4 !== undefined) {
    const field = `${at}.ipv4`;
    ipv4 = ipLiteral(rc.ipv4, field, 4);
    checkFixed(ipv4, field, ctx.ipv4Pool, ctx.ipv4Gateway, 'ipv4Pool', 32, ctx);
  }
  let ipv6: Uint8Array | null = null;
  if (rc.ipv6 !== undefined) {
    const field = `${at}.ipv6`;
    ipv6 = ipLiteral(rc.ipv6, field, 6);
    if (ctx.ipv6Pool === null || ctx.ipv6Gateway === null) {
      throw new FieldError(
        field,
        'conflict',
        'a fixed IPv6 address needs ipv6.pool to be set (the generated pool is not known yet)',
      );
    }
    checkFixed(ipv6, field, ctx.ipv6Pool, ctx.ipv6Gateway, 'ipv6.pool', ctx.leasePrefixLength, ctx);
  }

  // A stock client's private key file is checked here (so a daemon start
  // reports a missing or too open file) but read only by export-client.
  let privateKeyFile: string | null = null;
  if (rc.privateKeyFile !== undefined) {
    privateKeyFile = resolve(ctx.base, rc.privateKeyFile);
    checkKeyFile(privateKeyFile, `${at}.privateKeyFile`);
  }
  let presharedKey: Uint8Array | null = null;
  let presharedKeyFile: string | null = null;
  if (rc.presharedKeyFile !== undefined) {
    presharedKeyFile = resolve(ctx.base, rc.presharedKeyFile);
    presharedKey = readKeyFile(presharedKeyFile, `${at}.presharedKeyFile`);
  }
  return { name: rc.name, publicKey, presharedKey, presharedKeyFile, privateKeyFile, ipv4, ipv6, policy };
}

/**
 * Reads a stock client's private key from its privateKeyFile, for
 * export-client only; it must belong to the client's public key. The key is in
 * memory of its own: wipe it when done. Throws ConfigError.
 */
export function readClientPrivateKey(config: GatewayConfig, client: GatewayClient): Uint8Array {
  const index = config.clients.indexOf(client);
  const field = `clients[${index}].privateKeyFile`;
  const fail = (e: FieldError) => e.inFile(config.file);
  if (client.privateKeyFile === null) {
    throw fail(new FieldError(field, 'missing', 'export-client needs the private key of this client'));
  }
  let key: Uint8Array;
  try {
    key = readKeyFile(client.privateKeyFile, field);
  } catch (e) {
    if (e instanceof FieldError) throw fail(e);
    throw e;
  }
  const publicKey = publicKeyOf(key);
  if (!equalConstantTime(publicKey, client.publicKey)) {
    wipe(key);
    throw fail(
      new FieldError(
        field,
        'conflict',
        `${showPath(client.privateKeyFile)} is the private key of another public key than clients[${index}].publicKey`,
      ),
    );
  }
  return key;
}

/** A fixed client address: inside its pool, not reserved, not the gateway's, not taken. */
function checkFixed(
  address: Uint8Array,
  field: string,
  pool: Cidr,
  gateway: Uint8Array,
  poolField: string,
  leaseLength: number,
  ctx: ClientContext,
): void {
  const text = formatIp(address);
  if (!containsAddress(pool, address)) {
    throw new FieldError(field, 'conflict', `${text} is outside ${poolField} ${formatCidr(pool)}`);
  }
  if (leaseLength < address.length * 8) {
    // A prefix per client: the field is the prefix start, and the pool's first prefix holds the gateway.
    const lease: Cidr = { family: pool.family, address, prefixLength: leaseLength };
    const start = parseCidr(`${text}/${leaseLength}`).address;
    if (!equalBytes(start, address)) {
      throw new FieldError(
        field,
        'invalid',
        `with leasePrefixLength ${leaseLength} this is the start of the client's /${leaseLength}; ${text} has host bits set (did you mean ${formatIp(start)}?)`,
      );
    }
    if (containsAddress(lease, gateway)) {
      throw new FieldError(
        field,
        'conflict',
        `${text}/${leaseLength} holds the gateway's own address ${formatIp(gateway)}`,
      );
    }
  } else {
    if (equalBytes(address, pool.address)) {
      throw new FieldError(field, 'conflict', `${text} is the network address of ${poolField} ${formatCidr(pool)}`);
    }
    if (equalBytes(address, gateway)) {
      throw new FieldError(field, 'conflict', `${text} is the gateway's own address`);
    }
    if (pool.family === 4 && equalBytes(address, lastAddress(pool))) {
      throw new FieldError(field, 'conflict', `${text} is the broadcast address of ${poolField} ${formatCidr(pool)}`);
    }
  }
  const holder = ctx.fixed.get(text);
  if (holder !== undefined) throw new FieldError(field, 'duplicate', `${text} is the fixed address of ${holder} too`);
  ctx.fixed.set(text, field.slice(0, field.lastIndexOf('.')));
}
