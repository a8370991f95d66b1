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
