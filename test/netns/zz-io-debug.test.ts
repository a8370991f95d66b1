import { it, expect } from 'vitest';
import { execaSync } from 'execa';
import { openUdp } from '../../shared/io/udp.js';
import { parseEndpoint } from '../../shared/io/endpoint.js';
import { inNetns } from '../../shared/io/native.js';
import { isMainThread, threadId } from 'node:worker_threads';
it('dbg', async () => {
  console.log('main', isMainThread, threadId, process.pid);
  execaSync('ip', ['netns', 'add', 'mg-iodbg2']);
  execaSync('ip', ['-n', 'mg-iodbg2', 'link', 'set', 'lo', 'up']);
  try {
    const a = inNetns('mg-iodbg2', () => openUdp({ port: 0, address: '127.0.0.1' }));
    const b = inNetns('mg-iodbg2', () => openUdp({ port: 0, address: '127.0.0.1' }));
    let got = 0;
    a.start({ datagram: () => got++, batchEnd: () => {} });
    b.send(Uint8Array.of(1, 2), parseEndpoint(`127.0.0.1:${a.port}`));
    b.flush();
    await new Promise((r) => setTimeout(r, 300));
    console.log(got, a.stats(), b.stats());
    a.close(); b.close();
  } finally {
    execaSync('ip', ['netns', 'del', 'mg-iodbg2']);
  }
});
