// Process supervision: a long-running process inside a namespace, its output
// (log file + searchable buffer) and its end. Spawning and the SIGTERM -> SIGKILL
// escalation are execa's (forceKillAfterDelay); only the synchronous path for
// signal and exit handlers signals by pid itself.

import { execa, type ResultPromise } from 'execa';
import fs from 'node:fs';
import { sleepSync } from './sleep.js';

/** How long stop() waits after SIGTERM before execa sends SIGKILL (default). */
export const STOP_GRACE_MS = 3_000;
const OUTPUT_KEEP_CHARS = 4 * 1024 * 1024;

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22 overall; fields[0] is field 3
  } catch {
    return null;
  }
}

/** True if the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends a signal by pid; a process already gone is not an error. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Environment for child processes: ours, minus anything that would load test tooling into them. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProcOptions {
  env: NodeJS.ProcessEnv;
  /** stop(): SIGKILL this long after SIGTERM if the process is still there (execa's forceKillAfterDelay). */
  stopGraceMs?: number | undefined;
}

/**
 * A long-running process inside a namespace. stdout and stderr go, interleaved,
 * to logFile and to an in-memory buffer (the last 4 MiB) that waitFor() searches.
 */
export class Proc {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  private readonly child: ResultPromise;
  private status: ExitStatus | null = null;
  private text = '';
  private dropped = 0;
  private readonly listeners = new Set<() => void>();

  /** Starts `command args…` (execa; stdin ignored, output not buffered by execa). */
  constructor(
    readonly label: string,
    command: string,
    args: readonly string[],
    readonly logFile: string,
    opts: ProcOptions,
  ) {
    const child = execa(command, args, {
      stdin: 'ignore',
      buffer: false,
      reject: false,
      env: opts.env,
      extendEnv: false,
      forceKillAfterDelay: opts.stopGraceMs ?? STOP_GRACE_MS,
    });
    if (child.pid === undefined) throw new Error(`${label}: failed to start`);
    this.child = child;
    this.pid = child.pid;
    const log = fs.createWriteStream(logFile, { flags: 'a' });
    const onData = (chunk: string) => {
      log.write(chunk);
      this.text += chunk;
      if (this.text.length > OUTPUT_KEEP_CHARS) {
        const cut = this.text.length - OUTPUT_KEEP_CHARS / 2;
        this.dropped += cut;
        this.text = this.text.slice(cut);
      }
      this.notify();
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    this.exited = child.then((r) => {
      if (r.failed && r.exitCode === undefined && r.signal === undefined) {
        onData(`[harness] spawn error: ${r.shortMessage}\n`);
      }
      this.status = { code: r.exitCode ?? null, signal: (r.signal as NodeJS.Signals | undefined) ?? null };
      log.end(`[harness] exited code=${this.status.code} signal=${this.status.signal}\n`);
      this.notify();
      return this.status;
    });
  }

  /** Exit status once the process has ended, else null. */
  get exitStatus(): ExitStatus | null {
    return this.status;
  }

  /** Everything the process printed so far (the last 4 MiB). */
  output(): string {
    return this.text;
  }

  /** Length of all output so far: pass it as `since` to waitFor() to match only newer output. */
  mark(): number {
    return this.dropped + this.text.length;
  }

  /** The last lines of output, for error messages. */
  tail(lines = 30): string {
    return tail(this.text, lines);
  }

  /**
   * Resolves with the first match of `pattern` in the output (after offset `since`,
   * see mark()); rejects on timeout or if the process exits first, with the log tail.
   */
  waitFor(pattern: RegExp, timeoutMs: number, since = 0): Promise<RegExpExecArray> {
    const re = new RegExp(pattern.source, pattern.flags.replace('g', '').replace('y', ''));
    return new Promise((resolve, reject) => {
      const check = () => {
        const start = Math.max(0, since - this.dropped);
        const m = re.exec(this.text.slice(start));
        if (m) {
          done();
          resolve(m);
        } else if (this.status) {
          done();
          reject(this.failure(`exited (code ${this.status.code}, signal ${this.status.signal}) before ${pattern}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(this.failure(`no ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** SIGTERM, then (execa) SIGKILL after the spawn's stopGraceMs; resolves when the process has exited. */
  async stop(): Promise<ExitStatus> {
    if (this.status) return this.status;
    this.child.kill('SIGTERM');
    return this.exited;
  }

  /** Synchronous best effort for signal/exit handlers (no event loop there, so no execa). */
  stopSync(graceMs = 1_000): void {
    if (this.status || !processAlive(this.pid)) return;
    signal(this.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && processAlive(this.pid)) sleepSync(20);
    signal(this.pid, 'SIGKILL');
  }

  failure(what: string): Error {
    return new Error(`${this.label}: ${what}\n--- ${this.logFile} (tail) ---\n${this.tail()}`);
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

/** JSON lines of a process's output (lines that do not parse are skipped). */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t) as Record<string, unknown>);
    } catch {
      // partial or foreign line
    }
  }
  return out;
}
