// How a foreground daemon waits for its end: SIGINT or SIGTERM, or a fatal
// error of its data path (a TUN device or UDP socket gone); logged once.

import type { Logger } from '../log.js';

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
