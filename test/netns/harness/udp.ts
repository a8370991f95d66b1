// A UDP sender run inside a namespace, for replays and forged datagrams.

import type { Namespace } from './namespace.js';

// A tiny UDP sender run inside a namespace: argv = host port bindAddr|- sourcePort hex…
const UDP_SEND_SCRIPT = `
import dgram from 'node:dgram';
const [host, port, bind, sport, ...hex] = process.argv.slice(1);
const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
sock.on('error', (e) => { console.error(e.message); process.exit(2); });
sock.bind({ address: bind === '-' ? undefined : bind, port: Number(sport) }, async () => {
  for (const h of hex) {
    await new Promise((res, rej) => sock.send(Buffer.from(h, 'hex'), Number(port), host, (e) => (e ? rej(e) : res())));
    await new Promise((res) => setTimeout(res, 20));
  }
  console.log(JSON.stringify({ sent: hex.length, port: sock.address().port }));
  sock.close();
});
`;

/**
 * Sends datagrams from inside a namespace (20 ms apart), from `bind`:`sourcePort`
 * (default: any address, an ephemeral port). Returns the source port used.
 */
export async function sendUdp(
  ns: Namespace,
  to: { host: string; port: number },
  payloads: readonly Uint8Array[],
  from: { bind?: string; sourcePort?: number } = {},
): Promise<number> {
  const hex = payloads.map((p) => Buffer.from(p).toString('hex'));
  const r = await ns.exec('node', [
    '--input-type=module',
    '-e',
    UDP_SEND_SCRIPT,
    to.host,
    String(to.port),
    from.bind ?? '-',
    String(from.sourcePort ?? 0),
    ...hex,
  ]);
  return (JSON.parse(r.stdout.trim()) as { port: number }).port;
}
