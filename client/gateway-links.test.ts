// Resolving the gateways' endpoints at start (client/gateway-links.ts): a name
// that does not resolve is left out and logged; only none at all fails.

import { describe, expect, test } from 'vitest';
import { EndpointError, parseEndpoint } from '../shared/io/endpoint.js';
import type { ClientConfig, ClientGateway } from './config.js';
import { capturedLog } from '../test/support/agent-gateway.js';
import { resolveGatewayEndpoints, resolvedOf } from './gateway-links.js';

const gateway = (name: string, endpoints: string[]): ClientGateway => ({
  name,
  publicKey: new Uint8Array(32),
  endpoints,
  priority: 1,
  presharedKey: null,
  presharedKeyFile: null,
});
const configOf = (...gateways: ClientGateway[]) => ({ gateways }) as unknown as ClientConfig;
/** Literals resolve; names under .example fail as the resolver would. */
const resolve = (text: string) =>
  text.includes('.example')
    ? Promise.reject(new EndpointError('resolve', `cannot resolve "${text.split(':')[0]}": SERVFAIL`))
    : Promise.resolve(parseEndpoint(text));

describe('resolveGatewayEndpoints', () => {
  test('a name that does not resolve is null and logged (endpoint-unresolved); the rest as written', async () => {
    const { log, events } = capturedLog();
    const out = await resolveGatewayEndpoints(
      configOf(gateway('north', ['north.example:51820', '192.0.2.1:51820']), gateway('south', ['south.example:4500'])),
      log,
      resolve,
    );
    expect(out.map((g) => g.map((e) => e?.key ?? null))).toEqual([[null, '192.0.2.1:51820'], [null]]);
    expect(resolvedOf(out).map((e) => e.key)).toEqual(['192.0.2.1:51820']);
    expect(events('endpoint-unresolved')).toEqual([
      expect.objectContaining({ level: 40, gateway: 'north', endpoint: 'north.example:51820' }),
      expect.objectContaining({ level: 40, gateway: 'south', endpoint: 'south.example:4500' }),
    ]);
  });

  test('none resolves: the first error, as a start with one unresolvable gateway always had', async () => {
    const { log } = capturedLog();
    await expect(
      resolveGatewayEndpoints(configOf(gateway('north', ['north.example:51820'])), log, resolve),
    ).rejects.toThrow(/cannot resolve "north.example": SERVFAIL/);
  });
});
