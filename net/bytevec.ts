// Element bodies of a serde Vec<u8> as rmp-serde writes it: a msgpack array of
// u8 ints, so each byte x < 0x80 is the one byte x and each x >= 0x80 is cc x.
// Big bodies go through a small WebAssembly SIMD module (net/bytevec.wat), 8
// input bytes a step to encode and 64 to decode; small ones stay in JS, where
// copying into wasm memory would cost more than it saves. Array headers are the
// caller's (net/codec.ts). The wasm memory grows to fit the largest body seen
// (about 2n + 64 KiB for n bytes) and keeps that size.

import { BYTEVEC_WASM_BASE64 } from "./bytevec_wasm.ts";

/** Below this many bytes (encode) or elements (decode) a JS loop is faster. */
export const WASM_MIN_ENCODE = 64;
export const WASM_MIN_DECODE = 128;

const PAGE = 65536;
/** Inputs and outputs start here; the shuffle tables live below. */
const DATA_BASE = PAGE;
const ENC_TABLE = 0;
const DEC_TABLE_LO = 4096;
const DEC_TABLE_HI = 6144;

interface ByteVecWasm {
  memory: WebAssembly.Memory;
  encode(src: number, n: number, dst: number): number;
  decode(src: number, len: number, n: number, dst: number): number;
}

let wasm: ByteVecWasm | undefined;
/** A view of the wasm memory, renewed whenever the memory grows. */
let mem: Uint8Array = new Uint8Array(0);

function instance(): ByteVecWasm {
  if (wasm) return wasm;
  const bin = Uint8Array.from(atob(BYTEVEC_WASM_BASE64), (c) => c.charCodeAt(0));
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bin)).exports;
  const w = exports as unknown as ByteVecWasm;
  mem = new Uint8Array(w.memory.buffer);
  fillTables(mem);
  wasm = w;
  return w;
}

function fillTables(m: Uint8Array): void {
  for (let mask = 0; mask < 256; mask++) {
    // encode: for 8 input bytes in lanes 0..7 and 0xcc in lanes 8..15, each high
    // byte is preceded by a marker taken from lane 8
    let k = ENC_TABLE + mask * 16;
    for (let j = 0; j < 8; j++) {
      if (mask & (1 << j)) m[k++] = 8;
      m[k++] = j;
    }
    // decode: the lanes to keep (the non-markers), packed to the front
    let lo = DEC_TABLE_LO + mask * 8;
    let hi = DEC_TABLE_HI + mask * 8;
    for (let j = 0; j < 8; j++) {
      if (mask & (1 << j)) {
        m[lo++] = j;
        m[hi++] = j + 8;
      }
    }
  }
}

/** Makes the wasm memory at least `bytes` long. */
function reserve(w: ByteVecWasm, bytes: number): void {
  const have = w.memory.buffer.byteLength;
  if (bytes > have) {
    w.memory.grow(Math.ceil((bytes - have) / PAGE));
    mem = new Uint8Array(w.memory.buffer);
  }
}

const align16 = (x: number) => (x + 15) & ~15;

/**
 * Writes the elements of `src` (not the array header) at dst[at..] and returns
 * the end. dst must have 2 * src.length + 16 bytes free from `at`; bytes past the
 * returned end may be overwritten.
 */
export function encodeByteVecBody(src: Uint8Array, dst: Uint8Array, at: number): number {
  const n = src.length;
  if (n < WASM_MIN_ENCODE) {
    // Branch-free: a high byte's marker is overwritten by x when x is low.
    for (let i = 0; i < n; i++) {
      const x = src[i];
      const hi = x >> 7;
      dst[at] = 0xcc;
      dst[at + hi] = x;
      at += 1 + hi;
    }
    return at;
  }
  const w = instance();
  // The input sits at the end of the output area: the writer stays behind the
  // reader (see encode in bytevec.wat), so one 2n area serves both.
  const outAt = DATA_BASE;
  const inAt = outAt + align16(n + 16);
  reserve(w, inAt + n + 16);
  mem.set(src, inAt);
  const end = w.encode(inAt, n, outAt);
  dst.set(mem.subarray(outAt, end), at);
  return at + (end - outAt);
}

/**
 * Reads n elements from src[pos..] into out[0..n] and returns the position after
 * them, or -1 if the input holds anything but the two forms rmp-serde writes
 * (the caller then decodes generically) or ends early.
 */
export function decodeByteVecBody(
  src: Uint8Array,
  pos: number,
  n: number,
  out: Uint8Array,
): number {
  if (n > out.length || pos < 0) return -1;
  // every element takes one or two bytes
  const len = Math.min(2 * n, src.length - pos);
  if (len < n) return -1;
  if (n < WASM_MIN_DECODE) {
    let p = pos;
    const end = pos + len;
    for (let i = 0; i < n; i++) {
      if (p >= end) return -1;
      let x = src[p++];
      if (x >= 0x80) {
        if (x !== 0xcc || p >= end) return -1;
        x = src[p++];
        if (x < 0x80) return -1;
      }
      out[i] = x;
    }
    return p;
  }
  const w = instance();
  // Decoded in place: elements never outrun the bytes they came from.
  reserve(w, DATA_BASE + len + 16);
  mem.set(src.subarray(pos, pos + len), DATA_BASE);
  const used = w.decode(DATA_BASE, len, n, DATA_BASE);
  if (used < 0) return -1;
  out.set(mem.subarray(DATA_BASE, DATA_BASE + n));
  return pos + used;
}
