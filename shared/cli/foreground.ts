// The commands that run in the foreground until SIGINT/SIGTERM: `meshgate up`
// (one wg-quick tunnel) and `meshgate client` (the client agent); the gateway
// daemon's is in gateway/cli.ts. Exit 0 after a signal and cleanup, 1 when
// the data path failed (signals.ts).

import { basename } from 'node:path';
import { loadWgQuickFile } from '../config/wg-quick.js';
import { systemRunner } from '../host/command.js';
import { createLogger } from '../log.js';
import { INTERFACE_NAME_RULE, isInterfaceName } from '../net/address.js';
import { startTunnel } from '../runner/tunnel.js';
import { EXIT_OK } from './exit-code.js';
import { runUntilStopped } from './signals.js';
import { UsageError } from './usage-error.js';

/** A tunnel's name from its file name, as wg-quick derives it; held to the one rule (shared/net/interface-name.ts). */
export function interfaceNameOf(file: string): string {
  const name = basename(file).replace(/\.conf$/, '');
  if (!isInterfaceName(name)) {
    throw new UsageError('argument', `"${name}" is not a valid interface name (${INTERFACE_NAME_RULE}), from ${file}`);
  }
  return name;
}

/** `meshgate up FILE`: the tunnel of a wg-quick file, named after the file. */
export async function up(file: string): Promise<number> {
  const name = interfaceNameOf(file);
  const log = createLogger('meshgate');
  const config = loadWgQuickFile(file, (message, mode) => log.warn({ event: 'config-file-open', file, mode }, message));
  for (const key of config.ignored) log.warn({ event: 'config-key-ignored', key }, `ignored wg-quick key ${key}`);
  const tunnel = await startTunnel(name, config, systemRunner, log);
  log.info(
    {
      event: 'ready',
      interface: name,
      listenPort: tunnel.listenPort,
      peers: config.peers.length,
      aead: tunnel.runner.device.crypto.aead.name,
    },
    `tunnel ${name} is up`,
  );
  const daemon = { failure: tunnel.runner.failure, close: () => tunnel.close() };
  return runUntilStopped(log, daemon, { fields: { interface: name }, message: `tunnel ${name} removed` });
}

/** `meshgate client --config FILE`: the client agent (loaded only when asked for). */
export async function client(configFile: string): Promise<number> {
  const { startAgent } = await import('../../client/agent.js');
  const log = createLogger('meshgate-client');
  const agent = await startAgent(configFile, systemRunner, log);
  return runUntilStopped(log, agent, { fields: {}, message: 'client stopped' });
}

/** `meshgate client down --config FILE`: undoes what a killed agent left (its rules, sysctls, DNS, TUN). */
export async function clientDown(configFile: string): Promise<number> {
  const { loadClientConfig, wipeClientSecrets } = await import('../../client/config.js');
  const { stateFileOf, undoLeftovers } = await import('../../client/client-state.js');
  const config = loadClientConfig(configFile);
  wipeClientSecrets(config);
  const log = createLogger('meshgate-client');
  const undone = await undoLeftovers(config.interface, stateFileOf(config.interface), systemRunner, log);
  if (!undone)
    log.info({ event: 'nothing-to-undo', interface: config.interface }, `nothing left on ${config.interface}`);
  return EXIT_OK;
}
