// net/bytevec.ts (the wasm SIMD Vec<u8> codec) against three independent views
// of the same bytes: @msgpack/msgpack encoding a plain number array, the codec's
// MsgWriter/MsgReader, and a one-element-at-a-time strict reference below.
// Lengths straddle the JS/wasm switch and the wasm block sizes (8 to encode, 64
// to decode); malformed input must give -1 at every position, never a throw.

import { encode as msgpackEncode } from "@msgpack/msgpack";
import {
  decodeByteVecBody,
  encodeByteVecBody,
  WASM_MIN_DECODE,
  WASM_MIN_ENCODE,
} from "../../net/bytevec.ts";
import { BYTEVEC_WASM_BASE64 } from "../../net/bytevec_wasm.ts";
import { assembleByteVec, generatedSource } from "../../net/build_bytevec.ts";
import { MsgReader, MsgWriter } from "../../net/codec.ts";
import { assert, assertBytes, assertEquals } from "../assert.ts";
import { concatBytes } from "./helpers.ts";

/** Deterministic bytes (xorshift32), so a failure reproduces. */
function pseudoRandom(n: number, seed: number, pick?: readonly number[]): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed | 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = pick ? pick[(s >>> 8) % pick.length] : s >>> 24;
  }
  return out;
}

/** The element bodies, one element at a time. */
function refEncode(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (const x of src) {
    if (x >= 0x80) out.push(0xcc);
    out.push(x);
  }
  return Uint8Array.from(out);
}

/** Strict reference decoder: the position after n elements, or -1. */
function refDecode(src: Uint8Array, pos: number, n: number, out: Uint8Array): number {
  for (let i = 0; i < n; i++) {
    if (pos >= src.length) return -1;
    const x = src[pos++];
    if (x < 0x80) {
      out[i] = x;
      continue;
    }
    if (x !== 0xcc || pos >= src.length || src[pos] < 0x80) return -1;
    out[i] = src[pos++];
  }
  return pos;
}

/** Encodes through encodeByteVecBody at offset `at`, checking nothing past its bound moved. */
function encodeAt(src: Uint8Array, at: number): Uint8Array {
  const bound = at + 2 * src.length + 16;
  const dst = new Uint8Array(bound + 32).fill(0xa5);
  const end = encodeByteVecBody(src, dst, at);
  for (let i = 0; i < at; i++) assert(dst[i] === 0xa5, `encode wrote before at (${i})`);
  for (let i = bound; i < dst.length; i++) assert(dst[i] === 0xa5, `encode wrote past bound`);
  return dst.subarray(at, end);
}

/** Decodes through decodeByteVecBody into an out with guard bytes around it. */
function decodeChecked(src: Uint8Array, pos: number, n: number): [number, Uint8Array] {
  const backing = new Uint8Array(n + 64).fill(0x5a);
  const out = backing.subarray(32, 32 + n);
  const end = decodeByteVecBody(src, pos, n, out);
  for (let i = 0; i < 32; i++) {
    assert(backing[i] === 0x5a && backing[32 + n + i] === 0x5a, "decode wrote outside out");
  }
  return [end, out];
}

/** Checks one input every way; `label` names it in failures. */
function roundTrip(src: Uint8Array, label: string): void {
  const n = src.length;
  const body = refEncode(src);
  assertBytes(encodeAt(src, 0), body, `${label}: encode`);
  assertBytes(encodeAt(src, 7), body, `${label}: encode at 7`);
  // MsgWriter writes header + the same body
  const full = new MsgWriter().byteVec(src).finish();
  const header = full.length - body.length;
  assertBytes(full.subarray(header), body, `${label}: MsgWriter body`);
  const [end, out] = decodeChecked(full, header, n);
  assertEquals(end, full.length, `${label}: decode end`);
  assertBytes(out, src, `${label}: decode`);
  assertBytes(new MsgReader(full).byteVec(), out, `${label}: MsgReader`);
}

const PATTERNS: [string, (n: number, seed: number) => Uint8Array][] = [
  ["random", (n, seed) => pseudoRandom(n, seed)],
  ["all low", (n) => new Uint8Array(n).fill(0x7f)],
  ["all high", (n) => new Uint8Array(n).fill(0x80)],
  ["all cc", (n) => new Uint8Array(n).fill(0xcc)],
  ["alternating", (n) => Uint8Array.from({ length: n }, (_, i) => (i & 1 ? 0xff : 0x00))],
  ["cc heavy", (n, seed) => pseudoRandom(n, seed, [0xcc, 0xcc, 0x7f, 0x80, 0xff, 0x05])],
];

Deno.test("bytevec: committed wasm is bytevec.wat assembled", async () => {
  const wasm = await assembleByteVec();
  const committed = Uint8Array.from(atob(BYTEVEC_WASM_BASE64), (c) => c.charCodeAt(0));
  assertBytes(
    committed,
    wasm,
    "net/bytevec_wasm.ts is stale: run deno run -A net/build_bytevec.ts",
  );
  const text = await Deno.readTextFile(new URL("../../net/bytevec_wasm.ts", import.meta.url));
  assertEquals(text, generatedSource(wasm));
});

Deno.test("bytevec: matches @msgpack/msgpack int arrays, lengths 0..300", () => {
  for (let n = 0; n <= 300; n++) {
    const src = pseudoRandom(n, 1000 + n);
    const full = msgpackEncode(Array.from(src));
    const header = n < 16 ? 1 : 3;
    assertBytes(encodeAt(src, 3), full.subarray(header), `n=${n}: encode`);
    const [end, out] = decodeChecked(full, header, n);
    assertEquals(end, full.length, `n=${n}: decode end`);
    assertBytes(out, src, `n=${n}: decode`);
  }
});

Deno.test("bytevec: every pattern, lengths around the JS/wasm switch and block sizes", () => {
  const lengths = new Set<number>();
  for (let n = 0; n <= 300; n++) lengths.add(n);
  for (const base of [WASM_MIN_ENCODE, WASM_MIN_DECODE, 512, 1024, 4096, 65536]) {
    for (let d = -9; d <= 9; d++) lengths.add(base + d);
  }
  for (const [name, gen] of PATTERNS) {
    for (const n of lengths) roundTrip(gen(n, n + 1), `${name} n=${n}`);
  }
});

Deno.test("bytevec: large blobs (4 MiB, ~6.9 MiB)", () => {
  for (const n of [4 * 1024 * 1024, 6_900_001]) {
    roundTrip(pseudoRandom(n, n), `random n=${n}`);
  }
  roundTrip(new Uint8Array(3_000_003).fill(0xcc), "cc n=3000003");
});

Deno.test("bytevec: stops exactly at the end, with more msgpack after it", () => {
  for (const n of [0, 5, 63, 64, 65, 127, 128, 129, 200, 1000, 4099]) {
    for (const [name, gen] of PATTERNS) {
      const data = gen(n, 77 + n);
      // a str before, then the bytevec, then values starting with high bytes
      const w = new MsgWriter().str("before").byteVec(data).uint(0xcc).uint(300).str("after");
      w.byteVec(pseudoRandom(70, 5));
      const bytes = w.finish();
      const r = new MsgReader(bytes);
      r.str();
      assertEquals(r.arrayLen(), n);
      const [end, out] = decodeChecked(bytes, r.pos, n);
      assertBytes(out, data, `${name} n=${n}`);
      assertEquals(end, r.pos + refEncode(data).length, `${name} n=${n}: end`);
      r.pos = end;
      assertEquals(r.uint(255), 0xcc);
      assertEquals(r.uint(1000), 300);
      assertEquals(r.str(), "after");
    }
  }
});

Deno.test("bytevec: malformed input gives -1 at every position, small and large", () => {
  for (const n of [40, 300, 1000]) {
    const src = pseudoRandom(n, 4242 + n, [0x05, 0x7f, 0x80, 0xcc, 0xff]);
    const body = concatBytes(refEncode(src), Uint8Array.of(0x01, 0x02));
    const scratch = new Uint8Array(n);
    const markers: number[] = [];
    for (let i = 0, p = 0; i < n; p += src[i++] >= 0x80 ? 2 : 1) {
      if (src[i] >= 0x80) markers.push(p);
    }
    assert(markers.length > n / 4, "the data has markers");
    for (const m of markers) {
      // payload below 0x80; a u16 marker (valid msgpack, not what rmp-serde writes); reserved
      for (const [at, value] of [[m + 1, 0x05], [m, 0xcd], [m, 0xc1]]) {
        const bad = body.slice();
        bad[at] = value;
        assertEquals(decodeChecked(bad, 0, n)[0], -1, `n=${n}: ${value} at ${at}`);
      }
    }
    // any byte set to something else: the reference decides whether it is malformed
    for (let i = 0; i < body.length - 2; i++) {
      const bad = body.slice();
      bad[i] = [0xcd, 0x05, 0xcc, 0x90][i % 4];
      const want = refDecode(bad, 0, n, scratch);
      const [got, out] = decodeChecked(bad, 0, n);
      assertEquals(got, want, `n=${n} corrupt at ${i}`);
      if (want >= 0) assertBytes(out, scratch, `n=${n} corrupt at ${i}: out`);
    }
    // truncated anywhere, including between cc and its payload
    const valid = refEncode(src);
    for (let cut = 0; cut < valid.length; cut++) {
      const [got] = decodeChecked(valid.subarray(0, cut), 0, n);
      assertEquals(got, -1, `n=${n} cut at ${cut}`);
    }
  }
});

Deno.test("bytevec: cc then a low byte at each 64-byte block edge", () => {
  // the wasm decoder carries a trailing marker into the next block
  for (const at of [62, 63, 64, 127, 128, 190, 191]) {
    const body = new Uint8Array(400).fill(0x11);
    body[at] = 0xcc;
    body[at + 1] = 0x22;
    assertEquals(decodeChecked(body, 0, 300)[0], -1, `cc 22 at ${at}`);
    body[at + 1] = 0xa0;
    const [end, out] = decodeChecked(body, 0, 300);
    assertEquals(end, 301, `cc a0 at ${at}`);
    assertEquals(out[at], 0xa0);
  }
});

Deno.test("bytevec: random mutations agree with the strict reference", () => {
  const scratch = new Uint8Array(700);
  let rejected = 0;
  for (let t = 0; t < 1500; t++) {
    const n = (t * 37) % 700;
    const src = pseudoRandom(n, t + 1, [0x00, 0x7f, 0x80, 0xcc, 0xcd, 0xff]);
    const bytes = concatBytes(refEncode(src), pseudoRandom(8, t + 9));
    const flips = pseudoRandom(6, t + 3);
    for (let f = 0; f < 3; f++) {
      const i = ((flips[2 * f] << 8) | flips[2 * f + 1]) % bytes.length;
      bytes[i] = flips[(f + 5) % 6];
    }
    const lenCut = t % 5 === 0 ? bytes.length - (t % 11) : bytes.length;
    const input = bytes.subarray(0, Math.max(0, lenCut));
    const want = refDecode(input, 0, n, scratch);
    const [got, out] = decodeChecked(input, 0, n);
    assertEquals(got, want, `mutation ${t} (n=${n})`);
    if (want >= 0) assertBytes(out, scratch.subarray(0, n), `mutation ${t}: out`);
    else rejected++;
  }
  assert(rejected > 100, `only ${rejected} mutations were malformed`);
});

Deno.test("bytevec: decode refuses an out shorter than n and a short input", () => {
  const body = refEncode(pseudoRandom(500, 3));
  assertEquals(decodeByteVecBody(body, 0, 500, new Uint8Array(499)), -1);
  assertEquals(decodeByteVecBody(body, 0, 500, new Uint8Array(500)), body.length);
  assertEquals(decodeByteVecBody(body, body.length - 10, 11, new Uint8Array(11)), -1);
  assertEquals(decodeByteVecBody(body, 0, body.length + 1, new Uint8Array(body.length + 1)), -1);
});
