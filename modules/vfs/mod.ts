// vfs:distro:sys -- the virtual file system runtime module.
//
// Files live under <home>/vfs/<package_id>/<drive>/... (kernel/vfs_layout.ts). A
// request is {"path": "/<package_id>/<drive>/...", "action": VfsAction}; the answer is
// a VfsResponse (plus a blob for reads). The path is resolved first (`..` included),
// and capabilities are checked on the drive it resolves to: a process may act on its
// own package's drives; anything else needs the read/write capability vfs issued for
// that drive, or vfs's root capability ({"root":true}). kernel:distro:sys skips the
// checks. Requests run in order per source process, processes concurrently.
//
// Bounds: each request has a time limit (`requestTimeoutMs`; past it the answer is an
// IOError "timed out: ...", a read or hash loop stops, an AddZip's Worker is terminated;
// a single fs operation already running cannot be cancelled and completes in the
// background). Blobs accepted, reads answered, directory listings and archives have size
// limits, and the bytes of all requests in flight together have a budget (VFS_LIMITS).
// AddZip inflates in a Worker (zip.ts), checking the whole archive before writing.

import { createHash } from "node:crypto";
import {
  type Address,
  type Capability,
  type KernelMessage,
  type PackageId,
  packageIdOf,
  type Request,
  VFS_PROCESS_ID,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { DEFAULT_DRIVES, driveDir, hostPathOf, vfsRoot } from "../../kernel/vfs_layout.ts";
import { decodeUtf8Strict } from "../../wire/json.ts";
import {
  type Answer,
  ioErrorMessage,
  isKernel,
  laneBySourceProcess,
  type RequestHandler,
  serve,
} from "../shared/runtime.ts";
import {
  type DirEntry,
  driveCapParams,
  encodeVfsResponse,
  type FileType,
  ioError,
  parseVfsRequest,
  ROOT_CAP_PARAMS,
  type VfsAction,
  VfsFailure,
  type VfsRequest,
  type VfsResponse,
} from "../../wire/vfs.ts";
import {
  assertNoSymlinks,
  drivePath,
  parseVfsPath,
  resolveSegments,
  type VfsPath,
} from "./path.ts";
import { OpenFiles } from "./files.ts";
import type { ZipLimits } from "./zip.ts";
import type { ZipReply, ZipRequest } from "./zip_worker.ts";
import { ByteBudget, Deadline, timeLimitMs, withDeadline } from "../shared/db.ts";

export * from "../../wire/vfs.ts";

/** Open file handles kept between requests (cursor state); LRU beyond this. */
export const MAX_OPEN_FILES = 128;
/** Time limit of one request. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** A request body (the JSON with the path) larger than this is MalformedRequest. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
/** The blob of a Write, WriteAll, Append or AddZip. */
export const MAX_BLOB_BYTES = 256 * 1024 * 1024;
/** What one Read, ReadToEnd, ReadToString or ReadExact may answer. */
export const MAX_READ_BYTES = 256 * 1024 * 1024;
/** Entries one ReadDir may list. */
export const MAX_DIR_ENTRIES = 100_000;
/** Entries (files and directories) in one AddZip archive. */
export const MAX_ZIP_ENTRIES = 20_000;
/** Bytes one AddZip archive may inflate to, counted as it inflates. */
export const MAX_UNZIPPED_BYTES = 1024 * 1024 * 1024;
/** Bytes held for requests in flight across all processes: blobs in, reads out. */
export const MAX_INFLIGHT_BYTES = 512 * 1024 * 1024;

export interface VfsLimits extends ZipLimits {
  maxBlobBytes: number;
  maxReadBytes: number;
  maxDirEntries: number;
  maxInflightBytes: number;
}

const VFS_LIMITS: VfsLimits = {
  maxBlobBytes: MAX_BLOB_BYTES,
  maxReadBytes: MAX_READ_BYTES,
  maxDirEntries: MAX_DIR_ENTRIES,
  maxEntries: MAX_ZIP_ENTRIES,
  maxUnzippedBytes: MAX_UNZIPPED_BYTES,
  maxInflightBytes: MAX_INFLIGHT_BYTES,
};

export interface VfsModuleOptions {
  /** Open file handles kept between requests (cursor state); LRU beyond this. */
  maxOpenFiles?: number;
  /** Time limit of one request in ms (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** Overrides of the limits above (tests, embedders). */
  limits?: Partial<VfsLimits>;
}

const ZIP_WORKER_URL = new URL("./zip_worker.ts", import.meta.url);

/** What a request's work may use: its deadline, and bytes held while it runs. */
interface Work {
  deadline: Deadline;
  /** holds `n` more bytes in the in-flight budget until the work ends (or refuses) */
  hold(n: number): void;
}

/** EFBIG's text, then which limit. */
function tooLarge(what: string, n: number | bigint, max: number): VfsFailure {
  return ioError(`File too large: ${what} of ${n} bytes is over vfs's limit of ${max} bytes`);
}

const WRITE_ACTIONS = new Set<VfsAction["tag"]>([
  "CreateDir",
  "CreateDirAll",
  "CreateFile",
  "OpenFile",
  "CloseFile",
  "Write",
  "WriteAll",
  "Append",
  "SyncAll",
  "RemoveFile",
  "RemoveDir",
  "RemoveDirAll",
  "AddZip",
  "SetLen",
]);

const READ_ACTIONS = new Set<VfsAction["tag"]>([
  "Read",
  "ReadDir",
  "ReadExact",
  "ReadToEnd",
  "ReadToString",
  "Seek",
  "Hash",
  "Metadata",
  "Len",
]);

/** Bytes hashed between two looks at the deadline. */
const HASH_CHUNK = 256 * 1024;

/** tokio's read_exact error text for a read that ran out of file. */
const EARLY_EOF = "early eof";

function toOffset(n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw ioError("File too large (os error 27)");
  return Number(n);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** Reads `n` bytes from the file's cursor (fewer if it ends first). */
async function readN(file: Deno.FsFile, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await file.read(buf.subarray(off));
    if (got === null) break;
    off += got;
  }
  return off === n ? buf : buf.subarray(0, off);
}

function fileType(info: { isFile: boolean; isDirectory: boolean; isSymlink: boolean }): FileType {
  if (info.isFile) return "File";
  if (info.isDirectory) return "Directory";
  if (info.isSymlink) return "Symlink";
  return "Other";
}

function samePackage(a: PackageId, b: PackageId): boolean {
  return a.packageName === b.packageName && a.publisherNode === b.publisherNode;
}

/**
 * A parsed request with its path resolved: `at` the drive it lands in (and `dest` a
 * Rename/CopyFile target's), or, for a ReadDir naming no drive ("/", a package
 * directory), a root listing of `segments` (or the error resolving them, answered
 * after the root check, as Hyperdrive does).
 */
type Job =
  | { request: VfsRequest; at: VfsPath; dest?: VfsPath; listing?: undefined }
  | { request: VfsRequest; at?: undefined; listing: { segments?: string[]; error?: unknown } };

class VfsModule implements RuntimeModule, RequestHandler<Job, VfsResponse> {
  readonly processId = VFS_PROCESS_ID;
  readonly public = false;
  readonly name = "vfs";
  readonly remote = false;
  readonly echoMetadata = "ok";
  readonly answerErrorsIfExpected = true;
  self!: Address;
  #ctx!: RuntimeModuleContext;
  #root = "";
  #files: OpenFiles;
  #drivesEnsured = new Set<string>();
  #limits: VfsLimits;
  #timeoutMs: number;
  #budget: ByteBudget;
  /** AddZip Workers running, terminated at shutdown */
  #zipWorkers = new Set<Worker>();

  constructor(opts: VfsModuleOptions) {
    this.#files = new OpenFiles(opts.maxOpenFiles ?? MAX_OPEN_FILES);
    this.#limits = { ...VFS_LIMITS, ...opts.limits };
    this.#timeoutMs = timeLimitMs(opts.requestTimeoutMs, REQUEST_TIMEOUT_MS, "vfs");
    this.#budget = new ByteBudget(this.#limits.maxInflightBytes);
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.self = { node: ctx.our, process: VFS_PROCESS_ID };
    const dir = vfsRoot(ctx.home);
    await Deno.mkdir(dir, { recursive: true });
    this.#root = await Deno.realPath(dir);
  }

  laneOf(km: KernelMessage): string {
    return laneBySourceProcess(km);
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  shutdown(): void {
    for (const w of this.#zipWorkers) w.terminate();
    this.#zipWorkers.clear();
    this.#files.closeAll();
  }

  parse(_km: KernelMessage, req: Request): Job {
    if (req.body.length > MAX_REQUEST_BODY_BYTES) throw new VfsFailure("MalformedRequest");
    const request = parseVfsRequest(req.body);
    const { path, action } = request;
    if (action.tag === "ReadDir") {
      // Root may list the vfs root and package directories, which are not drives.
      let segments: string[] | undefined;
      try {
        segments = resolveSegments(path);
      } catch (error) {
        return { request, listing: { error } };
      }
      const at = drivePath(segments);
      return at ? { request, at } : { request, listing: { segments } };
    }
    const at = parseVfsPath(path);
    if (action.tag === "Rename" || action.tag === "CopyFile") {
      return { request, at, dest: parseVfsPath(action.newPath) };
    }
    return { request, at };
  }

  check(km: KernelMessage, job: Job): void {
    if (job.listing) {
      if (!this.#isRoot(km.source)) throw new VfsFailure("NoReadCap");
      if (job.listing.error) throw job.listing.error;
      return;
    }
    if (!isKernel(km.source)) this.#checkCaps(km.source, job.request.action, job.at, job.dest);
  }

  /**
   * Runs the request under its time limit, holding its blob's bytes (and what it reads)
   * in the in-flight budget until the work itself ends, even if answered at the limit.
   */
  act(km: KernelMessage, job: Job): Promise<Answer<VfsResponse>> {
    const timedOut = () => ioError(`timed out: past vfs's time limit of ${this.#timeoutMs} ms`);
    const deadline = new Deadline(this.#timeoutMs, timedOut);
    const releases: (() => void)[] = [];
    const work: Work = {
      deadline,
      hold: (n) => releases.push(this.#budget.take(n, () => this.#busy())),
    };
    let run: Promise<Answer<VfsResponse>>;
    try {
      if (job.listing) {
        run = this.#listRoot(job.request.path, job.listing.segments!, work);
      } else {
        const tag = job.request.action.tag;
        const blob = km.lazyLoadBlob?.bytes;
        if (
          blob && (tag === "Write" || tag === "WriteAll" || tag === "Append" || tag === "AddZip")
        ) {
          if (blob.length > this.#limits.maxBlobBytes) {
            throw tooLarge("blob", blob.length, this.#limits.maxBlobBytes);
          }
          work.hold(blob.length);
        }
        run = this.#act(km, job.request, job.at, job.dest, work);
      }
    } catch (e) {
      run = Promise.reject(e);
    }
    const settled = run.finally(() => releases.forEach((release) => release()));
    return withDeadline(settled, this.#timeoutMs, timedOut);
  }

  #busy(): VfsFailure {
    return ioError(
      `Cannot allocate memory: requests in flight are over vfs's limit of ` +
        `${this.#limits.maxInflightBytes} bytes; retry later`,
    );
  }

  error(e: unknown): VfsResponse {
    return { Err: e instanceof VfsFailure ? e.error : { IOError: ioErrorMessage(e) } };
  }

  encode(r: VfsResponse): Uint8Array {
    return encodeVfsResponse(r);
  }

  #cap(params: string): Capability {
    return { issuer: this.self, params };
  }

  #isRoot(source: Address): boolean {
    return isKernel(source) || this.#ctx.hasCapability(source.process, this.#cap(ROOT_CAP_PARAMS));
  }

  #hasDriveCap(source: Address, kind: "read" | "write", drive: string): boolean {
    return this.#ctx.hasCapability(source.process, this.#cap(driveCapParams(kind, drive)));
  }

  /** Hyperdrive's check_caps: own package, else the drive cap, else root. */
  #checkCaps(source: Address, action: VfsAction, path: VfsPath, dest?: VfsPath): void {
    const src = packageIdOf(source.process);
    const own = samePackage(src, path.packageId);
    const tag = action.tag;
    if (tag === "CreateDrive") {
      if (!own && !this.#isRoot(source)) throw new VfsFailure("NoWriteCap");
      this.#ctx.grantCapabilities(source.process, [
        this.#cap(driveCapParams("read", path.drive)),
        this.#cap(driveCapParams("write", path.drive)),
      ]);
      return;
    }
    if (WRITE_ACTIONS.has(tag)) {
      if (own || this.#hasDriveCap(source, "write", path.drive) || this.#isRoot(source)) return;
      throw new VfsFailure("NoWriteCap");
    }
    if (READ_ACTIONS.has(tag)) {
      if (own || this.#hasDriveCap(source, "read", path.drive) || this.#isRoot(source)) return;
      throw new VfsFailure("NoReadCap");
    }
    if (dest) {
      // Rename, CopyFile: write on both drives
      if (own && samePackage(src, dest.packageId)) return;
      if (this.#isRoot(source)) return;
      if (!this.#hasDriveCap(source, "write", path.drive)) throw new VfsFailure("NoWriteCap");
      if (dest.drive === path.drive) return;
      if (!this.#hasDriveCap(source, "write", dest.drive)) throw new VfsFailure("NoWriteCap");
    }
  }

  async #ensureDefaultDrives(source: Address, path: VfsPath): Promise<void> {
    if (!samePackage(packageIdOf(source.process), path.packageId)) return;
    const key = path.segments[0];
    if (this.#drivesEnsured.has(key)) return;
    for (const d of DEFAULT_DRIVES) {
      await Deno.mkdir(driveDir(this.#root, path.packageId, d), { recursive: true });
    }
    this.#drivesEnsured.add(key);
  }

  async #listRoot(path: string, segments: string[], w: Work): Promise<Answer<VfsResponse>> {
    await assertNoSymlinks(this.#root, segments, path);
    return { response: { ReadDir: await this.#readDir(segments, w) } };
  }

  async #act(
    km: KernelMessage,
    request: VfsRequest,
    path: VfsPath,
    dest: VfsPath | undefined,
    w: Work,
  ): Promise<Answer<VfsResponse>> {
    const action = request.action;
    const max = this.#limits.maxReadBytes;
    await assertNoSymlinks(this.#root, path.segments, request.path);
    await this.#ensureDefaultDrives(km.source, path);
    const p = hostPathOf(this.#root, path.segments);
    const blob = km.lazyLoadBlob?.bytes;
    const files = this.#files;
    const ok: Answer<VfsResponse> = { response: "Ok" };

    switch (action.tag) {
      case "CreateDrive":
        await Deno.mkdir(hostPathOf(this.#root, path.segments.slice(0, 2)), { recursive: true });
        return ok;
      case "CreateDir":
        await Deno.mkdir(p);
        return ok;
      case "CreateDirAll":
        await Deno.mkdir(p, { recursive: true });
        return ok;
      case "CreateFile":
        // create truncates whatever was there and starts a fresh cursor
        files.close(p);
        await files.use(p, true, true, () => Promise.resolve());
        return ok;
      case "OpenFile":
        await files.use(p, action.create, false, (f) => f.seek(0, Deno.SeekMode.Start));
        return ok;
      case "CloseFile":
        files.close(p);
        return ok;
      case "WriteAll":
        if (!blob) throw new VfsFailure("NoBlob");
        await files.use(p, false, false, (f) => writeAll(f, blob));
        return ok;
      case "Write":
        if (!blob) throw new VfsFailure("NoBlob");
        await Deno.writeFile(p, blob);
        return ok;
      case "Append":
        if (!blob) throw new VfsFailure("NoBlob");
        await files.use(p, false, false, async (f) => {
          await f.seek(0, Deno.SeekMode.End);
          await writeAll(f, blob);
        });
        return ok;
      case "SyncAll":
        await files.use(p, false, false, (f) => f.sync());
        return ok;
      case "Read":
        return { response: "Read", blob: await readFileLimited(p, max, w) };
      case "ReadToEnd":
        return { response: "Read", blob: await files.use(p, false, false, readToEnd(max, w)) };
      case "ReadExact":
        if (action.length > BigInt(max)) throw tooLarge("read", action.length, max);
        return {
          response: "Read",
          blob: await files.use(p, false, false, readExact(action.length, w)),
        };
      case "ReadDir":
        return { response: { ReadDir: await this.#readDir(path.segments, w) } };
      case "ReadToString": {
        const bytes = await files.use(p, false, false, readToEnd(max, w));
        try {
          return { response: { ReadToString: decodeUtf8Strict(bytes) } };
        } catch {
          throw ioError("stream did not contain valid UTF-8");
        }
      }
      case "Seek": {
        const from = action.from;
        const whence = from.tag === "Start"
          ? Deno.SeekMode.Start
          : from.tag === "End"
          ? Deno.SeekMode.End
          : Deno.SeekMode.Current;
        const at = await files.use(p, false, false, (f) => f.seek(from.offset, whence));
        return { response: { SeekFrom: { new_offset: at } } };
      }
      case "RemoveFile": {
        const info = await Deno.lstat(p);
        if (info.isDirectory) throw ioError("Is a directory (os error 21)");
        await Deno.remove(p);
        files.close(p);
        return ok;
      }
      case "RemoveDir": {
        const info = await Deno.lstat(p);
        if (!info.isDirectory) throw ioError("Not a directory (os error 20)");
        await Deno.remove(p);
        return ok;
      }
      case "RemoveDirAll": {
        const info = await Deno.lstat(p);
        if (!info.isDirectory) throw ioError("Not a directory (os error 20)");
        await Deno.remove(p, { recursive: true });
        files.closeUnder(p);
        return ok;
      }
      case "Rename":
      case "CopyFile": {
        await assertNoSymlinks(this.#root, dest!.segments, action.newPath);
        const q = hostPathOf(this.#root, dest!.segments);
        if (action.tag === "Rename") {
          await Deno.rename(p, q);
          files.closeUnder(p);
          files.closeUnder(q);
        } else {
          await Deno.copyFile(p, q);
        }
        return ok;
      }
      case "Metadata": {
        const info = await Deno.stat(p);
        return { response: { Metadata: { file_type: fileType(info), len: info.size } } };
      }
      case "Len":
        return {
          response: { Len: await files.use(p, false, false, async (f) => (await f.stat()).size) },
        };
      case "SetLen":
        await files.use(p, false, false, (f) => f.truncate(toOffset(action.length)));
        return ok;
      case "Hash":
        return {
          response: { Hash: await files.use(p, false, false, (f) => sha256FromStart(f, w)) },
        };
      case "AddZip":
        if (!blob) throw new VfsFailure("NoBlob");
        await this.#addZip(blob, request.path, path.segments, w);
        return ok;
    }
  }

  /**
   * Unpacks a zip under `segments` in a Worker: the whole archive is checked (zip.ts)
   * and every destination vetted before anything is written. At the time limit the
   * Worker is terminated (files it already wrote stay).
   */
  async #addZip(
    blob: Uint8Array,
    displayPath: string,
    segments: string[],
    w: Work,
  ): Promise<void> {
    const worker = new Worker(ZIP_WORKER_URL, { type: "module", name: "vfs AddZip" });
    this.#zipWorkers.add(worker);
    let fail!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => fail = reject);
    failed.catch(() => {});
    const timer = setTimeout(() => {
      worker.terminate();
      fail(w.deadline.timedOutError());
    }, Math.max(0, w.deadline.remaining));
    worker.onerror = (e) => {
      e.preventDefault();
      fail(ioError(`AddZip failed: ${e.message}`));
    };
    const call = async (m: ZipRequest, transfer: Transferable[] = []) => {
      const reply = new Promise<ZipReply>((resolve) => {
        worker.onmessage = (e: MessageEvent<ZipReply>) => resolve(e.data);
      });
      worker.postMessage(m, transfer);
      const r = await Promise.race([reply, failed]);
      if ("error" in r) {
        const err = r.error;
        throw "vfs" in err ? new VfsFailure(err.vfs) : ioError(err.message);
      }
      return r;
    };
    try {
      const copy = blob.slice().buffer;
      const limits = {
        maxEntries: this.#limits.maxEntries,
        maxUnzippedBytes: this.#limits.maxUnzippedBytes,
      };
      const scanned = await call({ op: "scan", bytes: copy, vfsPath: displayPath, limits }, [copy]);
      const entries = "entries" in scanned ? scanned.entries : [];
      for (const e of entries) {
        await assertNoSymlinks(this.#root, [...segments, ...e.segments], displayPath);
      }
      w.deadline.check();
      await Deno.mkdir(hostPathOf(this.#root, segments), { recursive: true });
      const targets = entries.map((e) => hostPathOf(this.#root, [...segments, ...e.segments]));
      for (const t of targets) this.#files.close(t);
      await call({ op: "extract", targets });
    } finally {
      clearTimeout(timer);
      worker.terminate();
      this.#zipWorkers.delete(worker);
    }
  }

  async #readDir(segments: string[], w: Work): Promise<DirEntry[]> {
    const entries: DirEntry[] = [];
    const max = this.#limits.maxDirEntries;
    const prefix = segments.length > 0 ? segments.join("/") + "/" : "";
    for await (const e of Deno.readDir(hostPathOf(this.#root, segments))) {
      if (entries.length >= max) {
        throw ioError(`Argument list too long: directory has over vfs's limit of ${max} entries`);
      }
      if (entries.length % 1024 === 1023) w.deadline.check();
      entries.push({ path: prefix + e.name, file_type: fileType(e) });
    }
    return entries;
  }
}

/** Read: the whole file, refused (before reading) when over `max` bytes. */
async function readFileLimited(path: string, max: number, w: Work): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    if (size > max) throw tooLarge("read", size, max);
    w.hold(size);
    return await readN(file, size);
  } finally {
    file.close();
  }
}

/** ReadToEnd from the cursor, refused (before reading) when the rest is over `max` bytes. */
function readToEnd(max: number, w: Work): (f: Deno.FsFile) => Promise<Uint8Array> {
  return async (f) => {
    const at = await f.seek(0, Deno.SeekMode.Current);
    const rest = Math.max(0, (await f.stat()).size - at);
    if (rest > max) throw tooLarge("read", rest, max);
    w.hold(rest);
    return await readN(f, rest);
  };
}

/**
 * Hyperdrive reads with tokio's read_exact: a short read consumes the rest and fails
 * with "early eof". Checked before allocating, so a huge length cannot exhaust memory.
 */
function readExact(length: bigint, w: Work): (f: Deno.FsFile) => Promise<Uint8Array> {
  return async (f) => {
    const at = await f.seek(0, Deno.SeekMode.Current);
    const size = (await f.stat()).size;
    if (length > BigInt(Math.max(0, size - at))) {
      await f.seek(0, Deno.SeekMode.End);
      throw ioError(EARLY_EOF);
    }
    w.hold(Number(length));
    const buf = await readN(f, Number(length));
    if (buf.length < Number(length)) throw ioError(EARLY_EOF);
    return buf;
  };
}

/**
 * SHA-256 of the whole file; the cursor ends at the end, as Hyperdrive's Hash leaves it.
 * Hashed a chunk at a time between reads, stopping at the deadline.
 */
async function sha256FromStart(f: Deno.FsFile, w: Work): Promise<Uint8Array> {
  await f.seek(0, Deno.SeekMode.Start);
  const hash = createHash("sha256");
  const buf = new Uint8Array(HASH_CHUNK);
  while (true) {
    const n = await f.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    w.deadline.check();
  }
  return new Uint8Array(hash.digest());
}

/** vfs:distro:sys. Register with the kernel as a non-public runtime module. */
export function createVfsModule(opts: VfsModuleOptions = {}): RuntimeModule {
  return new VfsModule(opts);
}
