// Address text the harness needs beyond what tests write literally.

/** "192.0.2.1:51820" or "[2001:db8::1]:51820". */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The address part of "10.0.0.1/24". */
export function stripPrefix(cidr: string): string {
  return cidr.split('/')[0]!;
}
