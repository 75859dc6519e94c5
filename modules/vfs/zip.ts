// AddZip support: list and inflate a zip with fflate, after checking every entry so a
// hostile archive cannot write outside the target directory (zip-slip) or plant links.

import { type UnzipFileInfo, unzipSync } from "fflate";
import { parseError, VfsFailure } from "../../wire/vfs.ts";
import { plainSegments } from "../../kernel/vfs_layout.ts";

export interface ZipEntry {
  /** Path segments under the extraction directory. */
  segments: string[];
  isDir: boolean;
  data: Uint8Array;
}

/** Refuse archives whose declared contents exceed this (zip bombs). */
export const MAX_UNZIPPED_BYTES = 1024 * 1024 * 1024;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const UNIX_HOST = 3;

interface CentralEntry {
  madeBy: number;
  externalAttrs: number;
}

/** Read the central directory for the attributes fflate does not expose. */
function centralEntries(buf: Uint8Array): CentralEntry[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("invalid Zip archive: could not find central directory end");
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || offset === 0xffffffff) {
    // zip64: the locator sits just before the classic end record
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) {
      throw new Error("invalid Zip archive: bad zip64 locator");
    }
    const rec = Number(view.getBigUint64(loc + 8, true));
    if (rec + 56 > buf.length || view.getUint32(rec, true) !== 0x06064b50) {
      throw new Error("invalid Zip archive: bad zip64 end record");
    }
    count = Number(view.getBigUint64(rec + 32, true));
    offset = Number(view.getBigUint64(rec + 48, true));
  }
  const out: CentralEntry[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || view.getUint32(p, true) !== 0x02014b50) {
      throw new Error("invalid Zip archive: bad central directory entry");
    }
    out.push({ madeBy: view.getUint16(p + 4, true), externalAttrs: view.getUint32(p + 38, true) });
    p += 46 + view.getUint16(p + 28, true) + view.getUint16(p + 30, true) +
      view.getUint16(p + 32, true);
  }
  return out;
}

/**
 * Decode and vet a zip. Errors: ParseError (not a zip, unsafe name, too large),
 * UnzipError (an entry that is neither file nor directory, e.g. a symlink).
 */
export function readZip(bytes: Uint8Array, vfsPath: string): ZipEntry[] {
  let central: CentralEntry[];
  const infos: UnzipFileInfo[] = [];
  let files: Record<string, Uint8Array>;
  try {
    central = centralEntries(bytes);
    let total = 0;
    files = unzipSync(bytes, {
      filter(info) {
        total += info.originalSize;
        if (total > MAX_UNZIPPED_BYTES) {
          throw new Error(`archive expands beyond ${MAX_UNZIPPED_BYTES} bytes`);
        }
        infos.push(info);
        return true;
      },
    });
  } catch (e) {
    throw parseError(e instanceof Error ? e.message : String(e), vfsPath);
  }
  const entries: ZipEntry[] = [];
  infos.forEach((info, i) => {
    const c = central[i];
    if (c && (c.madeBy >> 8) === UNIX_HOST && ((c.externalAttrs >>> 16) & S_IFMT) === S_IFLNK) {
      throw new VfsFailure("UnzipError");
    }
    const name = info.name;
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
      if (isDir) return; // "./" and the like: the target itself
      throw parseError(`empty path in zip entry: ${name}`, vfsPath);
    }
    entries.push({ segments, isDir, data: isDir ? new Uint8Array() : files[name] });
  });
  return entries;
}
