// The `meshgate` command line. Each subcommand is a function from arguments
// to an exit code; errors are printed as one clear line, never a stack trace.
//
//   meshgate genkey | pubkey | genpsk        keys, exactly as `wg` prints them
//   meshgate up <file.conf>                  run one tunnel in the foreground
//   meshgate show <name> [--json]            status of a running tunnel

import { randomBytes } from 'node:crypto';
import { fchmodSync, fstatSync } from 'node:fs';
import { basename } from 'node:path';
import { ConfigError, loadWgQuickFile } from '../config/wg-quick.js';
import { queryControl } from '../control/socket.js';
import { takeOption } from './args.js';
import { renderStatus, type TunnelStatus } from '../control/status.js';
import { systemRunner } from '../host/command.js';
import { useNativeCrypto } from '../io/native-aead.js';
import { createLogger } from '../log.js';
import { startTunnel } from '../runner/tunnel.js';
import { aeadBackendName } from '../wireguard/crypto.js';
import { generatePresharedKeyText, generatePrivateKeyText, KeyFormatError, publicKeyText } from '../wireguard/keys.js';
import { untilStopped } from './signals.js';

const USAGE = `usage: meshgate <command> [arguments]

commands:
  genkey                 print a new private key (base64, as wg genkey)
  pubkey                 read a private key on stdin, print its public key
  genpsk                 print a new preshared key
  up <file.conf>         run the tunnel of a wg-quick file in the foreground;
                         the interface is named after the file
  show <name> [--json]   show a running tunnel's peers and counters
  gateway --config FILE  run the gateway daemon in the foreground
  gateway export-client NAME --config FILE
                         print a wg-quick file for a stock WireGuard client
  gateway leases --config FILE [--json]
                         list the leases and reservations in the state db
  gateway release PUBLIC-KEY --config FILE
                         free the reservation of a client no longer configured
  client --config FILE   run the client agent in the foreground
  help                   this text
`;

/** Errors in what the user gave us (exit 2), as opposed to failures while running (exit 1). */
const USAGE_ERRORS = new Set([
  'ArgumentError',
  'GatewayUsageError',
  'GatewayConfigError',
  'ClientConfigError',
  'HostCheckError',
  'EndpointError',
]);

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const random = (n: number): Uint8Array => randomBytes(n);

/** Most `meshgate pubkey` reads from stdin: a key line, with room to spare. */
const STDIN_KEY_MAX = 4096;

/**
 * Reads stdin (a private key, for pubkey) into a buffer of its own, never
 * Node's shared Buffer pool, and zeroes every buffer the text passed through.
 */
async function readSecretStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of process.stdin) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length > STDIN_KEY_MAX) throw new UsageError(`more than ${STDIN_KEY_MAX} bytes on stdin: not a key`);
    }
    const all = Buffer.alloc(length);
    let offset = 0;
    for (const chunk of chunks) offset += chunk.copy(all, offset);
    const text = all.toString('utf8');
    all.fill(0);
    return text;
  } finally {
    for (const chunk of chunks) chunk.fill(0);
  }
}

/**
 * Secret output (a private or preshared key, a client's wg-quick file) goes
 * to stdout as `wg genkey` does, with two guards: redirected into a regular
 * file, that file is made 0600 first (the shell created it with the umask),
 * and it is refused when it stays open to group/others (a file of another
 * user); the bytes go out from a buffer of their own (a string written to a
 * file would be encoded into Node's shared Buffer pool), zeroed once written.
 */
function writeSecret(text: string): void {
  let stat;
  try {
    stat = fstatSync(1);
  } catch {
    stat = null; // no stdout to look at: the write reports what is wrong
  }
  if (stat?.isFile() === true) {
    try {
      fchmodSync(1, 0o600);
    } catch {
      // not our file: checked below
    }
    const mode = fstatSync(1).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new UsageError(
        `stdout is a file that group/others may read (mode ${mode.toString(8).padStart(4, '0')}) and cannot be made 0600: not writing a secret to it`,
      );
    }
  }
  const bytes = Buffer.alloc(Buffer.byteLength(text));
  bytes.write(text);
  process.stdout.write(bytes, () => bytes.fill(0));
}

/** A tunnel's name from its file name, as wg-quick derives it. */
export function interfaceNameOf(file: string): string {
  const name = basename(file).replace(/\.conf$/, '');
  if (!/^[a-zA-Z0-9_=+.-]{1,15}$/.test(name)) {
    throw new UsageError(`"${name}" is not a valid interface name (1-15 of a-z A-Z 0-9 _ = + . -), from ${file}`);
  }
  return name;
}

async function up(args: string[]): Promise<number> {
  const file = args[0];
  if (file === undefined || args.length !== 1) throw new UsageError('usage: meshgate up <file.conf>');
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
      aead: aeadBackendName(),
    },
    `tunnel ${name} is up`,
  );
  const stop = await untilStopped(log, tunnel.runner.failure);
  await tunnel.close();
  log.info({ event: 'stopped', interface: name }, `tunnel ${name} removed`);
  return 'fatal' in stop ? 1 : 0;
}

async function show(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  if (rest.length !== 1) throw new UsageError('usage: meshgate show <name> [--json]');
  const status = await queryControl<TunnelStatus>(rest[0]!, 'status');
  process.stdout.write(
    json ? JSON.stringify(status) + '\n' : renderStatus(status, Math.floor(Date.now() / 1000)) + '\n',
  );
  return 0;
}

// The gateway and the client agent are loaded only when asked for (they bring
// SQLite and more along; `meshgate genkey` should not).
async function gateway(args: string[]): Promise<number> {
  const { exportClient, GATEWAY_USAGE, listLeases, releaseLease, runGatewayDaemon } =
    await import('../../gateway/cli.js');
  const rest = [...args];
  const config = takeOption(rest, '--config');
  switch (rest[0]) {
    case 'export-client':
      if (config === undefined || rest.length !== 2) throw new UsageError(GATEWAY_USAGE);
      writeSecret(exportClient(config, rest[1]!));
      return 0;
    case 'leases': {
      const json = rest.includes('--json');
      const extra = rest.slice(1).filter((a) => a !== '--json');
      if (config === undefined || extra.length !== 0) throw new UsageError(GATEWAY_USAGE);
      process.stdout.write(listLeases(config, json));
      return 0;
    }
    case 'release':
      if (config === undefined || rest.length !== 2) throw new UsageError(GATEWAY_USAGE);
      process.stdout.write(await releaseLease(config, rest[1]!));
      return 0;
  }
  if (config === undefined || rest.length !== 0) throw new UsageError(GATEWAY_USAGE);
  const log = createLogger('meshgate-gateway');
  return runGatewayDaemon(config, systemRunner, log);
}

async function client(args: string[]): Promise<number> {
  const { startAgent } = await import('../../client/agent.js');
  const rest = [...args];
  const config = takeOption(rest, '--config');
  if (config === undefined || rest.length !== 0) throw new UsageError('usage: meshgate client --config FILE');
  const log = createLogger('meshgate-client');
  const agent = await startAgent(config, systemRunner, log);
  const stop = await untilStopped(log, agent.failure);
  await agent.close();
  log.info({ event: 'stopped' }, 'client stopped');
  return 'fatal' in stop ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'genkey':
        writeSecret(generatePrivateKeyText(random) + '\n');
        return 0;
      case 'genpsk':
        writeSecret(generatePresharedKeyText(random) + '\n');
        return 0;
      case 'pubkey':
        process.stdout.write(publicKeyText(await readSecretStdin()) + '\n');
        return 0;
      case 'up':
        useNativeCrypto(); // ChaCha20-Poly1305 and X25519: OpenSSL through the addon where it was built
        return await up(args);
      case 'show':
        return await show(args);
      case 'gateway':
        useNativeCrypto();
        return await gateway(args);
      case 'client':
        useNativeCrypto();
        return await client(args);
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(command === undefined ? USAGE : `meshgate: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    const usage =
      e instanceof UsageError ||
      e instanceof ConfigError ||
      e instanceof KeyFormatError ||
      USAGE_ERRORS.has((e as Error).name);
    process.stderr.write(`meshgate: ${(e as Error).message}\n`);
    return usage ? 2 : 1;
  }
}
