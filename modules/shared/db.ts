// What kv and sqlite share: both keep one database per (package_id, db), take requests
// {"package_id", "db", "action"}, and issue caps {"kind": "read"|"write", "db_key": [package_id, db]}.

import { join } from "node:path";
import { type Address, type PackageId, packageIdOf, packageIdToString } from "../../wire/core.ts";
import { parseJsonBody } from "../../wire/json.ts";
import { field, str, u64 } from "../../wire/fields.ts";

export interface PackageIdJson {
  package_name: string;
  publisher_node: string;
}

export function packageIdToJson(p: PackageId): PackageIdJson {
  return { package_name: p.packageName, publisher_node: p.publisherNode };
}

/** Capability params as kv and sqlite issue them: serde_json of their CapabilityParams. */
export function dbCapParams(kind: "read" | "write", packageId: PackageId, db: string): string {
  return JSON.stringify({ kind, db_key: [packageIdToJson(packageId), db] });
}

/** A name used as one directory level: nothing that walks the tree. */
export function isSafeSegment(s: string): boolean {
  return s.length > 0 && s !== "." && s !== ".." && !/[/\\\0]/.test(s);
}

/** The actions KvAction and SqliteAction have in common, parsed alike. */
export type DbAction =
  | { tag: "Open" }
  | { tag: "RemoveDb" }
  | { tag: "BeginTx" }
  | { tag: "Commit"; txId: bigint };

/** One of the common variants from `variant()`'s [tag, value]; else throws naming `enumName`. */
export function parseDbAction(tag: string, val: unknown, enumName: string): DbAction {
  switch (tag) {
    case "Open":
    case "RemoveDb":
    case "BeginTx":
      if (val !== null) throw new Error(`${tag} takes no value`);
      return { tag };
    case "Commit":
      return { tag, txId: u64(field(val, "tx_id")) };
  }
  throw new Error(`unknown ${enumName} ${tag}`);
}

export interface DbRequest<A> {
  packageId: PackageId;
  db: string;
  action: A;
}

/** Body bytes -> DbRequest; any malformed or unsafe part throws `malformed()`, as serde fails. */
export function parseDbRequest<A>(
  body: Uint8Array,
  parseAction: (v: unknown) => A,
  malformed: () => Error,
): DbRequest<A> {
  try {
    return parseFields(body, parseAction);
  } catch {
    throw malformed();
  }
}

function parseFields<A>(body: Uint8Array, parseAction: (v: unknown) => A): DbRequest<A> {
  const v = parseJsonBody(body);
  const pkg = field(v, "package_id");
  const packageId = {
    packageName: str(field(pkg, "package_name")),
    publisherNode: str(field(pkg, "publisher_node")),
  };
  const db = str(field(v, "db"));
  if (!isSafeSegment(db) || !isSafeSegment(packageIdToString(packageId))) {
    throw new Error("unsafe name");
  }
  return { packageId, db, action: parseAction(field(v, "action")) };
}

/** The database's directory below the module's root: <package_id>/<db>. */
export function dbKeyOf(r: { packageId: PackageId; db: string }): string {
  return join(packageIdToString(r.packageId), r.db);
}

/** Whether `source` belongs to the package that owns the database. */
export function ownsDb(source: Address, packageId: PackageId): boolean {
  return packageIdToString(packageIdOf(source.process)) === packageIdToString(packageId);
}

/** A tx id not in `taken`: below 2^53 so any JSON reader keeps it exact; still a valid u64. */
export function freshTxId(taken: { has(id: bigint): boolean }): bigint {
  const a = new Uint32Array(2);
  let id: bigint;
  do {
    crypto.getRandomValues(a);
    id = (BigInt(a[0] & 0x1fffff) << 32n) | BigInt(a[1]);
  } while (taken.has(id));
  return id;
}
