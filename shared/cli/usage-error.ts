// A command line the user got wrong: an unknown command or option, a missing
// or extra argument, or an argument the command refuses. Always exit 2
// (exit-code.ts); the message is one line and never repeats a key.

import { CodedError } from '../errors.js';

export const UsageErrorCodes = [
  'command', // no such command or subcommand
  'option', // an unknown option, a value missing or given to a flag, an option given twice
  'argument', // an argument missing, extra, or not of the form the command needs
  'refused', // well formed, but the state does not allow it (no such client, a lease still in use)
] as const;
export type UsageErrorCode = (typeof UsageErrorCodes)[number];

export class UsageError extends CodedError<UsageErrorCode> {
  override readonly name: string = 'UsageError';
}
