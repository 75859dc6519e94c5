// vfs:distro:sys -- the virtual file system runtime module.
//
// Files live under <home>/vfs/<package_id>/<drive>/... A request is
// {"path": "/<package_id>/<drive>/...", "action": VfsAction}; the answer is a
// VfsResponse (plus a blob for reads). A process may act on its own package's drives;
// anything else needs the read/write capability vfs issued for that drive, or vfs's
// root capability ({"root":true}). Messages from kernel:distro:sys skip the checks.

import { createHash } from "node:crypto";
import { dirname, resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  type PackageId,
  packageIdOf,
  packageIdToString,
  type Request,
  VFS_PROCESS_ID,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { decodeUtf8Strict } from "../../wire/json.ts";
import { fromOtherNode, ioErrorMessage, isKernel, reply } from "../shared/runtime.ts";
import {
  type DirEntry,
  driveCapParams,
  encodeVfsResponse,
  type FileType,
  ioError,
  parseVfsRequest,
  ROOT_CAP_PARAMS,
  type VfsAction,
  type VfsError,
  VfsFailure,
  type VfsResponse,
} from "../../wire/vfs.ts";
import { assertNoSymlinks, hostPath, parseVfsPath, splitVfsPath, type VfsPath } from "./path.ts";
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

/** Every package gets these drives (created on first use by the package). */
const DEFAULT_DRIVES = ["pkg", "tmp"];

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

/** Runs jobs one after another, so cursor-moving actions never interleave. */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(job: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(job);
    this.#tail = p.catch(() => {});
    return p;
  }
}

/** Open handles by host path, least recently used first; cursors survive eviction. */
class OpenFiles {
  #files = new Map<string, Deno.FsFile>();
  #savedCursor = new Map<string, number>();
  constructor(readonly limit: number) {}

  async open(path: string, create: boolean, truncate: boolean): Promise<Deno.FsFile> {
    const cached = this.#files.get(path);
    if (cached) {
      this.#files.delete(path);
      this.#files.set(path, cached);
      return cached;
    }
    const file = await Deno.open(path, { read: true, write: true, create, truncate });
    const pos = this.#savedCursor.get(path);
    if (pos !== undefined) {
      this.#savedCursor.delete(path);
      if (!truncate) await file.seek(pos, Deno.SeekMode.Start);
    }
    this.#files.set(path, file);
    while (this.#files.size > this.limit) {
      const [oldPath, old] = this.#files.entries().next().value!;
      this.#files.delete(oldPath);
      const at = await old.seek(0, Deno.SeekMode.Current).catch(() => 0);
      if (at !== 0) this.#savedCursor.set(oldPath, at);
      old.close();
    }
    return file;
  }

  close(path: string): void {
    this.#files.get(path)?.close();
    this.#files.delete(path);
    this.#savedCursor.delete(path);
  }

  /** Forget every handle at or below `path` (it was removed or moved). */
  closeUnder(path: string): void {
    const prefix = path.endsWith("/") ? path : path + "/";
    for (const p of [...this.#files.keys(), ...this.#savedCursor.keys()]) {
      if (p === path || p.startsWith(prefix)) this.close(p);
    }
  }

  closeAll(): void {
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
    this.#savedCursor.clear();
  }

  get size(): number {
    return this.#files.size;
  }
}

interface Outcome {
  response: VfsResponse;
  blob?: Uint8Array;
}

class VfsModule implements RuntimeModule {
  readonly processId = VFS_PROCESS_ID;
  readonly public = false;
  #ctx!: RuntimeModuleContext;
  #our!: Address;
  #root = "";
  #queue = new SerialQueue();
  #files: OpenFiles;
  #drivesEnsured = new Set<string>();

  constructor(opts: VfsModuleOptions) {
    this.#files = new OpenFiles(opts.maxOpenFiles ?? 128);
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.#our = { node: ctx.our, process: VFS_PROCESS_ID };
    const dir = resolve(ctx.home, "vfs");
    await Deno.mkdir(dir, { recursive: true });
    this.#root = await Deno.realPath(dir);
  }

  handleMessage(km: KernelMessage): Promise<void> {
    return this.#queue.run(() => this.#handle(km));
  }

  shutdown(): Promise<void> {
    return this.#queue.run(() => {
      this.#files.closeAll();
      return Promise.resolve();
    });
  }

  async #handle(km: KernelMessage): Promise<void> {
    // remote requests are refused; responses to us need no action
    if (fromOtherNode(this.#ctx, "vfs", km) || km.message.tag !== "request") return;
    const req = km.message.val;
    try {
      const out = await this.#handleRequest(km, req);
      if (km.rsvp || req.expectsResponse !== undefined) this.#send(km, out, req.metadata);
    } catch (e) {
      const error: VfsError = e instanceof VfsFailure ? e.error : { IOError: ioErrorMessage(e) };
      if (req.expectsResponse !== undefined) this.#send(km, { response: { Err: error } });
    }
  }

  #send(km: KernelMessage, out: Outcome, metadata?: string): void {
    this.#ctx.sendToLoop(reply(km, this.#our, encodeVfsResponse(out.response), out.blob, metadata));
  }

  #cap(params: string): Capability {
    return { issuer: this.#our, params };
  }

  #isRoot(source: Address): boolean {
    return isKernel(source) || this.#ctx.hasCapability(source.process, this.#cap(ROOT_CAP_PARAMS));
  }

  #hasDriveCap(source: Address, kind: "read" | "write", drive: string): boolean {
    return this.#ctx.hasCapability(source.process, this.#cap(driveCapParams(kind, drive)));
  }

  /** Hyperdrive's check_caps: own package, else the drive cap, else root. */
  #checkCaps(source: Address, action: VfsAction, path: VfsPath): void {
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
    if (tag === "Rename" || tag === "CopyFile") {
      const dest = parseVfsPath(action.newPath);
      if (own && samePackage(src, dest.packageId)) return;
      if (this.#isRoot(source)) return;
      if (!this.#hasDriveCap(source, "write", path.drive)) throw new VfsFailure("NoWriteCap");
      if (dest.drive === path.drive) return;
      if (!this.#hasDriveCap(source, "write", dest.drive)) throw new VfsFailure("NoWriteCap");
    }
  }

  async #ensureDefaultDrives(source: Address, path: VfsPath): Promise<void> {
    if (!samePackage(packageIdOf(source.process), path.packageId)) return;
    const key = packageIdToString(path.packageId);
    if (this.#drivesEnsured.has(key)) return;
    for (const d of DEFAULT_DRIVES) {
      await Deno.mkdir(hostPath(this.#root, [key, d]), { recursive: true });
    }
    this.#drivesEnsured.add(key);
  }

  async #handleRequest(km: KernelMessage, req: Request): Promise<Outcome> {
    const request = parseVfsRequest(req.body);
    const action = request.action;

    // Root may list the vfs root and package directories, which are not drives.
    const segments = splitVfsPath(request.path);
    if (action.tag === "ReadDir" && (request.path === "/" || !isDrivePath(segments))) {
      if (!this.#isRoot(km.source)) throw new VfsFailure("NoReadCap");
      await assertNoSymlinks(this.#root, segments, request.path);
      return { response: { ReadDir: await this.#readDir(segments) } };
    }

    const path = parseVfsPath(request.path);
    if (!isKernel(km.source)) {
      this.#checkCaps(km.source, action, path);
    }
    await assertNoSymlinks(this.#root, path.segments, request.path);
    await this.#ensureDefaultDrives(km.source, path);
    const p = hostPath(this.#root, path.segments);
    const blob = km.lazyLoadBlob?.bytes;
    const files = this.#files;

    switch (action.tag) {
      case "CreateDrive":
        await Deno.mkdir(hostPath(this.#root, path.segments.slice(0, 2)), { recursive: true });
        return { response: "Ok" };
      case "CreateDir":
        await Deno.mkdir(p);
        return { response: "Ok" };
      case "CreateDirAll":
        await Deno.mkdir(p, { recursive: true });
        return { response: "Ok" };
      case "CreateFile":
        // create truncates whatever was there and starts a fresh cursor
        files.close(p);
        await files.open(p, true, true);
        return { response: "Ok" };
      case "OpenFile": {
        const f = await files.open(p, action.create, false);
        await f.seek(0, Deno.SeekMode.Start);
        return { response: "Ok" };
      }
      case "CloseFile":
        files.close(p);
        return { response: "Ok" };
      case "WriteAll": {
        if (!blob) throw new VfsFailure("NoBlob");
        await writeAll(await files.open(p, false, false), blob);
        return { response: "Ok" };
      }
      case "Write":
        if (!blob) throw new VfsFailure("NoBlob");
        await Deno.writeFile(p, blob);
        return { response: "Ok" };
      case "Append": {
        if (!blob) throw new VfsFailure("NoBlob");
        const f = await files.open(p, false, false);
        await f.seek(0, Deno.SeekMode.End);
        await writeAll(f, blob);
        return { response: "Ok" };
      }
      case "SyncAll":
        await (await files.open(p, false, false)).sync();
        return { response: "Ok" };
      case "Read":
        return { response: "Read", blob: await Deno.readFile(p) };
      case "ReadToEnd":
        return { response: "Read", blob: await readToEnd(await files.open(p, false, false)) };
      case "ReadExact": {
        const f = await files.open(p, false, false);
        const at = await f.seek(0, Deno.SeekMode.Current);
        const size = (await f.stat()).size;
        // Hyperdrive uses tokio's read_exact: a short read consumes the rest and fails
        // with "early eof". Checked before allocating, so a huge length cannot exhaust memory.
        if (action.length > BigInt(Math.max(0, size - at))) {
          await f.seek(0, Deno.SeekMode.End);
          throw ioError(EARLY_EOF);
        }
        const buf = new Uint8Array(Number(action.length));
        let off = 0;
        while (off < buf.length) {
          const n = await f.read(buf.subarray(off));
          if (n === null) throw ioError(EARLY_EOF);
          off += n;
        }
        return { response: "Read", blob: buf };
      }
      case "ReadDir":
        return { response: { ReadDir: await this.#readDir(path.segments) } };
      case "ReadToString": {
        const bytes = await readToEnd(await files.open(p, false, false));
        let text: string;
        try {
          text = decodeUtf8Strict(bytes);
        } catch {
          throw ioError("stream did not contain valid UTF-8");
        }
        return { response: { ReadToString: text } };
      }
      case "Seek": {
        const f = await files.open(p, false, false);
        const whence = action.from.tag === "Start"
          ? Deno.SeekMode.Start
          : action.from.tag === "End"
          ? Deno.SeekMode.End
          : Deno.SeekMode.Current;
        const at = await f.seek(action.from.offset, whence);
        return { response: { SeekFrom: { new_offset: at } } };
      }
      case "RemoveFile": {
        const info = await Deno.lstat(p);
        if (info.isDirectory) throw ioError("Is a directory (os error 21)");
        await Deno.remove(p);
        files.close(p);
        return { response: "Ok" };
      }
      case "RemoveDir": {
        const info = await Deno.lstat(p);
        if (!info.isDirectory) throw ioError("Not a directory (os error 20)");
        await Deno.remove(p);
        return { response: "Ok" };
      }
      case "RemoveDirAll": {
        const info = await Deno.lstat(p);
        if (!info.isDirectory) throw ioError("Not a directory (os error 20)");
        await Deno.remove(p, { recursive: true });
        files.closeUnder(p);
        return { response: "Ok" };
      }
      case "Rename":
      case "CopyFile": {
        const dest = parseVfsPath(action.newPath);
        await assertNoSymlinks(this.#root, dest.segments, action.newPath);
        const q = hostPath(this.#root, dest.segments);
        if (action.tag === "Rename") {
          await Deno.rename(p, q);
          files.closeUnder(p);
          files.closeUnder(q);
        } else {
          await Deno.copyFile(p, q);
        }
        return { response: "Ok" };
      }
      case "Metadata": {
        const info = await Deno.stat(p);
        return { response: { Metadata: { file_type: fileType(info), len: info.size } } };
      }
      case "Len": {
        const f = await files.open(p, false, false);
        return { response: { Len: (await f.stat()).size } };
      }
      case "SetLen": {
        const f = await files.open(p, false, false);
        await f.truncate(toOffset(action.length));
        return { response: "Ok" };
      }
      case "Hash": {
        const f = await files.open(p, false, false);
        await f.seek(0, Deno.SeekMode.Start);
        const hash = createHash("sha256");
        const buf = new Uint8Array(READ_CHUNK);
        while (true) {
          const n = await f.read(buf);
          if (n === null) break;
          hash.update(buf.subarray(0, n));
        }
        return { response: { Hash: Array.from(hash.digest()) } };
      }
      case "AddZip": {
        if (!blob) throw new VfsFailure("NoBlob");
        const entries = readZip(blob, request.path);
        // vet every destination before writing anything
        for (const e of entries) {
          await assertNoSymlinks(this.#root, [...path.segments, ...e.segments], request.path);
        }
        await Deno.mkdir(p, { recursive: true });
        for (const e of entries) {
          const target = hostPath(this.#root, [...path.segments, ...e.segments]);
          if (e.isDir) {
            await Deno.mkdir(target, { recursive: true });
          } else {
            await Deno.mkdir(dirname(target), { recursive: true });
            files.close(target);
            await Deno.writeFile(target, e.data);
          }
        }
        return { response: "Ok" };
      }
    }
  }

  async #readDir(segments: string[]): Promise<DirEntry[]> {
    const entries: DirEntry[] = [];
    for await (const e of Deno.readDir(hostPath(this.#root, segments))) {
      entries.push({ path: [...segments, e.name].join("/"), file_type: fileType(e) });
    }
    return entries;
  }
}

function samePackage(a: PackageId, b: PackageId): boolean {
  return a.packageName === b.packageName && a.publisherNode === b.publisherNode;
}

function isDrivePath(segments: string[]): boolean {
  if (segments.length < 2) return false;
  const parts = segments[0].split(":");
  return parts.length === 2 && parts[0] !== "" && parts[1] !== "";
}

/** vfs:distro:sys. Register with the kernel as a non-public runtime module. */
export function createVfsModule(opts: VfsModuleOptions = {}): RuntimeModule {
  return new VfsModule(opts);
}
