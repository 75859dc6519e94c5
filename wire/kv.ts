// kv:distro:sys's API (Hyperdrive lib/src/kv.rs) as serde JSON:
//   KvRequest  {"package_id": {"package_name","publisher_node"}, "db": string, "action": KvAction}
//   KvAction   "Open" | "RemoveDb" | {"Set":{"key":[u8],"tx_id":u64|null}}
//              | {"Delete":{"key":[u8],"tx_id":u64|null}} | {"Get":[u8]} | "BeginTx"
//              | {"Commit":{"tx_id":u64}}
//   KvResponse "Ok" | {"BeginTx":{"tx_id":u64}} | {"Get":[u8]} | {"Err": KvError}
// Set's value travels in the blob; Get answers the value in the blob.

import type { PackageId } from "./core.ts";
import { bytes, dirName, field, optU64, packageId, u64, unit, variant } from "./fields.ts";
import { encodeJsonExact, type PackageIdJson, packageIdToJson, parseJsonBody } from "./json.ts";

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

/** KvError's Display, as Hyperdrive's thiserror prints it. */
function kvErrorText(e: KvError): string {
  if (typeof e === "string") {
    return {
      KeyNotFound: "key not found",
      NoWriteCap: "no write capability for requested DB",
      NoReadCap: "no read capability for requested DB",
      MismatchingPackageId: "request to open or remove DB with mismatching package ID",
      AddCapFailed: "failed to generate capability for new DB",
      MalformedRequest:
        "kv got a malformed request that either failed to deserialize or was missing a required blob",
    }[e];
  }
  if ("NoDb" in e) {
    const [p, db] = e.NoDb;
    return `db [${p.package_name}:${p.publisher_node}, ${db}] does not exist`;
  }
  if ("NoTx" in e) return `no transaction ${e.NoTx} found`;
  if ("RocksDBError" in e) return `RocksDB internal error: ${e.RocksDBError}`;
  return `IO error: ${e.IOError}`;
}

/** A KvError raised while handling a request; answered as `{"Err": ...}`. */
export class KvFailure extends Error {
  constructor(readonly error: KvError) {
    super(kvErrorText(error));
  }
}

/** NoDb for a request's database. */
export function noDb(r: KvRequest): KvFailure {
  return new KvFailure({ NoDb: [packageIdToJson(r.packageId), r.db] });
}

function parseAction(v: unknown): KvAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "Open":
    case "RemoveDb":
    case "BeginTx":
      unit(tag, val);
      return { tag };
    case "Set":
    case "Delete":
      return {
        tag,
        key: bytes(field(val, "key")),
        txId: optU64(val as Record<string, unknown>, "tx_id"),
      };
    case "Get":
      return { tag, key: bytes(val) };
    case "Commit":
      return { tag, txId: u64(field(val, "tx_id")) };
  }
  throw new Error(`unknown KvAction ${tag}`);
}

/**
 * Body bytes -> KvRequest; any failure is MalformedRequest, as serde's would be. A
 * package id or db name that is not one directory level is refused alike.
 */
export function parseKvRequest(body: Uint8Array): KvRequest {
  try {
    const v = parseJsonBody(body);
    const pkg = packageId(field(v, "package_id"));
    dirName(`${pkg.packageName}:${pkg.publisherNode}`);
    return { packageId: pkg, db: dirName(field(v, "db")), action: parseAction(field(v, "action")) };
  } catch {
    throw new KvFailure("MalformedRequest");
  }
}

export const encodeKvResponse: (r: KvResponse) => Uint8Array = encodeJsonExact;

/** Capability params as kv issues them: serde_json of KvCapabilityParams. */
export function kvCapParams(kind: "read" | "write", pkg: PackageId, db: string): string {
  return JSON.stringify({ kind, db_key: [packageIdToJson(pkg), db] });
}
