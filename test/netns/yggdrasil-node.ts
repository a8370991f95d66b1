// A Debian `yggdrasil` node in a test namespace: no multicast discovery, no
// admin socket, its own TUN name; listeners and peers given as tcp:// URIs.

import { execFileSync } from 'node:child_process';
import type { Namespace, Proc, Scene } from './harness.js';

/** The TCP port Yggdrasil nodes listen on in the tests. */
export const YGG_PORT = 9001;
const LISTENER_STARTED = 'TCP listener started';

/** A yggdrasil config: no multicast discovery, no admin socket, our own interface name; `extra` is a jq filter. */
export function yggConfig(ifname: string, extra: string): string {
  const base = execFileSync('yggdrasil', ['-genconf', '-json']).toString();
  return execFileSync('jq', [`${extra} | .MulticastInterfaces=[] | .AdminListen="none" | .IfName="${ifname}"`], {
    input: base,
  }).toString();
}

/** The node's 200::/7 address, from its config. */
export function yggAddress(confFile: string): string {
  return execFileSync('yggdrasil', ['-useconffile', confFile, '-address']).toString().trim();
}

export interface YggNode {
  proc: Proc;
  /** Its 200::/7 address. */
  address: string;
  /** Its TUN device. */
  tun: string;
}

/**
 * Starts a node with the given listen and peer URIs; resolves once every
 * listener is up (a peer dialling a node that does not listen yet waits long
 * before it tries again, so listening nodes start first).
 */
export async function startYggdrasil(
  scene: Scene,
  ns: Namespace,
  opts: { listen?: readonly string[]; peers?: readonly string[] },
): Promise<YggNode> {
  const tun = scene.ifname('y');
  const listen = opts.listen ?? [];
  const filter = `.Listen=${JSON.stringify(listen)} | .Peers=${JSON.stringify(opts.peers ?? [])}`;
  const conf = scene.writeFile(`ygg-${ns.role}.json`, yggConfig(tun, filter));
  const proc = ns.spawn('yggdrasil', 'yggdrasil', ['-useconffile', conf, '-logto', 'stdout']);
  if (listen.length > 0) await proc.waitFor(new RegExp(`(?:${LISTENER_STARTED}[\\s\\S]*){${listen.length}}`), 10_000);
  return { proc, address: yggAddress(conf), tun };
}
