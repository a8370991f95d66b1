// What of a user's text an error message may repeat. Configuration errors
// name the file, the line and the field; they repeat a value only when it
// cannot be key material, whatever the input: a key pasted into the wrong
// field, a line without '=', a key with its padding cut off, a key file's
// name that is really a key.
//
// The test is deliberately coarse (a real value such as a long hostname may be
// held back too; the field still names it): text "may hold a key" when it has
// a run of 16 or more base64 characters (96 bits of a key). A file name gets a
// finer test, or every message about /etc/meshgate/client2.key would lose it:
// a long run must also mix upper and lower case, as random base64 does (a
// 16-character piece of a key lacks one of them with a probability below 1 in
// 2000; a whole key, practically never).

/** A run of base64 characters, '/' included. */
const BASE64_RUNS = /[A-Za-z0-9+/]{16,}/g;

/** Longest value repeated in a message; longer ones are cut. */
const SHOWN_MAX = 60;

/** Whether `text` could contain key material (or enough of a key to matter). */
export function mayHoldKey(text: string): boolean {
  return text.match(BASE64_RUNS) !== null;
}

/** Whether a file name could contain key material: a long base64 run in mixed case. */
export function pathMayHoldKey(path: string): boolean {
  return (path.match(BASE64_RUNS) ?? []).some((run) => /[A-Z]/.test(run) && /[a-z]/.test(run));
}

/** A user's value for a message: quoted and shortened, or a placeholder when it may hold a key. */
export function show(value: string): string {
  if (mayHoldKey(value)) return '(a value that may hold a key, not shown)';
  return JSON.stringify(value.length > SHOWN_MAX ? `${value.slice(0, SHOWN_MAX - 3)}...` : value);
}

/** A file name for a message: as it is, or a placeholder when it may hold a key (a key written where a file name belongs). */
export function showPath(path: string): string {
  return pathMayHoldKey(path) ? '(a file name that may hold a key, not shown)' : path;
}

/** A field or key name as written by the user: as it is, or a placeholder when it may hold a key. */
export function showName(name: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(name) && !mayHoldKey(name) ? name : '(a name that may hold a key, not shown)';
}
