// What kit does, byte for byte where it matters: the package zip `kit build` writes
// (src/build/mod.rs zip_directory: pkg/'s entries sorted by path, relative to pkg/,
// directories as entries, files Deflated, unix permissions 0o755, last-modified
// 2023-06-19 00:00:00), its version hash (sha256 of the zip, lowercase hex), and kit's
// RPC to /rpc:distro:sys/message (src/inject_message: serde_json::json! with sorted keys,
// "mime": "application/octet-stream" even without data; any status but 200 fails;
// the answer is {"body": [bytes], "lazy_load_blob": null | {"mime", "bytes"}}).

import { deflateSync } from "fflate";

const enc = new TextEncoder();
const dec = new TextDecoder();

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipEntryInput {
  /** path inside the zip ("ui/" for a directory) */
  name: string;
  /** undefined for a directory */
  data?: Uint8Array;
  /** store instead of deflate */
  stored?: boolean;
  /** lie about the uncompressed size (bad-input tests) */
  declaredSize?: number;
}

/** A zip archive as the Rust zip crate writes kit's (DOS time 2023-06-19 00:00, unix 0o755). */
export function makeZip(entries: ZipEntryInput[]): Uint8Array {
  const dosTime = 0;
  const dosDate = ((2023 - 1980) << 9) | (6 << 5) | 19;
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const isDir = e.data === undefined;
    const raw = e.data ?? new Uint8Array();
    const method = isDir || e.stored ? 0 : 8;
    const body = method === 8 ? deflateSync(raw) : raw;
    const crc = crc32(raw);
    const size = e.declaredSize ?? raw.length;
    const local = new Uint8Array(30 + name.length + body.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, isDir ? 20 : 20, true);
    lv.setUint16(6, 1 << 11, true); // UTF-8 names
    lv.setUint16(8, method, true);
    lv.setUint16(10, dosTime, true);
    lv.setUint16(12, dosDate, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 0, true);
    local.set(name, 30);
    local.set(body, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, (3 << 8) | 20, true); // made by: unix
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 1 << 11, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, dosTime, true);
    cv.setUint16(14, dosDate, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    const mode = isDir ? 0o040755 : 0o100755;
    cv.setUint32(38, (mode << 16) >>> 0, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const cdSize = centrals.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...locals, ...centrals, end]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** kit's zip_directory over `dir`: every entry below it, sorted by path. */
export async function zipDirectory(dir: string): Promise<Uint8Array> {
  const entries: ZipEntryInput[] = [];
  const walk = async (rel: string) => {
    const names: { name: string; isDir: boolean }[] = [];
    for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
      names.push({ name: e.name, isDir: e.isDirectory });
    }
    for (const e of names) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDir) {
        entries.push({ name: `${path}/` });
        await walk(path);
      } else entries.push({ name: path, data: await Deno.readFile(`${dir}/${path}`) });
    }
  };
  await walk("");
  // walkdir's entries sorted by path (a directory's path sorts before its children)
  entries.sort((a, b) => {
    const pa = a.name.replace(/\/$/, ""), pb = b.name.replace(/\/$/, "");
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  });
  return makeZip(entries);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** serde_json::Value's to_string() without preserve_order: object keys sorted. */
export function sortedJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (x && typeof x === "object") {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(x as object).sort()) {
        o[k] = sort((x as Record<string, unknown>)[k]);
      }
      return o;
    }
    return x;
  };
  return JSON.stringify(sort(v));
}

/** inject_message::make_message. */
export function makeMessage(
  process: string,
  expectsResponse: number | null,
  body: string,
  data?: Uint8Array,
): string {
  return sortedJson({
    node: null,
    process,
    inherit: false,
    expects_response: expectsResponse,
    body,
    metadata: null,
    context: null,
    mime: "application/octet-stream",
    data: data ? data.toBase64() : null,
  });
}

export interface KitResponse {
  status: number;
  /** the body as text (kit: String::from_utf8 of body's bytes) */
  body: string;
  json: unknown;
  /** lazy_load_blob.bytes as kit reads them (the base64 text's bytes, as Hyperdrive sends) */
  blob?: Uint8Array;
}

/** send_request + parse_response: kit fails on any status but 200. */
export async function kitRpc(url: string, message: string): Promise<KitResponse> {
  const res = await fetch(`${url.replace(/\/$/, "")}/rpc:distro:sys/message`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: message,
  });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, body: text, json: undefined };
  const data = JSON.parse(text);
  if (!Array.isArray(data.body)) {
    throw new Error(`Response did not contain \`body\` field: ${text}`);
  }
  const body = dec.decode(new Uint8Array(data.body));
  let blob: Uint8Array | undefined;
  const b = data.lazy_load_blob;
  if (Array.isArray(b)) blob = new Uint8Array(b);
  else if (b && Array.isArray(b.bytes)) blob = new Uint8Array(b.bytes);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch { /* not JSON */ }
  return { status: 200, body, json, blob };
}

/** What `kit start-package` sends, in order, for a package dir with its built zip. */
export function newPackageMessage(packageName: string, publisher: string, zip: Uint8Array): string {
  const message = sortedJson({
    NewPackage: {
      package_id: { package_name: packageName, publisher_node: publisher },
      mirror: true,
    },
  });
  return makeMessage("main:app-store:sys", 15, message, zip);
}

export interface KitMetadata {
  name: string | null;
  description: string | null;
  image: string | null;
  external_url: string | null;
  animation_url: string | null;
  properties: {
    package_name: string;
    publisher: string;
    current_version: string;
    mirrors: string[];
    code_hashes: Record<string, string>;
    license?: string | null;
    screenshots?: string[] | null;
    wit_version?: number | null;
    dependencies?: string[] | null;
    api_includes?: string[] | null;
  };
}

export function installMessage(hash: string, m: KitMetadata): string {
  const p = m.properties;
  const body = sortedJson({
    Install: {
      package_id: { package_name: p.package_name, publisher_node: p.publisher },
      version_hash: hash,
      metadata: {
        name: m.name,
        description: m.description,
        image: m.image,
        external_url: m.external_url,
        animation_url: m.animation_url,
        properties: {
          package_name: p.package_name,
          publisher: p.publisher,
          current_version: p.current_version,
          mirrors: p.mirrors,
          // a HashMap collected into Vec<(String, String)>
          code_hashes: Object.entries(p.code_hashes),
          license: p.license ?? null,
          screenshots: p.screenshots ?? null,
          wit_version: p.wit_version ?? null,
          dependencies: p.dependencies ?? null,
          api_includes: p.api_includes ?? null,
        },
      },
    },
  });
  return makeMessage("main:app-store:sys", 15, body);
}

export function uninstallMessage(packageName: string, publisher: string): string {
  return makeMessage(
    "main:app-store:sys",
    15,
    sortedJson({ Uninstall: { package_name: packageName, publisher_node: publisher } }),
  );
}

/** kit view-api: "Apis" (5 s) and {"GetApi": package_id}. */
export function listApisMessage(): string {
  return makeMessage("main:app-store:sys", 5, JSON.stringify("Apis"));
}
export function getApiMessage(packageName: string, publisher: string): string {
  return makeMessage(
    "main:app-store:sys",
    5,
    sortedJson({ GetApi: { package_name: packageName, publisher_node: publisher } }),
  );
}
