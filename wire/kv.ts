// kv:distro:sys's API (Hyperdrive lib/src/kv.rs) as serde JSON:
//   KvRequest  {"package_id": {"package_name","publisher_node"}, "db": string, "action": KvAction}
//   KvAction   "Open" | "RemoveDb" | {"Set":{"key":[u8],"tx_id":u64|null}}
//              | {"Delete":{"key":[u8],"tx_id":u64|null}} | {"Get":[u8]} | "BeginTx"
//              | {"Commit":{"tx_id":u64}}
//   KvResponse "Ok" | {"BeginTx":{"tx_id":u64}} | {"Get":[u8]} | {"Err": KvError}
// Set's value travels in the blob; Get answers the value in the blob.

import type { PackageId } from "./core.ts";
import { bytes, dirName, field, optU64, packageId, u64, unit, variant } from "./fields.ts";
import {
  decodeUtf8Strict,
  encodeJsonExact,
  type PackageIdJson,
  packageIdToJson,
  parseJsonBody,
  parseJsonExact,
} from "./json.ts";

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
 * Body bytes -> a kv or sqlite request ({"package_id", "db", "action"}), the whole body
 * parsed; any failure is `malformed()`, as serde's would be. A package id or db name that
 * is not one directory level is refused alike.
 */
export function parseDbRequest<A>(
  body: Uint8Array,
  parseAction: (v: unknown) => A,
  malformed: () => Error,
): { packageId: PackageId; db: string; action: A } {
  try {
    const v = parseJsonBody(body);
    const pkg = packageId(field(v, "package_id"));
    dirName(`${pkg.packageName}:${pkg.publisherNode}`);
    return { packageId: pkg, db: dirName(field(v, "db")), action: parseAction(field(v, "action")) };
  } catch {
    throw malformed();
  }
}

/** Body bytes -> KvRequest (parseDbRequest); any failure is MalformedRequest. */
export function parseKvRequest(body: Uint8Array): KvRequest {
  return parseDbRequest(body, parseAction, () => new KvFailure("MalformedRequest"));
}

/** The database a kv or sqlite request names: the envelope around its action. */
export interface DbTarget {
  readonly packageId: PackageId;
  readonly db: string;
}

/** Bodies up to this size are checked and decoded in JS when all ASCII (no op call). */
const ASCII_FAST_MAX = 4096;

/** A body as text: strict UTF-8, as decodeUtf8Strict, with all-ASCII bodies decoded here. */
function bodyText(body: Uint8Array): string {
  const n = body.length;
  if (n > ASCII_FAST_MAX) return decodeUtf8Strict(body);
  for (let i = 0; i < n; i++) if (body[i] > 0x7f) return decodeUtf8Strict(body);
  return String.fromCharCode.apply(null, body as unknown as number[]);
}

const ACTION_FIELD = ',"action":';
/** Envelopes remembered by one parser. */
const TARGETS_MAX = 256;
/** Envelope texts longer than this (long names) are not remembered. */
const PREFIX_MAX = 1024;

/**
 * Parses kv's and sqlite's request bodies, {"package_id", "db", "action"}, with the
 * same result and errors as parsing the whole body (parseKvRequest), but faster for
 * the bodies a process sends again and again: after one full parse the envelope's
 * exact text up to the action (as serde and JSON.stringify write it, field order kept)
 * is remembered with its DbTarget; a body starting with a remembered text and ending
 * with "}" is parsed as that target and its action value alone. Whenever that action
 * text is not one JSON value, the whole body is parsed as before (a body such as
 * `...,"action":1},"db":"x"}` is not mistaken). A hit returns the same DbTarget object,
 * so callers may key what they derive from it (capabilities, paths) on it.
 */
export class DbRequestParser<A> {
  #targets = new Map<string, DbTarget>();

  constructor(
    private readonly parseAction: (v: unknown) => A,
    private readonly malformed: () => Error,
  ) {}

  parse(body: Uint8Array): { target: DbTarget; action: A } {
    let text: string;
    try {
      text = bodyText(body);
    } catch {
      throw this.malformed();
    }
    const at = text.indexOf(ACTION_FIELD);
    const target = at > 0 ? this.#targets.get(text.slice(0, at + ACTION_FIELD.length)) : undefined;
    if (target !== undefined && text.charCodeAt(text.length - 1) === 0x7d /* } */) {
      let v: unknown;
      let one = true;
      try {
        v = parseJsonExact(text.slice(at + ACTION_FIELD.length, -1));
      } catch {
        one = false;
      }
      if (one) {
        try {
          return { target, action: this.parseAction(v) };
        } catch {
          throw this.malformed();
        }
      }
    }
    return this.#full(text);
  }

  #full(text: string): { target: DbTarget; action: A } {
    let target: DbTarget;
    let action: A;
    try {
      const v = parseJsonExact(text);
      const pkg = packageId(field(v, "package_id"));
      dirName(`${pkg.packageName}:${pkg.publisherNode}`);
      target = { packageId: pkg, db: dirName(field(v, "db")) };
      action = this.parseAction(field(v, "action"));
    } catch {
      throw this.malformed();
    }
    const prefix =
      `{"package_id":{"package_name":${JSON.stringify(target.packageId.packageName)},` +
      `"publisher_node":${JSON.stringify(target.packageId.publisherNode)}},` +
      `"db":${JSON.stringify(target.db)}${ACTION_FIELD}`;
    if (prefix.length > PREFIX_MAX) return { target, action };
    const known = this.#targets.get(prefix);
    if (known) return { target: known, action };
    if (this.#targets.size >= TARGETS_MAX) this.#targets.clear();
    this.#targets.set(prefix, target);
    return { target, action };
  }
}

/** kv's parser of request bodies (see DbRequestParser); MalformedRequest on any failure. */
export function kvRequestParser(): DbRequestParser<KvAction> {
  return new DbRequestParser(parseAction, () => new KvFailure("MalformedRequest"));
}

export const encodeKvResponse: (r: KvResponse) => Uint8Array = encodeJsonExact;

/** Capability params as kv issues them: serde_json of KvCapabilityParams. */
export function kvCapParams(kind: "read" | "write", pkg: PackageId, db: string): string {
  return JSON.stringify({ kind, db_key: [packageIdToJson(pkg), db] });
}
