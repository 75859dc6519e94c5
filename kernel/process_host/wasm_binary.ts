// Reading and writing core Wasm modules: the pieces both rewriters of a module's bytes share,
// kit's pre-initializer (kit/wizer.ts) and the interrupt checks (interrupt.ts).

/** Makes the error a malformed or unsupported module is reported with. */
export type WasmFail = (message: string) => Error;

export class WasmReader {
  constructor(
    readonly b: Uint8Array,
    private readonly fail: WasmFail,
    readonly end = b.length,
    public pos = 0,
  ) {}
  byte(): number {
    if (this.pos >= this.end) throw this.fail("unexpected end of module");
    return this.b[this.pos++];
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw this.fail("malformed LEB128");
    }
  }
  /** Skips a signed or unsigned LEB128 of any width (up to 64 bits). */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw this.fail("malformed LEB128");
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) throw this.fail("unexpected end of module");
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    return new TextDecoder().decode(this.bytes(this.u32()));
  }
  /** Skips one constant expression, up to and including its `end`. */
  skipConstExpr(): void {
    for (;;) {
      const op = this.byte();
      switch (op) {
        case 0x0b: // end
          return;
        case 0x41: // i32.const
        case 0x42: // i64.const
        case 0xd0: // ref.null (a heap type)
          this.skipLeb();
          break;
        case 0x43: // f32.const
          this.bytes(4);
          break;
        case 0x44: // f64.const
          this.bytes(8);
          break;
        case 0x23: // global.get
        case 0xd2: // ref.func
          this.u32();
          break;
        case 0x6a: // i32.add, sub, mul (extended-const)
        case 0x6b:
        case 0x6c:
        case 0x7c: // i64.add, sub, mul
        case 0x7d:
        case 0x7e:
          break;
        case 0xfd: // v128.const
          if (this.u32() !== 12) throw this.fail("unsupported SIMD instruction in a constant");
          this.bytes(16);
          break;
        default:
          throw this.fail(`unsupported instruction 0x${op.toString(16)} in a constant`);
      }
    }
  }
  /** Skips a table's or memory's limits. */
  skipLimits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

export interface WasmSection {
  id: number;
  /** The section's payload (without id and size). */
  body: Uint8Array;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

export function readSections(bytes: Uint8Array, fail: WasmFail): WasmSection[] {
  if (bytes.length < 8 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw fail("not a core wasm module");
  }
  const r = new WasmReader(bytes, fail, bytes.length, 8);
  const out: WasmSection[] = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    out.push({ id, body: r.bytes(size) });
  }
  return out;
}

/** How many of each kind the module imports (they come first in their index spaces). */
export interface ImportCounts {
  funcs: number;
  tables: number;
  memories: number;
  globals: number;
  tags: number;
}

/** Reads one import's description after its two names, counting it in `counts`. */
export function skipImportDesc(r: WasmReader, counts: ImportCounts, fail: WasmFail): void {
  const kind = r.byte();
  if (kind === 0x00) {
    r.u32();
    counts.funcs++;
  } else if (kind === 0x01) {
    skipValType(r);
    r.skipLimits();
    counts.tables++;
  } else if (kind === 0x02) {
    r.skipLimits();
    counts.memories++;
  } else if (kind === 0x03) {
    skipValType(r);
    r.byte();
    counts.globals++;
  } else if (kind === 0x04) {
    r.byte();
    r.u32();
    counts.tags++;
  } else throw fail(`unknown import kind ${kind}`);
}

export function countImports(body: Uint8Array | undefined, fail: WasmFail): ImportCounts {
  const counts = { funcs: 0, tables: 0, memories: 0, globals: 0, tags: 0 };
  if (!body) return counts;
  const r = new WasmReader(body, fail);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    r.name();
    r.name();
    skipImportDesc(r, counts, fail);
  }
  return counts;
}

/** Skips a value type (a typed reference carries a heap type). */
export function skipValType(r: WasmReader): void {
  const t = r.byte();
  if (t === 0x64 || t === 0x63) r.skipLeb();
}

/** Unsigned LEB128 of a non-negative safe integer. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (an i32 as a number, an i64 as a bigint). */
export function sleb(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && !(b & 0x40)) || (v === -1n && (b & 0x40));
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

/** A name as Wasm writes it: its UTF-8 length, then the bytes. */
export function nameBytes(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...uleb(b.length), ...b];
}

/** A growing byte buffer with Wasm's encodings. */
export class WasmWriter {
  private buf = new Uint8Array(1024);
  len = 0;
  private room(n: number) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(x: number): void {
    this.room(1);
    this.buf[this.len++] = x;
  }
  bytes(b: ArrayLike<number>): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u32(x: number): void {
    this.bytes(uleb(x));
  }
  s32(x: number): void {
    this.bytes(sleb(x));
  }
  str(s: string): void {
    this.bytes(nameBytes(s));
  }
  /** What was written, in a buffer of its own. */
  done(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}

/** A module of `sections`, in the order given. */
export function writeModule(sections: WasmSection[]): Uint8Array<ArrayBuffer> {
  const w = new WasmWriter();
  w.bytes(MAGIC);
  for (const s of sections) {
    w.byte(s.id);
    w.u32(s.body.length);
    w.bytes(s.body);
  }
  return w.done();
}
