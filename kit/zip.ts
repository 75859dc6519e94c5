// kit's package zip (its build::zip_directory, zip 0.6 with these options): every file and
// directory under a directory, sorted by path component by component, files deflated (raw
// deflate) with Unix mode 0o100755, directories stored as `name/` entries with mode 0o40755,
// every entry dated 2023-06-19 00:00, no extra fields, no data descriptors, no comments. The
// same tree gives the same bytes on every machine (fflate's deflate is plain JS).

import { deflateSync } from "fflate";

/** One entry: its name in the zip ("a/b.wasm", "ui/") and, for a file, its bytes. */
export interface ZipEntry {
  name: string;
  data?: Uint8Array;
}

/** DOS date 2023-06-19 ((year - 1980) << 9 | month << 5 | day) and time 00:00:00. */
const DOS_DATE = ((2023 - 1980) << 9) | (6 << 5) | 19;
const DOS_TIME = 0;
/** "version made by": Unix (3) << 8 | 46, as zip 0.6 writes. */
const MADE_BY = (3 << 8) | 46;
/** "version needed to extract": 2.0 (deflate, directories), as zip 0.6 writes. */
const NEEDED = 20;
const FILE_MODE = 0o100755;
const DIR_MODE = 0o40755;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), as zip stores it. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Compares two paths as Rust's Path ordering does: component by component, bytewise. */
export function comparePaths(a: string, b: string): number {
  const ca = a.split("/").filter((c) => c !== "");
  const cb = b.split("/").filter((c) => c !== "");
  const enc = new TextEncoder();
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] === cb[i]) continue;
    const x = enc.encode(ca[i]);
    const y = enc.encode(cb[i]);
    for (let j = 0; j < Math.min(x.length, y.length); j++) {
      if (x[j] !== y[j]) return x[j] - y[j];
    }
    return x.length - y.length;
  }
  return ca.length - cb.length;
}

/**
 * The entries kit zips for `dir`, in its order. As walkdir and kit's loop see them: a symlink
 * is followed when it names a file; one naming a directory (or nothing) becomes a directory
 * entry that is not descended into.
 */
export async function collectEntries(dir: string): Promise<ZipEntry[]> {
  const paths: { rel: string; file: boolean }[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      let isFile = e.isFile;
      if (e.isSymlink) {
        try {
          isFile = (await Deno.stat(`${dir}/${child}`)).isFile;
        } catch {
          isFile = false;
        }
      }
      paths.push({ rel: child, file: isFile });
      if (e.isDirectory) await walk(child);
    }
  };
  await walk("");
  paths.sort((a, b) => comparePaths(a.rel, b.rel));
  const out: ZipEntry[] = [];
  for (const p of paths) {
    if (p.file) out.push({ name: p.rel, data: await Deno.readFile(`${dir}/${p.rel}`) });
    else out.push({ name: `${p.rel}/` });
  }
  return out;
}

/** The zip of `entries`, in the order given. */
export function zipEntries(entries: ZipEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const isDir = e.data === undefined;
    const raw = e.data ?? new Uint8Array(0);
    // zip 0.6 stores directories; files are deflated at flate2's default level, 6
    const body = isDir ? raw : deflateSync(raw, { level: 6 });
    const crc = isDir ? 0 : crc32(raw);
    // bit 11: the name is UTF-8, set by zip 0.6 only for names that are not ASCII
    const flags = name.every((b) => b < 0x80) ? 0 : 1 << 11;
    const method = isDir ? 0 : 8;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, NEEDED, true);
    lv.setUint16(6, flags, true);
    lv.setUint16(8, method, true);
    lv.setUint16(10, DOS_TIME, true);
    lv.setUint16(12, DOS_DATE, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, raw.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 0, true);
    local.set(name, 30);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, MADE_BY, true);
    cv.setUint16(6, NEEDED, true);
    cv.setUint16(8, flags, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, DOS_TIME, true);
    cv.setUint16(14, DOS_DATE, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, raw.length, true);
    cv.setUint16(28, name.length, true);
    // extra field, comment, disk number, internal attributes: none
    cv.setUint32(38, ((isDir ? DIR_MODE : FILE_MODE) << 16) >>> 0, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    if (offset + local.length + body.length > 0xffffffff) {
      throw new Error("zip: the package is larger than 4 GiB (zip64 is not written)");
    }
    locals.push(local, body);
    centrals.push(central);
    offset += local.length + body.length;
  }
  const cdSize = centrals.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + end.length);
  let at = 0;
  for (const part of [...locals, ...centrals, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** kit's zip_directory: `dir`'s tree as a zip. */
export async function zipDirectory(dir: string): Promise<Uint8Array> {
  return zipEntries(await collectEntries(dir));
}
