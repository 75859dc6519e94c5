// sqlite:distro:sys -- SQLite databases on node:sqlite (WAL mode), one per
// (package_id, db), at <home>/sqlite/<package_id>/<db>/<db>.db. A process opens a
// database of its own package (and so gets read and write caps on it); others need
// those caps, issued by sqlite with params {"kind": "read"|"write", "db_key": [package_id, db]}.
// Query needs read, Write/BeginTx/Commit need write.
//
// SQL never runs on the kernel's thread: each open database has a Worker holding its
// connection (host.ts, worker.ts); requests to one database run one at a time, in
// arrival order, and different databases run in parallel. Every request has a time
// limit (`requestTimeoutMs`); past it the requester gets a RusqliteError
// "interrupted: ..." and the database a fresh connection (host.ts says what happens to
// the statement). Transactions are buffered here and run by Commit in one SQLite
// transaction, so a replaced connection loses no transaction state.

import { join, resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  packageIdOf,
  packageIdToString,
  type ProcessId,
  processIdToString,
  type Request,
  responseTo,
  SQLITE_PROCESS_ID,
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
} from "../shared/runtime.ts";
import {
  type DbTarget,
  encodeSqliteResponse,
  noDb,
  sqliteCapParams,
  SqliteFailure,
  type SqliteRequest,
  sqliteRequestParser,
  type SqliteResponse,
} from "../../wire/sqlite.ts";
import { DbHost, type EndableWorker, interrupted, type Job } from "./host.ts";
import { wallClock } from "../../kernel/module.ts";
import {
  inflightFull,
  paramsTooBig,
  sqliteErrorOf,
  type Statement,
  vetQuery,
  vetWrite,
} from "./protocol.ts";

export * from "../../wire/sqlite.ts";
export { decodeCanonicalBase64, formatReal } from "./values.ts";

/** Databases open at once (each a Worker with its connection, ~8 MB); LRU beyond. */
export const MAX_OPEN_DBS = 32;
/** A database idle this long has its Worker closed (reopened on the next request). */
export const DB_IDLE_CLOSE_MS = 60_000;
/** How long shutdown waits for connections to close. */
const SHUTDOWN_GRACE_MS = 2000;
/** Time limit of one request, from when it reaches its database's Worker. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** A request body (the JSON with the SQL text) larger than this is MalformedRequest. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
/** The parameters blob of a Write or Query. */
export const MAX_PARAMS_BYTES = 64 * 1024 * 1024;
/** The rows one Query may answer (the blob's JSON text). */
export const MAX_QUERY_RESULT_BYTES = 64 * 1024 * 1024;
/** Bytes held for requests in flight across all processes: parameters and results. */
export const MAX_INFLIGHT_BYTES = 256 * 1024 * 1024;
/** Transactions begun and not yet committed, node-wide. */
export const MAX_OPEN_TXS = 1024;
/** Statement and parameter bytes buffered in all open transactions together. */
export const MAX_TX_BYTES = 256 * 1024 * 1024;
/** Statements still running past their time limit that one package may have. */
export const MAX_RUNAWAYS_PER_PACKAGE = 2;
/** ... and all packages together; beyond either, that package's (or every) SQL waits. */
export const MAX_RUNAWAYS = 8;
/** Source processes whose package name is remembered (see #blame). */
const MAX_BLAMES = 1024;

export interface SqliteModuleOptions {
  /** Databases kept open at once; least recently used beyond this are closed. */
  maxOpenDbs?: number;
  /** Time limit of one request in ms (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** Overrides of the byte limits above (tests, embedders). */
  limits?: Partial<SqliteLimits>;
  /**
   * Whether processes get module channels to the db Workers (default true): after a
   * Query or Write of a process has passed its checks here, its later Queries and
   * Writes outside transactions on that database go straight to the database's Worker
   * and are answered from there (kernel/process_host/module_channel.ts).
   */
  moduleChannels?: boolean;
}

export interface SqliteLimits {
  maxParamsBytes: number;
  maxQueryResultBytes: number;
  maxInflightBytes: number;
  maxOpenTxs: number;
  maxTxBytes: number;
}

const SQLITE_LIMITS: SqliteLimits = {
  maxParamsBytes: MAX_PARAMS_BYTES,
  maxQueryResultBytes: MAX_QUERY_RESULT_BYTES,
  maxInflightBytes: MAX_INFLIGHT_BYTES,
  maxOpenTxs: MAX_OPEN_TXS,
  maxTxBytes: MAX_TX_BYTES,
};

/** What sqlite derives from a request's database, computed once per DbTarget. */
interface Db {
  /** the directory key of the database */
  dbKey: string;
  /** the read and write caps on it, as sqlite issues them */
  read: Capability;
  write: Capability;
}

/** A request, with what sqlite derives from its database. */
interface Req extends SqliteRequest {
  target: Db;
}

const OK_TEXT = encodeSqliteResponse("Ok");
const READ_TEXT = encodeSqliteResponse("Read");

interface Tx {
  db: string;
  statements: Statement[];
  bytes: number;
}

/** A limit refusal: SQLite's own words for the condition, then sqlite's limit. */
function refused(text: string): SqliteFailure {
  return new SqliteFailure({ RusqliteError: text });
}

class SqliteModule implements RuntimeModule, RequestHandler<Req, SqliteResponse> {
  readonly processId = SQLITE_PROCESS_ID;
  readonly public = false;
  readonly name = "sqlite";
  readonly remote = false;
  readonly echoMetadata = "ok";
  readonly answerErrorsAlways = true;
  self!: Address;
  #ctx!: RuntimeModuleContext;
  #root = "";
  #maxOpen: number;
  #limits: SqliteLimits;
  #timeoutMs: number;
  #budget: ByteBudget;
  /** open databases by key, least recently used first */
  #hosts = new Map<string, DbHost>();
  #txs = new Map<bigint, Tx>();
  #txBytes = 0;
  /** Workers given up on that still run, by the package charged */
  #runaways = new Map<string, number>();
  #runawayTotal = 0;
  /** every db Worker not yet ended: current, retiring and given up on */
  #workers = new Set<EndableWorker>();
  /** hosts closed (LRU, idle, RemoveDb) while requests were still queued on them */
  #retired = new Set<DbHost>();
  #sweep?: ReturnType<typeof setInterval>;
  #parser = sqliteRequestParser();
  /** per database a request names (the parser's DbTargets are shared while remembered) */
  #targets = new WeakMap<DbTarget, Db>();
  /** the package a source process's runaway statements are charged to, by process */
  #blames = new Map<string, string>();
  #moduleChannels: boolean;
  /** module channels opened, by database key then process: their request rings */
  #channels = new OpenedChannels();
  /** watches channel requests' time limit while channels exist */
  #channelWatch?: ReturnType<typeof setInterval>;

  constructor(opts: SqliteModuleOptions) {
    this.#maxOpen = opts.maxOpenDbs ?? MAX_OPEN_DBS;
    this.#limits = { ...SQLITE_LIMITS, ...opts.limits };
    this.#timeoutMs = timeLimitMs(opts.requestTimeoutMs, REQUEST_TIMEOUT_MS, "sqlite");
    this.#budget = new ByteBudget(this.#limits.maxInflightBytes);
    this.#moduleChannels = opts.moduleChannels ?? true;
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.self = { node: ctx.our, process: SQLITE_PROCESS_ID };
    this.#root = resolve(ctx.home, "sqlite");
    await Deno.mkdir(this.#root, { recursive: true });
    const sweep = setInterval(() => this.#closeIdle(DB_IDLE_CLOSE_MS), DB_IDLE_CLOSE_MS / 4);
    Deno.unrefTimer(sweep);
    this.#sweep = sweep;
  }

  /** Hyperdrive's per-process queues. */
  laneOf(km: KernelMessage): string {
    return laneBySourceProcess(km);
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  /**
   * Every connection closes (a Worker still inside a statement past its limit gets
   * SHUTDOWN_GRACE_MS to return, then is terminated; its thread ends with the process).
   */
  async shutdown(): Promise<void> {
    clearInterval(this.#sweep);
    clearInterval(this.#channelWatch);
    for (const host of [...this.#hosts.values(), ...this.#retired]) host.stop();
    this.#hosts.clear();
    this.#retired.clear();
    const workers = [...this.#workers];
    for (const w of workers) w.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(workers.map((w) => w.gone)),
      new Promise((resolve) => timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)),
    ]);
    clearTimeout(timer);
    for (const w of workers) w.terminate();
  }

  parse(_km: KernelMessage, req: Request): Req {
    if (req.body.length > MAX_REQUEST_BODY_BYTES) throw new SqliteFailure("MalformedRequest");
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
    return { packageId: target.packageId, db: target.db, action, target: db };
  }

  /** Hyperdrive's check_caps; the kernel (node.request, root authority) owns every db. */
  check(km: KernelMessage, r: Req): void {
    const source = km.source;
    if (isKernel(source)) return;
    switch (r.action.tag) {
      case "Open":
      case "RemoveDb":
        if (!ownsDb(source, r.packageId)) throw new SqliteFailure("MismatchingPackageId");
        return;
      case "Query":
        if (!this.#ctx.hasCapability(source.process, r.target.read)) {
          throw new SqliteFailure("NoReadCap");
        }
        return;
      default:
        if (!this.#ctx.hasCapability(source.process, r.target.write)) {
          throw new SqliteFailure("NoWriteCap");
        }
    }
  }

  #cap(kind: "read" | "write", r: DbTarget): Capability {
    return { issuer: this.self, params: sqliteCapParams(kind, r.packageId, r.db) };
  }

  #retire(key: string, host: DbHost): void {
    this.#hosts.delete(key);
    this.#channels.forget(key);
    if (!host.idle) this.#retired.add(host);
    host.retire(() => this.#retired.delete(host));
  }

  #closeIdle(idleMs: number): void {
    const now = wallClock();
    for (const [key, host] of this.#hosts) {
      if (host.idle && now - host.lastUsed > idleMs) this.#retire(key, host);
    }
  }

  /** The request's open database: NoDb unless it exists or `create`. */
  async #host(r: Req, create: boolean): Promise<DbHost> {
    const key = r.target.dbKey;
    let host = this.#hosts.get(key);
    if (!host) {
      const dir = join(this.#root, key);
      const file = join(dir, `${r.db}.db`);
      if (create) {
        await Deno.mkdir(dir, { recursive: true });
      } else {
        try {
          await Deno.stat(file);
        } catch {
          throw noDb(r);
        }
      }
      host = this.#hosts.get(key) ?? new DbHost(file, `sqlite ${key}`, {
        timeoutMs: this.#timeoutMs,
        budget: this.#budget,
        runaway: (blame, delta) => this.#runaway(blame, delta),
        workers: this.#workers,
        print: (text) => this.#ctx.print(1, text),
        maxParamsBytes: this.#limits.maxParamsBytes,
        maxResultBytes: this.#limits.maxQueryResultBytes,
      });
    }
    this.#hosts.delete(key);
    this.#hosts.set(key, host);
    for (const [k, old] of this.#hosts) {
      if (this.#hosts.size <= this.#maxOpen) break;
      if (old.idle) this.#retire(k, old);
    }
    return host;
  }

  #runaway(blame: string, delta: 1 | -1): void {
    const n = (this.#runaways.get(blame) ?? 0) + delta;
    if (n > 0) this.#runaways.set(blame, n);
    else this.#runaways.delete(blame);
    this.#runawayTotal += delta;
    if (delta > 0) {
      // channels skip #admit: requests go through it again until the statement ends
      for (const host of this.#hosts.values()) host.closeChannels();
      this.#channels.clear();
      this.#ctx.print(1, `sqlite: a request of ${blame} ran past the time limit; stopped`);
    }
  }

  /**
   * SQL is refused while the package (or all packages together) has too many
   * statements still running past their time limit: each holds a thread.
   */
  #admit(blame: string): void {
    const mine = this.#runaways.get(blame) ?? 0;
    if (mine >= MAX_RUNAWAYS_PER_PACKAGE || this.#runawayTotal >= MAX_RUNAWAYS) {
      throw refused(
        `database is locked: ${mine} statement(s) of ${blame} (${this.#runawayTotal} in all) ` +
          "still run past sqlite's time limit; retry once they end",
      );
    }
  }

  /** Runs a job on the db's Worker, holding its `bytes` (parameters) in the in-flight budget. */
  async #run(host: DbHost, job: Job, blame: string, bytes = 0) {
    const release = this.#budget.take(
      bytes,
      () => inflightFull(this.#limits.maxInflightBytes),
    );
    try {
      return await host.run(job, blame);
    } finally {
      release();
    }
  }

  #params(km: KernelMessage): Uint8Array | undefined {
    const blob = km.lazyLoadBlob?.bytes;
    const max = this.#limits.maxParamsBytes;
    if (blob && blob.length > max) throw paramsTooBig(max);
    return blob;
  }

  #tx(txId: bigint, r: Req): Tx {
    const tx = this.#txs.get(txId);
    if (!tx || tx.db !== r.target.dbKey) throw new SqliteFailure({ NoTx: txId });
    return tx;
  }

  #dropTx(txId: bigint): void {
    const tx = this.#txs.get(txId);
    if (!tx) return;
    this.#txs.delete(txId);
    this.#txBytes -= tx.bytes;
  }

  /** After check(): the db must exist (NoDb), then the statement is vetted, then run. */
  async act(km: KernelMessage, r: Req): Promise<Answer<SqliteResponse>> {
    const action = r.action;
    const blame = this.#blame(km.source.process);
    switch (action.tag) {
      case "Open":
        if (!isKernel(km.source)) {
          this.#ctx.grantCapabilities(km.source.process, [
            this.#cap("read", r),
            this.#cap("write", r),
          ]);
        }
        // opening the connection creates the file (and sets WAL mode) now
        await (await this.#host(r, true)).run({ op: "params" }, blame);
        return { response: "Ok" };
      case "RemoveDb": {
        const key = r.target.dbKey;
        const host = this.#hosts.get(key);
        if (host) this.#retire(key, host);
        for (const [id, tx] of this.#txs) if (tx.db === key) this.#dropTx(id);
        await Deno.remove(join(this.#root, key), { recursive: true });
        return { response: "Ok" };
      }
      case "Query": {
        const host = await this.#host(r, false);
        vetQuery(action.query);
        const params = this.#params(km);
        this.#admit(blame);
        const maxBytes = this.#limits.maxQueryResultBytes;
        const blob = await this.#run(
          host,
          { op: "query", sql: action.query, params, maxBytes },
          blame,
          params?.length,
        );
        this.#offerChannel(km, r, host, blame);
        return { response: "Read", blob };
      }
      case "Write": {
        const host = await this.#host(r, false);
        vetWrite(action.statement);
        const params = this.#params(km);
        if (action.txId === undefined) {
          this.#admit(blame);
          await this.#run(
            host,
            { op: "write", sql: action.statement, params },
            blame,
            params?.length,
          );
          this.#offerChannel(km, r, host, blame);
          return { response: "Ok" };
        }
        await this.#run(host, { op: "params", params }, blame, params?.length);
        const tx = this.#tx(action.txId, r);
        const bytes = action.statement.length + (params?.length ?? 0);
        if (this.#txBytes + bytes > this.#limits.maxTxBytes) {
          throw refused(
            `out of memory: open transactions hold over sqlite's limit of ` +
              `${this.#limits.maxTxBytes} bytes; commit them first`,
          );
        }
        tx.statements.push({ sql: action.statement, params });
        tx.bytes += bytes;
        this.#txBytes += bytes;
        return { response: "Ok" };
      }
      case "BeginTx": {
        await this.#host(r, false);
        if (this.#txs.size >= this.#limits.maxOpenTxs) {
          throw refused(
            `too many open transactions: sqlite's limit is ${this.#limits.maxOpenTxs}; ` +
              "commit some first",
          );
        }
        const txId = freshTxId(this.#txs);
        this.#txs.set(txId, { db: r.target.dbKey, statements: [], bytes: 0 });
        return { response: { BeginTx: { tx_id: txId } } };
      }
      case "Commit": {
        const host = await this.#host(r, false);
        const tx = this.#tx(action.txId, r);
        this.#dropTx(action.txId); // consumed whether or not it commits
        this.#admit(blame);
        await this.#run(host, { op: "commit", statements: tx.statements }, blame, tx.bytes);
        return { response: "Ok" };
      }
    }
  }

  /**
   * After a Query or Write of a local process passed here: a module channel from it to
   * the database's Worker, with the rights it holds now, unless one is open.
   */
  #offerChannel(km: KernelMessage, r: Req, host: DbHost, blame: string): void {
    const wake = host.wake;
    if (!this.#moduleChannels || !wake) return;
    const ctx = this.#ctx;
    this.#channels.offer(ctx, km, "sqlite-db", r.target.dbKey, r, wake, (end, route) => {
      const read = ctx.hasCapability(end.process.process, r.target.read);
      const write = ctx.hasCapability(end.process.process, r.target.write);
      return host.openChannel({ end, route, read, write, blame });
    });
    this.#channelWatch ??= this.#watchChannels();
  }

  /** Channel requests past the time limit are given up on and answered from here. */
  #watchChannels(): ReturnType<typeof setInterval> {
    const every = Math.max(10, Math.min(1000, this.#timeoutMs / 4));
    const timer = setInterval(() => {
      const now = wallClock();
      for (const host of this.#hosts.values()) {
        const expired = host.expireChannelRequest(now);
        if (!expired) continue;
        const body = this.encode({ Err: sqliteErrorOf(interrupted(this.#timeoutMs)) });
        this.#ctx.sendToLoop(responseTo(expired.id, this.self, expired.process, body));
      }
    }, every);
    Deno.unrefTimer(timer);
    return timer;
  }

  error(e: unknown): SqliteResponse {
    return { Err: sqliteErrorOf(e) };
  }

  encode(r: SqliteResponse): Uint8Array {
    if (r === "Ok") return OK_TEXT.slice();
    if (r === "Read") return READ_TEXT.slice();
    return encodeSqliteResponse(r);
  }

  /** packageIdToString of the process's package, remembered (bounded) per process. */
  #blame(p: ProcessId): string {
    const pid = processIdToString(p);
    let blame = this.#blames.get(pid);
    if (blame === undefined) {
      blame = packageIdToString(packageIdOf(p));
      if (this.#blames.size >= MAX_BLAMES) this.#blames.clear();
      this.#blames.set(pid, blame);
    }
    return blame;
  }
}

/** sqlite:distro:sys. Register with the kernel as a non-public runtime module. */
export function createSqliteModule(opts: SqliteModuleOptions = {}): RuntimeModule {
  return new SqliteModule(opts);
}
