import { describe, expect, it } from 'vitest';
import { FieldError } from '../../shared/config/config-error.js';
import { parseCidr } from '../../shared/net/address.js';
import { normalizeAdmin } from './admin-config.js';

const pools = [
  { field: 'ipv4Pool', cidr: parseCidr('100.64.0.0/16') },
  { field: 'ipv6.pool', cidr: parseCidr('fd12:3456:789a::/48') },
];

describe('admin section', () => {
  it('defaults to no TCP listener and a token for /metrics', () => {
    expect(normalizeAdmin(undefined, pools)).toEqual({ listen: [], metricsPublic: false });
  });

  it('takes IPv4 and bracketed IPv6 listeners', () => {
    expect(normalizeAdmin({ listen: ['127.0.0.1:9580', '[::1]:9580'], metricsPublic: true }, pools)).toEqual({
      listen: ['127.0.0.1:9580', '[::1]:9580'],
      metricsPublic: true,
    });
  });

  it.each([
    ['a name', ['localhost:9580'], 'admin.listen[0]', 'invalid'],
    ['no port', ['127.0.0.1'], 'admin.listen[0]', 'invalid'],
    ['inside the IPv4 pool', ['100.64.0.1:9580'], 'admin.listen[0]', 'conflict'],
    ['inside the IPv6 pool', ['[fd12:3456:789a::1]:9580'], 'admin.listen[0]', 'conflict'],
    ['twice', ['127.0.0.1:9580', '127.0.0.1:9580'], 'admin.listen[1]', 'duplicate'],
  ])('refuses a listener %s', (_what, listen, field, code) => {
    let error: unknown;
    try {
      normalizeAdmin({ listen }, pools);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FieldError);
    expect(error).toMatchObject({ field, code });
  });
});
