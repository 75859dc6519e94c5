// Wire shapes of sqlite:distro:sys, as Hyperdrive's serde (de)serializes them.
//   SqliteRequest  {"package_id": {"package_name","publisher_node"}, "db": string, "action": ...}
//   SqliteAction   "Open" | "RemoveDb" | {"Write":{"statement":string,"tx_id":u64|null}}
//                  | {"Query": string} | "BeginTx" | {"Commit":{"tx_id":u64}}
//   SqliteResponse "Ok" | "Read" | {"BeginTx":{"tx_id":u64}} | {"Err": SqliteError}
// Write/Query parameters travel in the blob; Query rows come back in the blob.

import type { PackageId } from "../../kernel/types.ts";

export type SqliteAction =
  | { tag: "Open" }
  | { tag: "RemoveDb" }
  | { tag: "Write"; statement: string; txId?: bigint }
  | { tag: "Query"; query: string }
  | { tag: "BeginTx" }
  | { tag: "Commit"; txId: bigint };

export interface SqliteRequest {
  packageId: PackageId;
  db: string;
  action: SqliteAction;
}

export interface PackageIdJson {
  package_name: string;
  publisher_node: string;
}

export type SqliteError =
  | { NoDb: [PackageIdJson, string] }
  | { NoTx: bigint }
  | "NoWriteCap"
  | "NoReadCap"
  | "MismatchingPackageId"
  | "AddCapFailed"
  | "NotAWriteKeyword"
  | "NotAReadKeyword"
  | "InvalidParameters"
  | "MalformedRequest"
  | { RusqliteError: string }
  | { IOError: string };

export type SqliteResponse =
  | "Ok"
  | "Read"
  | { BeginTx: { tx_id: bigint } }
  | { Err: SqliteError };

export class SqliteFailure extends Error {
  constructor(readonly error: SqliteError) {
    super(typeof error === "string" ? error : Object.keys(error)[0]);
  }
}

/** First words Hyperdrive accepts for Query and for Write. */
export const READ_KEYWORDS = new Set([
  "ANALYZE",
  "ATTACH",
  "BEGIN",
  "EXPLAIN",
  "PRAGMA",
  "SELECT",
  "VALUES",
  "WITH",
]);

export const WRITE_KEYWORDS = new Set([
  "ALTER",
  "ANALYZE",
  "COMMIT",
  "CREATE",
  "DELETE",
  "DETACH",
  "DROP",
  "END",
  "INSERT",
  "REINDEX",
  "RELEASE",
  "RENAME",
  "REPLACE",
  "ROLLBACK",
  "SAVEPOINT",
  "UPDATE",
  "VACUUM",
]);

/** The statement's first whitespace-separated word, upper-cased. */
export function firstKeyword(sql: string): string {
  return (sql.trim().split(/\s+/)[0] ?? "").toUpperCase();
}

export function packageIdToJson(p: PackageId): PackageIdJson {
  return { package_name: p.packageName, publisher_node: p.publisherNode };
}

/** Capability params as sqlite issues them: serde_json of SqliteCapabilityParams. */
export function sqliteCapParams(kind: "read" | "write", packageId: PackageId, db: string): string {
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

function variant(v: unknown): [string, unknown] {
  if (typeof v === "string") return [v, null];
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1) return [keys[0], v[keys[0]]];
  }
  throw new Error("expected an enum variant");
}

export function isSafeSegment(s: string): boolean {
  return s.length > 0 && s !== "." && s !== ".." && !/[/\\\0]/.test(s);
}

function parseAction(v: unknown): SqliteAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "Open":
    case "RemoveDb":
    case "BeginTx":
      if (val !== null) throw new Error(`${tag} takes no value`);
      return { tag };
    case "Write": {
      if (!isObject(val)) throw new Error("Write needs fields");
      const tx = val.tx_id;
      return {
        tag,
        statement: str(field(val, "statement")),
        txId: tx === undefined || tx === null ? undefined : u64(tx),
      };
    }
    case "Query":
      return { tag, query: str(val) };
    case "Commit":
      return { tag, txId: u64(field(val, "tx_id")) };
  }
  throw new Error(`unknown SqliteAction ${tag}`);
}

function parseJsonExact(text: string): unknown {
  const v = JSON.parse(text);
  if (!/\d{16}/.test(text)) return v;
  return JSON.parse(
    text,
    (_k, value, ctx?: { source?: string }) =>
      typeof value === "number" && !Number.isSafeInteger(value) && ctx?.source &&
        /^\d+$/.test(ctx.source)
        ? BigInt(ctx.source)
        : value,
  );
}

export function parseSqliteRequest(body: Uint8Array): SqliteRequest {
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
    throw new SqliteFailure("MalformedRequest");
  }
}

export function encodeSqliteResponse(r: SqliteResponse): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(r, (_k, v) => typeof v === "bigint" ? `\u0000${v}\u0000` : v)
      .replace(/"\\u0000(\d+)\\u0000"/g, "$1"),
  );
}
