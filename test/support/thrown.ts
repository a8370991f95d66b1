// What a call throws, for tests that check an error's class, code and message.

import { expect } from 'vitest';

/** The value `fn` throws, or undefined when it returns. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Asserts `fn` throws an instance of `type` with `code` (and a message matching `message`); returns it. */
export function expectCoded<E extends Error & { code: string }>(
  fn: () => unknown,
  type: abstract new (...args: never[]) => E,
  code: E['code'],
  message?: RegExp,
): E {
  const caught = thrownBy(fn);
  expect(caught).toBeInstanceOf(type);
  expect((caught as E).code).toBe(code);
  if (message !== undefined) expect((caught as E).message).toMatch(message);
  return caught as E;
}
