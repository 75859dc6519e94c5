// What kv and sqlite share at runtime: one database per (package_id, db), kept in
// <module dir>/<package_id>/<db>/, owned by the package that opens it; and what all three
// storage modules (kv, sqlite, vfs) share to bound a request: a byte budget for requests
// in flight and time limits.

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

// --- bounds shared by the storage modules (kv, sqlite, vfs) ---

/**
 * Bytes held for requests in flight across all lanes of one module, with a ceiling. The
 * count lives in a SharedArrayBuffer so a module's Workers (sqlite's db Workers) add
 * what they buffer (query results) to the same count.
 */
export class ByteBudget {
  /** [0]: bytes held now */
  readonly shared: Int32Array = new Int32Array(new SharedArrayBuffer(4));

  constructor(readonly limit: number) {
    if (!(limit > 0 && limit < 2 ** 31)) throw new RangeError(`byte budget ${limit} out of range`);
  }

  get held(): number {
    return Atomics.load(this.shared, 0);
  }

  /**
   * Holds `n` more bytes, or throws `refuse()` when that would pass the limit. Returns
   * the release (idempotent).
   */
  take(n: number, refuse: () => Error): () => void {
    if (n <= 0) return () => {};
    if (Atomics.add(this.shared, 0, n) + n > this.limit) {
      Atomics.sub(this.shared, 0, n);
      throw refuse();
    }
    let held = true;
    return () => {
      if (held) Atomics.sub(this.shared, 0, n);
      held = false;
    };
  }

  /** Gives back `n` bytes someone else (a Worker) took. */
  give(n: number): void {
    if (n > 0) Atomics.sub(this.shared, 0, n);
  }
}

/**
 * `work`, or `timedOut()` once `ms` have passed, whichever comes first. The work itself
 * is not cancelled (Deno KV and fs operations cannot be): it finishes in the background.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** A request's deadline, checked between the steps of work done in a loop. */
export class Deadline {
  readonly at: number;
  constructor(readonly ms: number, private readonly timedOut: () => Error) {
    this.at = performance.now() + ms;
  }
  get passed(): boolean {
    return performance.now() > this.at;
  }
  /** ms left (negative once passed) */
  get remaining(): number {
    return this.at - performance.now();
  }
  timedOutError(): Error {
    return this.timedOut();
  }
  /** Throws the time-out error once the deadline has passed. */
  check(): void {
    if (this.passed) throw this.timedOut();
  }
}

/** A time limit option in ms: a positive finite number, else the default. */
export function timeLimitMs(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0 || v > 2 ** 31 - 1) {
    throw new RangeError(`${what}: a time limit must be 1 .. 2147483647 ms, got ${v}`);
  }
  return v;
}
