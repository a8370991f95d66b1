// The failover state machine (client/failover.ts) driven by hand: leases,
// HEALTH answers with their round trip and uplink state, and evaluate(now),
// either call by call (exact boundaries) or by sim(), which plays the agent's
// loop: a PROBE round every probeInterval, evaluate every 250 ms.

import { describe, expect, test } from 'vitest';
import type { FailoverConfig } from './config.js';
import {
  Failover,
  RTT_SMOOTHING,
  RTT_SWITCH_MIN_MS,
  START_GRACE_MS,
  type FailoverDecision,
  type SwitchReason,
} from './failover.js';

const CONFIG: FailoverConfig = { probeIntervalMs: 1000, deadAfterMs: 3000, holdDownMs: 5000 };
const { deadAfterMs: DEAD, holdDownMs: HOLD } = CONFIG;
/** The agent's evaluate period (client/agent.ts). */
const TICK = 250;

/** What a gateway answers to the PROBE round at time t: null (silent), or its uplink and round trip. */
type Answer = { up: boolean; rtt: number } | null;
type Behaviour = (gateway: number, t: number) => Answer;

const UP = (rtt = 10): Answer => ({ up: true, rtt });
const always: Behaviour = () => UP();

interface Switch {
  at: number;
  gateway: number;
  from: number | null;
  reason: SwitchReason;
}

/** A Failover over gateways of these priorities (and endpoint counts), every one holding a lease from t = 0. */
function sim(gateways: { priority: number; endpoints?: number }[], leased = true) {
  const f = new Failover(
    gateways.map((g) => ({ priority: g.priority, endpoints: g.endpoints ?? 1 })),
    CONFIG,
    0,
  );
  if (leased) gateways.forEach((_, i) => f.lease(i, true));
  const switches: Switch[] = [];
  const rotations: { at: number; gateway: number; endpoint: number }[] = [];
  const changes: { at: number; gateway: number; healthy: boolean; reason: string | null }[] = [];
  let now = 0;
  let evaluated = false;
  const evaluate = (t = now): FailoverDecision => {
    now = t;
    evaluated = true;
    const d = f.evaluate(t);
    for (const c of d.changes) changes.push({ at: t, ...c });
    for (const g of d.rotate) rotations.push({ at: t, gateway: g, endpoint: f.health(g).endpoint });
    if (d.switchTo !== null) switches.push({ at: t, ...d.switchTo });
    return d;
  };
  return {
    f,
    switches,
    rotations,
    changes,
    evaluate,
    answer: (gateway: number, t: number, a: Answer = UP()) => {
      now = t;
      if (a !== null) f.answer(gateway, a.up, a.rtt, t);
    },
    /** Plays the agent's loop from now (exclusive) to `until` (inclusive): probes on the second, evaluate every tick. */
    run(until: number, behaviour: Behaviour) {
      for (let t = evaluated ? now + TICK : 0; t <= until; t += TICK) {
        if (t % CONFIG.probeIntervalMs === 0)
          gateways.forEach((_, i) => {
            const a = behaviour(i, t);
            if (a !== null) f.answer(i, a.up, a.rtt, t);
          });
        evaluate(t);
      }
    },
  };
}

describe('one gateway', () => {
  test('health is only its lease: chosen (start) once it holds one, never switched, whatever the silence', () => {
    const s = sim([{ priority: 1 }], false);
    expect(s.evaluate(0).switchTo).toBeNull();
    expect(s.f.current).toBeNull();
    expect(s.f.health(0)).toMatchObject({ healthy: false, reason: 'no-lease' });
    s.f.lease(0, true);
    expect(s.evaluate(TICK).switchTo).toEqual({ gateway: 0, from: null, reason: 'start' });
    s.run(120_000, () => null); // no HEALTH ever: with one gateway it counts for nothing
    expect(s.switches).toHaveLength(1);
    expect(s.f.current).toBe(0);
    expect(s.f.health(0)).toEqual({ healthy: true, reason: null, uplinkUp: null, rttMs: null, endpoint: 0 });
    expect(s.rotations).toEqual([]);
  });

  test('its lease lost: unhealthy (no-lease), but it stays the current one', () => {
    const s = sim([{ priority: 1 }]);
    s.evaluate(0);
    s.f.lease(0, false);
    expect(s.evaluate(TICK)).toEqual({
      changes: [{ gateway: 0, healthy: false, reason: 'no-lease' }],
      rotate: [],
      retry: [],
      switchTo: null,
    });
    expect(s.f.current).toBe(0);
  });
});

describe('two gateways, priority 1 and 2: the first choice', () => {
  test('both healthy at once: priority 1, one switch only', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(30_000, always);
    expect(s.switches).toEqual([{ at: 0, gateway: 0, from: null, reason: 'start' }]);
  });

  test('only priority 2 healthy: it waits START_GRACE_MS for priority 1, which answers in time: one switch, to 1', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.answer(1, 0);
    expect(s.evaluate(0).switchTo).toBeNull();
    expect(s.evaluate(START_GRACE_MS - 1).switchTo).toBeNull();
    s.answer(0, START_GRACE_MS - 1);
    expect(s.evaluate(START_GRACE_MS - 1).switchTo).toEqual({ gateway: 0, from: null, reason: 'start' });
    s.run(20_000, always);
    expect(s.switches).toHaveLength(1);
  });

  test('only priority 2 healthy: taken exactly START_GRACE_MS after it became healthy', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.answer(1, 500);
    expect(s.evaluate(500).switchTo).toBeNull();
    expect(s.evaluate(500 + START_GRACE_MS - 1).switchTo).toBeNull();
    expect(s.evaluate(500 + START_GRACE_MS).switchTo).toEqual({ gateway: 1, from: null, reason: 'start' });
  });

  test('priority beats the round trip, whatever the order written', () => {
    const s = sim([{ priority: 2 }, { priority: 1 }]);
    s.run(10_000, (g) => UP(g === 0 ? 5 : 200));
    expect(s.switches).toEqual([{ at: 0, gateway: 1, from: null, reason: 'start' }]);
  });

  test('nothing healthy, nothing chosen (no lease, or no answer)', () => {
    const unleased = sim([{ priority: 1 }, { priority: 2 }], false);
    unleased.run(10_000, always);
    expect(unleased.switches).toEqual([]);
    expect(unleased.f.health(0).reason).toBe('no-lease');
    const silent = sim([{ priority: 1 }, { priority: 2 }]);
    silent.run(10_000, () => null);
    expect(silent.switches).toEqual([]);
    expect(silent.f.health(1).reason).toBe('unreachable');
  });
});

describe('the current gateway fails', () => {
  test("unreachable exactly when now - lastAnswer > deadAfter, not before; the switch carries the failed one's reason", () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(10_000, always);
    const last = 10_000;
    s.answer(1, last + DEAD);
    expect(s.evaluate(last + DEAD)).toEqual({
      changes: [],
      rotate: [],
      retry: [0], // silent for deadAfter: a new handshake (its answers stopped)
      switchTo: null,
    });
    expect(s.f.health(0).healthy).toBe(true);
    expect(s.evaluate(last + DEAD + 1)).toEqual({
      changes: [{ gateway: 0, healthy: false, reason: 'unreachable' }],
      rotate: [],
      retry: [],
      switchTo: { gateway: 1, from: 0, reason: 'unreachable' },
    });
    expect(s.f.current).toBe(1);
    expect(s.f.health(0)).toMatchObject({ healthy: false, reason: 'unreachable' });
  });

  test('in the loop: gateway 1 silent from t = 20 s, switched away from after deadAfter plus at most a tick', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(40_000, (g, t) => (g === 0 && t >= 20_000 ? null : UP()));
    // Its last answer was at 19 s: down at 22.25 s, the first tick past 22 s.
    expect(s.switches.slice(1)).toEqual([{ at: 19_000 + DEAD + TICK, gateway: 1, from: 0, reason: 'unreachable' }]);
  });

  test("the uplink says down: 'uplink-down' at the next evaluate, and the switch", () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(5_000, always);
    s.answer(0, 5_100, { up: false, rtt: 10 });
    expect(s.f.health(0).uplinkUp).toBe(false);
    expect(s.evaluate(5_100)).toEqual({
      changes: [{ gateway: 0, healthy: false, reason: 'uplink-down' }],
      rotate: [],
      retry: [],
      switchTo: { gateway: 1, from: 0, reason: 'uplink-down' },
    });
  });

  test('the backup fails while in use: no switch back to the failed preferred one, the backup stays', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(30_000, (g, t) => (g === 0 && t >= 10_000 ? { up: false, rtt: 10 } : g === 1 && t >= 20_000 ? null : UP()));
    expect(s.switches.map((x) => x.reason)).toEqual(['start', 'uplink-down']);
    expect(s.f.current).toBe(1);
    expect(s.f.health(1)).toMatchObject({ healthy: false, reason: 'unreachable' });
  });
});

describe('the failed preferred gateway comes back (hold-down)', () => {
  /** Gateway 1's uplink down from 10 s to `back`, then up; gateway 2 always healthy. */
  const downUntil =
    (back: number, flap?: [number, number]): Behaviour =>
    (g, t) =>
      g === 0 && ((t >= 10_000 && t < back) || (flap !== undefined && t >= flap[0] && t < flap[1]))
        ? { up: false, rtt: 10 }
        : UP();

  test('no switch back before holdDown of continuous health; back (preferred) at holdDown', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(40_000, downUntil(15_000));
    expect(s.switches).toEqual([
      { at: 0, gateway: 0, from: null, reason: 'start' },
      { at: 10_000, gateway: 1, from: 0, reason: 'uplink-down' },
      { at: 15_000 + HOLD, gateway: 0, from: 1, reason: 'preferred' },
    ]);
    expect(s.changes.filter((c) => c.gateway === 0 && c.at > 0)).toEqual([
      { at: 10_000, gateway: 0, healthy: false, reason: 'uplink-down' },
      { at: 15_000, gateway: 0, healthy: true, reason: null },
    ]);
  });

  test('the exact boundary: holdDown - 1 ms stays, holdDown switches', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(12_000, downUntil(12_000));
    expect(s.f.current).toBe(1);
    s.answer(1, 12_000 + HOLD - 1);
    s.answer(0, 12_000 + HOLD - 1);
    expect(s.evaluate(12_000 + HOLD - 1).switchTo).toBeNull();
    expect(s.evaluate(12_000 + HOLD).switchTo).toEqual({ gateway: 0, from: 1, reason: 'preferred' });
  });

  test('a flap during the hold-down starts it again', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    // Back at 15 s, down again at 17 s for a second, back at 18 s: switch back at 18 s + holdDown, not 20 s.
    s.run(40_000, downUntil(15_000, [17_000, 18_000]));
    expect(s.switches.slice(1)).toEqual([
      { at: 10_000, gateway: 1, from: 0, reason: 'uplink-down' },
      { at: 18_000 + HOLD, gateway: 0, from: 1, reason: 'preferred' },
    ]);
  });

  test('a gateway silent past deadAfter and back also waits holdDown from its first answer', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(40_000, (g, t) => (g === 0 && t >= 10_000 && t < 20_000 ? null : UP()));
    expect(s.switches.slice(1)).toEqual([
      { at: 9_000 + DEAD + TICK, gateway: 1, from: 0, reason: 'unreachable' },
      { at: 20_000 + HOLD, gateway: 0, from: 1, reason: 'preferred' },
    ]);
  });

  test('a better gateway that was never healthy (down from the start) is taken at once when it comes up', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(40_000, (g, t) => (g === 0 && t < 20_000 ? null : UP()));
    expect(s.switches).toEqual([
      { at: START_GRACE_MS, gateway: 1, from: null, reason: 'start' },
      { at: 20_000, gateway: 0, from: 1, reason: 'preferred' },
    ]);
  });
});

describe('equal priority: the round trip', () => {
  test('decides the first choice', () => {
    const s = sim([{ priority: 1 }, { priority: 1 }]);
    s.run(10_000, (g) => UP(g === 0 ? 80 : 30));
    expect(s.switches).toEqual([{ at: 0, gateway: 1, from: null, reason: 'start' }]);
  });

  test("'faster' once the other is under half the round trip and 20 ms sooner", () => {
    const s = sim([{ priority: 1 }, { priority: 1 }]);
    // Gateway 1 starts at 30 ms and degrades to 300 ms from 10 s; gateway 2 stays at 50 ms.
    s.run(60_000, (g, t) => UP(g === 1 ? 50 : t < 10_000 ? 30 : 300));
    expect(s.switches.map((x) => [x.gateway, x.reason])).toEqual([
      [0, 'start'],
      [1, 'faster'],
    ]);
    // At the first answer that takes the smoothed round trip of gateway 1 past twice gateway 2's 50 ms.
    let srtt = 30;
    let expected = 10_000;
    for (; ; expected += 1000) {
      srtt += RTT_SMOOTHING * (300 - srtt);
      if (srtt > 100) break;
    }
    expect(s.switches[1]!.at).toBe(expected);
  });

  test("'faster' only after the faster one has been healthy for holdDown", () => {
    const s = sim([{ priority: 1 }, { priority: 1 }]);
    s.run(30_000, (g, t) => (g === 1 ? (t >= 5_000 ? UP(10) : null) : UP(100)));
    expect(s.switches).toEqual([
      { at: START_GRACE_MS, gateway: 0, from: null, reason: 'start' },
      { at: 5_000 + HOLD, gateway: 1, from: 0, reason: 'faster' },
    ]);
  });

  test.each([
    ['jitter around the same value', (g: number, t: number) => UP((g === 0 ? 30 : 25) + ((t / 1000) % 2 ? 6 : -6))],
    ['less than half, but under 20 ms sooner', (g: number) => UP(g === 0 ? 30 : 30 - RTT_SWITCH_MIN_MS + 1)],
    ['20 ms and more sooner, but over half', (g: number) => UP(g === 0 ? 100 : 60)],
  ])('no switch: %s', (_, behaviour) => {
    const s = sim([{ priority: 1 }, { priority: 1 }]);
    // Gateway 1 alone at first (chosen at the grace), then both for a minute.
    s.run(120_000, (g, t) => (g === 1 && t < 2_000 ? null : behaviour(g, t)));
    expect(s.switches).toEqual([{ at: START_GRACE_MS, gateway: 0, from: null, reason: 'start' }]);
  });
});

describe('every gateway down', () => {
  test('no switch, the current stays; the first back is taken even inside its hold-down', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(60_000, (g, t) => (t >= 10_000 && t < 20_000 ? null : g === 0 && t >= 10_000 && t < 40_000 ? null : UP()));
    expect(s.changes.filter((c) => !c.healthy)).toEqual([
      { at: 9_000 + DEAD + TICK, gateway: 0, healthy: false, reason: 'unreachable' },
      { at: 9_000 + DEAD + TICK, gateway: 1, healthy: false, reason: 'unreachable' },
    ]);
    expect(s.switches).toEqual([
      { at: 0, gateway: 0, from: null, reason: 'start' },
      // Gateway 2 was healthy and failed: its hold-down would run to 25 s, but anything beats a dead gateway.
      { at: 20_000, gateway: 1, from: 0, reason: 'unreachable' },
      { at: 40_000 + HOLD, gateway: 0, from: 1, reason: 'preferred' },
    ]);
  });

  test('the current one is the first back: it stays, no switch', () => {
    const s = sim([{ priority: 1 }, { priority: 2 }]);
    s.run(60_000, (g, t) => (t >= 10_000 && t < 20_000 ? null : g === 1 && t >= 10_000 ? null : UP()));
    expect(s.switches).toHaveLength(1);
    expect(s.f.current).toBe(0);
  });
});

describe('endpoints', () => {
  test('silent for deadAfter: the next endpoint, round the list, again every deadAfter', () => {
    const s = sim([{ priority: 1, endpoints: 3 }, { priority: 2 }]);
    s.run(12_000, (g) => (g === 0 ? null : UP()));
    expect(s.rotations).toEqual([
      { at: DEAD, gateway: 0, endpoint: 1 },
      { at: 2 * DEAD, gateway: 0, endpoint: 2 },
      { at: 3 * DEAD, gateway: 0, endpoint: 0 },
      { at: 4 * DEAD, gateway: 0, endpoint: 1 },
    ]);
  });

  test('counted from the last answer; an answering gateway never rotates, nor a single-endpoint one', () => {
    const s = sim([{ priority: 1, endpoints: 2 }, { priority: 2, endpoints: 2 }, { priority: 3 }]);
    s.run(30_000, (g, t) => (g === 0 && t > 10_000 ? null : g === 2 ? null : UP()));
    expect(s.rotations).toEqual([
      { at: 10_000 + DEAD, gateway: 0, endpoint: 1 },
      { at: 10_000 + 2 * DEAD, gateway: 0, endpoint: 0 },
      { at: 10_000 + 3 * DEAD, gateway: 0, endpoint: 1 },
      { at: 10_000 + 4 * DEAD, gateway: 0, endpoint: 0 },
      { at: 10_000 + 5 * DEAD, gateway: 0, endpoint: 1 },
      { at: 10_000 + 6 * DEAD, gateway: 0, endpoint: 0 },
    ]);
    expect(s.f.health(1).endpoint).toBe(0);
    expect(s.f.health(2).endpoint).toBe(0);
  });
});

describe('retries (a new handshake)', () => {
  test('every gateway silent for deadAfter, one endpoint or several, again every deadAfter; none while it answers', () => {
    const f = new Failover(
      [
        { priority: 1, endpoints: 1 },
        { priority: 2, endpoints: 2 },
      ],
      { probeIntervalMs: 1000, deadAfterMs: DEAD, holdDownMs: 5000 },
      0,
    );
    const retries: [number, number[], number[]][] = [];
    for (let t = 0; t <= 4 * DEAD; t += TICK) {
      if (t <= DEAD + TICK) f.heard(1, t); // gateway 2 answers until just past the first deadAfter
      const d = f.evaluate(t);
      if (d.retry.length > 0) retries.push([t, d.retry, d.rotate]);
    }
    expect(retries).toEqual([
      [DEAD, [0], []],
      [2 * DEAD, [0], []],
      [DEAD + TICK + DEAD, [1], [1]],
      [3 * DEAD, [0], []],
      [DEAD + TICK + 2 * DEAD, [1], [1]],
      [4 * DEAD, [0], []],
    ]);
  });
});

describe('round-trip smoothing', () => {
  test('the first sample as is, then each with weight 1/8', () => {
    const f = new Failover(
      [
        { priority: 1, endpoints: 1 },
        { priority: 1, endpoints: 1 },
      ],
      CONFIG,
      0,
    );
    expect(f.health(0).rttMs).toBeNull();
    f.answer(0, true, 100, 0);
    expect(f.health(0).rttMs).toBe(100);
    f.answer(0, true, 20, 1000);
    expect(f.health(0).rttMs).toBe(90);
    f.answer(0, true, 90, 2000);
    expect(f.health(0).rttMs).toBe(90);
    f.answer(0, false, 170, 3000);
    expect(f.health(0)).toMatchObject({ rttMs: 100, uplinkUp: false });
    expect(f.health(1).rttMs).toBeNull();
  });
});
