// Structured logs: one JSON object per line on stdout (pino), as systemd and
// log shippers want them. Keys, never secrets: nothing logs a private key.

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.MESHGATE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
