// Vec<u8> element bodies (rmp-serde's int arrays): net/bytevec.ts (wasm SIMD,
// copies into and out of wasm memory included) against the plain JS loops
// net/codec.ts used before it (baseline), on random bytes, which grow ~1.5x.
// Run: deno bench -A benches/bytevec.bench.ts

import { decodeByteVecBody, encodeByteVecBody } from "../net/bytevec.ts";

/** The JS encode loop (branch-free: x lands at at+1 either way, overwritten next). */
function jsEncode(src: Uint8Array, dst: Uint8Array, at: number): number {
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    const hi = x >> 7;
    dst[at] = x ^ ((x ^ 0xcc) & -hi);
    dst[at + 1] = x;
    at += 1 + hi;
  }
  return at;
}

/** The JS decode loop for the two forms (no fallback: inputs here are valid). */
function jsDecode(src: Uint8Array, pos: number, n: number, out: Uint8Array): number {
  const last = src.length - 1;
  let i = 0;
  while (i < n && pos < last) {
    const x = src[pos];
    if (x >= 0x80 && x !== 0xcc) return -1;
    const hi = x >> 7;
    const y = src[pos + 1];
    out[i++] = x ^ ((x ^ y) & -hi);
    pos += 1 + hi;
  }
  return i === n ? pos : -1;
}

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, i + 65536));
  return b;
}

for (
  const [label, n] of [["4 MiB", 4 * 1024 * 1024], ["64 KiB", 65536], ["1 KiB", 1024]] as const
) {
  const src = random(n);
  const dst = new Uint8Array(2 * n + 16);
  const bodyLen = jsEncode(src, dst, 0);
  // a little trailing data, as in a real message
  const body = new Uint8Array(bodyLen + 4);
  body.set(dst.subarray(0, bodyLen));
  const scratch = new Uint8Array(2 * n + 16);
  const out = new Uint8Array(n);

  Deno.bench(`encode ${label}: JS loop`, { group: `encode ${label}`, baseline: true }, () => {
    jsEncode(src, scratch, 0);
  });
  Deno.bench(`encode ${label}: wasm`, { group: `encode ${label}` }, () => {
    if (encodeByteVecBody(src, scratch, 0) !== bodyLen) throw new Error("encode length");
  });
  Deno.bench(`decode ${label}: JS loop`, { group: `decode ${label}`, baseline: true }, () => {
    if (jsDecode(body, 0, n, out) !== bodyLen) throw new Error("decode end");
  });
  Deno.bench(`decode ${label}: wasm`, { group: `decode ${label}` }, () => {
    if (decodeByteVecBody(body, 0, n, out) !== bodyLen) throw new Error("decode end");
  });
}
