// AddZip support, run in a Worker (zip_worker.ts): read a zip's central directory, vet
// every entry so a hostile archive cannot write outside the target directory
// (zip-slip) or plant links, and inflate entries as streams, so limits hold against
// what the data really inflates to, not what the headers claim (zip bombs).
//
// `scanZip` checks the whole archive (names, kinds, sizes against the headers and the
// limits, CRC-32) writing nothing; `extractZip` then writes the files. An entry up to
// ONE_SHOT_BYTES inflates natively in one call (node:zlib, stopped the moment it passes
// its declared size), and the scan keeps what it inflated, up to KEEP_BYTES in all, for
// the extraction to write as is; a larger entry streams through fflate chunk by chunk,
// once to scan and once to write, so memory stays bounded whatever the archive holds.

import { Inflate } from "fflate";
import { crc32 as zlibCrc32, inflateRawSync } from "node:zlib";
import { dirname } from "node:path";
import { parseError, VfsFailure } from "../../wire/vfs.ts";
import { plainSegments } from "../../kernel/vfs_layout.ts";

/** What an archive may hold (vfs options can lower them). */
export interface ZipLimits {
  /** entries (files and directories) */
  maxEntries: number;
  /** bytes all files inflate to, counted as they inflate */
  maxUnzippedBytes: number;
}

/** An entry that passed the scan. */
export interface ZipEntry {
  /** Path segments under the extraction directory. */
  segments: string[];
  isDir: boolean;
  /** where its data starts in the archive, how it is stored, sizes */
  offset: number;
  method: number;
  compressedSize: number;
  size: number;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const UNIX_HOST = 3;
const STORED = 0;
const DEFLATED = 8;
/** Compressed bytes pushed at once: one push inflates to at most ~1032x this. */
const INFLATE_INPUT = 16 * 1024;
/** An entry declaring at most this many bytes inflates in one native call. */
export const ONE_SHOT_BYTES = 32 * 1024 * 1024;
/** Inflated bytes a scan keeps for the extraction (beyond them, entries inflate again). */
export const KEEP_BYTES = 64 * 1024 * 1024;

interface CentralEntry {
  name: string;
  madeBy: number;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  externalAttrs: number;
}

const invalid = (what: string) => new Error(`invalid Zip archive: ${what}`);

/** The zip64 extended information extra field, where a 32-bit size or offset is 0xFFFFFFFF. */
function zip64Extra(
  view: DataView,
  start: number,
  end: number,
  e: { size: number; compressedSize: number; localOffset: number },
): void {
  for (let p = start; p + 4 <= end;) {
    const id = view.getUint16(p, true);
    const len = view.getUint16(p + 2, true);
    if (id === 0x0001) {
      let q = p + 4;
      const next = () => {
        if (q + 8 > p + 4 + len) throw invalid("bad zip64 extra field");
        const v = Number(view.getBigUint64(q, true));
        q += 8;
        return v;
      };
      if (e.size === 0xffffffff) e.size = next();
      if (e.compressedSize === 0xffffffff) e.compressedSize = next();
      if (e.localOffset === 0xffffffff) e.localOffset = next();
      return;
    }
    p += 4 + len;
  }
}

function centralEntries(buf: Uint8Array, limits: ZipLimits, vfsPath: string): CentralEntry[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw invalid("could not find central directory end");
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || offset === 0xffffffff) {
    // zip64: the locator sits just before the classic end record
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) throw invalid("bad zip64 locator");
    const rec = Number(view.getBigUint64(loc + 8, true));
    if (rec + 56 > buf.length || view.getUint32(rec, true) !== 0x06064b50) {
      throw invalid("bad zip64 end record");
    }
    count = Number(view.getBigUint64(rec + 32, true));
    offset = Number(view.getBigUint64(rec + 48, true));
  }
  if (count > limits.maxEntries) {
    throw parseError(
      `archive has ${count} entries, over vfs's limit of ${limits.maxEntries}`,
      vfsPath,
    );
  }
  const utf8 = new TextDecoder("utf-8", { fatal: false });
  const latin1 = new TextDecoder("latin1");
  const out: CentralEntry[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || view.getUint32(p, true) !== 0x02014b50) {
      throw invalid("bad central directory entry");
    }
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const flags = view.getUint16(p + 8, true);
    if (p + 46 + nameLen + extraLen > buf.length) throw invalid("bad central directory entry");
    const nameBytes = buf.subarray(p + 46, p + 46 + nameLen);
    const e: CentralEntry = {
      name: (flags & 0x800 ? utf8 : latin1).decode(nameBytes),
      madeBy: view.getUint16(p + 4, true),
      flags,
      method: view.getUint16(p + 10, true),
      crc: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      localOffset: view.getUint32(p + 42, true),
      externalAttrs: view.getUint32(p + 38, true),
    };
    zip64Extra(view, p + 46 + nameLen, p + 46 + nameLen + extraLen, e);
    out.push(e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Where an entry's data starts: past its local header, name and extra field. */
function dataOffset(buf: Uint8Array, e: CentralEntry): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const p = e.localOffset;
  if (p + 30 > buf.length || view.getUint32(p, true) !== 0x04034b50) {
    throw invalid("bad local file header");
  }
  const start = p + 30 + view.getUint16(p + 26, true) + view.getUint16(p + 28, true);
  if (start + e.compressedSize > buf.length) throw invalid("entry data past the end");
  return start;
}

/** CRC-32 of `chunk` continuing from `crc` (zlib's, native). */
function crc32(crc: number, chunk: Uint8Array): number {
  return zlibCrc32(chunk, crc);
}

/** Whether an entry inflates in one native call (its declared size is small enough). */
function oneShot(e: ZipEntry): boolean {
  return e.method !== STORED && e.size <= ONE_SHOT_BYTES;
}

/**
 * Streams an entry's inflated data to `sink` chunk by chunk (a oneShot() entry: as one
 * chunk). Throws once it has produced more than `max` bytes, before passing more on.
 * Returns the byte count.
 */
function inflateEntry(
  buf: Uint8Array,
  e: ZipEntry,
  max: number,
  overflow: () => Error,
  sink: (chunk: Uint8Array) => void,
): number {
  const data = buf.subarray(e.offset, e.offset + e.compressedSize);
  if (oneShot(e)) {
    let out: Uint8Array;
    try {
      // one more byte than allowed: a stream that reaches it is past its declared size
      out = inflateRawSync(data, { maxOutputLength: max + 1 });
    } catch (err) {
      if (err instanceof RangeError || /larger than/.test(String(err))) throw overflow();
      // flate2's error for a stream that is not valid DEFLATE
      throw new VfsFailure({ IOError: "corrupt deflate stream" });
    }
    if (out.length > max) throw overflow();
    sink(out);
    return out.length;
  }
  let n = 0;
  const take = (chunk: Uint8Array) => {
    n += chunk.length;
    if (n > max) throw overflow();
    sink(chunk);
  };
  if (e.method === STORED) {
    for (let i = 0; i < data.length; i += INFLATE_INPUT) {
      take(data.subarray(i, i + INFLATE_INPUT));
    }
    return n;
  }
  const inflate = new Inflate((chunk) => take(chunk));
  try {
    for (let i = 0; i < data.length; i += INFLATE_INPUT) {
      inflate.push(data.subarray(i, i + INFLATE_INPUT), i + INFLATE_INPUT >= data.length);
    }
    if (data.length === 0) inflate.push(new Uint8Array(0), true);
  } catch (err) {
    if (err instanceof VfsFailure) throw err;
    // flate2's error for a stream that is not valid DEFLATE
    throw new VfsFailure({ IOError: "corrupt deflate stream" });
  }
  return n;
}

/**
 * Decodes and vets a zip, inflating every file once (to nothing) to check its real size
 * and CRC-32. Errors: ParseError (not a zip, unsafe name, over a limit, an entry whose
 * data is not the size its header says), UnzipError (an entry that is neither file nor
 * directory, e.g. a symlink; an encrypted entry or unsupported method, as Hyperdrive's
 * zip crate refuses them), IOError (bad checksum, corrupt data).
 */
export function scanZip(
  bytes: Uint8Array,
  vfsPath: string,
  limits: ZipLimits,
  /** entry index -> its inflated bytes, filled for extractZip (up to KEEP_BYTES in all) */
  keep?: Map<number, Uint8Array>,
): ZipEntry[] {
  let kept = 0;
  let central: CentralEntry[];
  try {
    central = centralEntries(bytes, limits, vfsPath);
  } catch (e) {
    if (e instanceof VfsFailure) throw e;
    throw parseError(e instanceof Error ? e.message : String(e), vfsPath);
  }
  const entries: ZipEntry[] = [];
  let total = 0;
  for (const c of central) {
    if ((c.madeBy >> 8) === UNIX_HOST && ((c.externalAttrs >>> 16) & S_IFMT) === S_IFLNK) {
      throw new VfsFailure("UnzipError");
    }
    const name = c.name;
    if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) {
      throw parseError(`absolute path in zip entry: ${name}`, vfsPath);
    }
    let segments: string[];
    try {
      segments = plainSegments(name);
    } catch {
      throw parseError(`unsafe path in zip entry: ${name}`, vfsPath);
    }
    const isDir = name.endsWith("/");
    if (segments.length === 0) {
      if (isDir) continue; // "./" and the like: the target itself
      throw parseError(`empty path in zip entry: ${name}`, vfsPath);
    }
    if (isDir) {
      entries.push({ segments, isDir, offset: 0, method: STORED, compressedSize: 0, size: 0 });
      continue;
    }
    if (c.flags & 1 || (c.method !== STORED && c.method !== DEFLATED)) {
      throw new VfsFailure("UnzipError");
    }
    let offset: number;
    try {
      offset = dataOffset(bytes, c);
    } catch (e) {
      throw parseError(e instanceof Error ? e.message : String(e), vfsPath);
    }
    const entry: ZipEntry = {
      segments,
      isDir,
      offset,
      method: c.method,
      compressedSize: c.compressedSize,
      size: c.size,
    };
    // declared sizes are held to the limit, and no entry may inflate past its declared size
    if (total + c.size > limits.maxUnzippedBytes) throw tooBig(limits, vfsPath);
    let crc = 0;
    let last: Uint8Array = new Uint8Array(0);
    const n = inflateEntry(
      bytes,
      entry,
      c.size,
      () => sizeLie(name, c.size, vfsPath),
      (chunk) => {
        crc = crc32(crc, chunk);
        last = chunk;
      },
    );
    if (n !== c.size) throw sizeLie(name, c.size, vfsPath);
    if (crc !== c.crc) throw new VfsFailure({ IOError: "Invalid checksum" });
    total += n;
    // inflated in one call (its one chunk is all of it): kept, not inflated again
    if (keep && oneShot(entry) && kept + n <= KEEP_BYTES) {
      keep.set(entries.length, last);
      kept += n;
    }
    entries.push(entry);
  }
  return entries;
}

function tooBig(limits: ZipLimits, vfsPath: string): VfsFailure {
  return parseError(
    `archive expands beyond vfs's limit of ${limits.maxUnzippedBytes} bytes`,
    vfsPath,
  );
}

function sizeLie(name: string, size: number, vfsPath: string): VfsFailure {
  return parseError(
    `zip entry ${name} does not inflate to the ${size} bytes its header declares`,
    vfsPath,
  );
}

/**
 * Writes scanned entries to their host paths (`targets[i]` for `entries[i]`), making
 * parent directories as needed. What the scan kept is written as is; other files chunk by
 * chunk as they inflate.
 */
export function extractZip(
  bytes: Uint8Array,
  entries: ZipEntry[],
  targets: string[],
  /** what scanZip kept, by entry index */
  keep?: Map<number, Uint8Array>,
): void {
  entries.forEach((e, i) => {
    if (e.isDir) {
      Deno.mkdirSync(targets[i], { recursive: true });
      return;
    }
    Deno.mkdirSync(dirname(targets[i]), { recursive: true });
    const file = Deno.openSync(targets[i], { write: true, create: true, truncate: true });
    const write = (chunk: Uint8Array) => {
      for (let off = 0; off < chunk.length;) off += file.writeSync(chunk.subarray(off));
    };
    try {
      const kept = keep?.get(i);
      if (kept) write(kept);
      else inflateEntry(bytes, e, e.size, () => new Error("entry changed size"), write);
    } finally {
      file.close();
    }
  });
}
