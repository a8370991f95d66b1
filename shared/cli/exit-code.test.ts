// Exit codes by class (issue 7 #5): every error of what the user gave us
// (command line, configuration and key files, keys, endpoints) exits 2,
// subclasses included; everything else exits 1. A foreign error that only
// calls itself "ConfigError" is not one.
import { describe, expect, it } from 'vitest';
import { loadClientConfig } from '../../client/config.js';
import { GatewayUsageError } from '../../gateway/cli.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { readSecretFile } from '../config/key-file.js';
import { loadWgQuickFile } from '../config/wg-quick.js';
import { parseEndpoint } from '../io/endpoint.js';
import { IoError } from '../io/io-error.js';
import { parseKey } from '../wireguard/keys.js';
import { EXIT_FAILURE, EXIT_USAGE, exitCodeOf } from './exit-code.js';
import { UsageError } from './usage-error.js';

/** The error `f` throws, as the loaders really throw it. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

const MISSING = '/nonexistent/meshgate-exit-code-test';

describe('exitCodeOf', () => {
  it.each([
    ['UsageError', new UsageError('option', 'unknown option --x')],
    ['GatewayUsageError', new GatewayUsageError('refused', 'no client named "x"')],
    ['ConfigError (wg-quick)', thrown(() => loadWgQuickFile(`${MISSING}.conf`, () => {}))],
    ['GatewayConfigError', thrown(() => loadGatewayConfig(`${MISSING}.yaml`))],
    ['ClientConfigError', thrown(() => loadClientConfig(`${MISSING}.yaml`))],
    ['SecretFileError', thrown(() => readSecretFile(`${MISSING}.key`, 100))],
    ['KeyFormatError', thrown(() => parseKey('not a key'))],
    ['EndpointError', thrown(() => parseEndpoint('not an endpoint'))],
  ])('%s: 2', (_, error) => {
    expect(error).toBeInstanceOf(Error);
    expect(exitCodeOf(error)).toBe(EXIT_USAGE);
  });

  it('a failure while running, or anything else: 1', () => {
    const named = Object.assign(new Error('looks like one'), { name: 'ConfigError' });
    for (const error of [new IoError('tun-read', 'tun mg0', 'gone'), new TypeError('bug'), named, 'text', undefined]) {
      expect(exitCodeOf(error)).toBe(EXIT_FAILURE);
    }
  });
});
