// The admin commands of the `meshgate` table (commands.ts spreads them in):
// `meshgate clients …`, `usage` and `status` talk to the running gateway's
// admin API over its Unix socket (gateway/admin/cli.ts); `gateway token …`
// works on the state db (gateway/admin/token-cli.ts). Both are loaded only
// when asked for.

import { flag, stringOption, usageError, type Call, type CommandSpec, type OptionSpec } from './command.js';
import { EXIT_OK } from './exit-code.js';
import { writeSecret } from './secret-io.js';

const adminCli = () => import('../../gateway/admin/cli.js');
const tokenCli = () => import('../../gateway/admin/token-cli.js');

/** Which running gateway: by its interface, or by its configuration file. */
const TARGET: Readonly<Record<string, OptionSpec>> = {
  interface: { value: 'NAME', help: "the gateway's interface (default mg0): its admin socket is NAME.api.sock" },
  config: { value: 'FILE', help: "or the gateway's configuration, to take the interface from" },
};
const JSON_OUTPUT: OptionSpec = { help: 'print JSON (for scripts) instead of a table' };
const GATEWAY_CONFIG: OptionSpec = {
  value: 'FILE',
  required: true,
  help: "the gateway's configuration (YAML, docs/gateway-config.md): its state db holds the tokens",
};
const POLICY: OptionSpec = { value: 'POLICY', help: "a policy of the gateway's configuration, or unlimited" };
const WEIGHT: OptionSpec = {
  value: 'N',
  help: 'its share under congestion instead of the policy\'s ("default": the policy\'s)',
};
const NOTES: OptionSpec = { value: 'TEXT', help: 'free text for the admin (a flat, a phone number)' };
const PNG: OptionSpec = {
  value: 'FILE',
  help: 'also write the QR code as a PNG (mode 0600: it holds the private key)',
};

const QR_DETAILS = "The QR code is drawn when stdout is a terminal (a phone's WireGuard app scans it).";

function missingCommand(spec: CommandSpec): never {
  throw usageError(spec, 'command', `missing command after "meshgate ${spec.words.join(' ')}"`);
}

const admin = (run: (cli: Awaited<ReturnType<typeof adminCli>>, call: Call) => Promise<number>) => async (call: Call) =>
  run(await adminCli(), call);

async function print(text: string): Promise<number> {
  process.stdout.write(text);
  return EXIT_OK;
}

const CLIENTS: CommandSpec = {
  words: ['clients'],
  args: [],
  options: {},
  summary: "manage the running gateway's clients (through its admin API)",
  run: async () => missingCommand(CLIENTS),
};

const GATEWAY_TOKEN: CommandSpec = {
  words: ['gateway', 'token'],
  args: [],
  options: {},
  summary: "manage the admin API's bearer tokens (for its TCP listeners)",
  run: async () => missingCommand(GATEWAY_TOKEN),
};

export const ADMIN_COMMANDS: readonly CommandSpec[] = [
  GATEWAY_TOKEN,
  {
    words: ['gateway', 'token', 'create'],
    args: ['NAME'],
    options: { config: GATEWAY_CONFIG },
    summary: 'make a token and print it (only this once)',
    details: 'Only its SHA-256 is kept. Redirected into a file, the file is made 0600 first.',
    run: async (call) => {
      writeSecret((await tokenCli()).createToken(stringOption(call, 'config'), call.args[0]!));
      return EXIT_OK;
    },
  },
  {
    words: ['gateway', 'token', 'list'],
    args: [],
    options: { config: GATEWAY_CONFIG, json: JSON_OUTPUT },
    summary: "the tokens' names, when made and last used",
    run: async (call) => print((await tokenCli()).listTokens(stringOption(call, 'config'), flag(call, 'json'))),
  },
  {
    words: ['gateway', 'token', 'revoke'],
    args: ['NAME'],
    options: { config: GATEWAY_CONFIG },
    summary: 'delete a token: requests with it are refused at once',
    run: async (call) => print((await tokenCli()).revokeToken(stringOption(call, 'config'), call.args[0]!)),
  },
  CLIENTS,
  {
    words: ['clients', 'add'],
    args: ['NAME'],
    options: {
      'public-key': { value: 'KEY', help: 'the public key the client made (its app or wg genkey)' },
      'generate-key': { help: 'the gateway makes the key pair: the config is printed once, with a QR code' },
      policy: POLICY,
      weight: WEIGHT,
      notes: NOTES,
      disabled: { help: 'add it disabled (enable it later)' },
      png: PNG,
      json: { help: "print the API's answer as JSON" },
      ...TARGET,
    },
    summary: 'add a client (--public-key KEY or --generate-key)',
    details: `With --generate-key the config goes to stdout (a file it is redirected into is made 0600). ${QR_DETAILS}`,
    run: admin((cli, call) => cli.clientsAdd(call)),
  },
  {
    words: ['clients', 'list'],
    args: [],
    options: { json: JSON_OUTPUT, ...TARGET },
    summary: 'every client: addresses, usage against its quota, latest handshake',
    run: admin((cli, call) => cli.clientsList(call)),
  },
  {
    words: ['clients', 'show'],
    args: ['NAME'],
    options: { json: JSON_OUTPUT, ...TARGET },
    summary: 'one client in full',
    run: admin((cli, call) => cli.clientsShow(call)),
  },
  {
    words: ['clients', 'set'],
    args: ['NAME'],
    options: {
      name: { value: 'NEW', help: 'rename it' },
      policy: POLICY,
      weight: WEIGHT,
      notes: NOTES,
      json: { help: 'print the changed client as JSON' },
      ...TARGET,
    },
    summary: 'change a client made through the API (live, no restart)',
    details: 'A client of the configuration file can only be disabled and enabled.',
    run: admin((cli, call) => cli.clientsSet(call)),
  },
  {
    words: ['clients', 'disable'],
    args: ['NAME'],
    options: { ...TARGET },
    summary: 'cut a client off at once (its addresses stay reserved)',
    run: admin((cli, call) => cli.clientsSwitch(call, 'disable')),
  },
  {
    words: ['clients', 'enable'],
    args: ['NAME'],
    options: { ...TARGET },
    summary: 'let a disabled client in again',
    run: admin((cli, call) => cli.clientsSwitch(call, 'enable')),
  },
  {
    words: ['clients', 'remove'],
    args: ['NAME'],
    options: { ...TARGET },
    summary: 'delete a client made through the API',
    run: admin((cli, call) => cli.clientsRemove(call)),
  },
  {
    words: ['clients', 'export'],
    args: ['NAME'],
    options: {
      'private-key-file': {
        value: 'FILE',
        help: "the client's private key (0600): filled in here, never sent to the gateway",
      },
      png: PNG,
      ...TARGET,
    },
    summary: "print a client's wg-quick config (and its QR code)",
    details: `Without --private-key-file the PrivateKey line is left commented out for the client's own key. ${QR_DETAILS}`,
    run: admin((cli, call) => cli.clientsExport(call)),
  },
  {
    words: ['usage'],
    args: [],
    options: { json: JSON_OUTPUT, ...TARGET },
    summary: "each client's usage, quota, state and period end (running gateway)",
    run: admin((cli, call) => cli.usage(call)),
  },
  {
    words: ['status'],
    args: [],
    options: { json: JSON_OUTPUT, ...TARGET },
    summary: 'the running gateway: uplink, sessions, handshakes, pools',
    run: admin((cli, call) => cli.status(call)),
  },
];
