// A compact binary form of the two hot items between the kernel and a
// process Worker: a delivered message ({t:"msg"}) and a process's sends.
// It replaces structured clone on the fast path (the ring in ring.ts), which
// profiles showed as the largest single cost of a message crossing threads.
// Everything else (send errors, calls, control, prints) still travels by
// MessagePort. encode* returns false for a value it cannot represent
// exactly (a u64 out of range, a field of the wrong type), and the caller
// falls back to the port. A record's byte fields (bodies, blobs, contexts)
// travel together at its end and decode as views into one fresh buffer.

import type {
  Address,
  KernelMessage,
  LazyLoadBlob,
  Message,
  SignedCapability,
} from "../../wire/core.ts";
import type { OutgoingMessage } from "./protocol.ts";

const U64_MAX = (1n << 64n) - 1n;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** A value the codec cannot carry exactly (wrong type, u64 out of range): use the port. */
class Unrepresentable extends Error {}

export class Writer {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  pos = 0;

  /** Byte fields, copied after the rest by finish() (see Reader.at). */
  private section: Uint8Array[] = [];
  private sectionBytes = 0;

  /** The record written since reset(), once finish()ed; valid until the next write. */
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Starts a record: [u32 length of what follows up to the byte section]. */
  reset(): void {
    this.pos = 4;
    this.section.length = 0;
    this.sectionBytes = 0;
  }

  /** Ends a record: patches its head length and appends the byte section. */
  finish(): void {
    this.view.setUint32(0, this.pos - 4, true);
    this.ensure(this.sectionBytes);
    for (const b of this.section) {
      this.buf.set(b, this.pos);
      this.pos += b.length;
    }
  }

  private ensure(n: number) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }

  bool(v: boolean) {
    if (typeof v !== "boolean") throw new Unrepresentable();
    this.u8(v ? 1 : 0);
  }

  u8(v: number) {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number) {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number) {
    if (typeof v !== "number") throw new Unrepresentable();
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  u64(v: bigint) {
    if (typeof v !== "bigint" || v < 0n || v > U64_MAX) throw new Unrepresentable();
    this.ensure(8);
    this.view.setBigUint64(this.pos, v, true);
    this.pos += 8;
  }

  str(s: string) {
    if (typeof s !== "string") throw new Unrepresentable();
    const n = s.length;
    this.ensure(4 + 3 * n);
    const buf = this.buf;
    const start = this.pos + 4;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[start + i] = c;
    }
    let len = n;
    if (i < n) len = i + textEncoder.encodeInto(s.slice(i), buf.subarray(start + i)).written;
    this.view.setUint32(this.pos, len, true);
    this.pos = start + len;
  }

  bytesField(b: Uint8Array) {
    if (!(b instanceof Uint8Array)) throw new Unrepresentable();
    this.u32(b.length);
    this.section.push(b);
    this.sectionBytes += b.length;
  }
}

/** Short strings seen again (node and process names) come from a cache, not a decode. */
const CACHE_SLOTS = 512;
const CACHE_MAX_LEN = 48;

export class Reader {
  private view: DataView;
  pos = 0;
  end = 0;
  private readonly cacheBytes: (Uint8Array | undefined)[] = new Array(CACHE_SLOTS);
  private readonly cacheStr: string[] = new Array(CACHE_SLOTS);

  constructor(private buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** The record's byte fields: one fresh copy, handed out as views. */
  private section = new Uint8Array(0);
  private sectionPos = 0;

  /** Reads the record of `length` bytes at `offset` of the buffer given at construction. */
  at(offset: number, length: number): this {
    this.pos = offset;
    this.end = offset + length;
    const head = this.u32();
    const sectionAt = this.pos + head;
    if (sectionAt > offset + length) throw new RangeError("record truncated");
    // one allocation for all of the record's bytes instead of one per field
    // (each costs ~0.3 us, more under GC pressure); the source may be a
    // shared ring that is about to be reused, so it is always a copy
    this.section = this.buf.slice(sectionAt, offset + length);
    this.sectionPos = 0;
    this.end = sectionAt;
    return this;
  }

  u8(): number {
    if (this.pos + 1 > this.end) throw new RangeError("record truncated");
    return this.buf[this.pos++];
  }

  u32(): number {
    if (this.pos + 4 > this.end) throw new RangeError("record truncated");
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(): number {
    if (this.pos + 8 > this.end) throw new RangeError("record truncated");
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  u64(): bigint {
    if (this.pos + 8 > this.end) throw new RangeError("record truncated");
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  str(): string {
    const n = this.u32();
    const start = this.pos;
    if (start + n > this.end) throw new RangeError("record truncated");
    this.pos += n;
    if (n === 0) return "";
    const buf = this.buf;
    if (n > CACHE_MAX_LEN) return textDecoder.decode(buf.slice(start, start + n));
    let h = n;
    let ascii = true;
    for (let i = start; i < start + n; i++) {
      const c = buf[i];
      if (c >= 0x80) ascii = false;
      h = (Math.imul(h, 31) + c) | 0;
    }
    const slot = (h ^ (h >>> 15)) & (CACHE_SLOTS - 1);
    const cached = this.cacheBytes[slot];
    if (cached !== undefined && cached.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (cached[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.cacheStr[slot];
    }
    const copy = buf.slice(start, start + n);
    const s = ascii
      ? String.fromCharCode.apply(null, copy as unknown as number[])
      : textDecoder.decode(copy);
    this.cacheBytes[slot] = copy;
    this.cacheStr[slot] = s;
    return s;
  }

  /** The next byte field: a view into the record's own copy of its byte section. */
  bytesField(): Uint8Array {
    const n = this.u32();
    const at = this.sectionPos;
    if (at + n > this.section.length) throw new RangeError("record truncated");
    this.sectionPos = at + n;
    return this.section.subarray(at, at + n);
  }
}

// ---------------------------------------------------------------------------
// Fields

function writeAddress(w: Writer, a: Address) {
  w.str(a.node);
  w.str(a.process.processName);
  w.str(a.process.packageName);
  w.str(a.process.publisherNode);
}

function readAddress(r: Reader): Address {
  const node = r.str();
  const processName = r.str();
  const packageName = r.str();
  const publisherNode = r.str();
  return { node, process: { processName, packageName, publisherNode } };
}

function writeOptStr(w: Writer, s: string | undefined) {
  if (s === undefined) w.u8(0);
  else {
    w.u8(1);
    w.str(s);
  }
}

function readOptStr(r: Reader): string | undefined {
  return r.u8() ? r.str() : undefined;
}

function writeCaps(w: Writer, caps: SignedCapability[]) {
  if (!Array.isArray(caps)) throw new Unrepresentable();
  w.u32(caps.length);
  for (const c of caps) {
    writeAddress(w, c.issuer);
    w.str(c.params);
    if (c.signature === undefined) w.u8(0);
    else {
      w.u8(1);
      w.bytesField(c.signature);
    }
  }
}

function readCaps(r: Reader): SignedCapability[] {
  const n = r.u32();
  const caps: SignedCapability[] = [];
  for (let i = 0; i < n; i++) {
    const issuer = readAddress(r);
    const params = r.str();
    if (r.u8()) caps.push({ issuer, params, signature: r.bytesField() });
    else caps.push({ issuer, params });
  }
  return caps;
}

function writeMessage(w: Writer, m: Message) {
  if (m.tag === "request") {
    const v = m.val;
    w.u8(0);
    w.bool(v.inherit);
    if (v.expectsResponse === undefined) w.u8(0);
    else {
      w.u8(1);
      w.u64(v.expectsResponse);
    }
    w.bytesField(v.body);
    writeOptStr(w, v.metadata);
    writeCaps(w, v.capabilities);
  } else {
    if (m.tag !== "response") throw new Unrepresentable();
    const [v, context] = m.val;
    w.u8(1);
    w.bool(v.inherit);
    w.bytesField(v.body);
    writeOptStr(w, v.metadata);
    writeCaps(w, v.capabilities);
    if (context === undefined) w.u8(0);
    else {
      w.u8(1);
      w.bytesField(context);
    }
  }
}

function readMessage(r: Reader): Message {
  if (r.u8() === 0) {
    const inherit = r.u8() === 1;
    const expectsResponse = r.u8() ? r.u64() : undefined;
    const body = r.bytesField();
    const metadata = readOptStr(r);
    const capabilities = readCaps(r);
    return { tag: "request", val: { inherit, expectsResponse, body, metadata, capabilities } };
  }
  const inherit = r.u8() === 1;
  const body = r.bytesField();
  const metadata = readOptStr(r);
  const capabilities = readCaps(r);
  const context = r.u8() ? r.bytesField() : undefined;
  return { tag: "response", val: [{ inherit, body, metadata, capabilities }, context] };
}

function writeBlob(w: Writer, b: LazyLoadBlob | undefined) {
  if (b === undefined) {
    w.u8(0);
    return;
  }
  w.u8(1);
  writeOptStr(w, b.mime);
  w.bytesField(b.bytes);
}

function readBlob(r: Reader): LazyLoadBlob | undefined {
  if (!r.u8()) return undefined;
  const mime = readOptStr(r);
  return { mime, bytes: r.bytesField() };
}

function writeOptAt(w: Writer, at: number | undefined) {
  if (at === undefined) w.u8(0);
  else {
    w.u8(1);
    w.f64(at);
  }
}

function readOptAt(r: Reader): number | undefined {
  return r.u8() ? r.f64() : undefined;
}

// ---------------------------------------------------------------------------
// Items

/** A message delivered to a process ({t:"msg"} in protocol.ts); false if unrepresentable. */
export function encodeDelivery(w: Writer, km: KernelMessage, at: number | undefined): boolean {
  w.reset();
  try {
    w.u64(km.id);
    writeAddress(w, km.source);
    writeAddress(w, km.target);
    if (km.rsvp === undefined) w.u8(0);
    else {
      w.u8(1);
      writeAddress(w, km.rsvp);
    }
    writeMessage(w, km.message);
    writeBlob(w, km.lazyLoadBlob);
    writeOptAt(w, at);
    w.finish();
    return true;
  } catch {
    // Unrepresentable, or a malformed value from a process: structured clone
    // on the port carries it exactly as before
    return false;
  }
}

export function decodeDelivery(r: Reader): { t: "msg"; km: KernelMessage; at?: number } {
  const id = r.u64();
  const source = readAddress(r);
  const target = readAddress(r);
  const rsvp = r.u8() ? readAddress(r) : undefined;
  const message = readMessage(r);
  const lazyLoadBlob = readBlob(r);
  const at = readOptAt(r);
  return { t: "msg", km: { id, source, target, rsvp, message, lazyLoadBlob }, at };
}

/** Messages a process sent ({t:"send"} in protocol.ts); false if unrepresentable. */
export function encodeSends(w: Writer, msgs: OutgoingMessage[]): boolean {
  w.reset();
  try {
    w.u32(msgs.length);
    for (const m of msgs) {
      w.u64(m.id);
      writeAddress(w, m.target);
      if (m.rsvp === undefined) w.u8(0);
      else {
        w.u8(1);
        writeAddress(w, m.rsvp);
      }
      writeMessage(w, m.message);
      writeBlob(w, m.lazyLoadBlob);
      writeOptAt(w, m.at);
    }
    w.finish();
    return true;
  } catch {
    // Unrepresentable, or a malformed value from a process: structured clone
    // on the port carries it exactly as before
    return false;
  }
}

export function decodeSends(r: Reader): OutgoingMessage[] {
  const n = r.u32();
  const msgs: OutgoingMessage[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.u64();
    const target = readAddress(r);
    const rsvp = r.u8() ? readAddress(r) : undefined;
    const message = readMessage(r);
    const lazyLoadBlob = readBlob(r);
    const at = readOptAt(r);
    msgs.push({ id, target, rsvp, message, lazyLoadBlob, at });
  }
  return msgs;
}
