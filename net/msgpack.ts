// MessagePack primitives exactly as rmp-serde's defaults (rmp_serde::to_vec) write
// them, and the serde rules for reading structs and enums. The schemas built on them
// (KernelMessage, net's types) are in ./codec.ts. The rules that decide every byte:
// - structs are arrays of their fields in declaration order;
// - enums are externally tagged: a unit variant is its name as a string, any
//   other variant is a one-entry map { name: value } (struct variants' value is
//   an array of fields, tuple variants' an array);
// - Option: None is nil, Some(v) is v;
// - integers take the smallest encoding (positive fixint, then u8/u16/u32/u64);
// - Vec<u8> without serde_bytes is a sequence, so an ARRAY of small ints
//   (bytes >= 0x80 take two bytes: cc xx) -- never msgpack bin;
// - tuples are arrays; BTreeMap is a map in key order;
// - strings use fixstr / str8 / str16 / str32 by length;
// - Address and ProcessId serialize as their display strings.
// Decoding follows rmp-serde's deserializer, which is more lenient: structs may
// also come as maps keyed by field name, enum tags may be variant indices,
// integers may use any width, bytes may come as bin, trailing input is ignored.
// One deliberate exception on the write side: `binBytes` writes Vec<u8> as
// msgpack bin, for peers that said in their handshake they read it (see
// handshake.ts, "wire extensions"); Hyperdrive peers never get it.

import { decodeByteVecBody, encodeByteVecBody } from "./bytevec.ts";

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

export const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

// ---------------------------------------------------------------------------
// Writer

export class MsgWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len: number;

  /** Vec<u8> as msgpack bin instead of rmp-serde's int array (hyperdeno peers only). */
  binBytes = false;

  /**
   * `reserve` leading bytes are left zeroed for a caller's own prefix. `into`:
   * write into this buffer (reused scratch) while it is big enough.
   */
  constructor(initial = 256, reserve = 0, into?: Uint8Array) {
    const size = Math.max(initial, reserve + 16);
    if (into && into.length >= size) {
      this.#buf = into;
      into.fill(0, 0, reserve);
    } else {
      this.#buf = new Uint8Array(size);
    }
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
    this.#len = reserve;
  }

  #ensure(n: number): void {
    const need = this.#len + n;
    if (need <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  nil(): this {
    this.#ensure(1);
    this.#buf[this.#len++] = 0xc0;
    return this;
  }

  bool(v: boolean): this {
    this.#ensure(1);
    this.#buf[this.#len++] = v ? 0xc3 : 0xc2;
    return this;
  }

  /** Unsigned integer in its smallest encoding (rmp::encode::write_uint). */
  uint(v: number | bigint): this {
    if (typeof v === "bigint") {
      if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`not a u64: ${v}`);
      if (v > 0xffffffffn) {
        this.#ensure(9);
        this.#buf[this.#len] = 0xcf;
        this.#view.setBigUint64(this.#len + 1, v);
        this.#len += 9;
        return this;
      }
      v = Number(v);
    }
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`not an unsigned integer: ${v}`);
    this.#ensure(9);
    const b = this.#buf;
    const at = this.#len;
    if (v < 0x80) {
      b[at] = v;
      this.#len += 1;
    } else if (v < 0x100) {
      b[at] = 0xcc;
      b[at + 1] = v;
      this.#len += 2;
    } else if (v < 0x10000) {
      b[at] = 0xcd;
      this.#view.setUint16(at + 1, v);
      this.#len += 3;
    } else if (v < 0x100000000) {
      b[at] = 0xce;
      this.#view.setUint32(at + 1, v);
      this.#len += 5;
    } else {
      if (v > Number.MAX_SAFE_INTEGER) throw new RangeError(`use a bigint for ${v}`);
      b[at] = 0xcf;
      this.#view.setBigUint64(at + 1, BigInt(v));
      this.#len += 9;
    }
    return this;
  }

  str(s: string): this {
    const bytes = encoder.encode(s);
    const n = bytes.length;
    this.#ensure(5 + n);
    const at = this.#len;
    if (n < 32) {
      this.#buf[at] = 0xa0 | n;
      this.#len += 1;
    } else if (n < 0x100) {
      this.#buf[at] = 0xd9;
      this.#buf[at + 1] = n;
      this.#len += 2;
    } else if (n < 0x10000) {
      this.#buf[at] = 0xda;
      this.#view.setUint16(at + 1, n);
      this.#len += 3;
    } else {
      this.#buf[at] = 0xdb;
      this.#view.setUint32(at + 1, n);
      this.#len += 5;
    }
    this.#buf.set(bytes, this.#len);
    this.#len += n;
    return this;
  }

  arrayLen(n: number): this {
    this.#ensure(5);
    const at = this.#len;
    if (n < 16) {
      this.#buf[at] = 0x90 | n;
      this.#len += 1;
    } else if (n < 0x10000) {
      this.#buf[at] = 0xdc;
      this.#view.setUint16(at + 1, n);
      this.#len += 3;
    } else {
      this.#buf[at] = 0xdd;
      this.#view.setUint32(at + 1, n);
      this.#len += 5;
    }
    return this;
  }

  mapLen(n: number): this {
    this.#ensure(5);
    const at = this.#len;
    if (n < 16) {
      this.#buf[at] = 0x80 | n;
      this.#len += 1;
    } else if (n < 0x10000) {
      this.#buf[at] = 0xde;
      this.#view.setUint16(at + 1, n);
      this.#len += 3;
    } else {
      this.#buf[at] = 0xdf;
      this.#view.setUint32(at + 1, n);
      this.#len += 5;
    }
    return this;
  }

  /** A serde Vec<u8>: an array of u8 integers. */
  byteVec(bytes: Uint8Array): this {
    if (this.binBytes) return this.bin(bytes);
    const n = bytes.length;
    this.arrayLen(n);
    // a byte >= 0x80 becomes cc xx, others stay one byte (wasm SIMD for long runs)
    this.#ensure(2 * n + 16);
    this.#len = encodeByteVecBody(bytes, this.#buf, this.#len);
    return this;
  }

  /** msgpack bin (what serde_bytes writes); see `binBytes`. */
  bin(bytes: Uint8Array): this {
    this.#ensure(5 + bytes.length);
    this.binHeader(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return this;
  }

  /** Only the marker and length of a bin of n bytes; the caller sends the bytes after. */
  binHeader(n: number): this {
    this.#ensure(5);
    const at = this.#len;
    if (n < 0x100) {
      this.#buf[at] = 0xc4;
      this.#buf[at + 1] = n;
      this.#len += 2;
    } else if (n < 0x10000) {
      this.#buf[at] = 0xc5;
      this.#view.setUint16(at + 1, n);
      this.#len += 3;
    } else {
      this.#buf[at] = 0xc6;
      this.#view.setUint32(at + 1, n);
      this.#len += 5;
    }
    return this;
  }

  get length(): number {
    return this.#len;
  }

  /** The written bytes (a view of the internal buffer; the writer is done after this). */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** The whole internal buffer (for reuse as `into` once the written bytes are consumed). */
  get buffer(): Uint8Array {
    return this.#buf;
  }
}

// ---------------------------------------------------------------------------
// Reader

/** Smaller bins are copied, so a few bytes never pin a large message buffer. */
const VIEW_MIN = 64 * 1024;

export class MsgReader {
  readonly buf: Uint8Array;
  readonly #view: DataView;
  pos = 0;
  /** Large bins come back as views of `buf` (the caller owns buf and gives it up). */
  viewBins = false;
  /** Set when a view of `buf` was handed out. */
  viewed = false;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DecodeError("unexpected end of input");
  }

  peek(): number {
    this.#need(1);
    return this.buf[this.pos];
  }

  /** Consumes a nil if one is next. */
  tryNil(): boolean {
    if (this.peek() === 0xc0) {
      this.pos++;
      return true;
    }
    return false;
  }

  bool(): boolean {
    const m = this.peek();
    if (m === 0xc2 || m === 0xc3) {
      this.pos++;
      return m === 0xc3;
    }
    throw new DecodeError(`expected bool, found marker 0x${m.toString(16)}`);
  }

  /** Any msgpack integer that is >= 0, as a bigint. */
  u64(): bigint {
    const m = this.peek();
    const v = this.#view;
    const p = this.pos + 1;
    let out: bigint;
    if (m < 0x80) {
      this.pos += 1;
      return BigInt(m);
    }
    switch (m) {
      case 0xcc:
        this.#need(2);
        out = BigInt(this.buf[p]);
        this.pos += 2;
        return out;
      case 0xcd:
        this.#need(3);
        out = BigInt(v.getUint16(p));
        this.pos += 3;
        return out;
      case 0xce:
        this.#need(5);
        out = BigInt(v.getUint32(p));
        this.pos += 5;
        return out;
      case 0xcf:
        this.#need(9);
        out = v.getBigUint64(p);
        this.pos += 9;
        return out;
      case 0xd0:
        this.#need(2);
        out = BigInt(v.getInt8(p));
        this.pos += 2;
        break;
      case 0xd1:
        this.#need(3);
        out = BigInt(v.getInt16(p));
        this.pos += 3;
        break;
      case 0xd2:
        this.#need(5);
        out = BigInt(v.getInt32(p));
        this.pos += 5;
        break;
      case 0xd3:
        this.#need(9);
        out = v.getBigInt64(p);
        this.pos += 9;
        break;
      default:
        if (m >= 0xe0) throw new DecodeError("expected unsigned integer, found negative");
        throw new DecodeError(`expected integer, found marker 0x${m.toString(16)}`);
    }
    if (out < 0n) throw new DecodeError("expected unsigned integer, found negative");
    return out;
  }

  /** An unsigned integer no larger than `max`. */
  uint(max: number): number {
    const m = this.peek();
    if (m < 0x80) {
      this.pos++;
      return m;
    }
    const v = this.u64();
    if (v > BigInt(max)) throw new DecodeError(`integer ${v} out of range (max ${max})`);
    return Number(v);
  }

  #strLen(m: number): number | undefined {
    const p = this.pos + 1;
    if ((m & 0xe0) === 0xa0) {
      this.pos += 1;
      return m & 0x1f;
    }
    switch (m) {
      case 0xd9:
      case 0xc4:
        this.#need(2);
        this.pos += 2;
        return this.buf[p];
      case 0xda:
      case 0xc5:
        this.#need(3);
        this.pos += 3;
        return this.#view.getUint16(p);
      case 0xdb:
      case 0xc6:
        this.#need(5);
        this.pos += 5;
        return this.#view.getUint32(p);
    }
    return undefined;
  }

  #rawBytes(n: number): Uint8Array {
    this.#need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A string (str, or bin holding UTF-8, as serde's String visitor accepts). */
  str(): string {
    const m = this.peek();
    const n = this.#strLen(m);
    if (n === undefined) throw new DecodeError(`expected string, found marker 0x${m.toString(16)}`);
    try {
      return strictDecoder.decode(this.#rawBytes(n));
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError("invalid UTF-8 in string");
    }
  }

  /** Array length, or undefined if the next value is not an array (nothing consumed). */
  tryArrayLen(): number | undefined {
    const m = this.peek();
    const p = this.pos + 1;
    let n: number;
    if ((m & 0xf0) === 0x90) {
      n = m & 0x0f;
      this.pos += 1;
    } else if (m === 0xdc) {
      this.#need(3);
      n = this.#view.getUint16(p);
      this.pos += 3;
    } else if (m === 0xdd) {
      this.#need(5);
      n = this.#view.getUint32(p);
      this.pos += 5;
    } else {
      return undefined;
    }
    // every element takes at least one byte: refuse lengths the input cannot hold
    if (n > this.buf.length - this.pos) throw new DecodeError("array longer than input");
    return n;
  }

  /** Map length, or undefined if the next value is not a map (nothing consumed). */
  tryMapLen(): number | undefined {
    const m = this.peek();
    const p = this.pos + 1;
    let n: number;
    if ((m & 0xf0) === 0x80) {
      n = m & 0x0f;
      this.pos += 1;
    } else if (m === 0xde) {
      this.#need(3);
      n = this.#view.getUint16(p);
      this.pos += 3;
    } else if (m === 0xdf) {
      this.#need(5);
      n = this.#view.getUint32(p);
      this.pos += 5;
    } else {
      return undefined;
    }
    if (2 * n > this.buf.length - this.pos) throw new DecodeError("map longer than input");
    return n;
  }

  arrayLen(): number {
    const n = this.tryArrayLen();
    if (n === undefined) {
      throw new DecodeError(`expected array, found 0x${this.peek().toString(16)}`);
    }
    return n;
  }

  mapLen(): number {
    const n = this.tryMapLen();
    if (n === undefined) throw new DecodeError(`expected map, found 0x${this.peek().toString(16)}`);
    return n;
  }

  /** A serde Vec<u8>: an array of u8 integers (bin also accepted). */
  byteVec(): Uint8Array {
    const m = this.peek();
    if (m === 0xc4 || m === 0xc5 || m === 0xc6) {
      const n = this.#strLen(m)!;
      if (this.viewBins && n >= VIEW_MIN) {
        this.viewed = true;
        return this.#rawBytes(n);
      }
      return this.#rawBytes(n).slice();
    }
    const n = this.arrayLen();
    const out = new Uint8Array(n);
    // fast path for the two forms rmp-serde writes for a u8 (fixint, cc xx)
    const end = decodeByteVecBody(this.buf, this.pos, n, out);
    if (end >= 0) {
      this.pos = end;
      return out;
    }
    // any other integer form (or bad input, which uint() reports)
    for (let i = 0; i < n; i++) out[i] = this.uint(255);
    return out;
  }

  /** Skip one value of any type (iteratively, so hostile nesting cannot blow the stack). */
  skip(): void {
    let pending = 1;
    while (pending > 0) {
      pending--;
      const m = this.peek();
      const p = this.pos + 1;
      if (m < 0x80 || m >= 0xe0 || m === 0xc0 || m === 0xc2 || m === 0xc3) {
        this.pos += 1;
      } else if ((m & 0xf0) === 0x90 || m === 0xdc || m === 0xdd) {
        pending += this.arrayLen();
      } else if ((m & 0xf0) === 0x80 || m === 0xde || m === 0xdf) {
        pending += 2 * this.mapLen();
      } else if ((m & 0xe0) === 0xa0 || (m >= 0xc4 && m <= 0xc6) || (m >= 0xd9 && m <= 0xdb)) {
        this.#rawBytes(this.#strLen(m)!);
      } else {
        const fixed: Record<number, number> = {
          0xcc: 1,
          0xcd: 2,
          0xce: 4,
          0xcf: 8,
          0xd0: 1,
          0xd1: 2,
          0xd2: 4,
          0xd3: 8,
          0xca: 4,
          0xcb: 8,
          0xd4: 2,
          0xd5: 3,
          0xd6: 5,
          0xd7: 9,
          0xd8: 17,
        };
        if (fixed[m] !== undefined) {
          this.#need(1 + fixed[m]);
          this.pos += 1 + fixed[m];
        } else if (m === 0xc7 || m === 0xc8 || m === 0xc9) {
          const lenBytes = m === 0xc7 ? 1 : m === 0xc8 ? 2 : 4;
          this.#need(1 + lenBytes);
          const n = lenBytes === 1
            ? this.buf[p]
            : lenBytes === 2
            ? this.#view.getUint16(p)
            : this.#view.getUint32(p);
          this.pos += 1 + lenBytes;
          this.#rawBytes(1 + n);
        } else {
          throw new DecodeError(`invalid marker 0x${m.toString(16)}`);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Schema helpers for decoding

/**
 * A struct: an array of exactly `fields.length` values, or a map keyed by field
 * name (or index). `read(i)` consumes field i. Returns which fields were present.
 */
export function readStruct(
  r: MsgReader,
  name: string,
  fields: readonly string[],
  read: (i: number) => void,
): boolean[] {
  const seen = fields.map(() => false);
  const n = r.tryArrayLen();
  if (n !== undefined) {
    if (n !== fields.length) {
      throw new DecodeError(`${name}: expected ${fields.length} fields, found ${n}`);
    }
    for (let i = 0; i < n; i++) {
      read(i);
      seen[i] = true;
    }
    return seen;
  }
  const m = r.tryMapLen();
  if (m === undefined) throw new DecodeError(`${name}: expected array or map`);
  for (let k = 0; k < m; k++) {
    const key = r.peek();
    const idx = key < 0x80 ? (r.pos++, key) : fields.indexOf(r.str());
    if (idx < 0 || idx >= fields.length) {
      r.skip();
      continue;
    }
    if (seen[idx]) throw new DecodeError(`${name}: duplicate field ${fields[idx]}`);
    read(idx);
    seen[idx] = true;
  }
  return seen;
}

export function requireFields(name: string, fields: readonly string[], seen: boolean[]) {
  for (let i = 0; i < fields.length; i++) {
    if (!seen[i]) throw new DecodeError(`${name}: missing field ${fields[i]}`);
  }
}

export interface EnumTag<V extends string = string> {
  variant: V;
  /** true when a value follows (map form) */
  hasValue: boolean;
}

/** An externally tagged enum's tag: "Name", a variant index, or { Name: value }. */
export function readEnumTag<V extends string>(
  r: MsgReader,
  name: string,
  variants: readonly V[],
): EnumTag<V> {
  const resolve = (): V => {
    const m = r.peek();
    if (m < 0x80 || m === 0xcc || m === 0xcd || m === 0xce || m === 0xcf) {
      const i = Number(r.u64());
      if (i >= variants.length) throw new DecodeError(`${name}: variant index ${i} out of range`);
      return variants[i];
    }
    const s = r.str();
    if (!(variants as readonly string[]).includes(s)) {
      throw new DecodeError(`${name}: unknown variant ${s}`);
    }
    return s as V;
  };
  const n = r.tryMapLen();
  if (n === undefined) return { variant: resolve(), hasValue: false };
  if (n !== 1) throw new DecodeError(`${name}: enum map must have one entry, found ${n}`);
  return { variant: resolve(), hasValue: true };
}

export function expectValue(tag: EnumTag, name: string): void {
  if (!tag.hasValue) throw new DecodeError(`${name}::${tag.variant} needs a value`);
}

export function unitVariant(r: MsgReader, tag: EnumTag, name: string): void {
  if (tag.hasValue && !r.tryNil()) throw new DecodeError(`${name}::${tag.variant} takes no value`);
}

export function optional<T>(r: MsgReader, read: () => T): T | undefined {
  return r.tryNil() ? undefined : read();
}
