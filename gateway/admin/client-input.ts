// Checks of what the admin API is given for a client: name, weight, notes,
// public key. Each refusal is an AdminError naming the field.

import { FieldError } from '../../shared/config/config-error.js';
import { keyField, refuseLowOrder } from '../../shared/config/fields.js';
import { equalConstantTime } from '../../shared/wireguard/crypto.js';
import type { GatewayConfig } from '../config.js';
import { AdminError } from './backend.js';

/** Client names: the configuration file's rule. */
export const CLIENT_NAME = /^[A-Za-z0-9._-]{1,32}$/;
export const MAX_NOTES = 1024;

/** A weight override: 1..100, or null for the policy's. */
export function checkWeight(weight: unknown): number | null {
  if (weight === null) return null;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 100) {
    throw new AdminError('invalid', "weight is a whole number 1..100, or null for the policy's", 'weight');
  }
  return weight;
}

/** Free text about the client. */
export function checkNotes(notes: unknown): string {
  if (typeof notes !== 'string' || notes.length > MAX_NOTES) {
    throw new AdminError('invalid', `notes are text of at most ${MAX_NOTES} characters`, 'notes');
  }
  return notes;
}

/** A client's public key: a WireGuard key, not the gateway's, not a low-order point. */
export function checkPublicKey(text: unknown, gateway: Pick<GatewayConfig, 'publicKey' | 'privateKey'>): Uint8Array {
  try {
    if (typeof text !== 'string') throw new FieldError('publicKey', 'invalid', 'not a WireGuard key');
    const key = keyField(text, 'publicKey');
    if (equalConstantTime(key, gateway.publicKey)) {
      throw new FieldError('publicKey', 'invalid', "is the gateway's own public key");
    }
    refuseLowOrder(gateway.privateKey, key, 'publicKey');
    return key;
  } catch (e) {
    if (e instanceof FieldError) throw new AdminError('invalid', `publicKey: ${e.problem}`, 'publicKey');
    throw e;
  }
}
