// kv:distro:sys -- key-value databases on Deno KV, one per (package_id, db), stored
// under <home>/kv/<package_id>/<db>/. A process opens a database of its own package
// (and so gets read and write caps on it); others need those caps, issued by kv with
// params {"kind": "read"|"write", "db_key": [package_id, db]}. Keys and values are
// arbitrary bytes of any size (see store.ts); transactions commit atomically.
// Requests run in order per source process, processes concurrently (mailbox lanes).
//
// Deno KV's operations are async (off the kernel's thread); what runs here is bounded by
// the limits below: a value's size, the bytes of all requests in flight, what open
// transactions buffer, a request body's size, and a time limit per request (past it the
// answer is an IOError "timed out: ..."; Deno KV cannot cancel, so the operation itself
// still completes in the background, in order with that process's later writes).

import { join, resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  KV_PROCESS_ID,
  type Request,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { ByteBudget, dbKeyOf, freshTxId, ownsDb, timeLimitMs } from "../shared/db.ts";
import {
  type Answer,
  ioErrorMessage,
  isKernel,
  laneBySourceProcess,
  type RequestHandler,
  serve,
  Watchdog,
} from "../shared/runtime.ts";
import {
  type DbTarget,
  encodeKvResponse,
  kvCapParams,
  type KvError,
  KvFailure,
  type KvRequest,
  kvRequestParser,
  type KvResponse,
  noDb,
} from "../../wire/kv.ts";
import { KvBackendError, KvStore, type TxOp } from "./store.ts";

export * from "../../wire/kv.ts";
export { KEY_LIMIT, VALUE_LIMIT } from "./store.ts";

/** Databases kept open at once; idle ones beyond this are closed (LRU). */
export const MAX_OPEN_DBS = 64;
/** Time limit of one request. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** A request body (the JSON with the key) larger than this is MalformedRequest. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
/** One value (a Set's blob). */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;
/** Bytes held for requests in flight across all processes: values set and got. */
export const MAX_INFLIGHT_BYTES = 256 * 1024 * 1024;
/** Transactions begun and not yet committed, node-wide. */
export const MAX_OPEN_TXS = 1024;
/** Value bytes buffered in all open transactions together. */
export const MAX_TX_BYTES = 256 * 1024 * 1024;

export interface KvLimits {
  maxValueBytes: number;
  maxInflightBytes: number;
  maxOpenTxs: number;
  maxTxBytes: number;
}

const KV_LIMITS: KvLimits = {
  maxValueBytes: MAX_VALUE_BYTES,
  maxInflightBytes: MAX_INFLIGHT_BYTES,
  maxOpenTxs: MAX_OPEN_TXS,
  maxTxBytes: MAX_TX_BYTES,
};

export interface KvModuleOptions {
  /** Databases kept open at once; idle ones beyond this are closed (LRU). */
  maxOpenDbs?: number;
  /** Time limit of one request in ms (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** Overrides of the limits above (tests, embedders). */
  limits?: Partial<KvLimits>;
}

/** A limit refusal, in kv's store error variant. */
function refused(text: string): KvFailure {
  return new KvFailure({ RocksDBError: text });
}

const DB_FILE = "kv.sqlite3";

/** An open (or opening) store and the actions holding it. */
interface OpenDb {
  store: Promise<KvStore>;
  /** the store once open: actions on it then skip the awaits of opening */
  ready?: KvStore;
  /** actions between acquiring and releasing it: the LRU never closes a held store */
  users: number;
  /** removed (RemoveDb) while held: closed when the last user is done */
  dropped: boolean;
}

interface Tx {
  db: string;
  ops: TxOp[];
  bytes: number;
}

/** What kv derives from a request's database, computed once per DbTarget. */
interface Db {
  /** the directory key of the database */
  dbKey: string;
  /** the read and write caps on it, as kv issues them */
  read: Capability;
  write: Capability;
}

/** The request and what kv derives from its database. */
interface Job {
  request: KvRequest;
  dbKey: string;
  db: Db;
}

const OK: Answer<KvResponse> = { response: "Ok" };
const OK_TEXT = encodeKvResponse("Ok");
const encoder = new TextEncoder();

class KvModule implements RuntimeModule, RequestHandler<Job, KvResponse> {
  readonly processId = KV_PROCESS_ID;
  readonly public = false;
  readonly name = "kv";
  readonly remote = false;
  readonly echoMetadata = "ok";
  readonly answerErrorsAlways = true;
  self!: Address;
  #ctx!: RuntimeModuleContext;
  #root = "";
  #maxOpen: number;
  /** open stores by db key, least recently used first */
  #dbs = new Map<string, OpenDb>();
  #txs = new Map<bigint, Tx>();
  #txBytes = 0;
  #limits: KvLimits;
  #timeoutMs: number;
  #budget: ByteBudget;
  #parser = kvRequestParser();
  /** per database a request names (the parser's DbTargets are shared while remembered) */
  #targets = new WeakMap<DbTarget, Db>();
  /** the time limit of every request */
  #watchdog: Watchdog;

  constructor(opts: KvModuleOptions) {
    this.#maxOpen = opts.maxOpenDbs ?? MAX_OPEN_DBS;
    this.#limits = { ...KV_LIMITS, ...opts.limits };
    this.#timeoutMs = timeLimitMs(opts.requestTimeoutMs, REQUEST_TIMEOUT_MS, "kv");
    this.#budget = new ByteBudget(this.#limits.maxInflightBytes);
    this.#watchdog = new Watchdog(this.#timeoutMs);
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.self = { node: ctx.our, process: KV_PROCESS_ID };
    this.#root = resolve(ctx.home, "kv");
    await Deno.mkdir(this.#root, { recursive: true });
  }

  laneOf(km: KernelMessage): string {
    return laneBySourceProcess(km);
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  async shutdown(): Promise<void> {
    this.#watchdog.stop();
    const open = [...this.#dbs.values()];
    this.#dbs.clear();
    for (const db of open) await this.#close(db);
  }

  parse(_km: KernelMessage, req: Request): Job {
    if (req.body.length > MAX_REQUEST_BODY_BYTES) throw new KvFailure("MalformedRequest");
    const { target, action } = this.#parser.parse(req.body);
    let db = this.#targets.get(target);
    if (!db) {
      db = {
        dbKey: dbKeyOf(target),
        read: this.#cap("read", target),
        write: this.#cap("write", target),
      };
      this.#targets.set(target, db);
    }
    return { request: { packageId: target.packageId, db: target.db, action }, dbKey: db.dbKey, db };
  }

  /** Hyperdrive's check_caps; the kernel (node.request, root authority) is not checked. */
  check(km: KernelMessage, { request: r, db }: Job): void {
    const source = km.source;
    if (isKernel(source)) return;
    switch (r.action.tag) {
      case "Set":
      case "Delete":
      case "BeginTx":
      case "Commit":
        if (!this.#ctx.hasCapability(source.process, db.write)) {
          throw new KvFailure("NoWriteCap");
        }
        return;
      case "Get":
        if (!this.#ctx.hasCapability(source.process, db.read)) {
          throw new KvFailure("NoReadCap");
        }
        return;
      case "Open":
      case "RemoveDb":
        if (!ownsDb(source, r.packageId)) throw new KvFailure("MismatchingPackageId");
        return;
    }
  }

  /**
   * Runs the request under its time limit, holding the bytes it moves (a Set's value, a
   * Get's) in the in-flight budget until the work itself ends.
   */
  act(km: KernelMessage, job: Job): Promise<Answer<KvResponse>> {
    const releases: (() => void)[] = [];
    const hold = (n: number) => releases.push(this.#budget.take(n, () => this.#busy()));
    let run: Promise<Answer<KvResponse>>;
    try {
      run = this.#act(km, job, hold);
    } catch (e) {
      run = Promise.reject(e);
    }
    const settled = run.finally(() => releases.forEach((release) => release()));
    return this.#watchdog.watch(
      settled,
      () =>
        new KvFailure({
          IOError: `timed out: past kv's time limit of ${this.#timeoutMs} ms; a write may ` +
            "still complete",
        }),
    );
  }

  #busy(): KvFailure {
    return refused(
      `out of memory: requests in flight are over kv's limit of ` +
        `${this.#limits.maxInflightBytes} bytes; retry later`,
    );
  }

  #dropTx(txId: bigint): void {
    const tx = this.#txs.get(txId);
    if (!tx) return;
    this.#txs.delete(txId);
    this.#txBytes -= tx.bytes;
  }

  async #act(
    km: KernelMessage,
    { request: r, dbKey }: Job,
    hold: (n: number) => void,
  ): Promise<Answer<KvResponse>> {
    const action = r.action;
    switch (action.tag) {
      case "Open":
        if (!isKernel(km.source)) {
          this.#ctx.grantCapabilities(km.source.process, [
            this.#cap("read", r),
            this.#cap("write", r),
          ]);
        }
        await this.#use(r, dbKey, true, () => Promise.resolve());
        return OK;
      case "RemoveDb": {
        const open = this.#dbs.get(dbKey);
        if (open) this.#drop(dbKey, open);
        for (const [id, tx] of this.#txs) if (tx.db === dbKey) this.#dropTx(id);
        await Deno.remove(join(this.#root, dbKey), { recursive: true });
        return OK;
      }
      case "Get": {
        const value = await this.#use(r, dbKey, false, (s) => s.get(action.key, hold));
        if (value === undefined) throw new KvFailure("KeyNotFound");
        return { response: { Get: action.key }, blob: value };
      }
      case "BeginTx": {
        await this.#use(r, dbKey, false, () => Promise.resolve());
        if (this.#txs.size >= this.#limits.maxOpenTxs) {
          throw refused(
            `too many open transactions: kv's limit is ${this.#limits.maxOpenTxs}; ` +
              "commit some first",
          );
        }
        const txId = freshTxId(this.#txs);
        this.#txs.set(txId, { db: dbKey, ops: [], bytes: 0 });
        return { response: { BeginTx: { tx_id: txId } } };
      }
      case "Set":
        return await this.#use(r, dbKey, false, async (store) => {
          const blob = km.lazyLoadBlob;
          if (!blob) throw new KvFailure("MalformedRequest");
          const n = blob.bytes.length;
          if (n > this.#limits.maxValueBytes) {
            throw refused(
              `value of ${n} bytes is over kv's limit of ${this.#limits.maxValueBytes}`,
            );
          }
          if (action.txId === undefined) {
            hold(n);
            await store.set(action.key, blob.bytes);
            return OK;
          }
          const tx = this.#tx(action.txId, dbKey);
          const bytes = n + action.key.length;
          if (this.#txBytes + bytes > this.#limits.maxTxBytes) {
            throw refused(
              `out of memory: open transactions hold over kv's limit of ` +
                `${this.#limits.maxTxBytes} bytes; commit them first`,
            );
          }
          tx.ops.push({ key: action.key, value: blob.bytes });
          tx.bytes += bytes;
          this.#txBytes += bytes;
          return OK;
        });
      case "Delete":
        return await this.#use(r, dbKey, false, async (store) => {
          if (action.txId === undefined) await store.delete(action.key);
          else {
            const tx = this.#tx(action.txId, dbKey);
            tx.ops.push({ key: action.key });
            tx.bytes += action.key.length;
            this.#txBytes += action.key.length;
          }
          return OK;
        });
      case "Commit":
        return await this.#use(r, dbKey, false, async (store) => {
          const tx = this.#tx(action.txId, dbKey);
          hold(tx.bytes);
          this.#dropTx(action.txId); // consumed whether or not it commits
          await store.commit(tx.ops);
          return OK;
        });
    }
  }

  error(e: unknown): KvResponse {
    let error: KvError;
    if (e instanceof KvFailure) error = e.error;
    else if (e instanceof KvBackendError) error = { RocksDBError: `Deno KV: ${e.message}` };
    else error = { IOError: ioErrorMessage(e) };
    return { Err: error };
  }

  encode(r: KvResponse): Uint8Array {
    if (r === "Ok") return OK_TEXT.slice();
    // {"Get":[u8, ...]}: a byte array's JSON is its numbers joined by commas
    if (typeof r === "object" && "Get" in r) return encoder.encode(`{"Get":[${r.Get.join(",")}]}`);
    return encodeKvResponse(r);
  }

  #cap(kind: "read" | "write", r: DbTarget): Capability {
    return { issuer: this.self, params: kvCapParams(kind, r.packageId, r.db) };
  }

  #tx(txId: bigint, dbKey: string): Tx {
    const tx = this.#txs.get(txId);
    if (!tx || tx.db !== dbKey) throw new KvFailure({ NoTx: txId });
    return tx;
  }

  /**
   * Runs `fn` on the request's store, opening it if needed (creating it when `create`,
   * else NoDb when it does not exist), and holding it so the LRU cannot close it.
   */
  #use<T>(
    r: KvRequest,
    dbKey: string,
    create: boolean,
    fn: (store: KvStore) => Promise<T>,
  ): Promise<T> {
    const open = this.#dbs.get(dbKey);
    const store = open?.ready;
    if (!open || !store) return this.#useOpening(r, dbKey, create, fn);
    // open already: held without the awaits of opening
    this.#hold(dbKey, open);
    let run: Promise<T>;
    try {
      run = fn(store);
    } catch (e) {
      run = Promise.reject(e);
    }
    return run.finally(() => this.#release(open));
  }

  async #useOpening<T>(
    r: KvRequest,
    dbKey: string,
    create: boolean,
    fn: (store: KvStore) => Promise<T>,
  ): Promise<T> {
    const db = await this.#acquire(r, dbKey, create);
    try {
      return await fn(await db.store);
    } finally {
      await this.#release(db);
    }
  }

  /** Marks `db` most recently used and held by one more action. */
  #hold(dbKey: string, db: OpenDb): void {
    this.#dbs.delete(dbKey);
    this.#dbs.set(dbKey, db);
    db.users++;
    this.#evictIdle();
  }

  /** One action is done with `db`; a store removed while held closes with its last user. */
  #release(db: OpenDb): Promise<void> | undefined {
    db.users--;
    return db.dropped && db.users === 0 ? this.#close(db) : undefined;
  }

  async #acquire(r: KvRequest, dbKey: string, create: boolean): Promise<OpenDb> {
    let db = this.#dbs.get(dbKey);
    if (!db) {
      const file = join(this.#root, dbKey, DB_FILE);
      if (create) {
        await Deno.mkdir(join(this.#root, dbKey), { recursive: true });
      } else {
        try {
          await Deno.stat(file);
        } catch {
          throw noDb(r);
        }
      }
      // another lane may have opened it meanwhile: one store per file
      db = this.#dbs.get(dbKey) ?? this.#open(dbKey, file);
    }
    this.#hold(dbKey, db);
    return db;
  }

  #open(dbKey: string, file: string): OpenDb {
    const db: OpenDb = {
      store: KvStore.open(file).then((store) => (db.ready = store), (e) => {
        if (this.#dbs.get(dbKey) === db) this.#dbs.delete(dbKey);
        throw e instanceof KvBackendError ? e : new KvBackendError(ioErrorMessage(e));
      }),
      users: 0,
      dropped: false,
    };
    return db;
  }

  /** Closes least recently used stores beyond the limit, skipping held ones. */
  #evictIdle(): void {
    for (const [key, db] of this.#dbs) {
      if (this.#dbs.size <= this.#maxOpen) return;
      if (db.users > 0) continue;
      this.#dbs.delete(key);
      void this.#close(db);
    }
  }

  #drop(dbKey: string, db: OpenDb): void {
    this.#dbs.delete(dbKey);
    if (db.users === 0) void this.#close(db);
    else db.dropped = true;
  }

  async #close(db: OpenDb): Promise<void> {
    try {
      (await db.store).close();
    } catch {
      // it never opened
    }
  }
}

/** kv:distro:sys. Register with the kernel as a non-public runtime module. */
export function createKvModule(opts: KvModuleOptions = {}): RuntimeModule {
  return new KvModule(opts);
}
