// What kv and sqlite share at runtime: one database per (package_id, db), kept in
// <module dir>/<package_id>/<db>/, owned by the package that opens it.

import { join } from "node:path";
import { type Address, type PackageId, packageIdToString } from "../../wire/core.ts";

/** The database's directory below the module's root: <package_id>/<db>. */
export function dbKeyOf(r: { packageId: PackageId; db: string }): string {
  return join(packageIdToString(r.packageId), r.db);
}

/** Whether `source` belongs to the package that owns the database. */
export function ownsDb(source: Address, pkg: PackageId): boolean {
  const p = source.process;
  return p.packageName === pkg.packageName && p.publisherNode === pkg.publisherNode;
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
