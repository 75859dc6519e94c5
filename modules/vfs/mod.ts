// vfs:distro:sys -- the virtual file system runtime module.
//
// Files live under <home>/vfs/<package_id>/<drive>/... (kernel/vfs_layout.ts). A
// request is {"path": "/<package_id>/<drive>/...", "action": VfsAction}; the answer is
// a VfsResponse (plus a blob for reads). The path is resolved first (`..` included),
// and capabilities are checked on the drive it resolves to: a process may act on its
// own package's drives; anything else needs the read/write capability vfs issued for
// that drive, or vfs's root capability ({"root":true}). kernel:distro:sys skips the
// checks. Requests run in order per source process, processes concurrently.

import { createHash } from "node:crypto";
import { dirname } from "node:path";
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
import { readZip } from "./zip.ts";
import { concatBytes } from "../shared/bytes.ts";

export * from "../../wire/vfs.ts";

export interface VfsModuleOptions {
  /** Open file handles kept between requests (cursor state); LRU beyond this. */
  maxOpenFiles?: number;
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

const READ_CHUNK = 1 << 20;

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

async function readToEnd(file: Deno.FsFile): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const buf = new Uint8Array(READ_CHUNK);
    const n = await file.read(buf);
    if (n === null) break;
    chunks.push(buf.subarray(0, n));
    total += n;
  }
  return concatBytes(chunks, total);
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

  constructor(opts: VfsModuleOptions) {
    this.#files = new OpenFiles(opts.maxOpenFiles ?? 128);
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
    this.#files.closeAll();
  }

  parse(_km: KernelMessage, req: Request): Job {
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

  act(km: KernelMessage, job: Job): Promise<Answer<VfsResponse>> {
    if (job.listing) return this.#listRoot(job.request.path, job.listing.segments!);
    return this.#act(km, job.request, job.at, job.dest);
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

  async #listRoot(path: string, segments: string[]): Promise<Answer<VfsResponse>> {
    await assertNoSymlinks(this.#root, segments, path);
    return { response: { ReadDir: await this.#readDir(segments) } };
  }

  async #act(
    km: KernelMessage,
    request: VfsRequest,
    path: VfsPath,
    dest?: VfsPath,
  ): Promise<Answer<VfsResponse>> {
    const action = request.action;
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
        return { response: "Read", blob: await Deno.readFile(p) };
      case "ReadToEnd":
        return { response: "Read", blob: await files.use(p, false, false, readToEnd) };
      case "ReadExact":
        return {
          response: "Read",
          blob: await files.use(p, false, false, readExact(action.length)),
        };
      case "ReadDir":
        return { response: { ReadDir: await this.#readDir(path.segments) } };
      case "ReadToString": {
        const bytes = await files.use(p, false, false, readToEnd);
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
        return { response: { Hash: await files.use(p, false, false, sha256FromStart) } };
      case "AddZip":
        if (!blob) throw new VfsFailure("NoBlob");
        await this.#addZip(blob, request.path, path.segments);
        return ok;
    }
  }

  /** Unpacks a zip under `segments`, vetting every destination before writing anything. */
  async #addZip(blob: Uint8Array, displayPath: string, segments: string[]): Promise<void> {
    const entries = readZip(blob, displayPath);
    for (const e of entries) {
      await assertNoSymlinks(this.#root, [...segments, ...e.segments], displayPath);
    }
    await Deno.mkdir(hostPathOf(this.#root, segments), { recursive: true });
    for (const e of entries) {
      const target = hostPathOf(this.#root, [...segments, ...e.segments]);
      if (e.isDir) {
        await Deno.mkdir(target, { recursive: true });
      } else {
        await Deno.mkdir(dirname(target), { recursive: true });
        this.#files.close(target);
        await Deno.writeFile(target, e.data);
      }
    }
  }

  async #readDir(segments: string[]): Promise<DirEntry[]> {
    const entries: DirEntry[] = [];
    for await (const e of Deno.readDir(hostPathOf(this.#root, segments))) {
      entries.push({ path: [...segments, e.name].join("/"), file_type: fileType(e) });
    }
    return entries;
  }
}

/**
 * Hyperdrive reads with tokio's read_exact: a short read consumes the rest and fails
 * with "early eof". Checked before allocating, so a huge length cannot exhaust memory.
 */
function readExact(length: bigint): (f: Deno.FsFile) => Promise<Uint8Array> {
  return async (f) => {
    const at = await f.seek(0, Deno.SeekMode.Current);
    const size = (await f.stat()).size;
    if (length > BigInt(Math.max(0, size - at))) {
      await f.seek(0, Deno.SeekMode.End);
      throw ioError(EARLY_EOF);
    }
    const buf = new Uint8Array(Number(length));
    let off = 0;
    while (off < buf.length) {
      const n = await f.read(buf.subarray(off));
      if (n === null) throw ioError(EARLY_EOF);
      off += n;
    }
    return buf;
  };
}

/** SHA-256 of the whole file; the cursor ends at the end, as Hyperdrive's Hash leaves it. */
async function sha256FromStart(f: Deno.FsFile): Promise<Uint8Array> {
  await f.seek(0, Deno.SeekMode.Start);
  const hash = createHash("sha256");
  const buf = new Uint8Array(READ_CHUNK);
  while (true) {
    const n = await f.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return new Uint8Array(hash.digest());
}

/** vfs:distro:sys. Register with the kernel as a non-public runtime module. */
export function createVfsModule(opts: VfsModuleOptions = {}): RuntimeModule {
  return new VfsModule(opts);
}
