// MessagePack exactly as rmp-serde's defaults (rmp_serde::to_vec) write it, for
// KernelMessage and the net types. The rules that decide every byte:
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

import {
  type Address,
  addressToString,
  type KernelMessage,
  type LazyLoadBlob,
  type Message,
  parseAddress,
  type Request,
  type Response,
  type SignedCapability,
} from "../wire/core.ts";
import type {
  HandshakePayload,
  HnsUpdate,
  Identity,
  NetAction,
  NetResponse,
  NodeRouting,
  RoutingRequest,
} from "../wire/net.ts";
import { decodeByteVecBody, encodeByteVecBody } from "./bytevec.ts";
import { takeBuffer } from "./buffers.ts";

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

const encoder = new TextEncoder();
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
function readStruct(
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

function requireFields(name: string, fields: readonly string[], seen: boolean[]) {
  for (let i = 0; i < fields.length; i++) {
    if (!seen[i]) throw new DecodeError(`${name}: missing field ${fields[i]}`);
  }
}

interface EnumTag {
  variant: string;
  /** true when a value follows (map form) */
  hasValue: boolean;
}

/** An externally tagged enum's tag: "Name", a variant index, or { Name: value }. */
function readEnumTag(r: MsgReader, name: string, variants: readonly string[]): EnumTag {
  const resolve = (): string => {
    const m = r.peek();
    if (m < 0x80 || m === 0xcc || m === 0xcd || m === 0xce || m === 0xcf) {
      const i = Number(r.u64());
      if (i >= variants.length) throw new DecodeError(`${name}: variant index ${i} out of range`);
      return variants[i];
    }
    const s = r.str();
    if (!variants.includes(s)) throw new DecodeError(`${name}: unknown variant ${s}`);
    return s;
  };
  const n = r.tryMapLen();
  if (n === undefined) return { variant: resolve(), hasValue: false };
  if (n !== 1) throw new DecodeError(`${name}: enum map must have one entry, found ${n}`);
  return { variant: resolve(), hasValue: true };
}

function expectValue(tag: EnumTag, name: string): void {
  if (!tag.hasValue) throw new DecodeError(`${name}::${tag.variant} needs a value`);
}

function unitVariant(r: MsgReader, tag: EnumTag, name: string): void {
  if (tag.hasValue && !r.tryNil()) throw new DecodeError(`${name}::${tag.variant} takes no value`);
}

function optional<T>(r: MsgReader, read: () => T): T | undefined {
  return r.tryNil() ? undefined : read();
}

function readAddress(r: MsgReader): Address {
  const s = r.str();
  try {
    return parseAddress(s);
  } catch (e) {
    throw new DecodeError(`bad address ${JSON.stringify(s)}: ${(e as Error).message}`);
  }
}

function readStringVec(r: MsgReader): string[] {
  const n = r.arrayLen();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.str());
  return out;
}

function readPorts(r: MsgReader): Record<string, number> {
  const n = r.mapLen();
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = r.str();
    out[k] = r.uint(0xffff);
  }
  return out;
}

function writeStringVec(w: MsgWriter, v: readonly string[]): void {
  w.arrayLen(v.length);
  for (const s of v) w.str(s);
}

/** BTreeMap<String, u16>: keys in byte order. */
function writePorts(w: MsgWriter, ports: Record<string, number>): void {
  const keys = Object.keys(ports).sort(compareUtf8);
  w.mapLen(keys.length);
  for (const k of keys) w.str(k).uint(ports[k]);
}

function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

// ---------------------------------------------------------------------------
// KernelMessage (lib/src/kernel.rs, lib/src/core.rs)

const KM_FIELDS = ["id", "source", "target", "rsvp", "message", "lazy_load_blob"] as const;
const REQUEST_FIELDS = [
  "inherit",
  "expects_response",
  "body",
  "metadata",
  "capabilities",
] as const;
const RESPONSE_FIELDS = ["inherit", "body", "metadata", "capabilities"] as const;
const BLOB_FIELDS = ["mime", "bytes"] as const;
const CAP_FIELDS = ["issuer", "params"] as const;
const MESSAGE_VARIANTS = ["Request", "Response"] as const;

function writeCapabilities(w: MsgWriter, caps: readonly SignedCapability[]): void {
  // Vec<(Capability, Vec<u8>)>
  w.arrayLen(caps.length);
  for (const c of caps) {
    w.arrayLen(2);
    w.arrayLen(2).str(addressToString(c.issuer)).str(c.params);
    w.byteVec(c.signature ?? new Uint8Array(0));
  }
}

function readCapabilities(r: MsgReader): SignedCapability[] {
  const n = r.arrayLen();
  const out: SignedCapability[] = [];
  for (let i = 0; i < n; i++) {
    if (r.arrayLen() !== 2) throw new DecodeError("capability entry must be a 2-tuple");
    let issuer: Address | undefined;
    let params: string | undefined;
    const seen = readStruct(r, "Capability", CAP_FIELDS, (f) => {
      if (f === 0) issuer = readAddress(r);
      else params = r.str();
    });
    requireFields("Capability", CAP_FIELDS, seen);
    const signature = r.byteVec();
    out.push({ issuer: issuer!, params: params!, signature });
  }
  return out;
}

function writeMessage(w: MsgWriter, m: Message): void {
  w.mapLen(1);
  if (m.tag === "request") {
    const q = m.val;
    w.str("Request").arrayLen(5).bool(q.inherit);
    if (q.expectsResponse === undefined) w.nil();
    else w.uint(q.expectsResponse);
    w.byteVec(q.body);
    if (q.metadata === undefined) w.nil();
    else w.str(q.metadata);
    writeCapabilities(w, q.capabilities);
  } else {
    const [s, context] = m.val;
    // newtype variant holding a tuple (Response, Option<Context>)
    w.str("Response").arrayLen(2).arrayLen(4).bool(s.inherit).byteVec(s.body);
    if (s.metadata === undefined) w.nil();
    else w.str(s.metadata);
    writeCapabilities(w, s.capabilities);
    if (context === undefined) w.nil();
    else w.byteVec(context);
  }
}

function readRequest(r: MsgReader): Request {
  const q: Partial<Request> = {};
  const seen = readStruct(r, "Request", REQUEST_FIELDS, (f) => {
    if (f === 0) q.inherit = r.bool();
    else if (f === 1) q.expectsResponse = optional(r, () => r.u64());
    else if (f === 2) q.body = r.byteVec();
    else if (f === 3) q.metadata = optional(r, () => r.str());
    else q.capabilities = readCapabilities(r);
  });
  for (const i of [0, 2, 4]) {
    if (!seen[i]) throw new DecodeError(`Request: missing field ${REQUEST_FIELDS[i]}`);
  }
  return {
    inherit: q.inherit!,
    expectsResponse: q.expectsResponse,
    body: q.body!,
    metadata: q.metadata,
    capabilities: q.capabilities!,
  };
}

function readResponse(r: MsgReader): Response {
  const s: Partial<Response> = {};
  const seen = readStruct(r, "Response", RESPONSE_FIELDS, (f) => {
    if (f === 0) s.inherit = r.bool();
    else if (f === 1) s.body = r.byteVec();
    else if (f === 2) s.metadata = optional(r, () => r.str());
    else s.capabilities = readCapabilities(r);
  });
  for (const i of [0, 1, 3]) {
    if (!seen[i]) throw new DecodeError(`Response: missing field ${RESPONSE_FIELDS[i]}`);
  }
  return {
    inherit: s.inherit!,
    body: s.body!,
    metadata: s.metadata,
    capabilities: s.capabilities!,
  };
}

function readMessage(r: MsgReader): Message {
  const tag = readEnumTag(r, "Message", MESSAGE_VARIANTS);
  expectValue(tag, "Message");
  if (tag.variant === "Request") return { tag: "request", val: readRequest(r) };
  if (r.arrayLen() !== 2) throw new DecodeError("Message::Response must be a 2-tuple");
  const response = readResponse(r);
  const context = optional(r, () => r.byteVec());
  return { tag: "response", val: [response, context] };
}

/**
 * `detach`: when the bytes would be written as bin, write only the bin header and
 * return the bytes, which then follow the encoded message (the blob is the last
 * field of a KernelMessage, its bytes the last field of the blob).
 */
function writeBlob(
  w: MsgWriter,
  b: LazyLoadBlob | undefined,
  detach = false,
): Uint8Array | undefined {
  if (b === undefined) {
    w.nil();
    return undefined;
  }
  w.arrayLen(2);
  if (b.mime === undefined) w.nil();
  else w.str(b.mime);
  if (detach && w.binBytes) {
    w.binHeader(b.bytes.length);
    return b.bytes;
  }
  w.byteVec(b.bytes);
  return undefined;
}

function readBlob(r: MsgReader): LazyLoadBlob {
  let mime: string | undefined;
  let bytes: Uint8Array | undefined;
  const seen = readStruct(r, "LazyLoadBlob", BLOB_FIELDS, (f) => {
    if (f === 0) mime = optional(r, () => r.str());
    else bytes = r.byteVec();
  });
  if (!seen[1]) throw new DecodeError("LazyLoadBlob: missing field bytes");
  return { mime, bytes: bytes! };
}

/** Worst-case encoded size, so large blobs are written without regrowing. */
function kernelMessageSizeHint(km: KernelMessage, binBytes: boolean, detachBlob = false): number {
  const body = km.message.tag === "request" ? km.message.val.body : km.message.val[0].body;
  const ctx = km.message.tag === "response" ? km.message.val[1]?.length ?? 0 : 0;
  const blob = detachBlob && binBytes ? 0 : km.lazyLoadBlob?.bytes.length ?? 0;
  const bytes = body.length + ctx + blob;
  // capabilities and addresses are small; the ensure() in every write covers the rest
  return 512 + (binBytes ? bytes : 2 * bytes);
}

/** Reused by encodeKernelMessage's `scratch` mode; at most SCRATCH_MAX bytes are kept. */
let scratch: Uint8Array | undefined;
const SCRATCH_MAX = 24 * 1024 * 1024;

/**
 * rmp_serde::to_vec(&KernelMessage); `reserve` leading bytes are left for a frame
 * prefix. `binBytes` (only for peers that read it) writes every Vec<u8> as bin.
 * `scratch`: the result is a view of a buffer reused by the next scratch call,
 * for callers that consume it at once (sparing a fresh multi-MB allocation, and
 * its page faults, per large message).
 */
export function encodeKernelMessage(
  km: KernelMessage,
  reserve = 0,
  opts: { binBytes?: boolean; scratch?: boolean } = {},
): Uint8Array {
  const binBytes = opts.binBytes ?? false;
  const hint = kernelMessageSizeHint(km, binBytes) + reserve;
  const w = new MsgWriter(hint, reserve, opts.scratch ? scratch : undefined);
  writeKernelMessage(w, km, binBytes, false);
  if (opts.scratch && w.buffer.length <= SCRATCH_MAX) scratch = w.buffer;
  return w.finish();
}

function writeKernelMessage(
  w: MsgWriter,
  km: KernelMessage,
  binBytes: boolean,
  detachBlob: boolean,
): Uint8Array | undefined {
  w.binBytes = binBytes;
  w.arrayLen(6).uint(km.id).str(addressToString(km.source)).str(addressToString(km.target));
  if (km.rsvp === undefined) w.nil();
  else w.str(addressToString(km.rsvp));
  writeMessage(w, km.message);
  return writeBlob(w, km.lazyLoadBlob, detachBlob);
}

/** A serialized KernelMessage as `head` then `tail` (the blob's bytes, not copied). */
export interface EncodedParts {
  head: Uint8Array;
  tail: Uint8Array | undefined;
}

/**
 * Like encodeKernelMessage, but when the blob goes out as bin its bytes are not
 * copied: they are returned as `tail`, to be sent right after `head`. The head
 * is written into a buffer from takeBuffer; give it back with returnBuffer once
 * it has been sent.
 */
export function encodeKernelMessageParts(
  km: KernelMessage,
  reserve: number,
  binBytes: boolean,
): EncodedParts {
  const hint = kernelMessageSizeHint(km, binBytes, true) + reserve;
  const w = new MsgWriter(hint, reserve, takeBuffer(hint));
  const tail = writeKernelMessage(w, km, binBytes, true);
  return { head: w.finish(), tail };
}

/**
 * rmp_serde::from_slice::<KernelMessage>. `opts.viewBins`: large bin fields may be
 * views of `bytes` (saves a copy of a blob); `opts.viewed` then tells whether one was.
 */
export function decodeKernelMessage(
  bytes: Uint8Array,
  opts?: { viewBins?: boolean; viewed?: boolean },
): KernelMessage {
  const r = new MsgReader(bytes);
  if (opts) {
    r.viewBins = opts.viewBins ?? false;
    opts.viewed = false;
  }
  const km: Partial<KernelMessage> = {};
  const seen = readStruct(r, "KernelMessage", KM_FIELDS, (f) => {
    if (f === 0) km.id = r.u64();
    else if (f === 1) km.source = readAddress(r);
    else if (f === 2) km.target = readAddress(r);
    else if (f === 3) km.rsvp = optional(r, () => readAddress(r));
    else if (f === 4) km.message = readMessage(r);
    else km.lazyLoadBlob = optional(r, () => readBlob(r));
  });
  for (const i of [0, 1, 2, 4]) {
    if (!seen[i]) throw new DecodeError(`KernelMessage: missing field ${KM_FIELDS[i]}`);
  }
  const out: KernelMessage = {
    id: km.id!,
    source: km.source!,
    target: km.target!,
    message: km.message!,
  };
  if (km.rsvp !== undefined) out.rsvp = km.rsvp;
  if (km.lazyLoadBlob !== undefined) out.lazyLoadBlob = km.lazyLoadBlob;
  if (opts) opts.viewed = r.viewed;
  return out;
}

// ---------------------------------------------------------------------------
// Net types (lib/src/net.rs, lib/src/kernel.rs, hyperdrive/src/net/types.rs)

const HNS_FIELDS = ["name", "public_key", "ips", "ports", "routers"] as const;
const IDENTITY_FIELDS = ["name", "networking_key", "routing"] as const;
const ROUTING_VARIANTS = ["Routers", "Direct", "Both"] as const;
const DIRECT_FIELDS = ["ip", "ports"] as const;
const BOTH_FIELDS = ["ip", "ports", "routers"] as const;
const NET_ACTION_VARIANTS = [
  "ConnectionRequest",
  "HnsUpdate",
  "HnsBatchUpdate",
  "GetPeers",
  "GetPeer",
  "GetDiagnostics",
  "Sign",
  "Verify",
] as const;
const VERIFY_FIELDS = ["from", "signature"] as const;
const NET_RESPONSE_VARIANTS = [
  "Accepted",
  "Rejected",
  "Peers",
  "Peer",
  "Diagnostics",
  "Signed",
  "Verified",
] as const;
const HANDSHAKE_FIELDS = ["protocol_version", "name", "signature", "proxy_request"] as const;
const ROUTING_REQUEST_FIELDS = ["protocol_version", "source", "signature", "target"] as const;

export function writeHnsUpdate(w: MsgWriter, u: HnsUpdate): void {
  w.arrayLen(5).str(u.name).str(u.public_key);
  writeStringVec(w, u.ips);
  writePorts(w, u.ports);
  writeStringVec(w, u.routers);
}

export function readHnsUpdate(r: MsgReader): HnsUpdate {
  const u: Partial<HnsUpdate> = {};
  const seen = readStruct(r, "HnsUpdate", HNS_FIELDS, (f) => {
    if (f === 0) u.name = r.str();
    else if (f === 1) u.public_key = r.str();
    else if (f === 2) u.ips = readStringVec(r);
    else if (f === 3) u.ports = readPorts(r);
    else u.routers = readStringVec(r);
  });
  requireFields("HnsUpdate", HNS_FIELDS, seen);
  return u as HnsUpdate;
}

export function writeIdentity(w: MsgWriter, id: Identity): void {
  w.arrayLen(3).str(id.name).str(id.networking_key);
  const r = id.routing;
  w.mapLen(1);
  if ("Routers" in r) {
    w.str("Routers");
    writeStringVec(w, r.Routers);
  } else if ("Direct" in r) {
    w.str("Direct").arrayLen(2).str(r.Direct.ip);
    writePorts(w, r.Direct.ports);
  } else {
    w.str("Both").arrayLen(3).str(r.Both.ip);
    writePorts(w, r.Both.ports);
    writeStringVec(w, r.Both.routers);
  }
}

function readNodeRouting(r: MsgReader): NodeRouting {
  const tag = readEnumTag(r, "NodeRouting", ROUTING_VARIANTS);
  expectValue(tag, "NodeRouting");
  if (tag.variant === "Routers") return { Routers: readStringVec(r) };
  if (tag.variant === "Direct") {
    let ip = "";
    let ports: Record<string, number> = {};
    const seen = readStruct(r, "NodeRouting::Direct", DIRECT_FIELDS, (f) => {
      if (f === 0) ip = r.str();
      else ports = readPorts(r);
    });
    requireFields("NodeRouting::Direct", DIRECT_FIELDS, seen);
    return { Direct: { ip, ports } };
  }
  let ip = "";
  let ports: Record<string, number> = {};
  let routers: string[] = [];
  const seen = readStruct(r, "NodeRouting::Both", BOTH_FIELDS, (f) => {
    if (f === 0) ip = r.str();
    else if (f === 1) ports = readPorts(r);
    else routers = readStringVec(r);
  });
  requireFields("NodeRouting::Both", BOTH_FIELDS, seen);
  return { Both: { ip, ports, routers } };
}

export function readIdentity(r: MsgReader): Identity {
  const id: Partial<Identity> = {};
  const seen = readStruct(r, "Identity", IDENTITY_FIELDS, (f) => {
    if (f === 0) id.name = r.str();
    else if (f === 1) id.networking_key = r.str();
    else id.routing = readNodeRouting(r);
  });
  requireFields("Identity", IDENTITY_FIELDS, seen);
  return id as Identity;
}

export function encodeNetAction(a: NetAction): Uint8Array {
  const w = new MsgWriter();
  if (typeof a === "string") return w.str(a).finish();
  w.mapLen(1);
  if ("ConnectionRequest" in a) w.str("ConnectionRequest").str(a.ConnectionRequest);
  else if ("HnsUpdate" in a) writeHnsUpdate(w.str("HnsUpdate"), a.HnsUpdate);
  else if ("HnsBatchUpdate" in a) {
    w.str("HnsBatchUpdate").arrayLen(a.HnsBatchUpdate.length);
    for (const u of a.HnsBatchUpdate) writeHnsUpdate(w, u);
  } else if ("GetPeer" in a) w.str("GetPeer").str(a.GetPeer);
  else {
    // struct variant: its fields as an array
    w.str("Verify").arrayLen(2).str(addressToString(a.Verify.from)).byteVec(a.Verify.signature);
  }
  return w.finish();
}

export function decodeNetAction(bytes: Uint8Array): NetAction {
  const r = new MsgReader(bytes);
  const tag = readEnumTag(r, "NetAction", NET_ACTION_VARIANTS);
  switch (tag.variant) {
    case "GetPeers":
    case "GetDiagnostics":
    case "Sign":
      unitVariant(r, tag, "NetAction");
      return tag.variant;
  }
  expectValue(tag, "NetAction");
  switch (tag.variant) {
    case "ConnectionRequest":
      return { ConnectionRequest: r.str() };
    case "HnsUpdate":
      return { HnsUpdate: readHnsUpdate(r) };
    case "HnsBatchUpdate": {
      const n = r.arrayLen();
      const list: HnsUpdate[] = [];
      for (let i = 0; i < n; i++) list.push(readHnsUpdate(r));
      return { HnsBatchUpdate: list };
    }
    case "GetPeer":
      return { GetPeer: r.str() };
    default: {
      let from: Address | undefined;
      let signature: Uint8Array | undefined;
      const seen = readStruct(r, "NetAction::Verify", VERIFY_FIELDS, (f) => {
        if (f === 0) from = readAddress(r);
        else signature = r.byteVec();
      });
      requireFields("NetAction::Verify", VERIFY_FIELDS, seen);
      return { Verify: { from: from!, signature: signature! } };
    }
  }
}

export function encodeNetResponse(v: NetResponse): Uint8Array {
  const w = new MsgWriter();
  if (typeof v === "string") return w.str(v).finish();
  w.mapLen(1);
  if ("Accepted" in v) w.str("Accepted").str(v.Accepted);
  else if ("Rejected" in v) w.str("Rejected").str(v.Rejected);
  else if ("Peers" in v) {
    w.str("Peers").arrayLen(v.Peers.length);
    for (const id of v.Peers) writeIdentity(w, id);
  } else if ("Peer" in v) {
    w.str("Peer");
    if (v.Peer === null) w.nil();
    else writeIdentity(w, v.Peer);
  } else if ("Diagnostics" in v) w.str("Diagnostics").str(v.Diagnostics);
  else w.str("Verified").bool(v.Verified);
  return w.finish();
}

export function decodeNetResponse(bytes: Uint8Array): NetResponse {
  const r = new MsgReader(bytes);
  const tag = readEnumTag(r, "NetResponse", NET_RESPONSE_VARIANTS);
  if (tag.variant === "Signed") {
    unitVariant(r, tag, "NetResponse");
    return "Signed";
  }
  expectValue(tag, "NetResponse");
  switch (tag.variant) {
    case "Accepted":
      return { Accepted: r.str() };
    case "Rejected":
      return { Rejected: r.str() };
    case "Peers": {
      const n = r.arrayLen();
      const list: Identity[] = [];
      for (let i = 0; i < n; i++) list.push(readIdentity(r));
      return { Peers: list };
    }
    case "Peer":
      return { Peer: optional(r, () => readIdentity(r)) ?? null };
    case "Diagnostics":
      return { Diagnostics: r.str() };
    default:
      return { Verified: r.bool() };
  }
}

export function encodeHandshakePayload(p: HandshakePayload): Uint8Array {
  return new MsgWriter().arrayLen(4).uint(p.protocol_version).str(p.name).byteVec(p.signature)
    .bool(p.proxy_request).finish();
}

export function decodeHandshakePayload(bytes: Uint8Array): HandshakePayload {
  return splitHandshakePayload(bytes).payload;
}

/**
 * The HandshakePayload at the front of `bytes` and whatever follows it (which
 * rmp_serde::from_slice, and so Hyperdrive, ignores).
 */
export function splitHandshakePayload(
  bytes: Uint8Array,
): { payload: HandshakePayload; rest: Uint8Array } {
  const r = new MsgReader(bytes);
  const p: Partial<HandshakePayload> = {};
  const seen = readStruct(r, "HandshakePayload", HANDSHAKE_FIELDS, (f) => {
    if (f === 0) p.protocol_version = r.uint(0xff);
    else if (f === 1) p.name = r.str();
    else if (f === 2) p.signature = r.byteVec();
    else p.proxy_request = r.bool();
  });
  requireFields("HandshakePayload", HANDSHAKE_FIELDS, seen);
  return { payload: p as HandshakePayload, rest: bytes.subarray(r.pos) };
}

export function encodeRoutingRequest(q: RoutingRequest): Uint8Array {
  return new MsgWriter().arrayLen(4).uint(q.protocol_version).str(q.source).byteVec(q.signature)
    .str(q.target).finish();
}

export function decodeRoutingRequest(bytes: Uint8Array): RoutingRequest {
  const r = new MsgReader(bytes);
  const q: Partial<RoutingRequest> = {};
  const seen = readStruct(r, "RoutingRequest", ROUTING_REQUEST_FIELDS, (f) => {
    if (f === 0) q.protocol_version = r.uint(0xff);
    else if (f === 1) q.source = r.str();
    else if (f === 2) q.signature = r.byteVec();
    else q.target = r.str();
  });
  requireFields("RoutingRequest", ROUTING_REQUEST_FIELDS, seen);
  return q as RoutingRequest;
}

export function encodeHnsUpdate(u: HnsUpdate): Uint8Array {
  const w = new MsgWriter();
  writeHnsUpdate(w, u);
  return w.finish();
}

export function decodeHnsUpdate(bytes: Uint8Array): HnsUpdate {
  return readHnsUpdate(new MsgReader(bytes));
}

export function encodeIdentity(id: Identity): Uint8Array {
  const w = new MsgWriter();
  writeIdentity(w, id);
  return w.finish();
}

export function decodeIdentity(bytes: Uint8Array): Identity {
  return readIdentity(new MsgReader(bytes));
}
