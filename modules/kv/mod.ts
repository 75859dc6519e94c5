// kv:distro:sys -- key-value databases on Deno KV, one per (package_id, db), stored
// under <home>/kv/<package_id>/<db>/. A process opens a database of its own package
// (and so gets read and write caps on it); others need those caps, issued by kv with
// params {"kind": "read"|"write", "db_key": [package_id, db]}. Keys and values are
// arbitrary bytes of any size (see store.ts); transactions commit atomically.
// Requests run in order per source process, processes concurrently (mailbox lanes).
//
// The stores live on kv's own Worker (worker.ts, host.ts): this module parses, checks
// caps, keeps transactions and limits, and posts the store work there. After a local
// process's Get, Set or Delete outside a transaction passed here, the module opens it a
// module channel to that Worker, so its later ones skip the kernel's thread both ways.
// What runs is bounded by the limits below: a value's size, the bytes of all requests in
// flight, what open transactions buffer, a request body's size, and a time limit per
// request (past it the answer is an IOError "timed out: ..."; Deno KV cannot cancel, so
// the operation itself still completes in the background, in order with that process's
// later writes).

import { resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  KV_PROCESS_ID,
  type Request,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import {
  ByteBudget,
  dbKeyOf,
  freshTxId,
  OpenedChannels,
  ownsDb,
  timeLimitMs,
} from "../shared/db.ts";
import {
  type Answer,
  isKernel,
  laneBySourceProcess,
  type RequestHandler,
  serve,
  Watchdog,
} from "../shared/runtime.ts";
import {
  type DbTarget,
  kvCapParams,
  KvFailure,
  type KvRequest,
  kvRequestParser,
  type KvResponse,
  noDb,
} from "../../wire/kv.ts";
import type { TxOp } from "./store.ts";
import { KvStores, NoSuchDb, type StoreOps } from "./stores.ts";
import { KvWorkerHost } from "./host.ts";
import { directOp } from "./ops.ts";
import {
  encodeAnswer,
  inflightFull,
  kvErrorOf,
  refused,
  timedOut,
  valueTooBig,
} from "./protocol.ts";

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
  /**
   * Hold the stores on kv's own Worker (default), which also serves module channels;
   * false keeps them on the kernel's thread, with no channels.
   */
  worker?: boolean;
  /** With the Worker: whether processes get module channels to it (default true). */
  moduleChannels?: boolean;
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

class KvModule implements RuntimeModule, RequestHandler<Job, KvResponse> {
  readonly processId = KV_PROCESS_ID;
  readonly public = false;
  readonly name = "kv";
  readonly remote = false;
  readonly echoMetadata = "ok";
  readonly answerErrorsAlways = true;
  self!: Address;
  #ctx!: RuntimeModuleContext;
  #opts: KvModuleOptions;
  #stores!: StoreOps;
  /** the stores' Worker, when they are on one */
  #worker?: KvWorkerHost;
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
  /** module channels opened to the Worker */
  #channels = new OpenedChannels();

  constructor(opts: KvModuleOptions) {
    this.#opts = opts;
    this.#limits = { ...KV_LIMITS, ...opts.limits };
    this.#timeoutMs = timeLimitMs(opts.requestTimeoutMs, REQUEST_TIMEOUT_MS, "kv");
    this.#budget = new ByteBudget(this.#limits.maxInflightBytes);
    this.#watchdog = new Watchdog(this.#timeoutMs);
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.self = { node: ctx.our, process: KV_PROCESS_ID };
    const root = resolve(ctx.home, "kv");
    await Deno.mkdir(root, { recursive: true });
    const maxOpen = this.#opts.maxOpenDbs ?? MAX_OPEN_DBS;
    if (this.#opts.worker === false) {
      this.#stores = new KvStores(root, maxOpen);
      return;
    }
    this.#stores = this.#worker = new KvWorkerHost({
      root,
      maxOpen,
      budget: this.#budget,
      maxValueBytes: this.#limits.maxValueBytes,
      timeoutMs: this.#timeoutMs,
      print: (text) => ctx.print(1, text),
    });
  }

  laneOf(km: KernelMessage): string {
    return laneBySourceProcess(km);
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  async shutdown(): Promise<void> {
    this.#watchdog.stop();
    await this.#stores?.close();
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
    const adopt = (n: number) => releases.push(() => this.#budget.give(n));
    let run: Promise<Answer<KvResponse>>;
    try {
      run = this.#act(km, job, hold, adopt);
    } catch (e) {
      run = Promise.reject(e);
    }
    const settled = run.then(undefined, (e) => {
      throw e instanceof NoSuchDb ? noDb(job.request) : e;
    }).finally(() => releases.forEach((release) => release()));
    return this.#watchdog.watch(settled, () => timedOut(this.#timeoutMs));
  }

  #busy(): KvFailure {
    return inflightFull(this.#limits.maxInflightBytes);
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
    adopt: (n: number) => void,
  ): Promise<Answer<KvResponse>> {
    const action = r.action;
    const stores = this.#stores;
    const maxValue = this.#limits.maxValueBytes;
    switch (action.tag) {
      case "Open":
        if (!isKernel(km.source)) {
          this.#ctx.grantCapabilities(km.source.process, [
            this.#cap("read", r),
            this.#cap("write", r),
          ]);
        }
        await stores.open(dbKey, true);
        return OK;
      case "RemoveDb": {
        for (const [id, tx] of this.#txs) if (tx.db === dbKey) this.#dropTx(id);
        this.#channels.forget(dbKey); // the Worker closes them
        await stores.remove(dbKey);
        return OK;
      }
      case "Get":
        this.#offerChannel(km, r, dbKey);
        return await directOp(stores, dbKey, action, undefined, maxValue, hold, adopt);
      case "BeginTx": {
        await stores.open(dbKey, false);
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
      case "Set": {
        const blob = km.lazyLoadBlob?.bytes;
        if (action.txId === undefined) {
          this.#offerChannel(km, r, dbKey);
          return await directOp(stores, dbKey, action, blob, maxValue, hold, adopt);
        }
        const tx = await this.#tx(action.txId, dbKey);
        if (!blob) throw new KvFailure("MalformedRequest");
        const n = blob.length;
        if (n > maxValue) throw valueTooBig(n, maxValue);
        const bytes = n + action.key.length;
        if (this.#txBytes + bytes > this.#limits.maxTxBytes) {
          throw refused(
            `out of memory: open transactions hold over kv's limit of ` +
              `${this.#limits.maxTxBytes} bytes; commit them first`,
          );
        }
        tx.ops.push({ key: action.key, value: blob });
        tx.bytes += bytes;
        this.#txBytes += bytes;
        return OK;
      }
      case "Delete": {
        if (action.txId === undefined) {
          this.#offerChannel(km, r, dbKey);
          return await directOp(stores, dbKey, action, undefined, maxValue, hold, adopt);
        }
        const tx = await this.#tx(action.txId, dbKey);
        tx.ops.push({ key: action.key });
        tx.bytes += action.key.length;
        this.#txBytes += action.key.length;
        return OK;
      }
      case "Commit": {
        const tx = await this.#tx(action.txId, dbKey);
        hold(tx.bytes);
        this.#dropTx(action.txId); // consumed whether or not it commits
        await stores.commit(dbKey, tx.ops);
        return OK;
      }
    }
  }

  error(e: unknown): KvResponse {
    return { Err: kvErrorOf(e) };
  }

  encode(r: KvResponse): Uint8Array {
    return encodeAnswer(r);
  }

  #cap(kind: "read" | "write", r: DbTarget): Capability {
    return { issuer: this.self, params: kvCapParams(kind, r.packageId, r.db) };
  }

  /**
   * The open transaction `txId` on the database. Without one, NoTx; NoDb first when the
   * database does not exist (a transaction's database existed when it began: RemoveDb
   * drops its transactions).
   */
  async #tx(txId: bigint, dbKey: string): Promise<Tx> {
    const tx = this.#txs.get(txId);
    if (tx && tx.db === dbKey) return tx;
    await this.#stores.open(dbKey, false);
    throw new KvFailure({ NoTx: txId });
  }

  /**
   * After a Get, Set or Delete outside a transaction of a local process passed here: a
   * module channel from it to kv's Worker for that database, with the rights it holds
   * now, unless one is open.
   */
  #offerChannel(km: KernelMessage, r: KvRequest, dbKey: string): void {
    const host = this.#worker;
    const wake = host?.wake;
    if (!host || !wake || this.#opts.moduleChannels === false) return;
    this.#channels.offer(this.#ctx, km, "kv-db", dbKey, r, wake, (end, route) => {
      const read = this.#ctx.hasCapability(end.process.process, this.#cap("read", r));
      const write = this.#ctx.hasCapability(end.process.process, this.#cap("write", r));
      return host.openChannel({ end, route, dbKey, read, write }) ? end.ring : undefined;
    });
  }
}

/** kv:distro:sys. Register with the kernel as a non-public runtime module. */
export function createKvModule(opts: KvModuleOptions = {}): RuntimeModule {
  return new KvModule(opts);
}
