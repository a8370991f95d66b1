// The one rule for network interface names, held by everything that creates,
// names or matches an interface: the config loaders, the TUN opener, the
// firewall (names inside nft rules), `meshgate up` (the name from a file) and
// link-local zones. A name is
//
//   1..15 bytes       Linux IFNAMSIZ (16) less the terminating NUL
//   A-Z a-z 0-9 _ . - and not "." or ".."  (the kernel refuses "/", ":" and
//                     whitespace; we also leave out every character that means
//                     something to nft (`*` is its wildcard, quotes and `\`
//                     end its strings) or to a shell, and `+` and `=`, so a
//                     name the loader accepts is one every later step accepts)
//
// Pure: no I/O.

/** Linux IFNAMSIZ - 1. */
export const INTERFACE_NAME_MAX = 15;

const NAME_CHARS = /^[A-Za-z0-9_.-]+$/;

/** What is wrong with an interface name, or null when it is one. */
export function interfaceNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'an interface name must not be empty';
  if (name.length > INTERFACE_NAME_MAX) return `an interface name is at most ${INTERFACE_NAME_MAX} characters`;
  if (!NAME_CHARS.test(name)) return 'an interface name is made of A-Z a-z 0-9 _ . - only';
  if (name === '.' || name === '..') return 'an interface name cannot be "." or ".."';
  return null;
}

/** Whether `name` is an interface name meshgate can create, name and match (1-15 of A-Z a-z 0-9 _ . -). */
export function isInterfaceName(name: unknown): name is string {
  return interfaceNameProblem(name) === null;
}

/** The rule in words, for messages. */
export const INTERFACE_NAME_RULE = '1-15 of A-Z a-z 0-9 _ . -';
