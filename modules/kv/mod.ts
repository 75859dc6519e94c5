// kv:distro:sys -- key-value databases on Deno KV, one per (package_id, db), stored
// under <home>/kv/<package_id>/<db>/. A process opens a database of its own package
// (and so gets read and write caps on it); others need those caps, issued by kv with
// params {"kind": "read"|"write", "db_key": [package_id, db]}. Keys and values are
// arbitrary bytes of any size (see store.ts); transactions commit atomically.

import { join, resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  KV_PROCESS_ID,
  makeResponse,
  type Request,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { dbKeyOf, freshTxId, ownsDb } from "../shared/db.ts";
import { fromOtherNode, ioErrorMessage, isKernel, reply } from "../shared/runtime.ts";
import {
  encodeKvResponse,
  type KvAction,
  kvCapParams,
  type KvError,
  KvFailure,
  type KvRequest,
  type KvResponse,
  packageIdToJson,
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

/** Per-database job queue; `busy` tells the LRU which stores are safe to close. */
class DbQueue {
  #tail: Promise<unknown> = Promise.resolve();
  busy = 0;
  run<T>(job: () => Promise<T>): Promise<T> {
    this.busy++;
    const p = this.#tail.then(job).finally(() => this.busy--);
    this.#tail = p.catch(() => {});
    return p;
  }
}

interface Tx {
  db: string;
  ops: TxOp[];
}

class KvModule implements RuntimeModule {
  readonly processId = KV_PROCESS_ID;
  readonly public = false;
  #ctx!: RuntimeModuleContext;
  #our!: Address;
  #root = "";
  #maxOpen: number;
  /** open stores, least recently used first */
  #stores = new Map<string, KvStore>();
  #queues = new Map<string, DbQueue>();
  #txs = new Map<bigint, Tx>();

  constructor(opts: KvModuleOptions) {
    this.#maxOpen = opts.maxOpenDbs ?? 64;
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.#our = { node: ctx.our, process: KV_PROCESS_ID };
    this.#root = resolve(ctx.home, "kv");
    await Deno.mkdir(this.#root, { recursive: true });
  }

  handleMessage(km: KernelMessage): Promise<void> {
    if (fromOtherNode(this.#ctx, "kv", km) || km.message.tag !== "request") {
      return Promise.resolve();
    }
    const req = km.message.val;
    let request: KvRequest;
    try {
      request = parseKvRequest(req.body);
    } catch (e) {
      this.#fail(km, e);
      return Promise.resolve();
    }
    const key = dbKeyOf(request);
    let q = this.#queues.get(key);
    if (!q) this.#queues.set(key, q = new DbQueue());
    return q.run(async () => {
      try {
        const out = await this.#handle(km, request, key);
        if (km.rsvp || req.expectsResponse !== undefined) this.#send(km, req, out);
      } catch (e) {
        this.#fail(km, e);
      }
    });
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.run(() => Promise.resolve())));
    for (const s of this.#stores.values()) s.close();
    this.#stores.clear();
  }

  #send(km: KernelMessage, req: Request, out: { response: KvResponse; blob?: Uint8Array }) {
    this.#ctx.sendToLoop(
      reply(km, this.#our, encodeKvResponse(out.response), out.blob, req.metadata),
    );
  }

  /** Hyperdrive answers every kv error, expected or not, to rsvp or source. */
  #fail(km: KernelMessage, e: unknown): void {
    let error: KvError;
    if (e instanceof KvFailure) error = e.error;
    else if (e instanceof KvBackendError) error = { RocksDBError: `Deno KV: ${e.message}` };
    else error = { IOError: ioErrorMessage(e) };
    this.#ctx.print(
      1,
      `kv: ${JSON.stringify(error, (_k, v) => typeof v === "bigint" ? `${v}` : v)}`,
    );
    this.#ctx.sendToLoop(makeResponse(km, this.#our, encodeKvResponse({ Err: error })));
  }

  #cap(kind: "read" | "write", r: KvRequest): Capability {
    return { issuer: this.#our, params: kvCapParams(kind, r.packageId, r.db) };
  }

  #checkCaps(source: Address, r: KvRequest): void {
    // the kernel (node.request, root authority) is not checked, as in vfs
    if (isKernel(source)) return;
    const tag = r.action.tag;
    const own = ownsDb(source, r.packageId);
    switch (tag) {
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
        if (!own) throw new KvFailure("MismatchingPackageId");
        return;
    }
  }

  async #store(dbKey: string, r: KvRequest, create: boolean): Promise<KvStore> {
    const open = this.#stores.get(dbKey);
    if (open) {
      this.#stores.delete(dbKey);
      this.#stores.set(dbKey, open);
      return open;
    }
    const dir = join(this.#root, dbKey);
    if (create) {
      await Deno.mkdir(dir, { recursive: true });
    } else {
      try {
        await Deno.stat(join(dir, DB_FILE));
      } catch {
        throw new KvFailure({ NoDb: [packageIdToJson(r.packageId), r.db] });
      }
    }
    let store: KvStore;
    try {
      store = await KvStore.open(join(dir, DB_FILE));
    } catch (e) {
      throw new KvBackendError(ioErrorMessage(e));
    }
    this.#stores.set(dbKey, store);
    this.#evictIdle(dbKey);
    return store;
  }

  #evictIdle(keep: string): void {
    for (const [key, store] of this.#stores) {
      if (this.#stores.size <= this.#maxOpen) return;
      if (key === keep || (this.#queues.get(key)?.busy ?? 0) > 0) continue;
      store.close();
      this.#stores.delete(key);
      this.#queues.delete(key);
    }
  }

  #tx(txId: bigint, dbKey: string): Tx {
    const tx = this.#txs.get(txId);
    if (!tx || tx.db !== dbKey) throw new KvFailure({ NoTx: txId });
    return tx;
  }

  async #handle(
    km: KernelMessage,
    r: KvRequest,
    dbKey: string,
  ): Promise<{ response: KvResponse; blob?: Uint8Array }> {
    this.#checkCaps(km.source, r);
    const action: KvAction = r.action;
    switch (action.tag) {
      case "Open":
        if (!isKernel(km.source)) {
          this.#ctx.grantCapabilities(km.source.process, [
            this.#cap("read", r),
            this.#cap("write", r),
          ]);
        }
        await this.#store(dbKey, r, true);
        return { response: "Ok" };
      case "RemoveDb": {
        this.#stores.get(dbKey)?.close();
        this.#stores.delete(dbKey);
        for (const [id, tx] of this.#txs) if (tx.db === dbKey) this.#txs.delete(id);
        await Deno.remove(join(this.#root, dbKey), { recursive: true });
        return { response: "Ok" };
      }
      case "Get": {
        const value = await (await this.#store(dbKey, r, false)).get(action.key);
        if (value === undefined) throw new KvFailure("KeyNotFound");
        return { response: { Get: action.key }, blob: value };
      }
      case "BeginTx": {
        await this.#store(dbKey, r, false);
        const txId = freshTxId(this.#txs);
        this.#txs.set(txId, { db: dbKey, ops: [] });
        return { response: { BeginTx: { tx_id: txId } } };
      }
      case "Set": {
        const store = await this.#store(dbKey, r, false);
        const blob = km.lazyLoadBlob;
        if (!blob) throw new KvFailure("MalformedRequest");
        if (action.txId === undefined) await store.set(action.key, blob.bytes);
        else this.#tx(action.txId, dbKey).ops.push({ key: action.key, value: blob.bytes });
        return { response: "Ok" };
      }
      case "Delete": {
        const store = await this.#store(dbKey, r, false);
        if (action.txId === undefined) await store.delete(action.key);
        else this.#tx(action.txId, dbKey).ops.push({ key: action.key });
        return { response: "Ok" };
      }
      case "Commit": {
        const store = await this.#store(dbKey, r, false);
        const tx = this.#tx(action.txId, dbKey);
        this.#txs.delete(action.txId); // consumed whether or not it commits
        await store.commit(tx.ops);
        return { response: "Ok" };
      }
    }
  }
}

/** kv:distro:sys. Register with the kernel as a non-public runtime module. */
export function createKvModule(opts: KvModuleOptions = {}): RuntimeModule {
  return new KvModule(opts);
}
