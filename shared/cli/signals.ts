// How a foreground daemon waits for its end: SIGINT or SIGTERM, logged once.

import type { Logger } from '../log.js';

/** Resolves with the signal's name when SIGINT or SIGTERM arrives. */
export function untilStopSignal(log: Logger): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      log.info({ event: 'stopping', signal }, `stopping on ${signal}`);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
