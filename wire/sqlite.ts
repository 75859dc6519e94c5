// Wire shapes of sqlite:distro:sys, as Hyperdrive's serde (de)serializes them.
//   SqliteRequest  {"package_id": {"package_name","publisher_node"}, "db": string, "action": ...}
//   SqliteAction   "Open" | "RemoveDb" | {"Write":{"statement":string,"tx_id":u64|null}}
//                  | {"Query": string} | "BeginTx" | {"Commit":{"tx_id":u64}}
//   SqliteResponse "Ok" | "Read" | {"BeginTx":{"tx_id":u64}} | {"Err": SqliteError}
// Write/Query parameters travel in the blob; Query rows come back in the blob.

import type { PackageId } from "./core.ts";
import { field, optU64, str, u64, unit, variant } from "./fields.ts";
import { encodeJsonExact, type PackageIdJson, packageIdToJson } from "./json.ts";
import { DbRequestParser, type DbTarget, parseDbRequest } from "./kv.ts";

export type { DbTarget };

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

/** SqliteError's Display, as Hyperdrive's thiserror prints it. */
function sqliteErrorText(e: SqliteError): string {
  if (typeof e === "string") {
    return {
      NoWriteCap: "no write capability for requested DB",
      NoReadCap: "no read capability for requested DB",
      MismatchingPackageId: "request to open or remove DB with mismatching package ID",
      AddCapFailed: "failed to generate capability for new DB",
      NotAWriteKeyword: "write statement started with non-existent write keyword",
      NotAReadKeyword: "read query started with non-existent read keyword",
      InvalidParameters:
        "parameters blob in read/write was misshapen or contained invalid JSON objects",
      MalformedRequest: "sqlite got a malformed request that failed to deserialize",
    }[e];
  }
  if ("NoDb" in e) {
    const [p, db] = e.NoDb;
    return `db [${p.package_name}:${p.publisher_node}, ${db}] does not exist`;
  }
  if ("NoTx" in e) return `no transaction ${e.NoTx} found`;
  if ("RusqliteError" in e) return `rusqlite error: ${e.RusqliteError}`;
  return `IO error: ${e.IOError}`;
}

/** A SqliteError raised while handling a request; answered as `{"Err": ...}`. */
export class SqliteFailure extends Error {
  constructor(readonly error: SqliteError) {
    super(sqliteErrorText(error));
  }
}

/** NoDb for a request's database. */
export function noDb(r: SqliteRequest): SqliteFailure {
  return new SqliteFailure({ NoDb: [packageIdToJson(r.packageId), r.db] });
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

/** Leading white space, then the first word (\s is the white space trim() removes). */
const FIRST_WORD = /^\s*(\S*)/;

/**
 * The statement's first whitespace-separated word, upper-cased (what
 * `sql.trim().split(/\s+/)[0]` gives, without splitting the whole statement).
 */
export function firstKeyword(sql: string): string {
  return FIRST_WORD.exec(sql)![1].toUpperCase();
}

function parseAction(v: unknown): SqliteAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "Open":
    case "RemoveDb":
    case "BeginTx":
      unit(tag, val);
      return { tag };
    case "Write":
      return {
        tag,
        statement: str(field(val, "statement")),
        txId: optU64(val as Record<string, unknown>, "tx_id"),
      };
    case "Query":
      return { tag, query: str(val) };
    case "Commit":
      return { tag, txId: u64(field(val, "tx_id")) };
  }
  throw new Error(`unknown SqliteAction ${tag}`);
}

/** Body bytes -> SqliteRequest (kv.ts's parseDbRequest); any failure is MalformedRequest. */
export function parseSqliteRequest(body: Uint8Array): SqliteRequest {
  return parseDbRequest(body, parseAction, () => new SqliteFailure("MalformedRequest"));
}

/** sqlite's parser of request bodies (kv.ts's DbRequestParser); MalformedRequest on any failure. */
export function sqliteRequestParser(): DbRequestParser<SqliteAction> {
  return new DbRequestParser(parseAction, () => new SqliteFailure("MalformedRequest"));
}

export const encodeSqliteResponse: (r: SqliteResponse) => Uint8Array = encodeJsonExact;

/** Capability params as sqlite issues them: serde_json of SqliteCapabilityParams. */
export function sqliteCapParams(kind: "read" | "write", pkg: PackageId, db: string): string {
  return JSON.stringify({ kind, db_key: [packageIdToJson(pkg), db] });
}
