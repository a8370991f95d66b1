// Types of store-writer.mjs (the child process of the store's crash test).
import type { Lease } from '../../gateway/leases.js';

/** Lease number `n` of round `round` as the writer commits it (assignedAt as given). */
export function writerLease(round: number, n: number, assignedAt: number): Lease;
