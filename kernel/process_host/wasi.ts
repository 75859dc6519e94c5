// WASI 0.2 imports served to process components, inside the process's Worker.
//
// Served: cli (environment empty, exit, stdio -> terminal print, terminal-* as
// "not a terminal"), clocks, random, io, and a filesystem whose only preopen is
// the package's tmp drive. The Worker's Deno permissions allow that directory
// alone, so the OS refuses anything else even if a path check here were wrong.

/** Interfaces we serve, by name without version. */
export const SERVED_WASI_INTERFACES = new Set([
  "wasi:cli/environment",
  "wasi:cli/exit",
  "wasi:cli/stdin",
  "wasi:cli/stdout",
  "wasi:cli/stderr",
  "wasi:cli/terminal-input",
  "wasi:cli/terminal-output",
  "wasi:cli/terminal-stdin",
  "wasi:cli/terminal-stdout",
  "wasi:cli/terminal-stderr",
  "wasi:clocks/monotonic-clock",
  "wasi:clocks/wall-clock",
  "wasi:filesystem/preopens",
  "wasi:filesystem/types",
  "wasi:io/error",
  "wasi:io/poll",
  "wasi:io/streams",
  "wasi:random/random",
  "wasi:random/insecure",
  "wasi:random/insecure-seed",
]);

/** Thrown by wasi:cli/exit; ends the process like a trap. */
export class ProcessExit extends Error {
  constructor(readonly ok: boolean) {
    super(`process called wasi:cli/exit with ${ok ? "success" : "failure"}`);
    this.name = "ProcessExit";
  }
}

/** Thrown inside a worker the kernel is stopping, to unwind whatever it runs. */
export class WorkerStopped extends Error {
  constructor() {
    super("process stopped by the kernel");
    this.name = "WorkerStopped";
  }
}

/**
 * A process's stop flag: word 1 of its signal (word 0 is its wake counter), set by the
 * kernel. A process alone in its Worker closes the Worker when it sees it; one sharing a
 * Worker with others (a component run with suspending imports) only unwinds.
 */
export class StopSignal {
  constructor(readonly words: Int32Array, private readonly closesWorker: boolean) {}

  get stopped(): boolean {
    return Atomics.load(this.words, 1) !== 0;
  }

  throwIfStopped() {
    if (!this.stopped) return;
    if (this.closesWorker) (self as unknown as { close(): void }).close();
    throw new WorkerStopped();
  }

  /** Sleeps on the stop flag, so stopping the process cuts the sleep short. */
  sleep(ms: number) {
    if (ms > 0) Atomics.wait(this.words, 1, 0, ms);
    this.throwIfStopped();
  }

  /** As sleep(), letting the other processes of the Worker run meanwhile. */
  async sleepAsync(ms: number) {
    if (ms > 0) {
      const r = Atomics.waitAsync(this.words, 1, 0, ms);
      if (r.async) await r.value;
    }
    this.throwIfStopped();
  }
}

/** Whose stop flag the sleeps below watch: one per imports object (makeWasiImports). */
interface Sleeper {
  stop: StopSignal;
  suspends: boolean;
}

function sleepNs(s: Sleeper, ns: bigint): void | Promise<void> {
  const ms = ns <= 0n ? 0 : Number(ns) / 1e6;
  return s.suspends ? s.stop.sleepAsync(ms) : s.stop.sleep(ms);
}

class IoError {
  constructor(private readonly msg: string) {}
  toDebugString(): string {
    return this.msg;
  }
}

class Pollable {
  /** Streams' pollables are always ready: only clocks' have a deadline, and a sleeper. */
  constructor(private readonly deadlineNs?: bigint, private readonly sleeper?: Sleeper) {}
  ready(): boolean {
    return this.deadlineNs === undefined || monotonicNow() >= this.deadlineNs;
  }
  block(): void | Promise<void> {
    if (this.deadlineNs !== undefined && this.sleeper) {
      return sleepNs(this.sleeper, this.deadlineNs - monotonicNow());
    }
  }
}

function monotonicNow(): bigint {
  return BigInt(Math.round(performance.now() * 1e6));
}

const closed = { tag: "closed" };

class InputStream {
  constructor(
    private readonly readChunk?: (len: number) => Uint8Array | undefined,
  ) {}
  read(len: bigint): Uint8Array {
    const chunk = this.readChunk?.(Number(len));
    if (chunk === undefined) throw closed;
    return chunk;
  }
  blockingRead(len: bigint): Uint8Array {
    return this.read(len);
  }
  skip(len: bigint): bigint {
    return BigInt(this.read(len).length);
  }
  blockingSkip(len: bigint): bigint {
    return this.skip(len);
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}

class OutputStream {
  constructor(private readonly sink: (bytes: Uint8Array) => void) {}
  checkWrite(): bigint {
    return 1n << 20n;
  }
  write(bytes: Uint8Array): void {
    this.sink(bytes);
  }
  blockingWriteAndFlush(bytes: Uint8Array): void {
    this.sink(bytes);
  }
  flush(): void {}
  blockingFlush(): void {}
  writeZeroes(len: bigint): void {
    this.sink(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len: bigint): void {
    this.writeZeroes(len);
  }
  splice(src: InputStream, len: bigint): bigint {
    const b = src.read(len);
    this.sink(b);
    return BigInt(b.length);
  }
  blockingSplice(src: InputStream, len: bigint): bigint {
    return this.splice(src, len);
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}

/** Line-buffers a byte stream and hands complete lines to `emit`. */
function lineSink(emit: (line: string) => void): (bytes: Uint8Array) => void {
  const decoder = new TextDecoder();
  let pending = "";
  return (bytes) => {
    pending += decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      emit(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    if (pending.length > 4096) {
      emit(pending);
      pending = "";
    }
  };
}

// ---------------------------------------------------------------------------
// Filesystem, rooted at one directory.

type ErrorCode = string;

function fsErrorCode(e: unknown): ErrorCode {
  if (e instanceof Deno.errors.NotFound) return "no-entry";
  if (e instanceof Deno.errors.AlreadyExists) return "exist";
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return "access";
  }
  if (e instanceof Deno.errors.IsADirectory) return "is-directory";
  if (e instanceof Deno.errors.NotADirectory) return "not-directory";
  if (e instanceof Error && /not empty/i.test(e.message)) return "not-empty";
  if (typeof e === "string") return e;
  return "io";
}

function wrapFs<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fsErrorCode(e);
  }
}

/** Joins a relative WASI path under `base`, refusing anything that leaves `root`. */
function resolveUnder(root: string, base: string, path: string): string {
  if (path.startsWith("/") || path.includes("\0")) throw "not-permitted";
  const rel = base.slice(root.length).split("/").filter((s) => s.length > 0);
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (rel.length === 0) throw "not-permitted";
      rel.pop();
    } else rel.push(seg);
  }
  return rel.length ? `${root}/${rel.join("/")}` : root;
}

function toDatetime(d: Date | null) {
  if (!d) return undefined;
  const ms = d.getTime();
  return {
    seconds: BigInt(Math.floor(ms / 1000)),
    nanoseconds: (ms % 1000) * 1e6,
  };
}

function descriptorType(info: Deno.FileInfo): string {
  if (info.isFile) return "regular-file";
  if (info.isDirectory) return "directory";
  if (info.isSymlink) return "symbolic-link";
  return "unknown";
}

function toStat(info: Deno.FileInfo) {
  return {
    type: descriptorType(info),
    linkCount: BigInt(info.nlink ?? 1),
    size: BigInt(info.size),
    dataAccessTimestamp: toDatetime(info.atime),
    dataModificationTimestamp: toDatetime(info.mtime),
    statusChangeTimestamp: toDatetime(info.ctime ?? info.mtime),
  };
}

class Descriptor {
  constructor(
    private readonly root: string,
    private readonly path: string,
    private readonly file?: Deno.FsFile,
    private readonly flags: { read?: boolean; write?: boolean } = { read: true },
  ) {}

  private requireFile(): Deno.FsFile {
    if (!this.file) throw "is-directory";
    return this.file;
  }

  readViaStream(offset: bigint): InputStream {
    const file = this.requireFile();
    let pos = Number(offset);
    return new InputStream((len) => {
      const buf = new Uint8Array(Math.min(len, 1 << 20));
      file.seekSync(pos, Deno.SeekMode.Start);
      const n = file.readSync(buf);
      if (n === null || n === 0) return undefined;
      pos += n;
      return buf.subarray(0, n);
    });
  }
  writeViaStream(offset: bigint): OutputStream {
    const file = this.requireFile();
    let pos = Number(offset);
    return new OutputStream((bytes) => {
      file.seekSync(pos, Deno.SeekMode.Start);
      let done = 0;
      while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
      pos += bytes.length;
    });
  }
  appendViaStream(): OutputStream {
    const file = this.requireFile();
    return new OutputStream((bytes) => {
      file.seekSync(0, Deno.SeekMode.End);
      let done = 0;
      while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
    });
  }
  advise(): void {}
  syncData(): void {
    wrapFs(() => this.file?.syncDataSync());
  }
  sync(): void {
    wrapFs(() => this.file?.syncSync());
  }
  getFlags() {
    return { read: !!this.flags.read, write: !!this.flags.write };
  }
  getType(): string {
    return this.file ? "regular-file" : "directory";
  }
  setSize(size: bigint): void {
    wrapFs(() => this.requireFile().truncateSync(Number(size)));
  }
  setTimes(): void {}
  read(len: bigint, offset: bigint): [Uint8Array, boolean] {
    const file = this.requireFile();
    return wrapFs(() => {
      const buf = new Uint8Array(Number(len));
      file.seekSync(Number(offset), Deno.SeekMode.Start);
      const n = file.readSync(buf);
      if (n === null) return [new Uint8Array(), true];
      return [buf.subarray(0, n), n < buf.length];
    });
  }
  write(bytes: Uint8Array, offset: bigint): bigint {
    const file = this.requireFile();
    return wrapFs(() => {
      file.seekSync(Number(offset), Deno.SeekMode.Start);
      let done = 0;
      while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
      return BigInt(done);
    });
  }
  readDirectory() {
    if (this.file) throw "not-directory";
    const entries = wrapFs(() => [...Deno.readDirSync(this.path)]);
    let i = 0;
    return {
      readDirectoryEntry: () => {
        const e = entries[i++];
        if (!e) return undefined;
        return {
          type: e.isFile ? "regular-file" : e.isDirectory ? "directory" : "symbolic-link",
          name: e.name,
        };
      },
    };
  }
  stat() {
    return wrapFs(() => toStat(this.file ? this.file.statSync() : Deno.statSync(this.path)));
  }
  statAt(_pathFlags: unknown, path: string) {
    const p = resolveUnder(this.root, this.path, path);
    return wrapFs(() => toStat(Deno.lstatSync(p)));
  }
  setTimesAt(): void {}
  createDirectoryAt(path: string): void {
    const p = resolveUnder(this.root, this.path, path);
    wrapFs(() => Deno.mkdirSync(p));
  }
  openAt(
    _pathFlags: unknown,
    path: string,
    openFlags: { create?: boolean; directory?: boolean; exclusive?: boolean; truncate?: boolean },
    flags: { read?: boolean; write?: boolean },
  ): Descriptor {
    const p = resolveUnder(this.root, this.path, path);
    return wrapFs(() => {
      if (openFlags.directory) {
        if (!Deno.statSync(p).isDirectory) throw "not-directory";
        return new Descriptor(this.root, p, undefined, flags);
      }
      let isDir = false;
      try {
        isDir = Deno.statSync(p).isDirectory;
      } catch { /* does not exist yet */ }
      if (isDir) return new Descriptor(this.root, p, undefined, flags);
      const file = Deno.openSync(p, {
        read: true,
        write: !!flags.write || !!openFlags.create || !!openFlags.truncate,
        create: !!openFlags.create,
        createNew: !!openFlags.exclusive,
        truncate: !!openFlags.truncate,
      });
      return new Descriptor(this.root, p, file, flags);
    });
  }
  readlinkAt(path: string): string {
    const p = resolveUnder(this.root, this.path, path);
    return wrapFs(() => Deno.readLinkSync(p));
  }
  removeDirectoryAt(path: string): void {
    const p = resolveUnder(this.root, this.path, path);
    wrapFs(() => Deno.removeSync(p));
  }
  renameAt(oldPath: string, newDesc: Descriptor, newPath: string): void {
    const a = resolveUnder(this.root, this.path, oldPath);
    const b = resolveUnder(newDesc.root, newDesc.path, newPath);
    wrapFs(() => Deno.renameSync(a, b));
  }
  symlinkAt(): void {
    throw "not-permitted";
  }
  linkAt(): void {
    throw "not-permitted";
  }
  unlinkFileAt(path: string): void {
    const p = resolveUnder(this.root, this.path, path);
    wrapFs(() => Deno.removeSync(p));
  }
  isSameObject(other: Descriptor): boolean {
    return this.path === other.path;
  }
  metadataHash() {
    return hashPath(this.path);
  }
  metadataHashAt(_f: unknown, path: string) {
    return hashPath(resolveUnder(this.root, this.path, path));
  }
}

function hashPath(p: string) {
  let h = 0xcbf29ce484222325n;
  for (const c of new TextEncoder().encode(p)) {
    h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return { lower: h, upper: 0n };
}

export interface WasiOptions {
  /** Prints one line of process output. */
  print(stream: "stdout" | "stderr", line: string): void;
  /** The only directory a process may open (its package's tmp drive), or none. */
  tmpDir?: string;
  /** The process's stop flag, which cuts its sleeps short (none: its sleeps run out). */
  stop?: StopSignal;
  /** Sleeps return promises (imports the glue suspends on) rather than block the thread. */
  suspends?: boolean;
}

/** The indices of the ready pollables, or undefined when none is. */
function readyOf(list: Pollable[]): Uint32Array | undefined {
  const ready = list.flatMap((p, i) => (p.ready() ? [i] : []));
  return ready.length > 0 ? new Uint32Array(ready) : undefined;
}

/** The WASI import object, keyed by interface name as jco expects. */
export function makeWasiImports(opts: WasiOptions): Record<string, Record<string, unknown>> {
  const stdout = new OutputStream(lineSink((l) => opts.print("stdout", l)));
  const stderr = new OutputStream(lineSink((l) => opts.print("stderr", l)));
  const stdin = new InputStream();
  const sleeper: Sleeper = {
    stop: opts.stop ?? new StopSignal(new Int32Array(new SharedArrayBuffer(8)), false),
    suspends: opts.suspends === true,
  };
  const preopens: [Descriptor, string][] = opts.tmpDir
    ? [[new Descriptor(opts.tmpDir, opts.tmpDir, undefined, { read: true, write: true }), "/tmp"]]
    : [];
  const randomBytes = (len: bigint) => {
    const out = new Uint8Array(Number(len));
    for (let i = 0; i < out.length; i += 65536) {
      crypto.getRandomValues(out.subarray(i, Math.min(out.length, i + 65536)));
    }
    return out;
  };
  const randomU64 = () => crypto.getRandomValues(new BigUint64Array(1))[0];
  class TerminalInput {}
  class TerminalOutput {}
  return {
    "wasi:cli/environment": {
      getEnvironment: () => [],
      getArguments: () => [],
      initialCwd: () => undefined,
    },
    "wasi:cli/exit": {
      exit: (status: { tag: string }) => {
        throw new ProcessExit(status.tag === "ok");
      },
    },
    "wasi:cli/stdin": { getStdin: () => stdin },
    "wasi:cli/stdout": { getStdout: () => stdout },
    "wasi:cli/stderr": { getStderr: () => stderr },
    "wasi:cli/terminal-input": { TerminalInput },
    "wasi:cli/terminal-output": { TerminalOutput },
    "wasi:cli/terminal-stdin": { getTerminalStdin: () => undefined },
    "wasi:cli/terminal-stdout": { getTerminalStdout: () => undefined },
    "wasi:cli/terminal-stderr": { getTerminalStderr: () => undefined },
    "wasi:clocks/monotonic-clock": {
      now: monotonicNow,
      resolution: () => 1000n,
      subscribeInstant: (at: bigint) => new Pollable(at, sleeper),
      subscribeDuration: (d: bigint) => new Pollable(monotonicNow() + d, sleeper),
    },
    "wasi:clocks/wall-clock": {
      now: () => toDatetime(new Date()),
      resolution: () => ({ seconds: 0n, nanoseconds: 1e6 }),
    },
    "wasi:filesystem/preopens": { getDirectories: () => preopens },
    "wasi:filesystem/types": {
      Descriptor,
      filesystemErrorCode: () => undefined,
    },
    "wasi:io/error": { Error: IoError },
    "wasi:io/poll": {
      Pollable,
      poll: sleeper.suspends
        ? async (list: Pollable[]) => {
          for (;;) {
            const ready = readyOf(list);
            if (ready) return ready;
            await sleeper.stop.sleepAsync(1);
          }
        }
        : (list: Pollable[]) => {
          for (;;) {
            const ready = readyOf(list);
            if (ready) return ready;
            sleeper.stop.sleep(1);
          }
        },
    },
    "wasi:io/streams": { InputStream, OutputStream },
    "wasi:random/random": { getRandomBytes: randomBytes, getRandomU64: randomU64 },
    "wasi:random/insecure": {
      getInsecureRandomBytes: randomBytes,
      getInsecureRandomU64: randomU64,
    },
    "wasi:random/insecure-seed": { insecureSeed: () => [randomU64(), randomU64()] },
  };
}
