// The agent against an in-memory gateway: fake TUN devices and UDP network, a
// fake clock and timers, and a runner that records `ip` commands instead of
// running them. The gateway's answer is switched between a good and a bad lease.

import { pino } from 'pino';
import { describe, expect, test, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../shared/host/command.js';
import { FakeHost } from '../shared/host/fake-host.js';
import { SRC_VALID_MARK } from '../shared/host/policy-routing.js';
import { FakeNetwork } from '../shared/io/fakes.js';
import {
  advanceAgent,
  agentConfig,
  capturedLog,
  fakeTimersPerTest,
  inMemoryGateway,
  runTestAgent,
} from '../test/support/agent-gateway.js';
import type { LeaseGrant, QuotaInfo } from '../shared/lease/message.js';
import { renderStatus, type TunnelStatus } from '../shared/control/status.js';
import { parseCidr, parseIp } from '../shared/net/address.js';
import { generatePrivateKey } from '../shared/wireguard/crypto.js';
import { FakeClock, seededRandom } from '../test/support/two-peers.js';
import { quotaInfo } from '../test/support/quota-info.js';
import { typicalAgentStatus } from '../test/support/agent-status.js';
import type { AgentParts } from './agent.js';
import { undoLeftovers } from './client-state.js';
import { renderAgentStatus, type AgentStatus } from './agent-status.js';
import type { ClientConfig } from './config.js';
import { LEASE_RETRY_MS, LeaseClient } from './lease-client.js';

const IFACE = 'mgc-test';

const GOOD: LeaseGrant = {
  ipv4: { address: parseIp('100.64.0.10'), prefixLength: 32 },
  ipv6: { address: parseIp('fd12:3456:789a::10'), prefixLength: 128 },
  gatewayIpv4: parseIp('100.64.0.1'),
  gatewayIpv6: parseIp('fd12:3456:789a::1'),
  dns: [parseIp('198.51.100.53')],
  mtu: 1420,
  lifetime: 60,
};

/** The agent's first request goes out (and is answered) while it starts: `first` is that answer. */
async function scene(
  first: LeaseGrant = GOOD,
  firstQuota: QuotaInfo | null = null,
  extra: { config?: Partial<ClientConfig>; runner?: RecordingRunner; parts?: Partial<AgentParts> } = {},
) {
  const clock = new FakeClock();
  const network = new FakeNetwork({ autoDeliver: true });
  const rnd = seededRandom('agent-test');
  const agentKey = generatePrivateKey(rnd);
  const gatewayKey = generatePrivateKey(rnd);

  // The gateway: a device, its lease server and a switchable answer.
  const gw = inMemoryGateway({
    network,
    clock,
    at: '192.0.2.1:51820',
    privateKey: gatewayKey,
    agentKey,
    agentAllowedIps: [parseCidr('100.64.0.10/32')],
    grant: first,
    quota: firstQuota,
  });

  const config = agentConfig(IFACE, agentKey, [gw], {
    routes: [parseCidr('198.51.100.0/24'), parseCidr('2001:db8:100::/48')],
    ...extra.config,
  });
  const { log, events } = capturedLog();
  const runner = extra.runner ?? new RecordingRunner();
  const { agent, tun, status } = await runTestAgent({
    network,
    clock,
    config,
    gateways: [gw],
    runner,
    log,
    ...(extra.parts ? { parts: extra.parts } : {}),
  });
  const close = async () => {
    await agent.close();
    gw.runner.stop();
  };
  return {
    agent,
    answer: gw.answer,
    quota: gw.quota,
    server: gw.server,
    runner,
    events,
    /** Moves the clock and the timers on together, in the agent's polling steps. */
    advance: (ms: number) => advanceAgent(clock, ms),
    close,
    tun,
    status,
    sendStatus: gw.sendStatus,
    privateKey: agentKey,
  };
}

/** Every `ip` command that puts an address on the TUN or routes into it. */
const hostChanges = (runner: RecordingRunner) =>
  runner.lines().filter((l) => / address (replace|add|del) | route /.test(l) || / mtu /.test(l));

fakeTimersPerTest();

describe('the agent refuses a bad lease', () => {
  test('a /0 lease is logged as lease-rejected, changes nothing on the host, and a good lease after it is applied', async () => {
    const s = await scene({ ...GOOD, ipv4: { address: parseIp('100.64.0.10'), prefixLength: 0 } });
    const setup = s.runner.lines();
    expect(setup).toEqual([
      `ip link set dev ${IFACE} mtu 1420`,
      `ip link set dev ${IFACE} addrgenmode none multicast off`,
      `ip link set dev ${IFACE} up`,
    ]);
    await s.advance(250);
    expect(s.server.counters.granted).toBe(1);
    const rejected = s.events('lease-rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ level: 40, code: 'ipv4-prefix', kept: false });
    expect(rejected[0]!.detail).toContain('100.64.0.10/0');
    expect(s.runner.lines()).toEqual(setup); // not one `ip` command for the bad lease
    expect(s.agent.lease()).toBeNull();
    expect(s.events('lease')).toHaveLength(0);

    // It keeps asking, every LEASE_RETRY_MS, and refuses the same bad answer each time.
    await s.advance(LEASE_RETRY_MS);
    expect(s.server.counters.requests).toBe(2);
    expect(s.events('lease-rejected')).toHaveLength(2);
    expect(s.runner.lines()).toEqual(setup);

    // The gateway is fixed: the next answer is applied.
    s.answer.current = { grant: GOOD };
    await s.advance(LEASE_RETRY_MS);
    expect(s.events('lease')).toHaveLength(1);
    expect(s.agent.lease()?.ipv4?.prefixLength).toBe(32);
    // The MTU is the 1420 the TUN has since the start: not set again.
    expect(hostChanges(s.runner).slice(1)).toEqual([
      `ip -4 address replace 100.64.0.10/32 dev ${IFACE}`,
      `ip -6 address replace fd12:3456:789a::10/128 dev ${IFACE} nodad`,
      `ip -4 route replace 198.51.100.0/24 dev ${IFACE}`,
      `ip -6 route replace 2001:db8:100::/48 dev ${IFACE}`,
    ]);
    await s.close();
  });

  test('a bad renewal keeps the good lease in place and the agent keeps renewing', async () => {
    const s = await scene();
    await s.advance(250);
    expect(s.events('lease')).toHaveLength(1);
    const applied = s.runner.lines().length;

    // At half the lifetime the gateway answers with an MTU no link can have.
    s.answer.current = { grant: { ...GOOD, mtu: 70 } };
    await s.advance(30_000);
    expect(s.events('lease-rejected')).toHaveLength(1);
    expect(s.events('lease-rejected')[0]).toMatchObject({ code: 'mtu', kept: true });
    expect(s.runner.lines()).toHaveLength(applied);
    expect(s.agent.lease()?.mtu).toBe(1420);

    // It does not wait for another half lifetime: it asks again after LEASE_RETRY_MS.
    const requests = s.server.counters.requests;
    await s.advance(LEASE_RETRY_MS);
    expect(s.server.counters.requests).toBe(requests + 1);
    expect(s.events('lease-rejected')).toHaveLength(2);

    // A good answer renews (same lease: nothing to change on the host).
    s.answer.current = { grant: GOOD };
    await s.advance(LEASE_RETRY_MS);
    expect(s.events('lease-renewed')).toHaveLength(1);
    expect(s.runner.lines()).toHaveLength(applied);
    await s.close();
  });

  test('a lease that would put the gateway endpoint inside the tunnel is refused', async () => {
    const s = await scene({ ...GOOD, ipv4: { address: parseIp('192.0.2.20'), prefixLength: 24 } });
    await s.advance(250);
    expect(s.events('lease-rejected')[0]).toMatchObject({ code: 'endpoint-in-lease' });
    expect(hostChanges(s.runner)).toHaveLength(1); // the MTU of the bare device at start
    await s.close();
  });
});

describe('the agent asks for its lease when the lease client says so', () => {
  test('after a lease nothing polls the lease client until the renewal, which goes out at half the lifetime', async () => {
    const asked = vi.spyOn(LeaseClient.prototype, 'requestIfDue');
    const s = await scene();
    await s.advance(250);
    expect(s.events('lease')).toHaveLength(1);
    const calls = asked.mock.calls.length;
    await s.advance(GOOD.lifetime * 500 - 1_000);
    expect(asked.mock.calls.length).toBe(calls); // no timer every 250 ms any more
    expect(s.server.counters.requests).toBe(1);
    await s.advance(1_250);
    expect(s.server.counters.requests).toBe(2);
    expect(asked.mock.calls.length).toBe(calls + 1);
    asked.mockRestore();
    await s.close();
  });
});

describe('the agent learns its quota in-band', () => {
  const OK = quotaInfo({ state: 'ok', used: 1_000_000 });

  test('logged once from the LEASE, not on renewals; a blocking STATUS is a warning; the status shows the latest', async () => {
    const s = await scene(GOOD, OK);
    await s.advance(250);
    expect(s.events('quota')).toHaveLength(1);
    expect(s.events('quota')[0]).toMatchObject({
      level: 30,
      state: 'ok',
      used: 1_000_000,
      quota: 50_000_000,
      periodEnd: '2026-12-31T23:00:00Z',
      limitDown: null,
      limitUp: null,
    });
    expect(s.status().quota).toMatchObject({ state: 'ok', used: 1_000_000 });

    // A renewal with more bytes used: kept, not logged.
    s.quota.current = { ...OK, used: 2_000_000 };
    await s.advance(GOOD.lifetime * 500);
    expect(s.server.counters.requests).toBe(2);
    expect(s.events('quota')).toHaveLength(1);
    expect(s.agent.quota()?.used).toBe(2_000_000);

    // The gateway blocks the client and says so unsolicited.
    s.quota.current = { ...OK, state: 'blocked', used: 50_000_000 };
    s.sendStatus();
    await s.advance(250);
    expect(s.server.counters.status).toBe(1);
    expect(s.events('quota')).toHaveLength(2);
    expect(s.events('quota')[1]).toMatchObject({ level: 40, state: 'blocked', used: 50_000_000 });
    expect(s.status().quota).toMatchObject({ state: 'blocked', used: 50_000_000, quota: 50_000_000 });
    expect(renderStatus(s.status(), 0)).toContain(
      '  quota: blocked, 50.0 MB of 50.0 MB used, period ends 2026-12-31T23:00:00Z',
    );

    // The 60 s repeat of the same state: not logged again. The next period: logged, at info.
    s.quota.current = { ...OK, state: 'blocked', used: 50_001_000 };
    s.sendStatus();
    await s.advance(250);
    expect(s.events('quota')).toHaveLength(2);
    s.quota.current = { ...OK, used: 0, periodEnd: OK.periodEnd + 31 * 86_400 };
    s.sendStatus();
    await s.advance(250);
    expect(s.events('quota')).toHaveLength(3);
    expect(s.events('quota')[2]).toMatchObject({ level: 30, state: 'ok', periodEnd: '2027-01-31T23:00:00Z' });
    await s.close();
  });

  test('without QUOTA from the gateway: no quota line, quota null in the status', async () => {
    const s = await scene();
    await s.advance(250);
    expect(s.events('lease')).toHaveLength(1);
    expect(s.events('quota')).toHaveLength(0);
    expect(s.status().quota).toBeNull();
    expect(renderStatus(s.status(), 0)).not.toMatch(/quota/);
    s.sendStatus(); // quotaOf has nothing: no STATUS either
    expect(s.server.counters.status).toBe(0);
    await s.close();
  });
});

describe('routes: [default]', () => {
  const files = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-agent-'));
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 192.0.2.53\n');
    return { dir, resolvConf, stateFile: join(dir, `client-${IFACE}.state`) };
  };
  const fakeHost = () => new FakeHost({ links: [IFACE], sysctls: { [SRC_VALID_MARK]: '0' } });
  const start = (host: FakeHost, f: ReturnType<typeof files>, config: Partial<ClientConfig> = {}) =>
    scene(GOOD, null, {
      config: { routes: [], defaultRoute: true, dns: true, ...config },
      runner: host,
      parts: { table: 51820, stateFile: f.stateFile, resolvConf: f.resolvConf },
    });

  /** A SIGKILL: nothing of close() runs; the kernel drops the TUN with its addresses and routes. */
  const killTunnel = (host: FakeHost) => {
    host.links.delete(IFACE);
    host.routes.clear();
    host.addresses.clear();
  };
  /** An agent started with `config` and past its first lease. */
  const startLeased = async (host: FakeHost, f: ReturnType<typeof files>, config: Partial<ClientConfig> = {}) => {
    const s = await start(host, f, config);
    await s.advance(250);
    return s;
  };
  /** An agent started with `config`, leased, then killed. */
  const startKilled = async (host: FakeHost, f: ReturnType<typeof files>, config: Partial<ClientConfig>) => {
    const s = await startLeased(host, f, config);
    killTunnel(host);
    return s;
  };

  test('policy routing and DNS from the lease, all recorded in the state file, undone on close', async () => {
    const f = files();
    const host = fakeHost();
    const before = host.snapshot();
    const s = await startLeased(host, f);
    expect(s.events('lease')).toHaveLength(1);
    expect(host.snapshot().routes).toEqual([`0.0.0.0/0 dev ${IFACE} table 51820`, `::/0 dev ${IFACE} table 51820`]);
    expect(host.snapshot().rules).toEqual(
      [
        '-4 not fwmark 51820 table 51820',
        '-4 table main suppress_prefixlength 0',
        '-6 not fwmark 51820 table 51820',
        '-6 table main suppress_prefixlength 0',
        '-6 to 200::/7 table main',
        '-6 to fc00::/8 table main',
      ].sort(),
    );
    expect(host.sysctls.get(SRC_VALID_MARK)).toBe('1');
    expect(readFileSync(f.resolvConf, 'utf8')).toContain('nameserver 198.51.100.53\n');
    const kept = JSON.parse(readFileSync(f.stateFile, 'utf8')) as {
      rules: unknown[];
      sysctls: unknown[];
      dns: unknown;
    };
    expect(statSync(f.stateFile).mode & 0o777).toBe(0o600);
    expect(kept.rules).toHaveLength(6);
    expect(kept.sysctls).toEqual([{ key: SRC_VALID_MARK, value: '1', original: '0' }]);
    expect(kept.dns).toMatchObject({
      kind: 'file',
      previous: Buffer.from('nameserver 192.0.2.53\n').toString('base64'),
    });
    await s.close();
    expect(host.snapshot()).toEqual({ ...before, links: {} });
    expect(readFileSync(f.resolvConf, 'utf8')).toBe('nameserver 192.0.2.53\n');
    expect(existsSync(f.stateFile)).toBe(false);
    rmSync(f.dir, { recursive: true });
  });

  test('a renewal with other DNS servers rewrites only resolv.conf', async () => {
    const f = files();
    const host = fakeHost();
    const s = await startLeased(host, f);
    const commands = host.lines().length;
    s.answer.current = { grant: { ...GOOD, dns: [parseIp('203.0.113.53')] } };
    await s.advance(30_000); // renewal at half the lifetime
    expect(s.server.counters.requests).toBeGreaterThan(1);
    expect(readFileSync(f.resolvConf, 'utf8')).toContain('nameserver 203.0.113.53\n');
    expect(readFileSync(f.resolvConf, 'utf8')).not.toContain('198.51.100.53');
    expect(host.lines()).toHaveLength(commands);
    await s.close();
    expect(readFileSync(f.resolvConf, 'utf8')).toBe('nameserver 192.0.2.53\n');
    rmSync(f.dir, { recursive: true });
  });

  test('an IPv4-only lease, lan: tunnel, dns: false: one family, no suppress_prefixlength, resolv.conf untouched', async () => {
    const f = files();
    const host = fakeHost();
    const s = await scene({ ...GOOD, ipv6: null, gatewayIpv6: null }, null, {
      config: { routes: [], defaultRoute: true, dns: false, lan: 'tunnel' },
      runner: host,
      parts: { table: 51820, stateFile: f.stateFile, resolvConf: f.resolvConf },
    });
    await s.advance(250);
    expect(host.snapshot().rules).toEqual(['-4 not fwmark 51820 table 51820']);
    expect(host.snapshot().routes).toEqual([`0.0.0.0/0 dev ${IFACE} table 51820`]);
    expect(readFileSync(f.resolvConf, 'utf8')).toBe('nameserver 192.0.2.53\n');
    await s.close();
    rmSync(f.dir, { recursive: true });
  });

  test('after a SIGKILL (no close), undoLeftovers puts the host back from the state file alone', async () => {
    const f = files();
    const host = fakeHost();
    const before = host.snapshot();
    const s = await startLeased(host, f);
    const pid = JSON.parse(readFileSync(f.stateFile, 'utf8')) as { pid: number };
    expect(pid.pid).toBe(process.pid);
    killTunnel(host);
    const log = pino({ level: 'silent' });
    expect(await undoLeftovers(IFACE, f.stateFile, host, log)).toBe(true);
    expect(host.snapshot()).toEqual({ ...before, links: {} });
    expect(readFileSync(f.resolvConf, 'utf8')).toBe('nameserver 192.0.2.53\n');
    expect(existsSync(f.stateFile)).toBe(false);
    expect(await undoLeftovers(IFACE, f.stateFile, host, log)).toBe(false);
    await s.close();
    rmSync(f.dir, { recursive: true });
  });

  test('a record from an earlier boot is undone even when a process has its pid now (a power cut, then a start)', async () => {
    const f = files();
    const host = fakeHost();
    const s = await startLeased(host, f);
    const record = JSON.parse(readFileSync(f.stateFile, 'utf8')) as { pid: number; bootId: string | null };
    expect(record.bootId).toMatch(/^[0-9a-f-]{36}$/); // the kernel's boot_id
    killTunnel(host);
    // Written by this very process: alive. In this boot that refuses; after a reboot it is a stranger.
    writeFileSync(f.stateFile, JSON.stringify({ ...record, pid: process.ppid }));
    const log = pino({ level: 'silent' });
    await expect(undoLeftovers(IFACE, f.stateFile, host, log)).rejects.toThrow(/still runs/);
    expect(await undoLeftovers(IFACE, f.stateFile, host, log, { bootId: 'another-boot' })).toBe(true);
    expect(readFileSync(f.resolvConf, 'utf8')).toBe('nameserver 192.0.2.53\n');
    expect(existsSync(f.stateFile)).toBe(false);
    await s.close();
    rmSync(f.dir, { recursive: true });
  });

  test('refuses to undo under a live agent', async () => {
    const f = files();
    writeFileSync(
      f.stateFile,
      JSON.stringify({ version: 1, pid: process.ppid, interface: IFACE, rules: [], sysctls: [], dns: null }),
    );
    await expect(undoLeftovers(IFACE, f.stateFile, fakeHost(), pino({ level: 'silent' }))).rejects.toThrow(
      /still runs on mgc-test/,
    );
    rmSync(f.dir, { recursive: true });
  });

  test('killSwitch: the nft table goes up before any host change, stays through a renewal, goes on close and after a SIGKILL', async () => {
    const f = files();
    const host = fakeHost();
    const s = await start(host, f, { killSwitch: true });
    const nftCalls = () => host.calls.filter((c) => c.command === 'nft');
    // First change of all: recorded in the state file, then the table (before the link is touched).
    const first = host.calls.findIndex((c) => c.command === 'nft');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(host.calls.slice(0, first).every((c) => c.args.includes('-j'))).toBe(true); // read-only probes only
    expect(nftCalls()[0]!.input).toMatch(/^table inet meshgate_killswitch \{/m);
    expect(nftCalls()[0]!.input).toContain(`oifname "${IFACE}" accept`);
    expect(nftCalls()[0]!.input).toContain('meta mark 51820 accept');
    expect(nftCalls()[0]!.input).toContain('ip daddr 192.0.2.1 udp dport 51820 accept');
    expect(s.events('kill-switch')).toHaveLength(1);
    expect((JSON.parse(readFileSync(f.stateFile, 'utf8')) as { killSwitch: unknown }).killSwitch).toBe(
      'meshgate_killswitch',
    );
    await s.advance(250);
    s.answer.current = { grant: { ...GOOD, dns: [parseIp('203.0.113.53')] } };
    await s.advance(30_000); // a renewal
    expect(s.server.counters.requests).toBeGreaterThan(1);
    expect(nftCalls()).toHaveLength(1);
    await s.close();
    expect(nftCalls()).toHaveLength(2);
    expect(nftCalls()[1]!.input).toBe('table inet meshgate_killswitch {}\ndelete table inet meshgate_killswitch\n');
    expect(existsSync(f.stateFile)).toBe(false);

    // Killed: the state file names the table; undoLeftovers deletes it.
    const host2 = fakeHost();
    const killed = await startKilled(host2, f, { killSwitch: true });
    // A start with its own kill switch keeps the table (no gap), undoes the rest, and the file names only the table.
    const keeping = await host2.linesDuring(() =>
      undoLeftovers(IFACE, f.stateFile, host2, pino({ level: 'silent' }), { keepKillSwitch: true }),
    );
    expect(keeping.filter((l) => l.startsWith('nft'))).toEqual([]);
    expect(host2.snapshot().rules).toEqual([]);
    expect(JSON.parse(readFileSync(f.stateFile, 'utf8'))).toMatchObject({
      rules: [],
      sysctls: [],
      dns: null,
      killSwitch: 'meshgate_killswitch',
    });
    const during = await host2.linesDuring(() => undoLeftovers(IFACE, f.stateFile, host2, pino({ level: 'silent' })));
    expect(during).toContain('nft -f -');
    expect(host2.calls.at(-1)!.input).toBe(
      'table inet meshgate_killswitch {}\ndelete table inet meshgate_killswitch\n',
    );
    expect(existsSync(f.stateFile)).toBe(false);
    await killed.close();
    rmSync(f.dir, { recursive: true });
  });

  test('router: the nft table and forwarding on start, the table again for a new MTU, all undone on close and after a SIGKILL', async () => {
    const FWD4 = 'net.ipv4.ip_forward';
    const FWD6 = 'net.ipv6.conf.all.forwarding';
    const routerHost = () =>
      new FakeHost({ links: [IFACE], sysctls: { [SRC_VALID_MARK]: '0', [FWD4]: '0', [FWD6]: '0' } });
    const router = { router: { lanInterface: 'lan0', ipv6: 'nat66' as const }, killSwitch: true };
    const f = files();
    const host = routerHost();
    const before = host.snapshot();
    const s = await start(host, f, router);
    const nftInputs = () => host.calls.filter((c) => c.command === 'nft').map((c) => c.input ?? '');
    // Kill switch first, then the router table, then forwarding: the LAN never passes unfiltered.
    expect(nftInputs()).toHaveLength(2);
    expect(nftInputs()[0]).toContain(`iifname "${IFACE}" oifname "lan0" ct state established,related accept`);
    expect(nftInputs()[1]).toMatch(/^table inet meshgate_router \{/m);
    expect(nftInputs()[1]).toContain(`iifname "lan0" oifname "${IFACE}" accept`);
    expect(nftInputs()[1]).toContain('maxseg size set 1380');
    expect(host.sysctls.get(FWD4)).toBe('1');
    expect(host.sysctls.get(FWD6)).toBe('1');
    const routerAt = host.calls.findIndex((c) => c.input?.includes('table inet meshgate_router {') === true);
    const forwardAt = host.calls.findIndex((c) => c.args.includes(`${FWD4}=1`));
    expect(routerAt).toBeLessThan(forwardAt);
    const kept = JSON.parse(readFileSync(f.stateFile, 'utf8')) as { router: unknown; sysctls: unknown[] };
    expect(kept.router).toBe('meshgate_router');
    expect(kept.sysctls).toEqual(
      expect.arrayContaining([
        { key: FWD4, value: '1', original: '0' },
        { key: FWD6, value: '1', original: '0' },
      ]),
    );
    await s.advance(250);
    expect(nftInputs()).toHaveLength(2); // the lease's MTU is the one rendered
    s.answer.current = { grant: { ...GOOD, mtu: 1280, ipv4: { ...GOOD.ipv4!, address: parseIp('100.64.0.11') } } };
    await s.advance(30_000); // a renewal with another address and MTU
    expect(nftInputs()).toHaveLength(3);
    expect(nftInputs()[2]).toContain('maxseg size set 1240');
    await s.close();
    expect(nftInputs().slice(3)).toEqual([
      'table inet meshgate_router {}\ndelete table inet meshgate_router\n',
      'table inet meshgate_killswitch {}\ndelete table inet meshgate_killswitch\n',
    ]);
    expect(host.snapshot()).toEqual({ ...before, links: {} });
    expect(existsSync(f.stateFile)).toBe(false);

    // Killed: undoLeftovers puts forwarding back and deletes the table (also when keeping the kill switch).
    const host2 = routerHost();
    const killed = await startKilled(host2, f, router);
    const during = await host2.linesDuring(() =>
      undoLeftovers(IFACE, f.stateFile, host2, pino({ level: 'silent' }), { keepKillSwitch: true }),
    );
    expect(during).toContain('nft -f -');
    expect(host2.calls.at(-1)!.input).toBe('table inet meshgate_router {}\ndelete table inet meshgate_router\n');
    expect(host2.sysctls.get(FWD4)).toBe('0');
    expect(host2.sysctls.get(FWD6)).toBe('0');
    expect(JSON.parse(readFileSync(f.stateFile, 'utf8'))).toMatchObject({
      router: null,
      killSwitch: 'meshgate_killswitch',
    });
    await undoLeftovers(IFACE, f.stateFile, host2, pino({ level: 'silent' }));
    expect(existsSync(f.stateFile)).toBe(false);
    await killed.close();
    rmSync(f.dir, { recursive: true });
  });
});

describe('the status of the agent (meshgate show, meshgate client status)', () => {
  test('gateway with session and handshake, lease time left and DNS, default route, kill switch, bytes; no private key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-agent-'));
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 192.0.2.53\n');
    const host = new FakeHost({ links: [IFACE], sysctls: { [SRC_VALID_MARK]: '0' } });
    const s = await scene(GOOD, null, {
      config: { routes: [], defaultRoute: true, dns: true, killSwitch: true },
      runner: host,
      parts: { table: 51820, stateFile: join(dir, 'state'), resolvConf },
    });
    await s.advance(250);
    await s.advance(10_000);
    const status = s.status() as TunnelStatus & { agent: AgentStatus };
    const gateway = status.peers[0]!;
    expect(status.agent).toEqual(
      typicalAgentStatus({
        publicKey: gateway.publicKey,
        lastHandshake: gateway.latestHandshake,
        lifetimeLeft: 50,
        rxBytes: gateway.rxBytes,
        txBytes: gateway.txBytes,
        switchedAt: status.agent.failover.last!.at,
        uplink: 'up', // the one gateway is probed too (its round trip, its endpoints)
        rttMs: 0, // in memory, on a fake clock
      }),
    );
    expect(Date.parse(status.agent.failover.last!.at)).not.toBeNaN();
    expect(gateway.latestHandshake).toBeGreaterThan(0);
    expect(status.agent.rxBytes).toBeGreaterThan(0);
    expect(renderAgentStatus(status.agent, gateway.latestHandshake)).toContain(
      `gateway (current): ${gateway.publicKey} at 192.0.2.1:51820, up, latest handshake Now`,
    );
    const json = JSON.stringify(status);
    expect(json).not.toContain(Buffer.from(s.privateKey).toString('base64'));
    await s.close();
    rmSync(dir, { recursive: true });
  });

  test('without a lease and without default route or kill switch', async () => {
    const s = await scene({ ...GOOD, ipv4: { address: parseIp('100.64.0.10'), prefixLength: 0 } });
    await s.advance(250);
    const { agent } = s.status() as TunnelStatus & { agent: AgentStatus };
    expect(agent.lease).toBeNull();
    expect(agent.gateways[0]!.session).toBe(true); // the handshake is done, the lease was refused
    expect(agent.routing).toEqual({ defaultRoute: false, table: null, families: [], lan: 'outside' });
    expect(agent.killSwitch).toEqual({ on: false, table: null, blocked: null });
    await s.close();
  });
});
