// Interrupt checks for a core Wasm module, so that one stuck component can be stopped while
// others share its thread (V8 stops only a whole isolate): every `loop` gets, at the top of
// its body, a countdown on a new global; when it runs out, the module calls the new import
// `hyperdeno.interrupt`, which may throw (the component is being killed) or just return.
// What wasmtime's epoch interruption does, added to the binary after jco's transpile.
//
// The import is appended to the module's imports, so every defined function's index moves up
// by one: calls, `ref.func`, element segments, exports, the start function and the name
// section are renumbered. Instructions are decoded in full (MVP, sign extension, saturating
// truncation, bulk memory, reference types, multi-value, tail calls, SIMD, threads, exception
// handling); a module using anything else (GC types) is refused with InterruptUnsupported,
// and a component using it would keep a Worker of its own.
//
// program.ts adds them to components built to share a Worker (shared_workers.ts);
// benches/component_sharing.ts measures their cost.

import {
  countImports,
  readSections,
  skipImportDesc,
  skipValType,
  WasmReader,
  type WasmSection,
  WasmWriter,
  writeModule,
} from "./wasm_binary.ts";
import { INTERRUPT_MODULE, INTERRUPT_NAME } from "./protocol.ts";

/** The import every instrumented module takes: `() -> ()`. */
export { INTERRUPT_MODULE, INTERRUPT_NAME };
/** Loop iterations between two interrupt calls (in the whole module, not per loop). */
export const INTERRUPT_BUDGET = 1 << 16;

export class InterruptUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InterruptUnsupported";
  }
}

const fail = (message: string) => new InterruptUnsupported(message);
/** A reader of `b` from `pos` to `end` that reports with InterruptUnsupported. */
const reader = (b: Uint8Array, end = b.length, pos = 0) => new WasmReader(b, fail, end, pos);
type In = WasmReader;

type Out = WasmWriter;

/** Section ids in the order a module must have them (custom sections go anywhere). */
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

function blockType(r: In): void {
  const t = r.b[r.pos];
  if (t === 0x40 || (t >= 0x6f && t <= 0x7f) || t === 0x64 || t === 0x63) skipValType(r);
  else r.skipLeb();
}

function memarg(r: In): void {
  const align = r.u32();
  if (align & 0x40) r.u32();
  r.skipLeb();
}

/** Opcodes outside the numeric range 0x45-0xc4 that have no immediates. */
const NO_IMMEDIATES = new Set([
  0x00,
  0x01,
  0x05,
  0x0a,
  0x0b,
  0x0f,
  0x19,
  0x1a,
  0x1b,
  0xd1,
  0xd3,
  0xd4,
]);

/**
 * Copies the instructions of r (up to its end) into w, renumbering function indices at or
 * past `shiftFrom` by one and, when `check` is given, putting it at the top of every loop.
 */
function instructions(r: In, w: Out, shiftFrom: number, check?: Uint8Array): void {
  let copied = r.pos;
  const flush = (to: number) => {
    w.bytes(r.b.subarray(copied, to));
    copied = to;
  };
  const func = (start: number) => {
    const idx = r.u32();
    if (idx >= shiftFrom) {
      flush(start);
      w.u32(idx + 1);
      copied = r.pos;
    }
  };
  while (r.pos < r.end) {
    const op = r.byte();
    switch (op) {
      case 0x02:
      case 0x04:
      case 0x06:
        blockType(r);
        break;
      case 0x03:
        blockType(r);
        if (check) {
          flush(r.pos);
          w.bytes(check);
        }
        break;
      case 0x07:
      case 0x08:
      case 0x09:
      case 0x0c:
      case 0x0d:
      case 0x14:
      case 0x15:
      case 0x18:
      case 0x20:
      case 0x21:
      case 0x22:
      case 0x23:
      case 0x24:
      case 0x25:
      case 0x26:
      case 0x3f:
      case 0x40:
      case 0xd5:
      case 0xd6:
        r.u32();
        break;
      case 0x0e: {
        const n = r.u32();
        for (let i = 0; i <= n; i++) r.u32();
        break;
      }
      case 0x10:
      case 0x12:
      case 0xd2:
        func(r.pos);
        break;
      case 0x11:
      case 0x13:
        r.u32();
        r.u32();
        break;
      case 0x1c: {
        const n = r.u32();
        for (let i = 0; i < n; i++) skipValType(r);
        break;
      }
      case 0x1f: {
        blockType(r);
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const kind = r.byte();
          if (kind === 0 || kind === 1) r.u32();
          r.u32();
        }
        break;
      }
      case 0x41:
      case 0x42:
      case 0xd0:
        r.skipLeb();
        break;
      case 0x43:
        r.bytes(4);
        break;
      case 0x44:
        r.bytes(8);
        break;
      case 0xfc:
        prefixFC(r);
        break;
      case 0xfd:
        prefixFD(r);
        break;
      case 0xfe: {
        const sub = r.u32();
        if (sub === 0x03) r.byte();
        else memarg(r);
        break;
      }
      default:
        if (op >= 0x28 && op <= 0x3e) memarg(r);
        else if (!NO_IMMEDIATES.has(op) && !(op >= 0x45 && op <= 0xc4)) {
          throw new InterruptUnsupported(`opcode 0x${op.toString(16)} at byte ${r.pos - 1}`);
        }
    }
  }
  flush(r.end);
}

function prefixFC(r: In): void {
  const sub = r.u32();
  if (sub <= 7) return;
  switch (sub) {
    case 8:
    case 10:
    case 12:
    case 14:
      r.u32();
      r.u32();
      return;
    case 9:
    case 11:
    case 13:
    case 15:
    case 16:
    case 17:
      r.u32();
      return;
  }
  throw new InterruptUnsupported(`opcode 0xfc ${sub}`);
}

function prefixFD(r: In): void {
  const sub = r.u32();
  if (sub <= 11) memarg(r);
  else if (sub === 12 || sub === 13) r.bytes(16);
  else if (sub >= 21 && sub <= 34) r.byte();
  else if (sub >= 84 && sub <= 91) {
    memarg(r);
    r.byte();
  } else if (sub === 92 || sub === 93) memarg(r);
  else if (sub > 0x113) throw new InterruptUnsupported(`opcode 0xfd ${sub}`);
}

/** A constant expression (global init, offsets, element items): copied, functions renumbered. */
function constExpr(r: In, w: Out, shiftFrom: number): void {
  const start = r.pos;
  r.skipConstExpr();
  instructions(reader(r.b, r.pos, start), w, shiftFrom);
}

/** Copies a vec section's items with `item` (reading from r, writing to w), `extra` appended. */
function vecSection(
  body: Uint8Array | undefined,
  item: (r: In, w: Out) => void,
  extra?: (w: Out) => void,
): Uint8Array {
  const r = reader(body ?? new Uint8Array([0]));
  const n = r.u32();
  const w = new WasmWriter();
  w.u32(n + (extra ? 1 : 0));
  for (let i = 0; i < n; i++) item(r, w);
  extra?.(w);
  return w.done();
}

/** Copies the bytes item() reads. */
function raw(read: (r: In) => void): (r: In, w: Out) => void {
  return (r, w) => {
    const start = r.pos;
    read(r);
    w.bytes(r.b.subarray(start, r.pos));
  };
}

/** The module with interrupt checks on its loops; throws InterruptUnsupported if it cannot. */
export function addInterruptChecks(module: Uint8Array): Uint8Array {
  const list = readSections(module, fail);
  const find = (id: number) => list.find((s) => s.id === id);
  const imports = find(2);
  const { funcs: funcImports, globals: globalImports } = countImports(imports?.body, fail);
  const types = find(1);
  let typeCount = 0;
  if (types) {
    const r = reader(types.body);
    typeCount = r.u32();
    for (let i = 0; i < typeCount; i++) {
      if (r.byte() !== 0x60) throw new InterruptUnsupported("a type other than a function type");
      for (let k = 0; k < 2; k++) {
        const m = r.u32();
        for (let j = 0; j < m; j++) skipValType(r);
      }
    }
  }
  const globals = find(6);
  const definedGlobals = globals ? reader(globals.body).u32() : 0;
  const shift = funcImports; // the new import's index; defined functions move past it
  const budget = globalImports + definedGlobals;

  // the check at the top of each loop: when the countdown is out, refill it and call the import
  const c = new WasmWriter();
  c.byte(0x23), c.u32(budget); // global.get
  c.byte(0x45); // i32.eqz
  c.byte(0x04), c.byte(0x40); // if
  c.byte(0x41), c.s32(INTERRUPT_BUDGET), c.byte(0x24), c.u32(budget); // i32.const; global.set
  c.byte(0x10), c.u32(shift); // call interrupt
  c.byte(0x0b); // end
  c.byte(0x23), c.u32(budget), c.byte(0x41), c.s32(1), c.byte(0x6b), c.byte(0x24), c.u32(budget);
  const check = c.done();

  const rebuilt = new Map<number, Uint8Array>();
  rebuilt.set(
    1,
    vecSection(
      types?.body,
      raw((r) => {
        r.byte();
        for (let k = 0; k < 2; k++) {
          const m = r.u32();
          for (let j = 0; j < m; j++) skipValType(r);
        }
      }),
      (w) => {
        w.byte(0x60), w.u32(0), w.u32(0);
      },
    ),
  );
  rebuilt.set(
    2,
    vecSection(
      imports?.body,
      raw((r) => {
        r.name();
        r.name();
        skipImportDesc(r, countImports(undefined, fail), fail);
      }),
      (w) => {
        w.str(INTERRUPT_MODULE), w.str(INTERRUPT_NAME), w.byte(0x00), w.u32(typeCount);
      },
    ),
  );
  rebuilt.set(
    6,
    vecSection(globals?.body, (r, w) => {
      const start = r.pos;
      skipValType(r);
      r.byte();
      w.bytes(r.b.subarray(start, r.pos));
      constExpr(r, w, shift);
    }, (w) => {
      w.byte(0x7f), w.byte(0x01), w.byte(0x41), w.s32(INTERRUPT_BUDGET), w.byte(0x0b);
    }),
  );
  const exports = find(7);
  if (exports) {
    rebuilt.set(
      7,
      vecSection(exports.body, (r, w) => {
        const start = r.pos;
        r.name();
        const kind = r.byte();
        w.bytes(r.b.subarray(start, r.pos));
        const idx = r.u32();
        w.u32(kind === 0x00 && idx >= shift ? idx + 1 : idx);
      }),
    );
  }
  const start = find(8);
  if (start) {
    const idx = reader(start.body).u32();
    const w = new WasmWriter();
    w.u32(idx >= shift ? idx + 1 : idx);
    rebuilt.set(8, w.done());
  }
  const elements = find(9);
  if (elements) rebuilt.set(9, vecSection(elements.body, (r, w) => element(r, w, shift)));
  const code = find(10);
  if (code) {
    rebuilt.set(
      10,
      vecSection(code.body, (r, w) => {
        const size = r.u32();
        const end = r.pos + size;
        const body = new WasmWriter();
        const locals = reader(r.b, end, r.pos);
        const groups = locals.u32();
        for (let i = 0; i < groups; i++) {
          locals.u32();
          skipValType(locals);
        }
        body.bytes(r.b.subarray(r.pos, locals.pos));
        instructions(locals, body, shift, check);
        const out = body.done();
        w.u32(out.length);
        w.bytes(out);
        r.pos = end;
      }),
    );
  }

  const out: WasmSection[] = [];
  const written = new Set<number>();
  // sections this adds where the module had none go in their place in ORDER
  const addMissingBefore = (id: number) => {
    for (const want of ORDER) {
      if (want === id) return;
      if (!written.has(want) && rebuilt.has(want) && !find(want)) {
        out.push({ id: want, body: rebuilt.get(want)! });
        written.add(want);
      }
    }
  };
  for (const s of list) {
    if (s.id === 0) {
      out.push({ id: 0, body: customSection(s.body, shift) });
      continue;
    }
    addMissingBefore(s.id);
    out.push({ id: s.id, body: rebuilt.get(s.id) ?? s.body });
    written.add(s.id);
  }
  addMissingBefore(-1);
  return writeModule(out);
}

function element(r: In, w: Out, shift: number): void {
  const flags = r.u32();
  w.u32(flags);
  const copy = (read: () => void) => {
    const start = r.pos;
    read();
    w.bytes(r.b.subarray(start, r.pos));
  };
  if (flags === 2 || flags === 6) copy(() => r.u32());
  if ((flags & 1) === 0) constExpr(r, w, shift);
  if (flags & 4) {
    if (flags !== 4) copy(() => skipValType(r));
    const n = r.u32();
    w.u32(n);
    for (let i = 0; i < n; i++) constExpr(r, w, shift);
  } else {
    if (flags !== 0) copy(() => r.byte());
    const n = r.u32();
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const idx = r.u32();
      w.u32(idx >= shift ? idx + 1 : idx);
    }
  }
}

/** The name section with its function indices renumbered; other custom sections as they are. */
function customSection(body: Uint8Array, shift: number): Uint8Array {
  const r = reader(body);
  const nameLen = r.u32();
  const name = new TextDecoder().decode(body.subarray(r.pos, r.pos + nameLen));
  r.bytes(nameLen);
  if (name !== "name") return body;
  const w = new WasmWriter();
  w.bytes(body.subarray(0, r.pos));
  const fix = (idx: number) => (idx >= shift ? idx + 1 : idx);
  while (r.pos < body.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    const sub = new WasmWriter();
    if (id >= 1 && id <= 3) {
      // function names (1), and local (2) and label (3) names: maps by function index, of a
      // name or of a map of names
      const n = reader(body, end, r.pos);
      const count = n.u32();
      sub.u32(count);
      for (let i = 0; i < count; i++) {
        sub.u32(fix(n.u32()));
        const s = n.pos;
        if (id === 1) n.name();
        else {
          const inner = n.u32();
          for (let j = 0; j < inner; j++) {
            n.u32();
            n.name();
          }
        }
        sub.bytes(body.subarray(s, n.pos));
      }
    } else sub.bytes(body.subarray(r.pos, end));
    r.pos = end;
    const out = sub.done();
    w.byte(id);
    w.u32(out.length);
    w.bytes(out);
  }
  return w.done();
}
