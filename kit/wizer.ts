// A deterministic stand-in for the `wizer` binary that componentize-js runs (its `wizerBin`
// option): pre-initializes a core module by instantiating it, calling `_initialize` and the init
// function, and writing a module whose memory and globals start as the instance left them.
//
// Why: wizer gives the module real WASI during initialization (the wall and monotonic clocks,
// random bytes, the whole host environment, the random temporary directory componentize-js
// works in), and StarlingMonkey's heap after init depends on all of them, so two builds of the
// same source never had the same bytes. Here the module sees one fixed world: clocks that advance
// by a fixed step per call, a fixed random stream, only the environment componentize-js sets for
// it, and its working directory under a fixed name. Same inputs, same output, on any machine.
//
// Command line (wizer's, as componentize-js calls it; the runtime arguments come on stdin):
//   wizer.ts --allow-wasi --init-func <name> --dir=<host> --mapdir=<guest>::<host>
//            --wasm-bulk-memory=true --inherit-env=true -o=<out.wasm> <in.wasm>

import { callInFreshFrames, freeImportArguments } from "./bindings.ts";
import {
  countImports,
  nameBytes,
  readSections,
  sleb,
  uleb,
  WasmReader,
  type WasmSection,
  writeModule,
} from "../kernel/process_host/wasm_binary.ts";

/** The guest path the working directory appears under, whatever its host path. */
export const VIRTUAL_DIR = "/componentize/sources";
/** Environment variables componentize-js sets for the initializer; nothing else is passed on. */
const ENV_NAMES =
  /^(DEBUG|SOURCE_NAME|FEATURE_CLOCKS|EXPORT_CNT|IMPORT_CNT|EXPORT\d+_[A-Z]+|IMPORT\d+_[A-Z]+)$/;
/** The wall clock the module sees at its first reading: 2023-06-19T00:00:00Z, kit's zip date. */
const WALL_START = 1_687_132_800_000_000_000n;
/** Every clock reading is this much later than the one before (1 ms). */
const CLOCK_STEP = 1_000_000n;

// ---------------------------------------------------------------------------------------------
// The module: sections, and the few we read and rewrite

const malformed = (message: string) => new Error(`wizer: ${message}`);
/** A reader of a module's bytes (or a section's) that reports errors as wizer's. */
const reader = (b: Uint8Array) => new WasmReader(b, malformed);

type Section = WasmSection;

interface Global {
  valtype: number;
  mutable: boolean;
  /** The initializer expression, `end` included. */
  init: Uint8Array;
}

function readGlobals(body: Uint8Array): Global[] {
  const r = reader(body);
  const n = r.u32();
  const out: Global[] = [];
  for (let i = 0; i < n; i++) {
    const valtype = r.byte();
    const mutable = r.byte() === 1;
    const start = r.pos;
    r.skipConstExpr();
    out.push({ valtype, mutable, init: body.subarray(start, r.pos) });
  }
  return out;
}

interface Export {
  name: string;
  kind: number;
  index: number;
}

function readExports(body: Uint8Array): Export[] {
  const r = reader(body);
  const n = r.u32();
  const out: Export[] = [];
  for (let i = 0; i < n; i++) out.push({ name: r.name(), kind: r.byte(), index: r.u32() });
  return out;
}

function exportSection(exports: Export[]): Uint8Array {
  const b: number[] = [...uleb(exports.length)];
  for (const e of exports) b.push(...nameBytes(e.name), e.kind, ...uleb(e.index));
  return new Uint8Array(b);
}

/** Checks the module's data segments are all active ones (they are replaced by the snapshot). */
function checkDataSegments(body: Uint8Array): void {
  const r = reader(body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    if (flags === 1) throw new Error("wizer: passive data segments are not supported");
    if (flags === 2) r.u32();
    else if (flags !== 0) throw new Error(`wizer: unknown data segment kind ${flags}`);
    r.skipConstExpr();
    r.bytes(r.u32());
  }
}

// ---------------------------------------------------------------------------------------------
// A deterministic WASI preview 1, for the initialization only

const ERRNO = {
  SUCCESS: 0,
  ACCES: 2,
  BADF: 8,
  INVAL: 28,
  ISDIR: 31,
  NOENT: 44,
  NOSYS: 52,
  NOTDIR: 54,
  NOTSUP: 58,
} as const;
const FILETYPE = { CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4 } as const;

/** Thrown by proc_exit: initialization ended the program. */
class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`the module exited with code ${code} during initialization`);
  }
}

type Fd =
  | { kind: "stdio"; n: number }
  | { kind: "dir"; host: string; guest?: string }
  | { kind: "file"; data: Uint8Array; pos: number };

/** A fixed random stream: xorshift64* from a constant seed. */
function randomStream(): (n: number) => Uint8Array {
  let s = 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) {
      s ^= s >> 12n;
      s ^= (s << 25n) & mask;
      s ^= s >> 27n;
      let v = (s * 0x2545f4914f6cdd1dn) & mask;
      for (let j = 0; j < 8 && i + j < n; j++) {
        out[i + j] = Number(v & 0xffn);
        v >>= 8n;
      }
    }
    return out;
  };
}

interface WasiSetup {
  stdin: Uint8Array;
  env: [string, string][];
  /** Preopened directories, in fd order from 3: guest path -> host path. */
  preopens: [string, string][];
  /** The module's stdout and stderr (both go here). */
  output: (bytes: Uint8Array) => void;
}

function makeWasi(setup: WasiSetup, memory: () => WebAssembly.Memory) {
  const fds = new Map<number, Fd>([
    [0, { kind: "stdio", n: 0 }],
    [1, { kind: "stdio", n: 1 }],
    [2, { kind: "stdio", n: 2 }],
  ]);
  setup.preopens.forEach(([guest, host], i) => fds.set(3 + i, { kind: "dir", host, guest }));
  let nextFd = 3 + setup.preopens.length;
  let stdinPos = 0;
  let clock = 0n;
  const random = randomStream();
  const view = () => new DataView(memory().buffer);
  const bytes = () => new Uint8Array(memory().buffer);
  const enc = new TextEncoder();
  const str = (ptr: number, len: number) =>
    new TextDecoder().decode(bytes().subarray(ptr, ptr + len));
  const envStrings = setup.env.map(([k, v]) => enc.encode(`${k}=${v}\0`));

  /** A path under a directory fd, on the host; undefined when it would leave the directory. */
  const resolve = (dirFd: number, path: string): string | undefined => {
    const dir = fds.get(dirFd);
    if (!dir || dir.kind !== "dir") return undefined;
    const parts: string[] = [];
    for (const p of path.split("/")) {
      if (p === "" || p === ".") continue;
      if (p === "..") {
        if (!parts.length) return undefined;
        parts.pop();
      } else parts.push(p);
    }
    return [dir.host, ...parts].join("/");
  };
  const stat = (host: string): Deno.FileInfo | undefined => {
    try {
      return Deno.statSync(host);
    } catch {
      return undefined;
    }
  };
  const iovecs = (ptr: number, len: number): [number, number][] => {
    const v = view();
    const out: [number, number][] = [];
    for (let i = 0; i < len; i++) {
      out.push([v.getUint32(ptr + i * 8, true), v.getUint32(ptr + i * 8 + 4, true)]);
    }
    return out;
  };
  const readInto = (src: Uint8Array, from: number, iovs: [number, number][]): number => {
    let n = 0;
    const mem = bytes();
    for (const [buf, len] of iovs) {
      const chunk = src.subarray(from + n, from + n + len);
      mem.set(chunk, buf);
      n += chunk.length;
      if (chunk.length < len) break;
    }
    return n;
  };

  return {
    args_sizes_get(argc: number, bufSize: number) {
      view().setUint32(argc, 0, true);
      view().setUint32(bufSize, 0, true);
      return ERRNO.SUCCESS;
    },
    args_get() {
      return ERRNO.SUCCESS;
    },
    environ_sizes_get(count: number, bufSize: number) {
      view().setUint32(count, envStrings.length, true);
      view().setUint32(bufSize, envStrings.reduce((n, s) => n + s.length, 0), true);
      return ERRNO.SUCCESS;
    },
    environ_get(ptrs: number, buf: number) {
      let off = buf;
      envStrings.forEach((s, i) => {
        view().setUint32(ptrs + i * 4, off, true);
        bytes().set(s, off);
        off += s.length;
      });
      return ERRNO.SUCCESS;
    },
    clock_time_get(id: number, _precision: bigint, out: number) {
      clock += CLOCK_STEP;
      // realtime (0) from kit's zip date; the monotonic and CPU clocks from zero
      view().setBigUint64(out, id === 0 ? WALL_START + clock : clock, true);
      return ERRNO.SUCCESS;
    },
    random_get(buf: number, len: number) {
      bytes().set(random(len), buf);
      return ERRNO.SUCCESS;
    },
    fd_write(fd: number, iovs: number, iovsLen: number, nwritten: number) {
      const f = fds.get(fd);
      if (!f || f.kind !== "stdio" || fd === 0) return ERRNO.BADF;
      let n = 0;
      for (const [buf, len] of iovecs(iovs, iovsLen)) {
        setup.output(bytes().slice(buf, buf + len));
        n += len;
      }
      view().setUint32(nwritten, n, true);
      return ERRNO.SUCCESS;
    },
    fd_read(fd: number, iovs: number, iovsLen: number, nread: number) {
      const f = fds.get(fd);
      if (!f) return ERRNO.BADF;
      let n: number;
      if (f.kind === "stdio" && fd === 0) {
        n = readInto(setup.stdin, stdinPos, iovecs(iovs, iovsLen));
        stdinPos += n;
      } else if (f.kind === "file") {
        n = readInto(f.data, f.pos, iovecs(iovs, iovsLen));
        f.pos += n;
      } else return f.kind === "dir" ? ERRNO.ISDIR : ERRNO.BADF;
      view().setUint32(nread, n, true);
      return ERRNO.SUCCESS;
    },
    fd_seek(fd: number, offset: bigint, whence: number, out: number) {
      const f = fds.get(fd);
      if (!f || f.kind !== "file") return f ? ERRNO.INVAL : ERRNO.BADF;
      const base = whence === 0 ? 0 : whence === 1 ? f.pos : whence === 2 ? f.data.length : NaN;
      const pos = base + Number(offset);
      if (!(pos >= 0)) return ERRNO.INVAL;
      f.pos = pos;
      view().setBigUint64(out, BigInt(pos), true);
      return ERRNO.SUCCESS;
    },
    fd_close(fd: number) {
      if (!fds.has(fd)) return ERRNO.BADF;
      fds.delete(fd);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_get(fd: number, out: number) {
      const f = fds.get(fd);
      if (!f) return ERRNO.BADF;
      const v = view();
      v.setUint8(
        out,
        f.kind === "stdio"
          ? FILETYPE.CHARACTER_DEVICE
          : f.kind === "dir"
          ? FILETYPE.DIRECTORY
          : FILETYPE.REGULAR_FILE,
      );
      v.setUint16(out + 2, 0, true);
      v.setBigUint64(out + 8, 0x1fffffffn, true);
      v.setBigUint64(out + 16, 0x1fffffffn, true);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_set_flags(fd: number) {
      return fds.has(fd) ? ERRNO.SUCCESS : ERRNO.BADF;
    },
    fd_prestat_get(fd: number, out: number) {
      const f = fds.get(fd);
      if (!f || f.kind !== "dir" || f.guest === undefined) return ERRNO.BADF;
      view().setUint8(out, 0);
      view().setUint32(out + 4, enc.encode(f.guest).length, true);
      return ERRNO.SUCCESS;
    },
    fd_prestat_dir_name(fd: number, ptr: number, len: number) {
      const f = fds.get(fd);
      if (!f || f.kind !== "dir" || f.guest === undefined) return ERRNO.BADF;
      bytes().set(enc.encode(f.guest).subarray(0, len), ptr);
      return ERRNO.SUCCESS;
    },
    fd_readdir() {
      return ERRNO.NOTSUP;
    },
    path_filestat_get(fd: number, _flags: number, ptr: number, len: number, out: number) {
      const host = resolve(fd, str(ptr, len));
      if (host === undefined) return ERRNO.ACCES;
      const info = stat(host);
      if (!info) return ERRNO.NOENT;
      const v = view();
      // no device, inode or times: the same on every machine
      for (let i = 0; i < 64; i += 8) v.setBigUint64(out + i, 0n, true);
      v.setUint8(out + 16, info.isDirectory ? FILETYPE.DIRECTORY : FILETYPE.REGULAR_FILE);
      v.setBigUint64(out + 24, 1n, true);
      v.setBigUint64(out + 32, BigInt(info.isDirectory ? 0 : info.size), true);
      return ERRNO.SUCCESS;
    },
    path_open(
      fd: number,
      _dirflags: number,
      ptr: number,
      len: number,
      oflags: number,
      _rightsBase: bigint,
      _rightsInheriting: bigint,
      _fdflags: number,
      out: number,
    ) {
      const host = resolve(fd, str(ptr, len));
      if (host === undefined) return ERRNO.ACCES;
      // creating or truncating (O_CREAT 1, O_EXCL 4, O_TRUNC 8): this world is read-only
      if (oflags & (1 | 4 | 8)) return ERRNO.ACCES;
      const info = stat(host);
      if (!info) return ERRNO.NOENT;
      let entry: Fd;
      if (info.isDirectory) entry = { kind: "dir", host };
      else if (oflags & 2) return ERRNO.NOTDIR; // O_DIRECTORY
      else entry = { kind: "file", data: Deno.readFileSync(host), pos: 0 };
      const n = nextFd++;
      fds.set(n, entry);
      view().setUint32(out, n, true);
      return ERRNO.SUCCESS;
    },
    path_remove_directory() {
      return ERRNO.ACCES;
    },
    path_unlink_file() {
      return ERRNO.ACCES;
    },
    proc_exit(code: number): never {
      throw new ProcExit(code);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Pre-initialization

export interface PreinitOptions {
  /** The export to run after `_initialize`. */
  initFunc: string;
  stdin?: Uint8Array;
  env?: [string, string][];
  /** Preopened directories, guest path -> host path, in fd order. */
  preopens?: [string, string][];
  /** Where the module's stdout/stderr go (default: this process's stderr). */
  output?: (bytes: Uint8Array) => void;
}

/** Runs the module's initialization and returns the module as it stands after it. */
export async function preinitialize(input: Uint8Array, opts: PreinitOptions): Promise<Uint8Array> {
  const sections = readSections(input, malformed);
  const find = (id: number) => sections.find((s) => s.id === id);
  const imported = countImports(find(2)?.body, malformed);
  if (imported.memories) throw new Error("wizer: the module may not import its memory");
  const globals = find(6) ? readGlobals(find(6)!.body) : [];
  const exports = find(7) ? readExports(find(7)!.body) : [];
  const memSection = find(5);
  if (!memSection) throw new Error("wizer: the module has no memory");
  if (find(11)) checkDataSegments(find(11)!.body);
  for (const g of globals) {
    if (
      g.mutable && g.valtype !== 0x7f && g.valtype !== 0x7e && g.valtype !== 0x7d &&
      g.valtype !== 0x7c
    ) {
      throw new Error("wizer: only i32, i64, f32 and f64 mutable globals can be snapshotted");
    }
  }

  // instrumented: every mutable global and the memory exported, so the snapshot can read them
  const probe = [...exports];
  globals.forEach((g, i) => {
    if (g.mutable) {
      probe.push({ name: `__wizer_global_${i}`, kind: 0x03, index: imported.globals + i });
    }
  });
  if (!exports.some((e) => e.kind === 0x02)) {
    probe.push({ name: "__wizer_memory", kind: 0x02, index: 0 });
  }
  const instrumented = writeModule(
    sections.map((s) => (s.id === 7 ? { id: 7, body: exportSection(probe) } : s)),
  );
  const module = await WebAssembly.compile(instrumented);
  const live: { memory?: WebAssembly.Memory } = {};
  const wasi = makeWasi(
    {
      stdin: opts.stdin ?? new Uint8Array(0),
      env: opts.env ?? [],
      preopens: opts.preopens ?? [],
      output: opts.output ?? ((b) => Deno.stderr.writeSync(b)),
    },
    () => live.memory!,
  );
  const imports: Record<string, Record<string, unknown>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    const ns = (imports[imp.module] ??= {});
    if (imp.kind !== "function") {
      throw new Error(`wizer: cannot provide import ${imp.module}.${imp.name}`);
    }
    const fn = imp.module === "wasi_snapshot_preview1"
      ? (wasi as Record<string, unknown>)[imp.name]
      : undefined;
    ns[imp.name] = fn ?? (() => {
      throw new Error(`wizer: ${imp.module}.${imp.name} called during initialization`);
    });
  }
  const instance = await WebAssembly.instantiate(module, imports as WebAssembly.Imports);
  const ex = instance.exports as Record<string, unknown>;
  const memExport = probe.find((e) => e.kind === 0x02)!;
  const memory = ex[memExport.name] as WebAssembly.Memory;
  live.memory = memory;
  try {
    if (typeof ex._initialize === "function") (ex._initialize as () => void)();
    const init = ex[opts.initFunc];
    if (typeof init !== "function") throw new Error(`wizer: no export ${opts.initFunc}`);
    (init as () => void)();
  } catch (e) {
    if (e instanceof ProcExit && e.code === 0) { /* an exit(0) ends initialization */ }
    else throw new Error(`the \`${opts.initFunc}\` function trapped\n\nCaused by:\n    ${e}`);
  }

  // the snapshot: globals' values, the memory's size and contents
  const newGlobals = globals.map((g, i) => {
    if (!g.mutable) return g;
    const value = (ex[`__wizer_global_${i}`] as WebAssembly.Global).value;
    let init: number[];
    if (g.valtype === 0x7f) init = [0x41, ...sleb(value as number)];
    else if (g.valtype === 0x7e) init = [0x42, ...sleb(value as bigint)];
    else {
      const size = g.valtype === 0x7d ? 4 : 8;
      const v = new DataView(new ArrayBuffer(size));
      if (size === 4) v.setFloat32(0, value as number, true);
      else v.setFloat64(0, value as number, true);
      init = [g.valtype === 0x7d ? 0x43 : 0x44, ...new Uint8Array(v.buffer)];
    }
    return { ...g, init: new Uint8Array([...init, 0x0b]) };
  });
  const mem = new Uint8Array(memory.buffer);
  const pages = mem.length / 65536;
  const segments = dataSegments(mem);

  const out: Section[] = [];
  for (const s of sections) {
    if (s.id === 8) continue; // start: already run
    if (s.id === 5) out.push({ id: 5, body: memorySection(s.body, pages) });
    else if (s.id === 6) out.push({ id: 6, body: globalSection(newGlobals) });
    else if (s.id === 7) {
      const kept = exports.filter((e) => e.name !== "_initialize" && e.name !== opts.initFunc);
      out.push({ id: 7, body: exportSection(kept) });
    } else if (s.id === 12) out.push({ id: 12, body: new Uint8Array(uleb(segments.length)) });
    else if (s.id === 11) out.push({ id: 11, body: dataSection(mem, segments) });
    else out.push(s);
  }
  if (!find(11)) {
    // the data section goes after the code section (and before custom sections that follow it)
    const code = out.findIndex((s) => s.id === 10);
    out.splice(code + 1, 0, { id: 11, body: dataSection(mem, segments) });
  }
  return writeModule(out);
}

function memorySection(body: Uint8Array, pages: number): Uint8Array {
  const r = reader(body);
  if (r.u32() !== 1) throw new Error("wizer: exactly one memory is supported");
  const flags = r.byte();
  if (flags & ~1) throw new Error("wizer: shared and 64-bit memories are not supported");
  const min = r.u32();
  const max = flags & 1 ? r.u32() : undefined;
  return new Uint8Array([
    1,
    flags,
    ...uleb(Math.max(min, pages)),
    ...(max === undefined ? [] : uleb(max)),
  ]);
}

function globalSection(globals: Global[]): Uint8Array {
  const b: number[] = [...uleb(globals.length)];
  for (const g of globals) b.push(g.valtype, g.mutable ? 1 : 0, ...g.init);
  return new Uint8Array(b);
}

/** The memory's non-zero runs, runs closer than `gap` zero bytes merged, at most 10,000. */
function dataSegments(mem: Uint8Array): [number, number][] {
  for (let gap = 16;; gap *= 2) {
    const out: [number, number][] = [];
    let i = 0;
    while (i < mem.length) {
      while (i < mem.length && mem[i] === 0) i++;
      if (i >= mem.length) break;
      const start = i;
      let end = i;
      let zeros = 0;
      while (i < mem.length && zeros < gap) {
        if (mem[i] === 0) zeros++;
        else {
          zeros = 0;
          end = i + 1;
        }
        i++;
      }
      out.push([start, end]);
      i = end;
    }
    if (out.length <= 10_000) return out;
  }
}

function dataSection(mem: Uint8Array, segments: [number, number][]): Uint8Array {
  const head: number[] = [...uleb(segments.length)];
  let size = head.length;
  const prefixes = segments.map(([s, e]) => {
    const p = new Uint8Array([0x00, 0x41, ...sleb(s | 0), 0x0b, ...uleb(e - s)]);
    size += p.length + (e - s);
    return p;
  });
  const out = new Uint8Array(size);
  out.set(head, 0);
  let off = head.length;
  segments.forEach(([s, e], i) => {
    out.set(prefixes[i], off);
    off += prefixes[i].length;
    out.set(mem.subarray(s, e), off);
    off += e - s;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// wizer's command line

function fail(message: string): never {
  console.error(`Error: ${message}`);
  Deno.exit(1);
}

async function readAll(r: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(r).arrayBuffer());
}

if (import.meta.main) {
  let initFunc = "wizer.initialize";
  let output: string | undefined;
  let input: string | undefined;
  const dirs: string[] = [];
  const mapdirs: [string, string][] = [];
  const args = [...Deno.args];
  while (args.length) {
    const a = args.shift()!;
    const [flag, inline] = a.startsWith("--") || a.startsWith("-o") ? a.split(/=(.*)/s, 2) : [a];
    const value = () => inline ?? args.shift() ?? fail(`${flag} needs a value`);
    if (flag === "--allow-wasi") continue;
    else if (flag === "--init-func" || flag === "-f") initFunc = value();
    else if (flag === "--dir") dirs.push(value());
    else if (flag === "--mapdir") {
      const [guest, host] = value().split("::");
      mapdirs.push([guest, host]);
    } else if (flag === "-o" || flag === "--output") output = value();
    else if (
      ["--wasm-bulk-memory", "--inherit-env", "--inherit-stdio", "--keep-init-func"].includes(flag)
    ) {
      value();
    } else if (flag.startsWith("-")) fail(`unsupported flag ${flag}`);
    else input = a;
  }
  if (!input || !output) fail("usage: wizer.ts [options] -o <out.wasm> <in.wasm>");
  // the working directory (componentize-js's random temporary one) under a fixed name
  const hostDirs = [...dirs, ...mapdirs.map(([, h]) => h)];
  const virtual = (s: string) =>
    hostDirs.reduce((t, h) => t.replaceAll(h.replace(/\/$/, ""), VIRTUAL_DIR), s);
  const hostStdin = new TextDecoder().decode(await readAll(Deno.stdin.readable));
  const stdin = virtual(hostStdin);
  const env = Object.entries(Deno.env.toObject())
    .filter(([k]) => ENV_NAMES.test(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  try {
    // the bindings componentize-js wrote, with each import call's arguments freed and the
    // process API bound (kit/bindings.ts)
    const bindings = /--initializer-script-path (\S+)/.exec(hostStdin)?.[1];
    if (bindings) {
      const results = env.filter(([k]) => /^EXPORT\d+_RET$/.test(k)).map(([, v]) => v);
      let js = await Deno.readTextFile(bindings);
      // componentize-js shows this program's output only when it fails: bindings of a shape
      // this does not know (another componentize-js) fail the build rather than make a
      // component that slows down with every message
      const freed = freeImportArguments(js, results);
      if ("unknown" in freed) fail(`kit/bindings.ts: ${freed.unknown}`);
      const bound = callInFreshFrames(freed.js);
      if ("unknown" in bound) fail(`kit/bindings.ts: ${bound.unknown}`);
      js = bound.js;
      await Deno.writeTextFile(bindings, js);
    }
    const result = await preinitialize(await Deno.readFile(input), {
      initFunc,
      stdin: new TextEncoder().encode(stdin),
      env,
      preopens: [...dirs.map((d): [string, string] => [virtual(d), d]), ...mapdirs],
    });
    await Deno.writeFile(output, result);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}
