// The shared serde-JSON readers and writers (wire/fields.ts, wire/json.ts) the storage
// APIs parse and answer with.

import { assert, assertEquals } from "../assert.ts";
import { encodeJsonExact, parseJsonExact } from "../../wire/json.ts";
import { bool, bytes, dirName, optU64, packageId, u64, unit, variant } from "../../wire/fields.ts";

function assertThrows(f: () => unknown): void {
  let threw = false;
  try {
    f();
  } catch {
    threw = true;
  }
  assert(threw, `expected ${f} to throw`);
}

const text = (v: unknown) => new TextDecoder().decode(encodeJsonExact(v));

Deno.test("wire json: u64 bigints print exact; strings stay strings", () => {
  // the text a NUL-marker trick would have turned into the number 123
  assertEquals(text({ s: "\u0000123\u0000" }), '{"s":"\\u0000123\\u0000"}');
  assertEquals(
    text(["\u0000" + "18446744073709551615" + "\u0000"]),
    '["\\u000018446744073709551615\\u0000"]',
  );
  assertEquals(
    text({ NoTx: 18446744073709551615n, at: [9007199254740993n, 0n, -1n] }),
    '{"NoTx":18446744073709551615,"at":[9007199254740993,0,-1]}',
  );
  assertEquals(text({ Get: new Uint8Array([0, 1, 255]) }), '{"Get":[0,1,255]}');
  assertEquals(text("Ok"), '"Ok"');
  // and they read back exactly
  const back = parseJsonExact(text({ a: 18446744073709551615n, b: 1, c: 9007199254740993n }));
  assertEquals(back, { a: 18446744073709551615n, b: 1, c: 9007199254740993n });
  assertEquals(u64((back as { a: unknown }).a), 18446744073709551615n);
});

Deno.test("wire fields: serde readers refuse what serde refuses", () => {
  assertEquals(bytes([0, 255]), new Uint8Array([0, 255]));
  for (const bad of [[256], [-1], [1.5], ["1"], "abc", null]) assertThrows(() => bytes(bad));
  assertEquals(bool(true), true);
  assertThrows(() => bool(1));
  assertEquals(packageId({ package_name: "a", publisher_node: "b.os" }), {
    packageName: "a",
    publisherNode: "b.os",
  });
  assertThrows(() => packageId({ package_name: "a" }));
  assertThrows(() => packageId("a:b.os"));
  assertEquals(dirName("main"), "main");
  for (const bad of ["", ".", "..", "a/b", "a\\b", "a\0b", 5]) assertThrows(() => dirName(bad));
  assertThrows(() => u64(18446744073709551616n));
  assertThrows(() => u64(-1));
  assertEquals(optU64({ tx_id: null }, "tx_id"), undefined);
  assertEquals(optU64({}, "tx_id"), undefined);
  assertEquals(variant({ Get: [1] }), ["Get", [1]]);
  assertEquals(variant("Open"), ["Open", null]);
  assertThrows(() => variant({ A: 1, B: 2 }));
  unit("Open", null);
  assertThrows(() => unit("Open", 1));
});
