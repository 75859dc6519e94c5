// Wire shapes of sqlite:distro:sys, as Hyperdrive's serde (de)serializes them.
//   SqliteRequest  {"package_id": {"package_name","publisher_node"}, "db": string, "action": ...}
//   SqliteAction   "Open" | "RemoveDb" | {"Write":{"statement":string,"tx_id":u64|null}}
//                  | {"Query": string} | "BeginTx" | {"Commit":{"tx_id":u64}}
//   SqliteResponse "Ok" | "Read" | {"BeginTx":{"tx_id":u64}} | {"Err": SqliteError}
// Write/Query parameters travel in the blob; Query rows come back in the blob.

import {
  type DbAction,
  dbCapParams as sqliteCapParams,
  type DbRequest,
  isSafeSegment,
  type PackageIdJson,
  packageIdToJson,
  parseDbAction,
  parseDbRequest,
} from "../modules/shared/db.ts";
import { field, isObject, optU64, str, variant } from "./fields.ts";
import { encodeJsonExact } from "./json.ts";

export { isSafeSegment, type PackageIdJson, packageIdToJson, sqliteCapParams };

export type SqliteAction =
  | DbAction
  | { tag: "Write"; statement: string; txId?: bigint }
  | { tag: "Query"; query: string };

export type SqliteRequest = DbRequest<SqliteAction>;

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

function parseAction(v: unknown): SqliteAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "Write": {
      if (!isObject(val)) throw new Error("Write needs fields");
      return { tag, statement: str(field(val, "statement")), txId: optU64(val, "tx_id") };
    }
    case "Query":
      return { tag, query: str(val) };
  }
  return parseDbAction(tag, val, "SqliteAction");
}

/** Body bytes -> SqliteRequest; any failure is MalformedRequest, as serde's would be. */
export const parseSqliteRequest = (body: Uint8Array): SqliteRequest =>
  parseDbRequest(body, parseAction, () => new SqliteFailure("MalformedRequest"));

/** Serialize with u64s exact (JSON.stringify cannot print a bigint). */
export const encodeSqliteResponse: (r: SqliteResponse) => Uint8Array = encodeJsonExact;
