// The one shape of meshgate's coded errors: each module keeps its closed list
// of codes (`FooErrorCodes`, also the only values metric labels may take) and
// a subclass of CodedError that names itself.
//
//   export const FooErrorCodes = ['bad-thing', …] as const;
//   export class FooError extends CodedError<(typeof FooErrorCodes)[number]> {
//     override readonly name = 'FooError';
//   }

export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A coded error about one thing the caller can point at (`about`): a request
 * field, an address, a path; kept apart from the message, for API answers and
 * tests. Subclasses name it (AdminError.field, AdminListenError.address).
 */
export class CodedErrorAbout<Code extends string> extends CodedError<Code> {
  constructor(
    code: Code,
    message: string,
    readonly about?: string,
  ) {
    super(code, message);
  }
}
