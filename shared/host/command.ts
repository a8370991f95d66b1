// Running host tools (`ip`, `nft`, `sysctl`) behind one narrow interface, so
// that unit tests can record the commands instead of changing a machine.

import { execa } from 'execa';

export interface CommandRunner {
  /** Runs a command; rejects with CommandError on a non-zero exit. */
  run(command: string, args: readonly string[], options?: { input?: string }): Promise<string>;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(`${command} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}: ${stderr.trim() || 'no message'}`);
  }
}

export const systemRunner: CommandRunner = {
  async run(command, args, options) {
    const result = await execa(command, args, { input: options?.input, reject: false, stripFinalNewline: true });
    if (result.exitCode !== 0 || result.failed) {
      const text = [command, ...args].join(' ');
      throw new CommandError(text, result.exitCode, String(result.stderr || result.shortMessage || ''));
    }
    return String(result.stdout);
  },
};

/** A runner that records commands and answers from a table: for unit tests. */
export class RecordingRunner implements CommandRunner {
  readonly calls: { command: string; args: string[]; input?: string }[] = [];
  constructor(private readonly answer: (command: string, args: readonly string[]) => string = () => '') {}
  async run(command: string, args: readonly string[], options?: { input?: string }): Promise<string> {
    this.calls.push({ command, args: [...args], ...(options?.input !== undefined ? { input: options.input } : {}) });
    return this.answer(command, args);
  }
  /** The recorded calls as shell-like lines. */
  lines(): string[] {
    return this.calls.map((c) => [c.command, ...c.args].join(' '));
  }
  /** The lines recorded while `action` ran (a failure of `action` propagates). */
  async linesDuring(action: () => Promise<unknown>): Promise<string[]> {
    const from = this.calls.length;
    await action();
    return this.lines().slice(from);
  }
}
