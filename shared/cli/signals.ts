// How a foreground daemon waits for its end: SIGINT or SIGTERM, or a fatal
// error of its data path (a TUN device or UDP socket gone); logged once.

import type { Logger } from '../log.js';
import { EXIT_FAILURE, EXIT_OK } from './exit-code.js';

/** Why a daemon stops: a signal (exit 0 after cleanup) or a fatal error (exit 1). */
export type StopReason = { signal: string } | { fatal: Error };

/**
 * Resolves when SIGINT/SIGTERM arrives or `failure` does, whichever is first;
 * a failure is logged as one error line with its reason.
 */
export function untilStopped(log: Logger, failure: Promise<Error>): Promise<StopReason> {
  return new Promise((resolve) => {
    let done = false;
    const stop = (signal: NodeJS.Signals) => {
      if (done) return;
      done = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      log.info({ event: 'stopping', signal }, `stopping on ${signal}`);
      resolve({ signal });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    void failure.then((error) => {
      if (done) return;
      done = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      const code = (error as { code?: unknown }).code;
      log.error(
        { event: 'fatal', code: typeof code === 'string' ? code : undefined, err: error.message },
        `stopping: ${error.message}`,
      );
      resolve({ fatal: error });
    });
  });
}

/**
 * Runs a started daemon in the foreground: waits as untilStopped() does,
 * closes it, logs `stopped`; returns the exit code (0 after a signal, 1 after
 * a fatal error).
 */
export async function runUntilStopped(
  log: Logger,
  daemon: { failure: Promise<Error>; close(): Promise<void> },
  stopped: { fields: Record<string, unknown>; message: string },
): Promise<number> {
  const stop = await untilStopped(log, daemon.failure);
  await daemon.close();
  log.info({ event: 'stopped', ...stopped.fields }, stopped.message);
  return 'fatal' in stop ? EXIT_FAILURE : EXIT_OK;
}
