// Minimal assertions on node:assert (JSR's @std/assert is unreachable here).

import nodeAssert from "node:assert";

export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

export async function assertRejects(fn: () => Promise<unknown>, msg?: string): Promise<void> {
  await nodeAssert.rejects(fn, msg);
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
