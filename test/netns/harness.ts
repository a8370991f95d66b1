// Network-namespace test harness: real namespaces, veths, tunnels and processes,
// always cleaned up.
//
// A Scene owns everything one test builds and removes all of it in teardown():
//
//   const scene = await Scene.create('interop');
//   const a = await scene.namespace('a');          // "mg-a-k3f9", lo up, marker written
//   const b = await scene.namespace('b');
//   await scene.veth(a, b, { a: ['192.0.2.1/24'], b: ['192.0.2.2/24'] });
//   const srv = a.spawn('server', 'node', [XFER_TOOL, 'serve', '5001']);
//   await srv.waitFor(/"listening"/, 5_000);
//   ...
//   teardownScenesAfterEach();                      // in every test file (or afterAll(() => Scene.teardownAll()))
//
// Names. Namespaces are "mg-<role>-<id>" (role: 1..7 of [a-z0-9], id: 4 random
// base-36 characters per scene, checked against existing namespaces), so names fit
// the kernel's 15 characters and parallel runs do not clash. Tunnel devices are
// filesystem-global through their control sockets (/var/run/wireguard/NAME.sock,
// /var/run/meshgate/NAME.sock), so scene.ifname() also embeds the scene id.
//
// Addresses. Only documentation ranges (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, 2001:db8::/32) and private ranges inside our own namespaces;
// nothing here touches the root namespace's interfaces, routes or firewall.
//
// Teardown. scene.teardown() stops every spawned process (SIGTERM, then SIGKILL
// after a grace period), kills whatever is still inside the scene's namespaces
// (`ip netns pids`), deletes the namespaces, the control sockets of devices it
// created, its markers and (unless asked to keep them) its temp directory of logs
// and configs. Scene.teardownAll() does this for every live scene of the process:
// call it from afterEach/afterAll; vitest runs those hooks after a failed or
// timed-out test too. Once per process the harness also installs SIGINT/SIGTERM/
// SIGHUP handlers that tear all live scenes down synchronously and then end the
// process (SIGKILL to itself: vitest workers cannot process.exit), an exit handler
// that does the same teardown, and, in a forked worker, the same when the IPC
// channel to the runner closes while scenes are live (the runner was killed alone).
//
// Crashed runs. Each namespace gets a marker /run/meshgate-test/<ns> (JSON: owner
// pid and its start time, files to remove). The first Scene.create() of a process
// removes namespaces whose marker names an owner process that no longer exists;
// namespaces without our marker, or whose owner is alive, are never touched.
//
// Tunnel peers. scene.wireguardGo(ns, config) and scene.meshgate(ns, config) start
// a tunnel from the same TunnelConfig (wg-quick terms) and return a TunnelPeer
// whose show() reads `wg show NAME dump` or `meshgate show NAME --json` into the
// same TunnelInfo shape. scene.tunnelPair() builds the common two-host topology.
//
// This file is the harness's one import; each job lives in harness/:
//   env.ts        probes and skip reasons (root, commands, built CLI), tool paths
//   hooks.ts      the vitest hooks every file shares (built CLI, teardown after each or after all)
//   keys.ts       key pairs and preshared keys in wg's text form
//   process.ts    process supervision (Proc: output, waitFor, stop via execa)
//   namespace.ts  one namespace: exec, spawn, addresses, links, routes, sysctls
//   scene.ts      Scene: namespaces, veths, LANs, tunnel peers, teardown, signal hooks
//   markers.ts    crash markers and removal of stale namespaces
//   wg-config.ts  TunnelConfig, wg setconf / wg-quick rendering, `wg show dump` parsing
//   peers.ts      TunnelPeer (WireguardGoPeer, MeshgatePeer), tunnelPair's addresses
//   ping.ts, xfer.ts (content-checked TCP transfers), pcap.ts (tcpdump + pcap
//   reader), udp.ts (UDP sender), endpoint.ts, sleep.ts

export { formatEndpoint, stripPrefix } from './harness/endpoint.js';
export {
  hasCommand,
  havePing,
  isRoot,
  MESHGATE_BIN,
  MESHGATE_CLI_MAIN,
  meshgateBuilt,
  netnsSkip,
  netnsSkipReason,
  XFER_TOOL,
  type NetnsNeeds,
} from './harness/env.js';
export { requireBuiltCli, teardownScenesAfterAll, teardownScenesAfterEach } from './harness/hooks.js';
export { genKeyPair, genPsk, publicKeyOf, type KeyPair } from './harness/keys.js';
export { removeStaleNamespaces } from './harness/markers.js';
export { Namespace, type ExecOptions, type ExecResult, type SpawnOptions } from './harness/namespace.js';
export { Capture, parsePcap, pcapRecordCount, type UdpPacket } from './harness/pcap.js';
export {
  MeshgatePeer,
  PAIR,
  TunnelPeer,
  WireguardGoPeer,
  type PairOptions,
  type PeerKind,
  type TunnelPair,
} from './harness/peers.js';
export { ping, waitForPing, type PingResult } from './harness/ping.js';
export { jsonLines, Proc, type ExitStatus } from './harness/process.js';
export { Scene, type LanMember, type TeardownOptions, type VethOptions } from './harness/scene.js';
export { sleep } from './harness/sleep.js';
export { sendUdp } from './harness/udp.js';
export {
  DEFAULT_MTU,
  parseWgDump,
  renderWgQuick,
  renderWgSetconf,
  type PeerConfig,
  type PeerInfo,
  type TunnelConfig,
  type TunnelInfo,
} from './harness/wg-config.js';
export { XferServer, type XferResult } from './harness/xfer.js';
