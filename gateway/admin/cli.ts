// `meshgate clients …`, `meshgate usage` and `meshgate status`: the running
// gateway's admin API over its Unix socket (api-client.ts), a table or one
// client for people, the API's JSON with --json.
//
//   clients add NAME (--public-key KEY | --generate-key)   POST   /clients
//   clients list | show NAME                               GET    /clients, /clients/:name
//   clients set NAME                                       PATCH  /clients/:name
//   clients disable | enable NAME                          POST   /clients/:name/disable | enable
//   clients remove NAME                                    DELETE /clients/:name
//   clients export NAME [--private-key-file F]             GET    /clients/:name/config
//   usage                                                  GET    /usage
//   status                                                 GET    /status
//
// Keys: the only private key ever printed is the one in the config of a
// client created with --generate-key (the API returns it once), or the one
// export fills in locally from the user's own 0600 key file (it never goes to
// the gateway). Both go out as secrets (shared/cli/secret-io.ts), and their QR
// code is drawn only on a terminal: stdout redirected into a file gets the
// config alone, and a QR code is never written to a log.

import { flag, type Call } from '../../shared/cli/command.js';
import { EXIT_OK } from '../../shared/cli/exit-code.js';
import { writeSecret } from '../../shared/cli/secret-io.js';
import { UsageError } from '../../shared/cli/usage-error.js';
import { FieldError } from '../../shared/config/config-error.js';
import { interfaceName } from '../../shared/config/fields.js';
import { readKeyFile } from '../../shared/config/key-file.js';
import { publicKeyOf, wipe } from '../../shared/wireguard/crypto.js';
import { formatKey } from '../../shared/wireguard/keys.js';
import { loadGatewayConfig } from '../config.js';
import { PRIVATE_KEY_PLACEHOLDER } from '../export.js';
import { renderUsage, type UsageReport } from '../usage-report.js';
import { AdminApiClient } from './api-client.js';
import type { ClientCreate, ClientPatch, ClientView, GatewayView } from './backend.js';
import { renderClient, renderClients, renderGateway } from './cli-render.js';
import { qrTerminal, writeQrPng } from './qr.js';

/** The interface when neither --interface nor --config names one (gateway.yaml's default). */
export const DEFAULT_INTERFACE = 'mg0';
/** `--weight default`: the policy's weight again. */
const WEIGHT_DEFAULT = 'default';
const EXPORT_HINT = "# Put the client's own private key on the PrivateKey line and remove the '#'.";
const SECRET_NOTE = '# It holds the private key of this client: keep it secret (mode 0600).';

const option = (call: Call, name: string): string | undefined => {
  const v = call.options.get(name);
  return typeof v === 'string' ? v : undefined;
};

const print = (text: string): void => void process.stdout.write(text);
const note = (text: string): void => void process.stderr.write(`meshgate: ${text}\n`);
const json = (value: unknown): string => JSON.stringify(value) + '\n';
const clientPath = (name: string): string => `/clients/${encodeURIComponent(name)}`;

/** The gateway to talk to: --interface NAME, the `interface` of --config FILE, or mg0. */
export function gatewayInterface(call: Call): string {
  const iface = option(call, 'interface');
  const config = option(call, 'config');
  if (iface !== undefined && config !== undefined) {
    throw new UsageError('option', '--interface and --config both name the gateway: give one');
  }
  if (config !== undefined) {
    const loaded = loadGatewayConfig(config);
    wipe(loaded.privateKey, ...loaded.clients.map((c) => c.presharedKey));
    return loaded.interface;
  }
  if (iface === undefined) return DEFAULT_INTERFACE;
  try {
    return interfaceName(iface, '--interface');
  } catch (e) {
    throw e instanceof FieldError ? new UsageError('option', e.message) : e;
  }
}

export const apiOf = (call: Call): AdminApiClient => new AdminApiClient(gatewayInterface(call));

/** --weight N (a whole number) or --weight default (null: the policy's); undefined when not given. */
function weightOption(call: Call): number | null | undefined {
  const text = option(call, 'weight');
  if (text === undefined) return undefined;
  if (text === WEIGHT_DEFAULT) return null;
  if (!/^[0-9]{1,9}$/.test(text)) {
    throw new UsageError('option', `--weight: a whole number, or "${WEIGHT_DEFAULT}" for the policy's weight`);
  }
  return Number(text);
}

/** The QR code of a complete config: on stdout when it is a terminal, else a note; a PNG with --png. */
async function showQr(config: string, png: string | undefined): Promise<void> {
  if (png !== undefined) {
    await writeQrPng(png, config);
    note(`QR code written to ${png} (mode 0600: it holds the private key)`);
  }
  if (process.stdout.isTTY === true) print('\n' + (await qrTerminal(config)));
  else if (png === undefined) note('stdout is not a terminal: no QR code drawn (--png FILE writes one)');
}

/** --policy, --weight and --notes (add and set take them alike); only those given. */
function settingOptions(call: Call): Pick<ClientPatch, 'policy' | 'weight' | 'notes'> {
  const settings: Pick<ClientPatch, 'policy' | 'weight' | 'notes'> = {};
  const policy = option(call, 'policy');
  if (policy !== undefined) settings.policy = policy;
  const weight = weightOption(call);
  if (weight !== undefined) settings.weight = weight;
  const notes = option(call, 'notes');
  if (notes !== undefined) settings.notes = notes;
  return settings;
}

export async function clientsAdd(call: Call): Promise<number> {
  const name = call.args[0]!;
  const publicKey = option(call, 'public-key');
  const generate = flag(call, 'generate-key');
  if ((publicKey === undefined) === !generate) {
    throw new UsageError('option', 'give either --public-key KEY (the client made its key) or --generate-key');
  }
  const png = option(call, 'png');
  if (png !== undefined && !generate) {
    throw new UsageError('option', '--png needs --generate-key (only a generated config holds a private key)');
  }
  const body: ClientCreate = {
    name,
    ...(generate ? { generateKey: true } : { publicKey: publicKey! }),
    ...settingOptions(call),
  };
  if (flag(call, 'disabled')) body.enabled = false;
  const api = apiOf(call);
  const answer = await api.request<{ client: ClientView; config: string | null }>('POST', '/clients', body);
  const config = answer.config ?? null;
  if (flag(call, 'json')) {
    if (config === null) print(json(answer));
    else writeSecret(json(answer));
    if (png !== undefined && config !== null) await writeQrPng(png, config);
    return EXIT_OK;
  }
  const c = answer.client;
  const where = c.lease === null ? 'no addresses (the pool is exhausted)' : `${c.lease.ipv4}, ${c.lease.ipv6}`;
  const state = c.enabled ? '' : ' (disabled)';
  if (config === null) {
    print(`added client ${c.name}${state}: ${where}\n`);
    return EXIT_OK;
  }
  note(`added client ${c.name}${state}: ${where}; its private key is shown only this once, below`);
  writeSecret(config);
  await showQr(config, png);
  return EXIT_OK;
}

export async function clientsList(call: Call): Promise<number> {
  const answer = await apiOf(call).get<ClientView[] | { clients: ClientView[] }>('/clients');
  const clients = Array.isArray(answer) ? answer : answer.clients;
  print(flag(call, 'json') ? json(clients) : renderClients(clients, Date.now()));
  return EXIT_OK;
}

export async function clientsShow(call: Call): Promise<number> {
  const client = await apiOf(call).get<ClientView>(clientPath(call.args[0]!));
  print(flag(call, 'json') ? json(client) : renderClient(client, Date.now()));
  return EXIT_OK;
}

export async function clientsSet(call: Call): Promise<number> {
  const patch: ClientPatch = {};
  const rename = option(call, 'name');
  if (rename !== undefined) patch.name = rename;
  Object.assign(patch, settingOptions(call));
  if (Object.keys(patch).length === 0) {
    throw new UsageError('option', 'nothing to change: give --name, --policy, --weight or --notes');
  }
  const client = await apiOf(call).request<ClientView>('PATCH', clientPath(call.args[0]!), patch);
  print(flag(call, 'json') ? json(client) : `updated client ${client.name}\n`);
  return EXIT_OK;
}

/** POST /clients/:name/disable or enable. */
export async function clientsSwitch(call: Call, to: 'disable' | 'enable'): Promise<number> {
  const name = call.args[0]!;
  await apiOf(call).request<unknown>('POST', `${clientPath(name)}/${to}`);
  print(`${to}d client ${name}\n`);
  return EXIT_OK;
}

export async function clientsRemove(call: Call): Promise<number> {
  const name = call.args[0]!;
  await apiOf(call).request<unknown>('DELETE', clientPath(name));
  print(`removed client ${name}; its addresses stay reserved until the lease is released\n`);
  return EXIT_OK;
}

/**
 * Puts the private key of `keyFile` on the config's commented PrivateKey
 * line, after checking that it is this client's key.
 */
function fillPrivateKey(config: string, keyFile: string, client: ClientView): string {
  const lines = config.split('\n');
  const at = lines.indexOf(PRIVATE_KEY_PLACEHOLDER);
  if (at < 0) {
    throw new UsageError('refused', `the gateway's config of ${client.name} has no PrivateKey line to fill in`);
  }
  const key = (() => {
    try {
      return readKeyFile(keyFile, '--private-key-file');
    } catch (e) {
      throw e instanceof FieldError ? new UsageError('option', e.message) : e;
    }
  })();
  try {
    const publicKey = publicKeyOf(key);
    const matches = formatKey(publicKey) === client.publicKey;
    wipe(publicKey);
    if (!matches) {
      throw new UsageError(
        'refused',
        `--private-key-file: the key in ${keyFile} is not ${client.name}'s (its public key differs)`,
      );
    }
    lines[at] = `PrivateKey = ${formatKey(key)}`;
  } finally {
    wipe(key);
  }
  const hint = lines.indexOf(EXPORT_HINT);
  if (hint >= 0) lines[hint] = SECRET_NOTE;
  return lines.join('\n');
}

export async function clientsExport(call: Call): Promise<number> {
  const name = call.args[0]!;
  const keyFile = option(call, 'private-key-file');
  const png = option(call, 'png');
  if (png !== undefined && keyFile === undefined) {
    throw new UsageError(
      'option',
      '--png needs --private-key-file (a config without its private key cannot be imported)',
    );
  }
  const api = apiOf(call);
  const answer = await api.get<string | { config: string }>(`${clientPath(name)}/config`);
  const config = typeof answer === 'string' ? answer : answer.config;
  if (keyFile === undefined) {
    writeSecret(config); // no private key, but it may hold the preshared key
    note(`the PrivateKey line is left for the client's own key (--private-key-file F fills it in here)`);
    return EXIT_OK;
  }
  const complete = fillPrivateKey(config, keyFile, await api.get<ClientView>(clientPath(name)));
  writeSecret(complete);
  await showQr(complete, png);
  return EXIT_OK;
}

export async function usage(call: Call): Promise<number> {
  const report = await apiOf(call).get<UsageReport>('/usage');
  if (flag(call, 'json')) print(json(report));
  else print(report.clients.length === 0 ? 'no clients\n' : renderUsage(report.clients));
  return EXIT_OK;
}

export async function status(call: Call): Promise<number> {
  const gateway = await apiOf(call).get<GatewayView>('/status');
  print(flag(call, 'json') ? json(gateway) : renderGateway(gateway));
  return EXIT_OK;
}
