// Per-backend set-up shared by the vector tests: each file lists the backends
// it can test (null when the addon is missing) and runs its vectors once per
// backend, with `under.current` switched to that backend for the block.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** [name, backend or null when it is not available here]. */
export type Backends<B> = [string, B | null][];

/** The default backend `name`, then the meshgate_aead addon's (null when it did not load). */
export function withAddon<B>(name: string, fallback: B, addon: B | null): Backends<B> {
  return [
    [name, fallback],
    ['the meshgate_aead addon (OpenSSL)', addon],
  ];
}

/** The backend the file's primitives are called with; starts at (and returns to) the default. */
export interface UnderTest<B> {
  current: B;
}

export function underTest<B>(fallback: B): UnderTest<B> {
  return { current: fallback };
}

/** The meshgate_aead addon is built by `npm ci`, so on Linux it must load. */
export function itLoadsOnLinux(title: string, addon: { name: string } | null): void {
  it(title, () => {
    if (process.platform === 'linux') expect(addon?.name).toMatch(/^OpenSSL /);
  });
}

/**
 * describe.each over `backends`, skipping missing ones: `under.current` is the
 * backend inside the block and the previous one after it; `body(backend, name)`
 * declares the block's tests.
 */
export function forEachBackend<B>(
  title: string,
  backends: Backends<B>,
  under: UnderTest<B>,
  body: (backend: B, name: string) => void,
): void {
  describe.each(backends)(title, (name, maybe) => {
    if (maybe === null) return;
    const backend = maybe;
    const previous = under.current;
    beforeAll(() => {
      under.current = backend;
    });
    afterAll(() => {
      under.current = previous;
    });
    body(backend, name);
  });
}
