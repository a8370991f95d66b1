// The table of `meshgate` commands: for each its words, arguments, options,
// help text and what it runs. parse (command.ts) and --help (help.ts) read
// only this table. The gateway and the client agent are loaded only when
// asked for (they bring SQLite and more along; `meshgate genkey` should not).

import { randomBytes } from 'node:crypto';
import type { AgentStatus } from '../../client/agent-status.js';
import { show } from '../config/redact.js';
import { queryControl } from '../control/socket.js';
import { renderStatus, type TunnelStatus } from '../control/status.js';
import { systemRunner } from '../host/command.js';
import { createLogger } from '../log.js';
import { generatePresharedKeyText, generatePrivateKeyText, publicKeyText } from '../wireguard/keys.js';
import { ADMIN_COMMANDS } from './admin-commands.js';
import { flag, resolve, stringOption, usageError, type CommandSpec, type OptionSpec } from './command.js';
import { EXIT_OK } from './exit-code.js';
import { client, clientDown, up } from './foreground.js';
import { overview, usage } from './help.js';
import { readSecretStdin, writeSecret } from './secret-io.js';
import { meshgateVersion } from './version.js';

const random = (n: number): Uint8Array => randomBytes(n);

const GATEWAY_CONFIG: OptionSpec = {
  value: 'FILE',
  required: true,
  help: "the gateway's configuration (YAML, docs/gateway-config.md)",
};
const CLIENT_CONFIG: OptionSpec = {
  value: 'FILE',
  required: true,
  help: "the client agent's configuration (YAML, docs/client-config.md)",
};
const JSON_OUTPUT: OptionSpec = { help: 'print JSON (for scripts) instead of a table' };

async function print(text: string): Promise<number> {
  process.stdout.write(text);
  return EXIT_OK;
}

async function secret(text: string): Promise<number> {
  writeSecret(text);
  return EXIT_OK;
}

/** `meshgate gateway …` (loaded only when asked for). */
async function gatewayCli() {
  return import('../../gateway/cli.js');
}

/** `meshgate show NAME`: the status from the control socket; a gateway adds its usage, an agent its own part. */
async function showTunnel(name: string, json: boolean): Promise<number> {
  const status = await queryControl<TunnelStatus & { usage?: unknown[]; agent?: unknown }>(name, 'status');
  const agent = status.agent as AgentStatus | undefined;
  const agentStatus = agent === undefined ? undefined : await import('../../client/agent-status.js');
  // The kill switch's counter lives in nftables: read here, as the status is shown.
  if (agent !== undefined && agent.killSwitch.on && agent.killSwitch.table !== null)
    agent.killSwitch.blocked = await agentStatus!.readBlockedCounter(systemRunner, agent.killSwitch.table);
  if (json) return print(JSON.stringify(status) + '\n');
  const now = Math.floor(Date.now() / 1000);
  let text = renderStatus(status, now);
  if (agent !== undefined) text += '\n\n' + agentStatus!.renderAgentStatus(agent, now);
  // A gateway also reports each client's usage (gateway/usage-report.ts).
  if (Array.isArray(status.usage) && status.usage.length > 0) {
    const { renderUsage } = await import('../../gateway/usage-report.js');
    text += '\n\n' + renderUsage(status.usage as Parameters<typeof renderUsage>[0]).trimEnd();
  }
  return print(text + '\n');
}

/** The TUN device a client configuration names (its keys are wiped at once). */
async function clientInterface(configFile: string): Promise<string> {
  const { loadClientConfig, wipeClientSecrets } = await import('../../client/config.js');
  const config = loadClientConfig(configFile);
  wipeClientSecrets(config);
  return config.interface;
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    words: ['genkey'],
    args: [],
    options: {},
    summary: 'print a new private key (base64, as wg genkey)',
    details: 'Redirected into a file, the file is made 0600 first.',
    run: () => secret(generatePrivateKeyText(random) + '\n'),
  },
  {
    words: ['pubkey'],
    args: [],
    options: {},
    summary: 'read a private key on stdin, print its public key',
    run: async () => print(publicKeyText(await readSecretStdin()) + '\n'),
  },
  {
    words: ['genpsk'],
    args: [],
    options: {},
    summary: 'print a new preshared key',
    details: 'Redirected into a file, the file is made 0600 first.',
    run: () => secret(generatePresharedKeyText(random) + '\n'),
  },
  {
    words: ['up'],
    args: ['<file.conf>'],
    options: {},
    summary: 'run the tunnel of a wg-quick file in the foreground;\nthe interface is named after the file',
    details: 'SIGINT or SIGTERM removes the tunnel. A file name starting with "-" goes after "--".',
    run: (call) => up(call.args[0]!),
  },
  {
    words: ['show'],
    args: ['<name>'],
    options: { json: JSON_OUTPUT },
    summary: "show a running tunnel's peers and counters",
    run: (call) => showTunnel(call.args[0]!, flag(call, 'json')),
  },
  {
    words: ['gateway'],
    args: [],
    options: { config: GATEWAY_CONFIG },
    summary: 'run the gateway daemon in the foreground',
    details: 'SIGINT or SIGTERM stops it; the leases stay in the state database.',
    run: async (call) => {
      const { runGatewayDaemon } = await gatewayCli();
      return runGatewayDaemon(stringOption(call, 'config'), systemRunner, createLogger('meshgate-gateway'));
    },
  },
  {
    words: ['gateway', 'export-client'],
    args: ['NAME'],
    options: { config: GATEWAY_CONFIG },
    summary: 'print a wg-quick file for a stock WireGuard client',
    details: 'The client needs a privateKeyFile in the configuration. Redirected into a file, the file is made 0600.',
    run: async (call) => secret((await gatewayCli()).exportClient(stringOption(call, 'config'), call.args[0]!)),
  },
  {
    words: ['gateway', 'leases'],
    args: [],
    options: { config: GATEWAY_CONFIG, json: JSON_OUTPUT },
    summary: 'list the leases and reservations in the state db',
    run: async (call) => print((await gatewayCli()).listLeases(stringOption(call, 'config'), flag(call, 'json'))),
  },
  {
    words: ['gateway', 'usage'],
    args: [],
    options: { config: GATEWAY_CONFIG, json: JSON_OUTPUT },
    summary: "each client's usage, quota, state and period end",
    details: 'From the running gateway, or from the state db (its last checkpoint) when it is not running.',
    run: async (call) =>
      print(await (await gatewayCli()).gatewayUsage(stringOption(call, 'config'), flag(call, 'json'))),
  },
  {
    words: ['gateway', 'release'],
    args: ['PUBLIC-KEY'],
    options: { config: GATEWAY_CONFIG },
    summary: 'free the reservation of a client no longer configured',
    run: async (call) => print(await (await gatewayCli()).releaseLease(stringOption(call, 'config'), call.args[0]!)),
  },
  // The admin commands (admin-commands.ts): gateway token …, clients …, usage, status.
  ...ADMIN_COMMANDS,
  {
    words: ['client'],
    args: [],
    options: { config: CLIENT_CONFIG },
    summary: 'run the client agent in the foreground',
    details: 'SIGINT or SIGTERM stops it and removes its tunnel.',
    run: (call) => client(stringOption(call, 'config')),
  },
  {
    words: ['client', 'down'],
    args: [],
    options: { config: CLIENT_CONFIG },
    summary: 'undo what a killed client agent left on this host',
    details:
      'Removes its policy rules, puts its sysctl and DNS (resolv.conf or systemd-resolved) back and deletes its TUN, from the state file it kept. Refuses while that agent still runs. A start of the agent does the same first.',
    run: (call) => clientDown(stringOption(call, 'config')),
  },
  {
    words: ['client', 'status'],
    args: [],
    options: { config: CLIENT_CONFIG, json: JSON_OUTPUT },
    summary: "show the running client agent's gateway, lease, routing and kill switch",
    details: 'The same as meshgate show on the interface the configuration names.',
    run: async (call) => showTunnel(await clientInterface(stringOption(call, 'config')), flag(call, 'json')),
  },
  {
    words: ['help'],
    args: [],
    rest: '[COMMAND]',
    options: {},
    summary: "this text, or a command's usage",
    run: async (call) => {
      if (call.args.length === 0) return print(overview(COMMANDS));
      const { spec, argv } = resolve(COMMANDS, call.args);
      if (argv.length > 0) throw usageError(spec, 'argument', `unexpected argument ${show(argv[0]!)}`);
      return print(usage(spec, COMMANDS));
    },
  },
  {
    words: ['version'],
    args: [],
    options: {},
    summary: "print meshgate's version (also --version)",
    run: () => print(`meshgate ${meshgateVersion()}\n`),
  },
];
