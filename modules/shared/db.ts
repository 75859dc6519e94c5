// What kv and sqlite share at runtime: one database per (package_id, db), kept in
// <module dir>/<package_id>/<db>/, owned by the package that opens it; and what all three
// storage modules (kv, sqlite, vfs) share to bound a request: a byte budget for requests
// in flight and time limits.

import { join } from "node:path";
import {
  type Address,
  type KernelMessage,
  type PackageId,
  packageIdToString,
  processIdToString,
} from "../../wire/core.ts";
import {
  moduleChannelClosed,
  type ModuleChannelEnd,
  type ModuleRoute,
  type RuntimeModuleContext,
} from "../../kernel/module.ts";
import { isKernel } from "./runtime.ts";

/** Module channels' records kept per database before closed ones are forgotten. */
const MAX_CHANNEL_RECORDS = 256;

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

/**
 * The module channels (kernel/process_host/module_channel.ts) a storage module opened to
 * its Workers, by database, then process: a process gets one per database, opened anew
 * once it is closed (by the kernel when its caps change, or by the module's Worker).
 */
export class OpenedChannels {
  #byDb = new Map<string, Map<string, SharedArrayBuffer>>();

  /**
   * After a request of a local process that expects an answer passed the module's checks:
   * opens it a channel of `kind` for database `r` to the Worker woken by `wake`, unless
   * one is open. `serve(end, route)` hands the end to that Worker and returns the
   * channel's ring, or undefined when the Worker cannot take it.
   */
  offer(
    ctx: RuntimeModuleContext,
    km: KernelMessage,
    kind: ModuleRoute["kind"],
    dbKey: string,
    r: { packageId: PackageId; db: string },
    wake: SharedArrayBuffer,
    serve: (end: ModuleChannelEnd, route: ModuleRoute) => SharedArrayBuffer | undefined,
  ): void {
    if (!ctx.openChannel || isKernel(km.source)) return;
    if (km.message.tag !== "request" || km.message.val.expectsResponse === undefined) return;
    const process = km.source.process;
    const pid = processIdToString(process);
    let byProcess = this.#byDb.get(dbKey);
    const had = byProcess?.get(pid);
    if (had && !moduleChannelClosed(had)) return;
    const route: ModuleRoute = {
      kind,
      packageName: r.packageId.packageName,
      publisherNode: r.packageId.publisherNode,
      db: r.db,
    };
    const end = ctx.openChannel(process, route, wake);
    if (!end) return;
    const ring = serve(end, route);
    if (!ring) return;
    if (!byProcess) this.#byDb.set(dbKey, byProcess = new Map());
    if (byProcess.size >= MAX_CHANNEL_RECORDS) {
      for (const [k, open] of byProcess) if (moduleChannelClosed(open)) byProcess.delete(k);
    }
    byProcess.set(pid, ring);
  }

  /** Forgets database `dbKey`'s channels (its Worker closes them). */
  forget(dbKey: string): void {
    this.#byDb.delete(dbKey);
  }

  /** Forgets them all. */
  clear(): void {
    this.#byDb.clear();
  }
}
