// What the client agent's unit tests (client/agent*.test.ts) run it against:
// an in-memory gateway (a Device with its LeaseServer and a TunnelRunner on
// a FakeNetwork bind, a FakeTun showing what came out of the tunnel; the lease
// answer, the quota and the uplink state switchable by the test), the agent's
// config for such gateways, the agent itself on the same network with its
// control socket kept for `status`, its log captured line by line, and the
// fake clock and timers moved on together.

import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, vi } from 'vitest';
import { runAgent, type Agent, type AgentParts } from '../../client/agent.js';
import type { AgentStatus } from '../../client/agent-status.js';
import type { ClientConfig } from '../../client/config.js';
import { LeaseServer, type LeaseAnswer } from '../../gateway/lease-server.js';
import type { ControlHandler } from '../../shared/control/socket.js';
import type { TunnelStatus } from '../../shared/control/status.js';
import type { CommandRunner } from '../../shared/host/command.js';
import { FakeNetwork, FakeTun } from '../../shared/io/fakes.js';
import type { Endpoint } from '../../shared/io/types.js';
import type { LeaseGrant, QuotaInfo } from '../../shared/lease/message.js';
import type { Cidr } from '../../shared/net/address.js';
import { TunnelRunner } from '../../shared/runner/runner.js';
import { publicKeyOf } from '../../shared/wireguard/crypto.js';
import { Device } from '../../shared/wireguard/device.js';
import type { Peer } from '../../shared/wireguard/peer.js';
import { FakeClock, seededRandom } from './two-peers.js';

export interface InMemoryGateway {
  readonly publicKey: Uint8Array;
  readonly server: LeaseServer;
  readonly device: Device;
  readonly runner: TunnelRunner;
  /** What the gateway's TUN got from the tunnel (the agent's packets past the source check). */
  readonly tun: FakeTun;
  /** The agent as the gateway's peer. */
  readonly agentPeer: Peer;
  /** Where it listens. */
  readonly endpoint: Endpoint;
  /** The answer to the agent's next REQUEST. */
  readonly answer: { current: LeaseAnswer };
  /** The quota state the lease server tells (null: none). */
  readonly quota: { current: QuotaInfo | null };
  /** What its HEALTH answers say of the uplink. */
  readonly uplink: { up: boolean };
  /** Sends the agent an unsolicited STATUS (as the gateway's 1 s checkpoint would). */
  sendStatus(): void;
}

export interface InMemoryGatewayOptions {
  network: FakeNetwork;
  clock: FakeClock;
  /** Where it listens ("192.0.2.1:51820"). */
  at: string;
  privateKey: Uint8Array;
  /** The agent's key and the addresses its packets may come from. */
  agentKey: Uint8Array;
  agentAllowedIps: Cidr[];
  grant: LeaseGrant;
  quota?: QuotaInfo | null;
  /** Seed of the device's randomness (default 'gw'). */
  seed?: string;
}

export function inMemoryGateway(o: InMemoryGatewayOptions): InMemoryGateway {
  const bind = o.network.bind(o.at);
  const answer: { current: LeaseAnswer } = { current: { grant: o.grant } };
  const quota: { current: QuotaInfo | null } = { current: o.quota ?? null };
  const uplink = { up: true };
  const server = new LeaseServer(() => answer.current, {
    quotaOf: () => quota.current,
    uplinkUp: () => uplink.up,
  });
  const device = new Device({ privateKey: o.privateKey, random: seededRandom(o.seed ?? 'gw'), control: server.handle });
  const agentPeer = device.addPeer({
    publicKey: publicKeyOf(o.agentKey),
    allowedIps: o.agentAllowedIps,
    endpoint: null,
  });
  const tun = new FakeTun(`gw-${o.at}`);
  const runner = new TunnelRunner(device, tun, bind, { clock: o.clock });
  runner.start();
  return {
    publicKey: publicKeyOf(o.privateKey),
    server,
    device,
    runner,
    tun,
    agentPeer,
    endpoint: bind.endpoint,
    answer,
    quota,
    uplink,
    sendStatus: () =>
      runner.sendOutsideBatch((d, now, sink) => {
        const packet = server.statusFor(agentPeer);
        if (packet !== null) d.sendPacket(agentPeer, packet, now, sink);
      }),
  };
}

/** The fields of the agent's log lines the tests look at. */
export interface LogLine {
  level: number;
  time: number;
  event?: string;
  code?: string;
  detail?: string;
  kept?: boolean;
  msg?: string;
  state?: string;
  [field: string]: unknown;
}

/** A logger that keeps every line, and its lines of one event. */
export function capturedLog(): { log: Logger; logs: LogLine[]; events: (name: string) => LogLine[] } {
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  return { log, logs, events: (name) => logs.filter((l) => l.event === name) };
}

/** Agent timer steps: the clock and the fake timers move on together by this much. */
export const AGENT_STEP_MS = 250;

/** Moves the clock and the fake timers on by `ms`, in AGENT_STEP_MS steps; `after` runs after each step. */
export async function advanceAgent(clock: FakeClock, ms: number, after?: () => void): Promise<void> {
  for (let t = 0; t < ms; t += AGENT_STEP_MS) {
    clock.advance(AGENT_STEP_MS);
    await vi.advanceTimersByTimeAsync(AGENT_STEP_MS);
    after?.();
  }
}

/** The agent's config for these gateways (gw1, gw2, … at priority 1, 2, …, one endpoint each), nothing on but `over`. */
export function agentConfig(
  interfaceName: string,
  agentKey: Uint8Array,
  gateways: readonly InMemoryGateway[],
  over: Partial<ClientConfig> = {},
): ClientConfig {
  return {
    file: '/dev/null',
    privateKey: agentKey,
    publicKey: publicKeyOf(agentKey),
    privateKeyFile: '/dev/null',
    interface: interfaceName,
    gateways: gateways.map((g, i) => ({
      name: `gw${i + 1}`,
      publicKey: g.publicKey,
      endpoints: [g.endpoint.key],
      priority: i + 1,
      presharedKey: null,
      presharedKeyFile: null,
    })),
    failover: { probeIntervalMs: 1000, deadAfterMs: 3000, holdDownMs: 10_000 },
    persistentKeepalive: 0,
    routes: [],
    defaultRoute: false,
    dns: false,
    lan: 'outside',
    killSwitch: false,
    router: null,
    ...over,
  };
}

export interface TestAgent {
  agent: Agent;
  /** The agent's TUN: inject() what the host routes into the tunnel. */
  tun: FakeTun;
  /** What the control socket answers to `status` (meshgate show). */
  status(): TunnelStatus & { agent: AgentStatus };
}

/** runAgent at 192.0.2.2 on `network` with the gateways' endpoints, seeded randomness and the control socket kept. */
export async function runTestAgent(o: {
  network: FakeNetwork;
  clock: FakeClock;
  config: ClientConfig;
  gateways: readonly InMemoryGateway[];
  runner: CommandRunner;
  log: Logger;
  parts?: Partial<AgentParts>;
}): Promise<TestAgent> {
  const tun = new FakeTun(o.config.interface);
  let control: ControlHandler | null = null;
  const agent = await runAgent({
    config: o.config,
    endpoints: o.gateways.map((g) => [g.endpoint]),
    tun,
    udp: o.network.bind('192.0.2.2:0'),
    runner: o.runner,
    log: o.log,
    clock: o.clock,
    random: seededRandom('agent'),
    serve: (_name, handle) => {
      control = handle;
      return { close: () => undefined };
    },
    ...o.parts,
  });
  return { agent, tun, status: () => control!({ op: 'status' }) as TunnelStatus & { agent: AgentStatus } };
}

/** Every test of the file steps the agent's timers by hand. */
export function fakeTimersPerTest(): void {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}
