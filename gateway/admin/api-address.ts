// Where the admin API is, for the gateway that serves it and the command line
// that calls it: the Unix socket CONTROL_DIR/<interface>.api.sock (0600 root:
// the file permission is the auth) and the prefix of every API route.

import { join } from 'node:path';
import { CONTROL_DIR } from '../../shared/control/socket.js';

/** Every route of the API is under this prefix. */
export const API_PREFIX = '/api/v1';

/** The admin API's Unix socket of the gateway on `iface`. */
export function adminSocketPath(iface: string): string {
  return join(CONTROL_DIR, `${iface}.api.sock`);
}
