// Child process for the store's crash test (gateway/store.test.ts): opens the
// state database in DIR and commits batches of leases in a loop until it is
// killed, printing "committed N" after batch N has been committed (saveLeases
// returned). Writes to a pipe are synchronous on Linux, so a printed line means
// the commit happened before it.
//
//   node test/support/store-writer.mjs DIR ROUND BATCH_SIZE
//
// Batch N of round R holds the leases writerLease(R, N * BATCH_SIZE + j),
// j = 0 .. BATCH_SIZE - 1; the test computes the same leases to check them.
// Needs the compiled store: tsc -p tsconfig.build.json.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Store } from '../../dist/gateway/store.js';

/** Lease number `n` of round `round` (round < 4, n < 2^20): distinct keys and addresses. */
export function writerLease(round, n, assignedAt) {
  const v4 = 0x64400000 + round * 0x100000 + n + 2; // inside 100.64.0.0/10
  const ipv6 = new Uint8Array(16);
  ipv6[0] = 0xfd;
  ipv6[12] = round;
  ipv6[13] = (n >>> 16) & 0xff;
  ipv6[14] = (n >>> 8) & 0xff;
  ipv6[15] = n & 0xff;
  return {
    publicKey: createHash('sha256').update(`writer:${round}:${n}`).digest('base64'),
    ipv4: Uint8Array.of(v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff),
    ipv6,
    ipv6PrefixLength: 128,
    assignedAt,
  };
}

function main() {
  const [dir, roundText, batchText] = process.argv.slice(2);
  const round = Number(roundText);
  const batchSize = Number(batchText);
  if (!dir || !Number.isInteger(round) || !Number.isInteger(batchSize) || batchSize < 1) {
    process.stderr.write('usage: store-writer.mjs DIR ROUND BATCH_SIZE\n');
    process.exit(2);
  }
  const store = Store.open(dir);
  fs.writeSync(1, 'ready\n');
  for (let batch = 0; batch * batchSize < 1 << 20; batch++) {
    const leases = [];
    for (let j = 0; j < batchSize; j++) leases.push(writerLease(round, batch * batchSize + j, Date.now()));
    store.saveLeases(leases);
    fs.writeSync(1, `committed ${batch}\n`);
  }
  store.close();
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
