// downloads:app-store:sys, the app store's package files and transfers between nodes, as a
// TypeScript process module.
//
// Hyperdrive's API (api/app-store:sys-v2.wit, interface `downloads`, serde JSON). Files live
// in our drive as /app-store:sys/downloads/<pkg>/<version hash>.zip, each with its
// manifest.json beside it as <version hash>.json.
//   from this node:  AddDownload (+ zip blob), GetFiles, RemoveFile, StartMirroring,
//                    StopMirroring, LocalDownload, AutoUpdate (from chain), MirrorCheck
//   from any node:   MirrorCheck -> "Success" | {"Err": "NotMirroring"}
//                    RemoteDownload {package_id, desired_version_hash, worker_address}: when we
//                    mirror that package and have that version, "Success", then Size and
//                    Chunk (256 KiB, blob) requests pushed to worker_address in order
//                    Size / Chunk: for a download we started from that node
// A download (LocalDownload from a node) asks the node's downloads for RemoteDownload with
// worker_address = us, and appends the chunks that arrive in order to <hash>.zip.part,
// telling main:app-store:sys its Progress; at the end the file must hash (sha256) to the
// version hash, else HashMismatch, and be a zip with a manifest.json. Then DownloadComplete.
//
// Resuming (hyperdeno's, compatible with Hyperdrive's mirrors): a download's record and its
// .part file survive restarts. When no chunk came for STALL_MS, or after we restart, we ask
// again with RemoteDownload carrying "offset": the bytes we have (a field Hyperdrive's serde
// ignores: its mirrors send from 0 and we skip what we have; ours send from the offset). A
// node that stays silent or offline for GIVE_UP_MS ends the download with Offline/Timeout,
// after trying the package's other mirrors (from its listing).
//
// A process module: the standard API and the package's own lib/ are all it imports.

import {
  getBlob,
  getState,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
  setState,
} from "hyperware:process/standard@1.0.0";
import {
  type Address,
  type Blob,
  type Capability,
  dec,
  enc,
  errorText,
  isObj,
  local,
  Malformed,
  me,
  pidString,
  type WitMessage,
  type WitRequest,
} from "./lib/process.ts";
import { keccak256Hex, sha256Hex } from "./lib/hash.ts";

interface PackageIdJson {
  package_name: string;
  publisher_node: string;
}
export type DownloadError =
  | "NoPackage"
  | "NotMirroring"
  | { HashMismatch: { desired: string; actual: string } }
  | "FileNotFound"
  | "WorkerSpawnFailed"
  | "HttpClientError"
  | "BlobNotFound"
  | "VfsError"
  | "Timeout"
  | "InvalidManifest"
  | "Offline";

// ---------------------------------------------------------------------------

const DRIVE = "/app-store:sys/downloads";
const SCRATCH = `${DRIVE}/tmp`;
/** Hyperdrive's ft-worker chunk size. */
export const CHUNK_SIZE = 262144;
/** No chunk for this long: ask the mirror again from what we have. */
let STALL_MS = 4_000;
/** No progress for this long (mirror silent or offline): the download fails. */
let GIVE_UP_MS = 120_000;
const TICK_MS = 1_000;
/** Timings may be lowered (tests) in this file: {"stall_ms", "give_up_ms"}. */
const TIMING_FILE = "/app-store:sys/initfiles/downloads.json";

const VFS = local("vfs", "distro", "sys");
const TIMER = local("timer", "distro", "sys");
const MAIN = local("main", "app-store", "sys");
const CHAIN = local("chain", "app-store", "sys");
const HTTP_CLIENT = local("http-client", "distro", "sys");
const SELF = `${me.node}@downloads:app-store:sys`;

function log(verbosity: number, text: string): void {
  printToTerminal(verbosity, `downloads: ${text}`);
}

const PACKAGE_NAME = /^[a-z0-9-]+$/;
const NODE = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;
const HASH = /^[0-9a-f]{64}$/;

function readPackageId(v: unknown, what = "package_id"): string {
  if (!isObj(v)) throw new Malformed(`${what}: expected {package_name, publisher_node}`);
  const { package_name: n, publisher_node: p } = v;
  if (typeof n !== "string" || !PACKAGE_NAME.test(n)) throw new Malformed(`${what}.package_name`);
  if (typeof p !== "string" || !NODE.test(p)) throw new Malformed(`${what}.publisher_node`);
  return `${n}:${p}`;
}
function pkgJson(id: string): PackageIdJson {
  const i = id.indexOf(":");
  return { package_name: id.slice(0, i), publisher_node: id.slice(i + 1) };
}
function readHash(v: unknown, what: string): string {
  if (typeof v !== "string" || !HASH.test(v)) {
    throw new Malformed(`${what}: expected 64 lowercase hex digits`);
  }
  return v;
}
function readU64(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new Malformed(`${what}: expected a non-negative integer`);
  }
  return v;
}

// ---------------------------------------------------------------------------
// Requests to other processes

function request(body: unknown, timeout?: number, capabilities: Capability[] = []): WitRequest {
  return {
    inherit: false,
    expectsResponse: timeout === undefined ? undefined : BigInt(timeout),
    body: enc.encode(JSON.stringify(body)),
    metadata: undefined,
    capabilities,
  };
}

function call(target: Address, body: unknown, blob?: Blob, timeout = 30) {
  const [, message] = sendAndAwaitResponse(target, request(body, timeout), blob) as [
    Address,
    WitMessage,
  ];
  if (message.tag !== "response") throw new Error("expected a response");
  return {
    answer: JSON.parse(dec.decode(message.val[0].body)) as unknown,
    blob: getBlob() as Blob | undefined,
  };
}

function tell(target: Address, body: unknown, blob?: Blob): void {
  sendRequest(target, request(body), undefined, blob);
}

/** A request whose answer comes back to our loop with `context` (JSON). */
function ask(target: Address, body: unknown, context: unknown, timeout: number): void {
  sendRequest(target, request(body, timeout), enc.encode(JSON.stringify(context)), undefined);
}

function vfs(path: string, action: unknown, blob?: Blob, timeout = 60) {
  return call(VFS, { path, action }, blob, timeout);
}
function vfsOk(path: string, action: unknown, blob?: Blob): void {
  const { answer } = vfs(path, action, blob);
  if (answer !== "Ok") {
    throw new Error(`vfs ${JSON.stringify(action)} ${path}: ${JSON.stringify(answer)}`);
  }
}
function vfsRead(path: string): Uint8Array | undefined {
  try {
    const { answer, blob } = vfs(path, "Read");
    if (answer === "Read" && blob) return blob.bytes;
  } catch { /* none */ }
  return undefined;
}
function vfsLen(path: string): number | undefined {
  try {
    const { answer } = vfs(path, "Metadata");
    if (isObj(answer) && isObj(answer.Metadata) && answer.Metadata.file_type === "File") {
      return Number(answer.Metadata.len);
    }
  } catch { /* none */ }
  return undefined;
}
function vfsRemove(path: string): void {
  try {
    vfs(path, "RemoveFile");
  } catch { /* gone */ }
}
function vfsHash(path: string): string {
  const { answer } = vfs(path, "Hash", undefined, 120);
  if (!isObj(answer) || !Array.isArray(answer.Hash)) {
    throw new Error(`vfs Hash ${path}: ${JSON.stringify(answer)}`);
  }
  return (answer.Hash as number[]).map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------
// State: what we mirror (persisted, as Hyperdrive's), and downloads under way (ours)

interface Transfer {
  pkg: string;
  hash: string;
  /** the node we download from */
  from: string;
  /** total size, once the mirror told us */
  size: number | null;
  /** bytes in .part (in order) */
  have: number;
  /** last chunk, or last (re)request: ms */
  lastActivity: number;
  /** last time bytes arrived */
  lastProgress: number;
  /** mirrors still to try after this one, and the ones that failed */
  mirrorsLeft: string[];
  failed: [string, DownloadError][];
  /** started by AutoUpdate */
  auto: boolean;
  /** why the mirror did not answer lately (the error if we give up) */
  lastError?: DownloadError;
  /** chunks received but not yet appended to .part (written every FLUSH_BYTES) */
  pending?: Uint8Array[];
  pendingBytes?: number;
  lastReport?: number;
}

/** Received bytes kept in memory before one append (a restart re-asks for them). */
const FLUSH_BYTES = 4 * 1024 * 1024;
/** Progress goes to main at most this often (and at the end). */
const REPORT_MS = 100;

interface Saved {
  mirroring: string[];
  transfers: Omit<Transfer, "have" | "lastActivity" | "lastProgress">[];
}

const mirroring = new Set<string>();
const transfers = new Map<string, Transfer>();
let ticking = false;

function key(pkg: string, hash: string): string {
  return `${pkg}/${hash}`;
}
function pkgDir(pkg: string): string {
  return `${DRIVE}/${pkg}`;
}
function partPath(t: { pkg: string; hash: string }): string {
  return `${pkgDir(t.pkg)}/${t.hash}.zip.part`;
}

function save(): void {
  const s: Saved = {
    mirroring: [...mirroring].sort(),
    transfers: [...transfers.values()].map((t) => ({
      lastError: undefined,
      pkg: t.pkg,
      hash: t.hash,
      from: t.from,
      size: t.size,
      mirrorsLeft: t.mirrorsLeft,
      failed: t.failed,
      auto: t.auto,
    })),
  };
  setState(enc.encode(JSON.stringify(s)));
}

function load(): Saved {
  try {
    const bytes = getState();
    if (bytes) {
      const v = JSON.parse(dec.decode(bytes));
      // Hyperdrive's state: {"mirroring": [PackageId, ...]}
      const m = Array.isArray(v.mirroring) ? v.mirroring : [];
      return {
        mirroring: m.map((x: unknown) => (typeof x === "string" ? x : readPackageId(x))),
        transfers: Array.isArray(v.transfers) ? v.transfers : [],
      };
    }
  } catch (e) {
    log(0, `ignoring unreadable saved state: ${errorText(e)}`);
  }
  return { mirroring: [], transfers: [] };
}

// ---------------------------------------------------------------------------
// Package files

/**
 * Where an added zip's tree, unpacked to check it, waits for main:app-store:sys's Install,
 * which renames it into its staging drive instead of unzipping the same bytes again (the
 * vfs's unzip is most of an install's time): <UNPACKED>/<pkg>/<version hash>, kept only
 * when the bytes hash to that version hash, one per package, cleared with SCRATCH at start.
 */
const UNPACKED = `${SCRATCH}/unpacked`;

/**
 * Checks `bytes` is a zip the vfs can unpack with a manifest.json that is a list, and
 * returns that manifest's text. (Unzipped into `keep`, left there when it checks out, else
 * into our scratch dir and removed.)
 */
function manifestOf(bytes: Uint8Array, keep?: string): string {
  const dir = keep ?? `${SCRATCH}/${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  let checked = false;
  try {
    const { answer } = vfs(dir, "AddZip", { mime: "application/zip", bytes }, 120);
    if (answer !== "Ok") throw new Error(`not a package zip: ${JSON.stringify(answer)}`);
    const m = vfsRead(`${dir}/manifest.json`);
    if (!m) throw new Error("the zip has no manifest.json");
    const text = dec.decode(m);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new Error("manifest.json is not JSON");
    }
    if (!Array.isArray(v)) throw new Error("manifest.json is not a list of processes");
    checked = true;
    return text;
  } finally {
    if (!checked || keep === undefined) {
      try {
        vfs(dir, "RemoveDirAll");
      } catch { /* gone */ }
    }
  }
}

/** `verified`: `hash` is known to be the bytes' sha256 (else it is computed here). */
function addDownload(
  pkg: string,
  hash: string,
  mirror: boolean,
  bytes: Uint8Array,
  verified = false,
): void {
  // a tree is kept for Install only under the hash its bytes really have
  let keep: string | undefined;
  if (verified || sha256Hex(bytes) === hash) {
    keep = `${UNPACKED}/${pkg}/${hash}`;
    try {
      vfs(`${UNPACKED}/${pkg}`, "RemoveDirAll");
    } catch { /* none yet */ }
  }
  const manifest = manifestOf(bytes, keep);
  vfsOk(pkgDir(pkg), "CreateDirAll");
  vfsOk(`${pkgDir(pkg)}/${hash}.zip`, "Write", { mime: "application/zip", bytes });
  vfsOk(`${pkgDir(pkg)}/${hash}.json`, "Write", {
    mime: "application/json",
    bytes: enc.encode(manifest),
  });
  if (mirror) {
    mirroring.add(pkg);
    save();
  }
}

type Entry =
  | { File: { name: string; size: number; manifest: string } }
  | { Dir: { name: string; mirroring: boolean } };

function getFiles(pkg: string | null): Entry[] {
  const dir = pkg === null ? DRIVE : pkgDir(pkg);
  const { answer } = vfs(dir, "ReadDir");
  if (!isObj(answer) || !Array.isArray(answer.ReadDir)) return [];
  const out: Entry[] = [];
  for (const e of answer.ReadDir as { path: string; file_type: string }[]) {
    const name = e.path.split("/").pop() ?? "";
    if (e.file_type === "File" && name.endsWith(".zip")) {
      const full = `${dir}/${name}`;
      const m = vfsRead(full.replace(/\.zip$/, ".json"));
      out.push({ File: { name, size: vfsLen(full) ?? 0, manifest: m ? dec.decode(m) : "" } });
    } else if (e.file_type === "Directory" && name !== "tmp") {
      out.push({ Dir: { name, mirroring: mirroring.has(name) } });
    }
  }
  return out.sort((a, b) => entryName(a).localeCompare(entryName(b)));
}
function entryName(e: Entry): string {
  return "File" in e ? e.File.name : e.Dir.name;
}

function haveZip(pkg: string, hash: string): boolean {
  return vfsLen(`${pkgDir(pkg)}/${hash}.zip`) !== undefined;
}

// ---------------------------------------------------------------------------
// manifest.json out of a package zip, without unpacking the rest: the central directory
// read, the one entry inflated (stored or deflated). A download's bytes are checked
// against its version hash; the whole archive is unpacked and vetted at install.

const MAX_MANIFEST = 4 * 1024 * 1024;

/** The text of `name` in the zip `zip`; throws why it cannot be read. */
export function zipEntryText(zip: Uint8Array, name: string): string {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (v.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip archive (no end of central directory)");
  const count = v.getUint16(eocd + 10, true);
  let p = v.getUint32(eocd + 16, true);
  if (p === 0xffffffff || count === 0xffff) throw new Error("zip64 archives are read at install");
  for (let i = 0; i < count; i++) {
    if (p + 46 > zip.length || v.getUint32(p, true) !== 0x02014b50) {
      throw new Error("bad central directory entry");
    }
    const method = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    const csize = v.getUint32(p + 20, true);
    const size = v.getUint32(p + 24, true);
    const nlen = v.getUint16(p + 28, true);
    const elen = v.getUint16(p + 30, true);
    const clen = v.getUint16(p + 32, true);
    const local = v.getUint32(p + 42, true);
    const entry = dec.decode(zip.subarray(p + 46, p + 46 + nlen));
    p += 46 + nlen + elen + clen;
    if (entry !== name) continue;
    if (size > MAX_MANIFEST) throw new Error(`${name} is larger than ${MAX_MANIFEST} bytes`);
    if (local + 30 > zip.length || v.getUint32(local, true) !== 0x04034b50) {
      throw new Error(`bad local header for ${name}`);
    }
    const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    if (start + csize > zip.length) throw new Error(`${name} runs past the archive`);
    const raw = zip.subarray(start, start + csize);
    const data = method === 0 ? raw : method === 8 ? inflateRaw(raw, size) : undefined;
    if (!data) throw new Error(`${name}: unsupported compression method ${method}`);
    if (data.length !== size) throw new Error(`${name} is not the size its header says`);
    if (crc32(data) !== crc) throw new Error(`${name} fails its CRC-32 check`);
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  }
  throw new Error(`the zip has no ${name}`);
}

let crcTable: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const LBASE = [
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11,
  13,
  15,
  17,
  19,
  23,
  27,
  31,
  35,
  43,
  51,
  59,
  67,
  83,
  99,
  115,
  131,
  163,
  195,
  227,
  258,
];
const LEXT = [
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  1,
  1,
  1,
  1,
  2,
  2,
  2,
  2,
  3,
  3,
  3,
  3,
  4,
  4,
  4,
  4,
  5,
  5,
  5,
  5,
  0,
];
const DBASE = [
  1,
  2,
  3,
  4,
  5,
  7,
  9,
  13,
  17,
  25,
  33,
  49,
  65,
  97,
  129,
  193,
  257,
  385,
  513,
  769,
  1025,
  1537,
  2049,
  3073,
  4097,
  6145,
  8193,
  12289,
  16385,
  24577,
];
const DEXT = [
  0,
  0,
  0,
  0,
  1,
  1,
  2,
  2,
  3,
  3,
  4,
  4,
  5,
  5,
  6,
  6,
  7,
  7,
  8,
  8,
  9,
  9,
  10,
  10,
  11,
  11,
  12,
  12,
  13,
  13,
];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
}

function huffman(lengths: ArrayLike<number>, n: number): Huffman {
  const count = new Uint16Array(16);
  for (let i = 0; i < n; i++) count[lengths[i]]++;
  count[0] = 0;
  const offs = new Uint16Array(16);
  for (let len = 1; len < 16; len++) offs[len] = offs[len - 1] + count[len - 1];
  const symbol = new Uint16Array(n);
  for (let i = 0; i < n; i++) if (lengths[i] !== 0) symbol[offs[lengths[i]]++] = i;
  return { count, symbol };
}

/** Raw DEFLATE (RFC 1951), at most `limit` bytes out. */
export function inflateRaw(src: Uint8Array, limit: number): Uint8Array {
  let pos = 0, buf = 0, cnt = 0;
  const out = new Uint8Array(limit);
  let o = 0;
  const bits = (n: number): number => {
    while (cnt < n) {
      if (pos >= src.length) throw new Error("deflate data ends early");
      buf |= src[pos++] << cnt;
      cnt += 8;
    }
    const v = buf & ((1 << n) - 1);
    buf >>>= n;
    cnt -= n;
    return v;
  };
  const decode = (h: Huffman): number => {
    let code = 0, first = 0, index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const c = h.count[len];
      if (code - c < first) return h.symbol[index + (code - first)];
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
    throw new Error("bad deflate code");
  };
  const put = (b: number) => {
    if (o >= limit) throw new Error("deflate data inflates past its size");
    out[o++] = b;
  };
  let fixed: [Huffman, Huffman] | undefined;
  for (;;) {
    const last = bits(1);
    const type = bits(2);
    if (type === 0) {
      buf = 0;
      cnt = 0;
      if (pos + 4 > src.length) throw new Error("deflate data ends early");
      const len = src[pos] | (src[pos + 1] << 8);
      const nlen = src[pos + 2] | (src[pos + 3] << 8);
      if ((len ^ 0xffff) !== nlen) throw new Error("bad stored block");
      pos += 4;
      if (pos + len > src.length) throw new Error("deflate data ends early");
      for (let i = 0; i < len; i++) put(src[pos + i]);
      pos += len;
    } else if (type === 1 || type === 2) {
      let lit: Huffman, dist: Huffman;
      if (type === 1) {
        if (!fixed) {
          const l = new Uint8Array(288);
          l.fill(8, 0, 144);
          l.fill(9, 144, 256);
          l.fill(7, 256, 280);
          l.fill(8, 280, 288);
          fixed = [huffman(l, 288), huffman(new Uint8Array(30).fill(5), 30)];
        }
        [lit, dist] = fixed;
      } else {
        const nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4;
        if (nlen > 286 || ndist > 30) throw new Error("bad dynamic block");
        const cl = new Uint8Array(19);
        for (let i = 0; i < ncode; i++) cl[CL_ORDER[i]] = bits(3);
        const clh = huffman(cl, 19);
        const lengths = new Uint8Array(nlen + ndist);
        for (let i = 0; i < nlen + ndist;) {
          const sym = decode(clh);
          if (sym < 16) lengths[i++] = sym;
          else {
            let rep: number, val = 0;
            if (sym === 16) {
              if (i === 0) throw new Error("bad repeat");
              val = lengths[i - 1];
              rep = 3 + bits(2);
            } else if (sym === 17) rep = 3 + bits(3);
            else rep = 11 + bits(7);
            if (i + rep > nlen + ndist) throw new Error("too many lengths");
            while (rep--) lengths[i++] = val;
          }
        }
        lit = huffman(lengths.subarray(0, nlen), nlen);
        dist = huffman(lengths.subarray(nlen), ndist);
      }
      for (;;) {
        const sym = decode(lit);
        if (sym < 256) put(sym);
        else if (sym === 256) break;
        else {
          const li = sym - 257;
          if (li >= 29) throw new Error("bad length code");
          const len = LBASE[li] + bits(LEXT[li]);
          const di = decode(dist);
          if (di >= 30) throw new Error("bad distance code");
          const d = DBASE[di] + bits(DEXT[di]);
          if (d > o) throw new Error("distance too far back");
          for (let i = 0; i < len; i++) put(out[o - d]);
        }
      }
    } else throw new Error("bad deflate block type");
    if (last) break;
  }
  return out.subarray(0, o);
}

/** A download's manifest.json (it must be a JSON list), read from the zip in memory. */
function manifestFromZip(bytes: Uint8Array): string {
  const text = zipEntryText(bytes, "manifest.json");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error("manifest.json is not JSON");
  }
  if (!Array.isArray(v)) throw new Error("manifest.json is not a list of processes");
  return text;
}

// ---------------------------------------------------------------------------
// Sending (we are the mirror)

/** Pushes the zip's Size then its chunks from `offset` to the receiver, in order. */
function sendTo(worker: Address, pkg: string, hash: string, offset: number): void {
  const bytes = vfsRead(`${pkgDir(pkg)}/${hash}.zip`);
  if (!bytes) return;
  const pid = pkgJson(pkg);
  tell(worker, { Size: { package_id: pid, size: bytes.length } });
  const start = Math.min(Math.floor(offset / CHUNK_SIZE) * CHUNK_SIZE, bytes.length);
  for (let off = start; off < bytes.length; off += CHUNK_SIZE) {
    const chunk = bytes.subarray(off, Math.min(off + CHUNK_SIZE, bytes.length));
    tell(
      worker,
      { Chunk: { package_id: pid, version_hash: hash, offset: off, length: chunk.length } },
      { mime: undefined, bytes: chunk.slice() },
    );
  }
  log(1, `sent ${pkg} ${hash.slice(0, 8)} from ${start} to ${worker.node}`);
}

function parseAddress(s: string): Address | undefined {
  const at = s.indexOf("@");
  if (at < 0) return undefined;
  const parts = s.slice(at + 1).split(":");
  if (parts.length !== 3 || parts.some((p) => p === "")) return undefined;
  const node = s.slice(0, at);
  if (!NODE.test(node)) return undefined;
  return {
    node,
    process: { processName: parts[0], packageName: parts[1], publisherNode: parts[2] },
  };
}

// ---------------------------------------------------------------------------
// Receiving (we download)

function progress(t: Transfer): void {
  tell(MAIN, {
    package_id: pkgJson(t.pkg),
    version_hash: t.hash,
    downloaded: t.have,
    total: t.size ?? 0,
  });
}

/** Asks `t.from` for the file from what we have; its answer comes back to our loop. */
function requestFrom(t: Transfer): void {
  t.lastActivity = Date.now();
  ask(
    {
      node: t.from,
      process: { processName: "downloads", packageName: "app-store", publisherNode: "sys" },
    },
    {
      RemoteDownload: {
        package_id: pkgJson(t.pkg),
        desired_version_hash: t.hash,
        worker_address: SELF,
        offset: t.have,
      },
    },
    {
      LocalDownload: {
        package_id: pkgJson(t.pkg),
        download_from: t.from,
        desired_version_hash: t.hash,
      },
    },
    30,
  );
  tick();
}

/** Other places the package is mirrored (its publisher, its listing's mirrors). */
function mirrorCandidates(pkg: string): string[] {
  try {
    const { answer } = call(CHAIN, { GetApp: pkgJson(pkg) }, undefined, 10);
    const app = isObj(answer) ? answer.GetApp : undefined;
    const props = isObj(app) && isObj(app.metadata) ? app.metadata.properties : undefined;
    if (!isObj(props)) return [];
    const out: string[] = [];
    for (const m of [props.publisher, ...(Array.isArray(props.mirrors) ? props.mirrors : [])]) {
      if (typeof m === "string" && m !== "" && !out.includes(m)) out.push(m);
    }
    return out;
  } catch {
    return [];
  }
}

function startDownload(
  pkg: string,
  hash: string,
  from: string,
  auto: boolean,
  mirrors?: string[],
): void {
  const k = key(pkg, hash);
  const existing = transfers.get(k);
  if (existing) {
    // already under way: ask again (perhaps from another mirror)
    existing.from = from;
    requestFrom(existing);
    return;
  }
  if (haveZip(pkg, hash)) {
    complete(pkg, hash, null, auto);
    return;
  }
  if (from.startsWith("http://") || from.startsWith("https://")) {
    httpDownload(pkg, hash, from, auto);
    return;
  }
  vfsOk(pkgDir(pkg), "CreateDirAll");
  const candidates = (mirrors ?? mirrorCandidates(pkg)).filter((m) => m !== from);
  const t: Transfer = {
    pkg,
    hash,
    from,
    size: null,
    have: vfsLen(partPath({ pkg, hash })) ?? 0,
    lastActivity: Date.now(),
    lastProgress: Date.now(),
    mirrorsLeft: candidates,
    failed: [],
    auto,
  };
  if (t.have === 0) vfsOk(partPath(t), "Write", { mime: undefined, bytes: new Uint8Array() });
  transfers.set(k, t);
  save();
  log(1, `downloading ${pkg} ${hash.slice(0, 8)} from ${from}`);
  requestFrom(t);
}

/** A chunk for one of our downloads: appended when it is the next one. */
function onChunk(source: Address, c: Record<string, unknown>, blob: Blob | undefined): void {
  const pkg = readPackageId(c.package_id);
  const hash = readHash(c.version_hash, "version_hash");
  const offset = readU64(c.offset, "offset");
  const t = transfers.get(key(pkg, hash));
  if (!t || source.node !== t.from) {
    log(2, `ignored a chunk of ${pkg} from ${source.node}`);
    return;
  }
  t.lastActivity = Date.now();
  t.lastError = undefined;
  const bytes = blob?.bytes ?? new Uint8Array();
  if (offset + bytes.length <= t.have) return; // already have it (a mirror sending from 0)
  if (offset > t.have) return; // a gap: the stall check asks again from what we have
  const fresh = bytes.subarray(t.have - offset);
  (t.pending ??= []).push(fresh);
  t.pendingBytes = (t.pendingBytes ?? 0) + fresh.length;
  t.have += fresh.length;
  t.lastProgress = Date.now();
  const complete = t.size !== null && t.have >= t.size;
  if (complete || t.pendingBytes >= FLUSH_BYTES) flush(t);
  if (complete || t.lastProgress - (t.lastReport ?? 0) >= REPORT_MS) {
    t.lastReport = t.lastProgress;
    progress(t);
  }
  if (complete) finish(t);
}

/** Appends what is held in memory to the .part file. */
function flush(t: Transfer): void {
  if (!t.pending?.length) return;
  const all = new Uint8Array(t.pendingBytes ?? 0);
  let o = 0;
  for (const b of t.pending) {
    all.set(b, o);
    o += b.length;
  }
  t.pending = [];
  t.pendingBytes = 0;
  vfsOk(partPath(t), "Append", { mime: undefined, bytes: all });
}

function onSize(source: Address, s: Record<string, unknown>): void {
  // (a Size restarts nothing: chunks we hold stay valid for the same version)
  const pkg = readPackageId(s.package_id);
  const size = readU64(s.size, "size");
  for (const t of transfers.values()) {
    if (t.pkg === pkg && t.from === source.node) {
      t.size = size;
      t.lastActivity = Date.now();
      save();
      progress(t);
      if (t.have >= size) finish(t);
    }
  }
}

/** All bytes are here: the hash must match and the zip must hold a manifest. */
function finish(t: Transfer): void {
  transfers.delete(key(t.pkg, t.hash));
  save();
  const part = partPath(t);
  let err: DownloadError | null = null;
  try {
    const actual = vfsHash(part);
    if (actual !== t.hash) {
      log(0, `${t.pkg} from ${t.from}: hash mismatch: desired ${t.hash} != actual ${actual}`);
      err = { HashMismatch: { desired: t.hash, actual } };
    } else {
      const bytes = vfsRead(part)!;
      let manifest: string;
      try {
        manifest = manifestFromZip(bytes);
      } catch (e) {
        log(0, `${t.pkg} from ${t.from}: ${errorText(e)}`);
        err = "InvalidManifest";
        throw e;
      }
      vfsOk(part, { Rename: { new_path: `${pkgDir(t.pkg)}/${t.hash}.zip` } });
      vfsOk(`${pkgDir(t.pkg)}/${t.hash}.json`, "Write", {
        mime: "application/json",
        bytes: enc.encode(manifest),
      });
    }
  } catch (e) {
    err ??= "VfsError";
    log(1, `finishing ${t.pkg}: ${errorText(e)}`);
  }
  if (err !== null) {
    vfsRemove(part);
    return failed(t, err);
  }
  log(0, `downloaded ${t.pkg} ${t.hash.slice(0, 8)} from ${t.from}`);
  complete(t.pkg, t.hash, null, t.auto);
}

/** The current mirror failed: the next one, or the download fails with `err`. */
function failed(t: Transfer, err: DownloadError): void {
  t.failed.push([t.from, err]);
  const next = t.mirrorsLeft.shift();
  if (next !== undefined) {
    log(0, `download of ${t.pkg} from ${t.from} failed (${JSON.stringify(err)}); trying ${next}`);
    t.from = next;
    t.size = null;
    t.lastProgress = Date.now();
    if (vfsLen(partPath(t)) === undefined) {
      vfsOk(partPath(t), "Write", { mime: undefined, bytes: new Uint8Array() });
      t.have = 0;
      t.pending = [];
      t.pendingBytes = 0;
    }
    transfers.set(key(t.pkg, t.hash), t);
    save();
    requestFrom(t);
    return;
  }
  transfers.delete(key(t.pkg, t.hash));
  save();
  vfsRemove(partPath(t));
  log(0, `download of ${t.pkg} ${t.hash.slice(0, 8)} failed: ${JSON.stringify(err)}`);
  if (t.auto) {
    tell(MAIN, { Err: { package_id: pkgJson(t.pkg), version_hash: t.hash, tries: t.failed } });
  }
  tell(MAIN, { package_id: pkgJson(t.pkg), version_hash: t.hash, err });
}

function complete(pkg: string, hash: string, err: DownloadError | null, auto: boolean): void {
  tell(MAIN, { package_id: pkgJson(pkg), version_hash: hash, err });
  if (auto && err === null) {
    const m = vfsRead(`${pkgDir(pkg)}/${hash}.json`);
    tell(MAIN, {
      Success: {
        package_id: pkgJson(pkg),
        version_hash: hash,
        manifest_hash: m ? keccak256Hex(m) : "",
      },
    });
  }
}

/** Keeps a timer running while downloads are under way; each pop checks for stalls. */
function tick(): void {
  if (ticking || transfers.size === 0) return;
  ticking = true;
  ask(TIMER, { SetTimer: TICK_MS }, { Tick: null }, 5);
}

function onTick(): void {
  ticking = false;
  const now = Date.now();
  for (const t of [...transfers.values()]) {
    if (now - t.lastProgress > GIVE_UP_MS) {
      failed(t, t.lastError ?? "Timeout");
    } else if (now - t.lastActivity > STALL_MS) {
      flush(t);
      log(1, `${t.pkg} from ${t.from}: no chunk for ${STALL_MS} ms; asking again from ${t.have}`);
      requestFrom(t);
    }
  }
  tick();
}

/** The mirror's answer to our RemoteDownload (or its send error). */
function onRemoteAnswer(ctx: Record<string, unknown>, answer: unknown, sendError?: string): void {
  const r = isObj(ctx.LocalDownload) ? ctx.LocalDownload : undefined;
  if (!r) return;
  const pkg = readPackageId(r.package_id);
  const hash = readHash(r.desired_version_hash, "desired_version_hash");
  const t = transfers.get(key(pkg, hash));
  if (!t || t.from !== r.download_from) return;
  if (sendError) {
    // offline or slow: the stall check asks again until GIVE_UP_MS without progress
    log(1, `${pkg}: ${t.from} ${sendError}; will ask again`);
    t.lastError = sendError === "offline" ? "Offline" : "Timeout";
    return;
  }
  if (answer === "Success") return;
  if (isObj(answer) && "Err" in answer) {
    log(0, `${pkg}: ${t.from} answered ${JSON.stringify(answer.Err)}`);
    failed(t, answer.Err as DownloadError);
  }
}

// ---------------------------------------------------------------------------
// HTTP mirrors

function httpDownload(pkg: string, hash: string, url: string, auto: boolean): void {
  ask(
    HTTP_CLIENT,
    { Http: { method: "GET", version: null, url, headers: {} } },
    { Http: { package_id: pkgJson(pkg), download_from: url, desired_version_hash: hash, auto } },
    60,
  );
}

function onHttpAnswer(ctx: Record<string, unknown>, answer: unknown, blob: Blob | undefined): void {
  const r = ctx.Http as Record<string, unknown>;
  const pkg = readPackageId(r.package_id);
  const hash = readHash(r.desired_version_hash, "desired_version_hash");
  const auto = r.auto === true;
  const ok = isObj(answer) && isObj(answer.Ok) && isObj(answer.Ok.Http) &&
    answer.Ok.Http.status === 200;
  if (!ok || !blob) return complete(pkg, hash, "HttpClientError", auto);
  const actual = sha256Hex(blob.bytes);
  if (actual !== hash) {
    return complete(pkg, hash, { HashMismatch: { desired: hash, actual } }, auto);
  }
  try {
    addDownload(pkg, hash, false, blob.bytes, true);
  } catch (e) {
    log(0, `${pkg} from ${r.download_from}: ${errorText(e)}`);
    return complete(pkg, hash, "InvalidManifest", auto);
  }
  complete(pkg, hash, null, auto);
}

// ---------------------------------------------------------------------------
// Auto-update (from chain:app-store:sys when a listing changes)

function autoUpdate(pkg: string, metadata: unknown): void {
  if (!isObj(metadata) || !isObj(metadata.properties)) throw new Malformed("AutoUpdate.metadata");
  const p = metadata.properties;
  const current = p.current_version;
  const hashes = Array.isArray(p.code_hashes) ? p.code_hashes as [string, string][] : [];
  const hash = hashes.find(([v]) => v === current)?.[1];
  if (!hash || !HASH.test(hash)) {
    throw new Error(`auto_update: ${pkg}: no hash for current version ${JSON.stringify(current)}`);
  }
  if (haveZip(pkg, hash)) {
    log(1, `auto_update: ${pkg} ${hash.slice(0, 8)} is already here`);
    return;
  }
  const mirrors: string[] = [];
  for (const m of [p.publisher, ...(Array.isArray(p.mirrors) ? p.mirrors : [])]) {
    if (typeof m === "string" && m !== "" && !mirrors.includes(m)) mirrors.push(m);
  }
  const first = mirrors.shift();
  if (!first) throw new Error(`auto_update: ${pkg}: no mirrors`);
  log(0, `auto_update: kicking off download for ${pkg} with version ${hash} from mirror ${first}`);
  startDownload(pkg, hash, first, true, mirrors);
}

// ---------------------------------------------------------------------------
// Requests

function answer(req: WitRequest, value: unknown): void {
  if (req.expectsResponse === undefined) return;
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify(value)),
      metadata: undefined,
      capabilities: [],
    },
    undefined,
  );
}

function handleRequest(source: Address, req: WitRequest): void {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(req.body));
  } catch {
    log(1, `dropped a request from ${source.node}: not JSON`);
    return;
  }
  const isLocal = source.node === me.node;
  const [tag, val] = typeof v === "string"
    ? [v, null]
    : isObj(v) && Object.keys(v).length === 1
    ? [Object.keys(v)[0], Object.values(v)[0]]
    : ["", null];
  // what other nodes may ask
  switch (tag) {
    case "MirrorCheck": {
      const pkg = readPackageId(val);
      return answer(req, mirroring.has(pkg) ? "Success" : { Err: "NotMirroring" });
    }
    case "RemoteDownload": {
      if (!isObj(val)) throw new Malformed("RemoteDownload");
      const pkg = readPackageId(val.package_id);
      const hash = readHash(val.desired_version_hash, "desired_version_hash");
      const worker = typeof val.worker_address === "string"
        ? parseAddress(val.worker_address)
        : undefined;
      if (!worker || worker.node !== source.node) {
        throw new Malformed("worker_address: expected an address on the asking node");
      }
      const offset = val.offset === undefined || val.offset === null
        ? 0
        : readU64(val.offset, "offset");
      if (!mirroring.has(pkg)) return answer(req, { Err: "NotMirroring" });
      if (!haveZip(pkg, hash)) return answer(req, { Err: "FileNotFound" });
      answer(req, "Success");
      sendTo(worker, pkg, hash, offset);
      return;
    }
    case "Chunk":
      if (!isObj(val)) throw new Malformed("Chunk");
      return onChunk(source, val, getBlob() as Blob | undefined);
    case "Size":
      if (!isObj(val)) throw new Malformed("Size");
      return onSize(source, val);
  }
  if (!isLocal) {
    log(1, `dropped ${JSON.stringify(tag)} from ${source.node}: only this node may ask that`);
    return;
  }
  switch (tag) {
    case "AddDownload": {
      if (!isObj(val)) throw new Malformed("AddDownload");
      const pkg = readPackageId(val.package_id);
      const hash = readHash(val.version_hash, "version_hash");
      const blob = getBlob() as Blob | undefined;
      if (!blob) return answer(req, { Err: "BlobNotFound" });
      // main:app-store:sys hashed these very bytes to name the version: no second hash
      const hashed = pidString(source.process) === pidString(MAIN.process);
      try {
        addDownload(pkg, hash, val.mirror === true, blob.bytes, hashed);
      } catch (e) {
        log(0, `AddDownload ${pkg}: ${errorText(e)}`);
        return answer(req, { Err: "InvalidManifest" });
      }
      return answer(req, "Success");
    }
    case "GetFiles": {
      const pkg = val === null ? null : readPackageId(val);
      return answer(req, { GetFiles: getFiles(pkg) });
    }
    case "RemoveFile": {
      if (!isObj(val)) throw new Malformed("RemoveFile");
      const pkg = readPackageId(val.package_id);
      const hash = readHash(val.version_hash, "version_hash");
      vfsRemove(`${pkgDir(pkg)}/${hash}.zip`);
      vfsRemove(`${pkgDir(pkg)}/${hash}.json`);
      return answer(req, "Success");
    }
    case "StartMirroring":
    case "StopMirroring": {
      const pkg = readPackageId(val);
      if (tag === "StartMirroring") mirroring.add(pkg);
      else mirroring.delete(pkg);
      save();
      return answer(req, "Success");
    }
    case "LocalDownload": {
      if (!isObj(val)) throw new Malformed("LocalDownload");
      const pkg = readPackageId(val.package_id);
      const hash = readHash(val.desired_version_hash, "desired_version_hash");
      const from = val.download_from;
      if (typeof from !== "string" || (!NODE.test(from) && !/^https?:\/\//.test(from))) {
        throw new Malformed("download_from: expected a node name or a URL");
      }
      if (from === me.node) {
        answer(req, { Err: haveZip(pkg, hash) ? "NoPackage" : "FileNotFound" });
        return complete(pkg, hash, haveZip(pkg, hash) ? null : "FileNotFound", false);
      }
      // kit waits for "Success" (or "Started") and then for the package to show up
      answer(req, "Success");
      return startDownload(pkg, hash, from, false);
    }
    case "AutoUpdate": {
      if (!isObj(val)) throw new Malformed("AutoUpdate");
      const pkg = readPackageId(val.package_id);
      return autoUpdate(pkg, val.metadata);
    }
    case "Progress":
    case "DownloadComplete":
    case "AutoDownloadComplete":
      // Hyperdrive's ft-workers report to us; ours is the same process: nothing to forward
      return;
  }
  throw new Malformed(`unknown request ${JSON.stringify(tag)}`);
}

function handleResponse(message: WitMessage & { tag: "response" }): void {
  const [res, context] = message.val;
  if (!context) return;
  let ctx: unknown;
  try {
    ctx = JSON.parse(dec.decode(context));
  } catch {
    return;
  }
  if (!isObj(ctx)) return;
  if ("Tick" in ctx) return onTick();
  let body: unknown = null;
  try {
    body = JSON.parse(dec.decode(res.body));
  } catch { /* not JSON */ }
  if (isObj(ctx.Http)) return onHttpAnswer(ctx, body, getBlob() as Blob | undefined);
  onRemoteAnswer(ctx, body);
}

/** A request of ours failed: receive() throws {payload: [send error, context]}. */
function handleSendError(e: unknown): void {
  const payload = (e as { payload?: [{ kind?: string }, Uint8Array | undefined] })?.payload;
  if (!Array.isArray(payload)) return;
  const [err, ctxBytes] = payload;
  let ctx: unknown;
  try {
    ctx = ctxBytes ? JSON.parse(dec.decode(ctxBytes)) : undefined;
  } catch {
    return;
  }
  if (!isObj(ctx)) return;
  if ("Tick" in ctx) return onTick();
  if (isObj(ctx.Http)) {
    const r = ctx.Http;
    return complete(
      readPackageId(r.package_id),
      readHash(r.desired_version_hash, "hash"),
      "HttpClientError",
      r.auto === true,
    );
  }
  onRemoteAnswer(ctx, undefined, err?.kind ?? "send error");
}

// ---------------------------------------------------------------------------

export function init(_our: string): void {
  try {
    vfs(DRIVE, "CreateDrive");
    vfs(SCRATCH, "RemoveDirAll");
  } catch (e) {
    log(0, `could not create ${DRIVE}: ${errorText(e)}`);
  }
  const timing = vfsRead(TIMING_FILE);
  if (timing) {
    try {
      const t = JSON.parse(dec.decode(timing));
      if (Number.isInteger(t.stall_ms) && t.stall_ms > 0) STALL_MS = t.stall_ms;
      if (Number.isInteger(t.give_up_ms) && t.give_up_ms > 0) GIVE_UP_MS = t.give_up_ms;
    } catch {
      log(0, `ignoring ${TIMING_FILE}: not JSON`);
    }
  }
  const saved = load();
  for (const m of saved.mirroring) mirroring.add(m);
  // downloads cut short by a restart (ours or the mirror's) go on from what we have
  for (const t of saved.transfers) {
    if (typeof t?.pkg !== "string" || typeof t?.hash !== "string" || typeof t?.from !== "string") {
      continue;
    }
    const resumed: Transfer = {
      ...t,
      mirrorsLeft: Array.isArray(t.mirrorsLeft) ? t.mirrorsLeft : [],
      failed: Array.isArray(t.failed) ? t.failed : [],
      have: vfsLen(partPath(t)) ?? 0,
      lastActivity: Date.now(),
      lastProgress: Date.now(),
    };
    if (resumed.have === 0) {
      vfsOk(partPath(t), "Write", { mime: undefined, bytes: new Uint8Array() });
    }
    transfers.set(key(t.pkg, t.hash), resumed);
    log(0, `resuming the download of ${t.pkg} from ${t.from} at ${resumed.have} bytes`);
    requestFrom(resumed);
  }
  for (;;) {
    let source: Address;
    let message: WitMessage;
    try {
      [source, message] = receive() as [Address, WitMessage];
    } catch (e) {
      try {
        handleSendError(e);
      } catch (err) {
        log(1, `handling a send error: ${errorText(err)}`);
      }
      continue;
    }
    try {
      if (message.tag === "response") handleResponse(message);
      else handleRequest(source, message.val);
    } catch (e) {
      log(
        e instanceof Malformed ? 1 : 0,
        `error handling a message from ${source.node}@${pidString(source.process)}: ${
          errorText(e)
        }`,
      );
      if (message.tag === "request" && message.val.expectsResponse !== undefined) {
        try {
          answer(message.val, { Err: e instanceof Malformed ? "InvalidManifest" : "VfsError" });
        } catch { /* the answer failed */ }
      }
    }
  }
}
