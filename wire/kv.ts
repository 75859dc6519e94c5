// Wire shapes of kv:distro:sys, as Hyperdrive's serde (de)serializes them.
//   KvRequest  {"package_id": {"package_name","publisher_node"}, "db": string, "action": KvAction}
//   KvAction   "Open" | "RemoveDb" | {"Set":{"key":[u8],"tx_id":u64|null}}
//              | {"Delete":{"key":[u8],"tx_id":u64|null}} | {"Get":[u8]} | "BeginTx"
//              | {"Commit":{"tx_id":u64}}
//   KvResponse "Ok" | {"BeginTx":{"tx_id":u64}} | {"Get":[u8]} | {"Err": KvError}

import {
  type DbAction,
  dbCapParams as kvCapParams,
  type DbRequest,
  isSafeSegment,
  type PackageIdJson,
  packageIdToJson,
  parseDbAction,
  parseDbRequest,
} from "../modules/shared/db.ts";
import { field, isObject, optU64, variant } from "./fields.ts";
import { encodeJsonExact, parseJsonExact } from "./json.ts";

export { isSafeSegment, kvCapParams, type PackageIdJson, packageIdToJson, parseJsonExact };

export type KvAction =
  | DbAction
  | { tag: "Set"; key: Uint8Array; txId?: bigint }
  | { tag: "Delete"; key: Uint8Array; txId?: bigint }
  | { tag: "Get"; key: Uint8Array };

export type KvRequest = DbRequest<KvAction>;

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

function parseAction(v: unknown): KvAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "Set":
    case "Delete": {
      if (!isObject(val)) throw new Error(`${tag} needs fields`);
      return { tag, key: bytes(field(val, "key")), txId: optU64(val, "tx_id") };
    }
    case "Get":
      return { tag, key: bytes(val) };
  }
  return parseDbAction(tag, val, "KvAction");
}

/** Body bytes -> KvRequest; any failure is MalformedRequest, as serde's would be. */
export const parseKvRequest = (body: Uint8Array): KvRequest =>
  parseDbRequest(body, parseAction, () => new KvFailure("MalformedRequest"));

/** Serialize with u64s exact (JSON.stringify cannot print a bigint). */
export const encodeKvResponse: (r: KvResponse) => Uint8Array = encodeJsonExact;
