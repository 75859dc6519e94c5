// Wire shapes of kv:distro:sys, as Hyperdrive's serde (de)serializes them.
//   KvRequest  {"package_id": {"package_name","publisher_node"}, "db": string, "action": KvAction}
//   KvAction   "Open" | "RemoveDb" | {"Set":{"key":[u8],"tx_id":u64|null}}
//              | {"Delete":{"key":[u8],"tx_id":u64|null}} | {"Get":[u8]} | "BeginTx"
//              | {"Commit":{"tx_id":u64}}
//   KvResponse "Ok" | {"BeginTx":{"tx_id":u64}} | {"Get":[u8]} | {"Err": KvError}

import type { PackageId } from "../../kernel/types.ts";

export type KvAction =
  | { tag: "Open" }
  | { tag: "RemoveDb" }
  | { tag: "Set"; key: Uint8Array; txId?: bigint }
  | { tag: "Delete"; key: Uint8Array; txId?: bigint }
  | { tag: "Get"; key: Uint8Array }
  | { tag: "BeginTx" }
  | { tag: "Commit"; txId: bigint };

export interface KvRequest {
  packageId: PackageId;
  db: string;
  action: KvAction;
}

export interface PackageIdJson {
  package_name: string;
  publisher_node: string;
}

export type KvError =
  | { NoDb: [PackageIdJson, string] }
  | "KeyNotFound"
  | { NoTx: bigint }
  | "NoWriteCap"
  | "NoReadCap"
  | "MismatchingPackageId"
  | "AddCapFailed"
  | "MalformedRequest"
  | { RocksDBError: string }
  | { IOError: string };

export type KvResponse =
  | "Ok"
  | { BeginTx: { tx_id: bigint } }
  | { Get: Uint8Array }
  | { Err: KvError };

export class KvFailure extends Error {
  constructor(readonly error: KvError) {
    super(typeof error === "string" ? error : Object.keys(error)[0]);
  }
}

export function packageIdToJson(p: PackageId): PackageIdJson {
  return { package_name: p.packageName, publisher_node: p.publisherNode };
}

/** Capability params as kv issues them: serde_json of KvCapabilityParams. */
export function kvCapParams(kind: "read" | "write", packageId: PackageId, db: string): string {
  return JSON.stringify({ kind, db_key: [packageIdToJson(packageId), db] });
}

const U64_MAX = (1n << 64n) - 1n;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function field(o: unknown, name: string): unknown {
  if (!isObject(o) || !(name in o)) throw new Error(`missing field ${name}`);
  return o[name];
}

function str(v: unknown): string {
  if (typeof v !== "string") throw new Error("expected string");
  return v;
}

function u64(v: unknown): bigint {
  const n = typeof v === "bigint"
    ? v
    : typeof v === "number" && Number.isInteger(v)
    ? BigInt(v)
    : -1n;
  if (n < 0n || n > U64_MAX) throw new Error("expected u64");
  return n;
}

/** Option<u64>: absent or null is None. */
function optU64(o: Record<string, unknown>, name: string): bigint | undefined {
  const v = o[name];
  return v === undefined || v === null ? undefined : u64(v);
}

function bytes(v: unknown): Uint8Array {
  if (!Array.isArray(v)) throw new Error("expected a byte array");
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > 255) {
      throw new Error("expected a byte");
    }
    out[i] = b;
  }
  return out;
}

function variant(v: unknown): [string, unknown] {
  if (typeof v === "string") return [v, null];
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1) return [keys[0], v[keys[0]]];
  }
  throw new Error("expected an enum variant");
}

/** A name used as one directory level: nothing that walks the tree. */
export function isSafeSegment(s: string): boolean {
  return s.length > 0 && s !== "." && s !== ".." && !/[/\\\0]/.test(s);
}

function parseAction(v: unknown): KvAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "Open":
    case "RemoveDb":
    case "BeginTx":
      if (val !== null) throw new Error(`${tag} takes no value`);
      return { tag };
    case "Set":
    case "Delete": {
      if (!isObject(val)) throw new Error(`${tag} needs fields`);
      return { tag, key: bytes(field(val, "key")), txId: optU64(val, "tx_id") };
    }
    case "Get":
      return { tag, key: bytes(val) };
    case "Commit":
      return { tag, txId: u64(field(val, "tx_id")) };
  }
  throw new Error(`unknown KvAction ${tag}`);
}

/** Parse JSON; integers past 2^53 (tx ids) are re-read exactly as bigint. */
export function parseJsonExact(text: string): unknown {
  const v = JSON.parse(text);
  if (!/\d{16}/.test(text)) return v; // no integer long enough to have lost precision
  return JSON.parse(
    text,
    (_k, value, ctx?: { source?: string }) =>
      typeof value === "number" && !Number.isSafeInteger(value) && ctx?.source &&
        /^\d+$/.test(ctx.source)
        ? BigInt(ctx.source)
        : value,
  );
}

/** Body bytes -> KvRequest; any failure is MalformedRequest, as serde's would be. */
export function parseKvRequest(body: Uint8Array): KvRequest {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    const v = parseJsonExact(text);
    const pkg = field(v, "package_id");
    const packageId = {
      packageName: str(field(pkg, "package_name")),
      publisherNode: str(field(pkg, "publisher_node")),
    };
    const db = str(field(v, "db"));
    if (
      !isSafeSegment(db) || !isSafeSegment(`${packageId.packageName}:${packageId.publisherNode}`)
    ) {
      throw new Error("unsafe name");
    }
    return { packageId, db, action: parseAction(field(v, "action")) };
  } catch {
    throw new KvFailure("MalformedRequest");
  }
}

/** Serialize with u64s exact (JSON.stringify cannot print a bigint). */
export function encodeKvResponse(r: KvResponse): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(r, (_k, v) => {
      if (typeof v === "bigint") return `\u0000${v}\u0000`;
      if (v instanceof Uint8Array) return Array.from(v);
      return v;
    }).replace(/"\\u0000(\d+)\\u0000"/g, "$1"),
  );
}
