// kv:distro:sys -- key-value databases on Deno KV, one per (package_id, db), stored
// under <home>/kv/<package_id>/<db>/. A process opens a database of its own package
// (and so gets read and write caps on it); others need those caps, issued by kv with
// params {"kind": "read"|"write", "db_key": [package_id, db]}. Keys and values are
// arbitrary bytes of any size (see store.ts); transactions commit atomically.
// Requests run in order per source process, processes concurrently (mailbox lanes).

import { join, resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  KV_PROCESS_ID,
  type Request,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { dbKeyOf, freshTxId, ownsDb } from "../shared/db.ts";
import {
  type Answer,
  ioErrorMessage,
  isKernel,
  laneBySourceProcess,
  type RequestHandler,
  serve,
} from "../shared/runtime.ts";
import {
  encodeKvResponse,
  kvCapParams,
  type KvError,
  KvFailure,
  type KvRequest,
  type KvResponse,
  noDb,
  parseKvRequest,
} from "../../wire/kv.ts";
import { KvBackendError, KvStore, type TxOp } from "./store.ts";

export * from "../../wire/kv.ts";
export { KEY_LIMIT, VALUE_LIMIT } from "./store.ts";

export interface KvModuleOptions {
  /** Databases kept open at once; idle ones beyond this are closed (LRU). */
  maxOpenDbs?: number;
}

const DB_FILE = "kv.sqlite3";

/** An open (or opening) store and the actions holding it. */
interface OpenDb {
  store: Promise<KvStore>;
  /** actions between acquiring and releasing it: the LRU never closes a held store */
  users: number;
  /** removed (RemoveDb) while held: closed when the last user is done */
  dropped: boolean;
}

interface Tx {
  db: string;
  ops: TxOp[];
}

/** The request and the directory key of its database. */
interface Job {
  request: KvRequest;
  dbKey: string;
}

const OK: Answer<KvResponse> = { response: "Ok" };

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

  constructor(opts: KvModuleOptions) {
    this.#maxOpen = opts.maxOpenDbs ?? 64;
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
    const open = [...this.#dbs.values()];
    this.#dbs.clear();
    for (const db of open) await this.#close(db);
  }

  parse(_km: KernelMessage, req: Request): Job {
    const request = parseKvRequest(req.body);
    return { request, dbKey: dbKeyOf(request) };
  }

  /** Hyperdrive's check_caps; the kernel (node.request, root authority) is not checked. */
  check(km: KernelMessage, { request: r }: Job): void {
    const source = km.source;
    if (isKernel(source)) return;
    switch (r.action.tag) {
      case "Set":
      case "Delete":
      case "BeginTx":
      case "Commit":
        if (!this.#ctx.hasCapability(source.process, this.#cap("write", r))) {
          throw new KvFailure("NoWriteCap");
        }
        return;
      case "Get":
        if (!this.#ctx.hasCapability(source.process, this.#cap("read", r))) {
          throw new KvFailure("NoReadCap");
        }
        return;
      case "Open":
      case "RemoveDb":
        if (!ownsDb(source, r.packageId)) throw new KvFailure("MismatchingPackageId");
        return;
    }
  }

  async act(km: KernelMessage, { request: r, dbKey }: Job): Promise<Answer<KvResponse>> {
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
        for (const [id, tx] of this.#txs) if (tx.db === dbKey) this.#txs.delete(id);
        await Deno.remove(join(this.#root, dbKey), { recursive: true });
        return OK;
      }
      case "Get": {
        const value = await this.#use(r, dbKey, false, (s) => s.get(action.key));
        if (value === undefined) throw new KvFailure("KeyNotFound");
        return { response: { Get: action.key }, blob: value };
      }
      case "BeginTx": {
        await this.#use(r, dbKey, false, () => Promise.resolve());
        const txId = freshTxId(this.#txs);
        this.#txs.set(txId, { db: dbKey, ops: [] });
        return { response: { BeginTx: { tx_id: txId } } };
      }
      case "Set":
        return await this.#use(r, dbKey, false, async (store) => {
          const blob = km.lazyLoadBlob;
          if (!blob) throw new KvFailure("MalformedRequest");
          if (action.txId === undefined) await store.set(action.key, blob.bytes);
          else this.#tx(action.txId, dbKey).ops.push({ key: action.key, value: blob.bytes });
          return OK;
        });
      case "Delete":
        return await this.#use(r, dbKey, false, async (store) => {
          if (action.txId === undefined) await store.delete(action.key);
          else this.#tx(action.txId, dbKey).ops.push({ key: action.key });
          return OK;
        });
      case "Commit":
        return await this.#use(r, dbKey, false, async (store) => {
          const tx = this.#tx(action.txId, dbKey);
          this.#txs.delete(action.txId); // consumed whether or not it commits
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
    return encodeKvResponse(r);
  }

  #cap(kind: "read" | "write", r: KvRequest): Capability {
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
  async #use<T>(
    r: KvRequest,
    dbKey: string,
    create: boolean,
    fn: (store: KvStore) => Promise<T>,
  ): Promise<T> {
    const db = await this.#acquire(r, dbKey, create);
    try {
      return await fn(await db.store);
    } finally {
      db.users--;
      if (db.dropped && db.users === 0) await this.#close(db);
    }
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
    this.#dbs.delete(dbKey);
    this.#dbs.set(dbKey, db);
    db.users++;
    this.#evictIdle();
    return db;
  }

  #open(dbKey: string, file: string): OpenDb {
    const db: OpenDb = {
      store: KvStore.open(file).catch((e) => {
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
