// Content-checked TCP transfers with tools/xfer.mjs: a server in one namespace,
// transfers from another, each with a verdict and its throughput.

import { XFER_TOOL } from './env.js';
import type { Namespace } from './namespace.js';
import type { ExitStatus, Proc } from './process.js';

export interface XferResult {
  mode: 'send' | 'recv';
  bytes: number;
  expected: number;
  sha256?: string;
  seconds: number;
  ok: boolean;
  error?: string;
  firstMismatch?: number;
  /** megabits per second */
  mbps: number;
}

/** A running `xfer.mjs serve`. */
export class XferServer {
  constructor(
    readonly ns: Namespace,
    readonly port: number,
    readonly proc: Proc,
  ) {}

  /**
   * One transfer from a client namespace: "send" = client → server, "recv" =
   * server → client. Never throws for a failed transfer: check `ok`.
   */
  async transfer(
    client: Namespace,
    host: string,
    mode: 'send' | 'recv',
    bytes: number,
    seed: string,
    timeoutMs = 120_000,
  ): Promise<XferResult> {
    if (!/^[A-Za-z0-9._:=+-]{1,128}$/.test(seed))
      throw new Error(`xfer seed must be 1..128 of [A-Za-z0-9._:=+-]: ${seed}`);
    const timeoutS = Math.ceil(timeoutMs / 1000);
    const r = await client.exec(
      'node',
      [XFER_TOOL, mode, host, String(this.port), String(bytes), seed, '--timeout', String(timeoutS)],
      { check: false, timeoutMs: timeoutMs + 10_000 },
    );
    const last = r.stdout.trim().split('\n').pop() ?? '';
    let parsed: Omit<XferResult, 'mbps'>;
    try {
      parsed = JSON.parse(last) as Omit<XferResult, 'mbps'>;
    } catch {
      return {
        mode,
        bytes: 0,
        expected: bytes,
        seconds: 0,
        ok: false,
        error: `xfer exit ${r.exitCode}: ${r.stderr}${r.stdout}`,
        mbps: 0,
      };
    }
    const ok = parsed.ok === true && r.exitCode === 0;
    const mbps = parsed.seconds > 0 ? (parsed.bytes * 8) / parsed.seconds / 1e6 : 0;
    return { ...parsed, ok, mbps };
  }

  /** Both directions one after the other, with seeds derived from `seed` (characters outside the seed alphabet become "_"). */
  async both(client: Namespace, host: string, bytes: number, seed: string, timeoutMs = 120_000): Promise<XferResult[]> {
    const base = seed.replace(/[^A-Za-z0-9._:=+-]/g, '_').slice(0, 120);
    const up = await this.transfer(client, host, 'send', bytes, `${base}-up`, timeoutMs);
    const down = await this.transfer(client, host, 'recv', bytes, `${base}-down`, timeoutMs);
    return [up, down];
  }

  stop(): Promise<ExitStatus> {
    return this.proc.stop();
  }
}
