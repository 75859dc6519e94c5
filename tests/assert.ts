// Small assertion helpers for Deno.test (JSR's @std/assert is unreachable here).

import nodeAssert from "node:assert";

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

export function assertExists<T>(v: T, msg = "expected a value"): asserts v is NonNullable<T> {
  if (v === null || v === undefined) throw new Error(msg);
}

export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  if (!re.test(actual)) throw new Error(msg ?? `${JSON.stringify(actual)} does not match ${re}`);
}

/**
 * Awaits a rejection and returns the error. `check` is a predicate on the
 * error, or a substring its message must contain.
 */
export async function assertRejects(
  f: () => Promise<unknown>,
  check?: ((e: unknown) => boolean) | string,
): Promise<Error> {
  try {
    await f();
  } catch (e) {
    const ok = check === undefined
      ? true
      : typeof check === "string"
      ? String((e as Error)?.message ?? e).includes(check)
      : check(e);
    if (!ok) throw new Error(`rejected with an unexpected error: ${e}`);
    return e as Error;
  }
  throw new Error("expected a rejection");
}

/** Calls `f`, which must throw an instance of `type`; returns what it threw. */
export function assertThrows<E extends Error>(
  f: () => unknown,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => E,
): E {
  try {
    f();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`threw an unexpected error: ${e}`);
  }
  throw new Error("expected a throw");
}

export function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array, msg = ""): void {
  if (!actual) throw new nodeAssert.AssertionError({ message: `${msg} got no bytes` });
  if (actual.length !== expected.length) {
    throw new nodeAssert.AssertionError({
      message: `${msg} length ${actual.length} != ${expected.length}`,
    });
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new nodeAssert.AssertionError({
        message: `${msg} differ at ${i}: ${actual[i]} != ${expected[i]}`,
      });
    }
  }
}
