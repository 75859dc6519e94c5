// The fast paths for large provider answers (wire/eth.ts: serdeValue copying only what is out
// of order, encodeEth without a replacer, parseJsonExact) against the encoders they replaced,
// on random nested values: the same bytes and the same parsed values.

import { assert, assertEquals } from "../assert.ts";
import { encodeEth, serdeValue } from "../../wire/eth.ts";
import { encodeJsonExact, parseJsonExact, parseJsonReviving } from "../../wire/json.ts";

/** serdeValue before: a sorted copy of everything. */
function oldSerdeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(oldSerdeValue);
  if (typeof v === "object" && v !== null && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      out[k] = oldSerdeValue((v as Record<string, unknown>)[k]);
    }
    return out;
  }
  return v;
}

/** encodeEth before. */
const oldEncode = (v: unknown) => encodeJsonExact(v);

// a seeded generator, so a failure can be replayed
let seed = 0x9e3779b9;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x1_0000_0000;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

const KEYS = [
  "a",
  "b",
  "z",
  "A",
  "Z",
  "_",
  "address",
  "blockHash",
  "topics",
  "data",
  "logIndex",
  "removed",
  "0",
  "1",
  "2",
  "10",
  "00",
  "-1",
  "1.5",
  "é",
  "ü",
  "日本",
  "😀",
  "\u{ffff}",
  "",
  " ",
  "a b",
  '"',
  "\\",
  "\n",
  "\u0000",
  "constructor",
  "toString",
  "hasOwnProperty",
] as const;
const STRINGS = [
  "",
  "0x",
  "0xdeadbeef",
  'a"b',
  "\\",
  "\n\t\r\b\f",
  "\u0001\u001f",
  "é日😀",
  "\ud800",
  "\udc00x",
  "</script>",
  "\u2028\u2029",
  "0".repeat(40),
] as const;

function value(depth: number): unknown {
  const r = rand();
  if (depth <= 0 || r < 0.35) {
    switch (Math.floor(rand() * 9)) {
      case 0:
        return null;
      case 1:
        return rand() < 0.5;
      case 2:
        return Math.floor(rand() * 2 ** 53) * (rand() < 0.3 ? -1 : 1);
      case 3:
        return pick([0, -0, 1.5, -2.25, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 0.1]);
      case 4: // big ints, as parseJsonExact gives them
        return pick([2n ** 64n - 1n, -(2n ** 63n), 2n ** 53n + 1n, 10n ** 30n, 0n]);
      case 5:
        return pick(STRINGS);
      case 6:
        return "0x" + Math.floor(rand() * 2 ** 48).toString(16);
      case 7:
        return rand() < 0.5 ? undefined : Uint8Array.of(1, 2, 255); // undefined: dropped/null
      default:
        return pick(STRINGS) + pick(KEYS);
    }
  }
  if (r < 0.65) return Array.from({ length: Math.floor(rand() * 6) }, () => value(depth - 1));
  const o: Record<string, unknown> = {};
  const n = Math.floor(rand() * 7);
  const keys = [...KEYS];
  if (rand() < 0.4) keys.sort(); // some objects already in order
  for (let i = 0; i < n; i++) o[pick(keys)] = value(depth - 1);
  if (rand() < 0.3) {
    // in order as built
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) sorted[k] = o[k];
    return sorted;
  }
  return o;
}

const bytesEqual = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

Deno.test("eth json: serdeValue + encodeEth write the old bytes for 5,000 random values", () => {
  for (let i = 0; i < 5000; i++) {
    const start = seed;
    const v = value(5);
    const before = JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}n` : x);
    const wrapped = pick([
      (x: unknown) => ({ Response: x }),
      (x: unknown) => ({ Ok: { id: 9n, result: x } }),
      (x: unknown) => ({ Err: { RpcError: x } }),
      (x: unknown) => x,
    ]);
    const oldBytes = oldEncode(wrapped(oldSerdeValue(v)));
    const newBytes = encodeEth(wrapped(serdeValue(v)));
    assert(
      bytesEqual(oldBytes, newBytes),
      `value ${i} (seed ${start}): ${new TextDecoder().decode(oldBytes)} != ${
        new TextDecoder().decode(newBytes)
      }`,
    );
    // the input is left as it was
    assertEquals(JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}n` : x), before);
  }
});

Deno.test("eth json: serdeValue keeps what is in order, copies what is not", () => {
  const inOrder = { a: 1, b: [1, { c: 2, d: 3 }], e: "x" };
  assert(serdeValue(inOrder) === inOrder, "an ordered tree is returned as is");
  const arr = ["0x1", "0x2"];
  assert(serdeValue(arr) === arr, "an array of strings is not copied");
  const mixed = { a: { z: 1, y: 2 }, b: [3] };
  const out = serdeValue(mixed) as typeof mixed;
  assert(out !== mixed && out.b === mixed.b, "only the path to the change is new");
  assertEquals(Object.keys(out.a), ["y", "z"]);
  assertEquals(Object.keys(mixed.a), ["z", "y"], "input untouched");
  // "__proto__" from JSON.parse is a member like any other (the old copy lost it)
  const proto = JSON.parse('{"z":1,"__proto__":{"x":1}}');
  assertEquals(
    new TextDecoder().decode(encodeEth(serdeValue(proto))),
    '{"__proto__":{"x":1},"z":1}',
  );
});

Deno.test("json: parseJsonExact (JSON.parse first) reads what the reviving parse reads", () => {
  const texts = [
    '{"jsonrpc":"2.0","id":1,"result":[{"data":"0x00000000000000000000000000000040"}]}',
    '{"a":9007199254740991,"b":9007199254740992,"c":-9007199254740993}',
    '{"a":18446744073709551615,"b":[1,2,{"c":123456789012345678901234567890}]}',
    "[1e400, -1e400, 1" + "0".repeat(400) + "]",
    "[12345678901234567.5, 1e21, 1.5, 0.1, -0, 1E+2]",
    '"12345678901234567890"',
    '{"__proto__":{"a":1},"b":12345678901234567890}',
    "[]",
    "null",
  ];
  for (let i = 0; i < 2000; i++) {
    // random values as JSON text, big ints as their digits
    texts.push(new TextDecoder().decode(encodeJsonExact(value(4) ?? null)));
  }
  for (const t of texts) {
    const exact = parseJsonReviving(t);
    const fast = parseJsonExact(t);
    assertEquals(fast, exact, t.slice(0, 200));
    assert(bytesEqual(encodeJsonExact(fast), encodeJsonExact(exact)), t.slice(0, 200));
  }
});
