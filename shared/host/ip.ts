// The `ip` (iproute2) command lines for each piece of host state: pure
// functions from a value to argv, so the configurator (configurator.ts) only
// decides what changes and tests can read the exact text.

import { formatCidr, type Cidr } from '../net/address.js';

export type Family = 4 | 6;

/** A route into the state's link; `table` defaults to main. */
export interface RouteState {
  cidr: Cidr;
  table?: number;
}

/** A policy routing rule, as `ip rule` reads it: [not] [fwmark M] [to PREFIX] table T [suppress_prefixlength N]. */
export interface RuleState {
  family: Family;
  not?: boolean;
  fwmark?: number;
  to?: Cidr;
  table: number | 'main';
  suppressPrefixLength?: number;
}

const familyFlag = (family: Family): string => `-${family}`;

export function linkMtuArgs(name: string, mtu: number): string[] {
  return ['link', 'set', 'dev', name, 'mtu', String(mtu)];
}

/**
 * No automatic IPv6 link-local address: a tunnel peer would only see (and
 * drop) router solicitations and MLD reports sent from it; like a WireGuard
 * device, no multicast either.
 */
export function linkTunnelModeArgs(name: string): string[] {
  return ['link', 'set', 'dev', name, 'addrgenmode', 'none', 'multicast', 'off'];
}

export function linkUpArgs(name: string, up: boolean): string[] {
  return ['link', 'set', 'dev', name, up ? 'up' : 'down'];
}

export function linkDeleteArgs(name: string): string[] {
  return ['link', 'del', 'dev', name];
}

/** `replace` is idempotent; no duplicate address detection on a point-to-point tunnel (nobody to collide with). */
export function addressArgs(op: 'replace' | 'del', a: Cidr, dev: string): string[] {
  const extra = op === 'replace' && a.family === 6 ? ['nodad'] : [];
  return [familyFlag(a.family), 'address', op, formatCidr(a), 'dev', dev, ...extra];
}

export function routeArgs(op: 'replace' | 'del', r: RouteState, dev: string): string[] {
  const table = r.table === undefined ? [] : ['table', String(r.table)];
  return [familyFlag(r.cidr.family), 'route', op, formatCidr(r.cidr), 'dev', dev, ...table];
}

export function ruleArgs(op: 'add' | 'del', r: RuleState): string[] {
  return [
    familyFlag(r.family),
    'rule',
    op,
    ...(r.not ? ['not'] : []),
    ...(r.fwmark === undefined ? [] : ['fwmark', String(r.fwmark)]),
    ...(r.to === undefined ? [] : ['to', formatCidr(r.to)]),
    'table',
    String(r.table),
    ...(r.suppressPrefixLength === undefined ? [] : ['suppress_prefixlength', String(r.suppressPrefixLength)]),
  ];
}

/** Identity keys: two values with the same key are the same kernel object. */
export const addressKey = (a: Cidr): string => formatCidr(a);
export const routeKey = (r: RouteState): string => `${formatCidr(r.cidr)} table ${r.table ?? 'main'}`;
export const ruleKey = (r: RuleState): string => ruleArgs('add', r).join(' ');
