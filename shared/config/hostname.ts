// DNS host names as configuration files may write them (RFC 1123 labels),
// shared by the wg-quick parser and the YAML field helpers.

const DNS_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Whether `text` is a DNS name (not checked for existence); an all-numeric name is not one. */
export function isDnsName(text: string): boolean {
  return DNS_NAME.test(text) && !/^[0-9.]+$/.test(text);
}
