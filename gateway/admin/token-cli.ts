// `meshgate gateway token create NAME | list | revoke NAME --config FILE`: the
// admin API's bearer tokens, straight on the state db (as `gateway leases`),
// so they work whether the gateway runs or not (it reads the table at each
// request). A new token is printed once, to stdout only (as a secret: a file
// it is redirected into is made 0600); only its SHA-256 is kept.

import { randomBytes } from 'node:crypto';
import { renderTable } from '../../shared/cli/table.js';
import { UsageError } from '../../shared/cli/usage-error.js';
import { show } from '../../shared/config/redact.js';
import { wipe } from '../../shared/wireguard/crypto.js';
import { loadGatewayConfig } from '../config.js';
import { Store } from '../store.js';
import { TOKEN_NAME, TokenTable } from './token-table.js';

/** Runs `use` on the token table of the config's state db. */
function withTokens<T>(configFile: string, use: (tokens: TokenTable) => T): T {
  const config = loadGatewayConfig(configFile);
  wipe(config.privateKey, ...config.clients.map((c) => c.presharedKey));
  const store = Store.open(config.stateDir);
  try {
    return use(new TokenTable(store));
  } finally {
    store.close();
  }
}

function checkName(name: string): void {
  if (!TOKEN_NAME.test(name)) {
    throw new UsageError(
      'argument',
      `token name ${show(name)}: 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

/** The new token's text, with a newline: the only time it is shown. */
export function createToken(configFile: string, name: string): string {
  checkName(name);
  return withTokens(configFile, (tokens) => {
    if (tokens.list().some((t) => t.name === name)) {
      throw new UsageError('refused', `a token named ${name} exists (revoke it first)`);
    }
    return tokens.create(name, (n) => randomBytes(n), Date.now()) + '\n';
  });
}

const isoOf = (ms: number | null): string => (ms === null ? 'never' : new Date(ms).toISOString());

/** The tokens' names and dates (never a token or its hash). */
export function listTokens(configFile: string, json: boolean): string {
  const list = withTokens(configFile, (tokens) => tokens.list());
  if (json) {
    return (
      JSON.stringify(
        list.map((t) => ({
          name: t.name,
          createdAt: isoOf(t.createdAt),
          lastUsedAt: t.lastUsedAt === null ? null : isoOf(t.lastUsedAt),
        })),
      ) + '\n'
    );
  }
  if (list.length === 0) return 'no tokens\n';
  return renderTable(
    ['NAME', 'CREATED', 'LAST-USED'],
    list.map((t) => [t.name, isoOf(t.createdAt), isoOf(t.lastUsedAt)]),
  );
}

export function revokeToken(configFile: string, name: string): string {
  checkName(name);
  const revoked = withTokens(configFile, (tokens) => tokens.revoke(name));
  if (!revoked) throw new UsageError('refused', `no token named ${name}`);
  return `revoked token ${name}\n`;
}
