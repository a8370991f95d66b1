// The admin commands of the `meshgate` table (commands.ts spreads them in):
// `gateway token …` works on the state db (gateway/admin/token-cli.ts),
// loaded only when asked for.

import { flag, stringOption, usageError, type CommandSpec, type OptionSpec } from './command.js';
import { EXIT_OK } from './exit-code.js';
import { writeSecret } from './secret-io.js';

const tokenCli = () => import('../../gateway/admin/token-cli.js');

const JSON_OUTPUT: OptionSpec = { help: 'print JSON (for scripts) instead of a table' };
const GATEWAY_CONFIG: OptionSpec = {
  value: 'FILE',
  required: true,
  help: "the gateway's configuration (YAML, docs/gateway-config.md): its state db holds the tokens",
};

function missingCommand(spec: CommandSpec): never {
  throw usageError(spec, 'command', `missing command after "meshgate ${spec.words.join(' ')}"`);
}

async function print(text: string): Promise<number> {
  process.stdout.write(text);
  return EXIT_OK;
}

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
];
