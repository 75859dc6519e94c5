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

export async function assertRejects(
  f: () => Promise<unknown>,
  check?: (e: unknown) => boolean,
): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    if (check && !check(e)) throw new Error(`rejected with an unexpected error: ${e}`);
    return e;
  }
  throw new Error("expected a rejection");
}

/** Byte equality with a short message (deep-equal diffs of megabytes are very slow). */
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
