// Types of keystream.mjs (the transfer tools' content), for the namespace tests.

export declare const CHUNK: number;
export declare const SEED_PATTERN: RegExp;

export declare class Keystream {
  constructor(seed: string);
  next(n: number): Buffer;
}

/** SHA-256 (hex) of the first `bytes` bytes of a seed's stream. */
export declare function streamSha256(bytes: number, seed: string): string;
