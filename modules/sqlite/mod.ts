// sqlite:distro:sys -- SQLite databases on node:sqlite (WAL mode), one per
// (package_id, db), at <home>/sqlite/<package_id>/<db>/<db>.db. A process opens a
// database of its own package (and so gets read and write caps on it); others need
// those caps, issued by sqlite with params {"kind": "read"|"write", "db_key": [package_id, db]}.
// Query needs read, Write/BeginTx/Commit need write. node:sqlite is synchronous, so
// each request runs to completion before the next (of any process) starts.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join, resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  type Request,
  SQLITE_PROCESS_ID,
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
  encodeSqliteResponse,
  firstKeyword,
  noDb,
  parseSqliteRequest,
  READ_KEYWORDS,
  sqliteCapParams,
  type SqliteError,
  SqliteFailure,
  type SqliteRequest,
  type SqliteResponse,
  WRITE_KEYWORDS,
} from "../../wire/sqlite.ts";
import { parseParams, RowEncodingError, rowsToJson, type SqlParam } from "./values.ts";

export * from "../../wire/sqlite.ts";
export { decodeCanonicalBase64, formatReal } from "./values.ts";

export interface SqliteModuleOptions {
  /** Databases kept open at once; least recently used beyond this are closed. */
  maxOpenDbs?: number;
}

const STATEMENT_CACHE = 256;

/** An open database with its prepared statements, reused across requests. */
class Db {
  #statements = new Map<string, StatementSync>();
  constructor(readonly conn: DatabaseSync) {}

  statement(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.conn.prepare(sql);
      s.setReadBigInts(true); // INTEGER comes back exact, REAL as number
      if (this.#statements.size >= STATEMENT_CACHE) this.#statements.clear();
      this.#statements.set(sql, s);
    }
    return s;
  }

  close(): void {
    this.#statements.clear();
    this.conn.close();
  }
}

interface Tx {
  db: string;
  statements: [string, SqlParam[]][];
}

class SqliteModule implements RuntimeModule, RequestHandler<SqliteRequest, SqliteResponse> {
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
  /** open databases, least recently used first */
  #dbs = new Map<string, Db>();
  #txs = new Map<bigint, Tx>();

  constructor(opts: SqliteModuleOptions) {
    this.#maxOpen = opts.maxOpenDbs ?? 64;
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.self = { node: ctx.our, process: SQLITE_PROCESS_ID };
    this.#root = resolve(ctx.home, "sqlite");
    await Deno.mkdir(this.#root, { recursive: true });
  }

  /** Hyperdrive's per-process queues; with synchronous handling, the order is arrival's. */
  laneOf(km: KernelMessage): string {
    return laneBySourceProcess(km);
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  shutdown(): void {
    for (const db of this.#dbs.values()) db.close();
    this.#dbs.clear();
  }

  parse(_km: KernelMessage, req: Request): SqliteRequest {
    return parseSqliteRequest(req.body);
  }

  /** Hyperdrive's check_caps; the kernel (node.request, root authority) owns every db. */
  check(km: KernelMessage, r: SqliteRequest): void {
    const source = km.source;
    if (isKernel(source)) return;
    switch (r.action.tag) {
      case "Open":
      case "RemoveDb":
        if (!ownsDb(source, r.packageId)) throw new SqliteFailure("MismatchingPackageId");
        return;
      case "Query":
        if (!this.#ctx.hasCapability(source.process, this.#cap("read", r))) {
          throw new SqliteFailure("NoReadCap");
        }
        return;
      default:
        if (!this.#ctx.hasCapability(source.process, this.#cap("write", r))) {
          throw new SqliteFailure("NoWriteCap");
        }
    }
  }

  #cap(kind: "read" | "write", r: SqliteRequest): Capability {
    return { issuer: this.self, params: sqliteCapParams(kind, r.packageId, r.db) };
  }

  #db(r: SqliteRequest, create: boolean): Db {
    const key = dbKeyOf(r);
    const open = this.#dbs.get(key);
    if (open) {
      this.#dbs.delete(key);
      this.#dbs.set(key, open);
      return open;
    }
    const dir = join(this.#root, key);
    const file = join(dir, `${r.db}.db`);
    if (create) {
      Deno.mkdirSync(dir, { recursive: true });
    } else {
      try {
        Deno.statSync(file);
      } catch {
        throw noDb(r);
      }
    }
    const conn = new DatabaseSync(file);
    conn.exec("PRAGMA journal_mode=WAL");
    const db = new Db(conn);
    this.#dbs.set(key, db);
    for (const [k, old] of this.#dbs) {
      if (this.#dbs.size <= this.#maxOpen) break;
      old.close();
      this.#dbs.delete(k);
    }
    return db;
  }

  #tx(txId: bigint, r: SqliteRequest): Tx {
    const tx = this.#txs.get(txId);
    if (!tx || tx.db !== dbKeyOf(r)) throw new SqliteFailure({ NoTx: txId });
    return tx;
  }

  /** After check(): the db must exist (NoDb), then the statement is vetted, then run. */
  act(km: KernelMessage, r: SqliteRequest): Answer<SqliteResponse> {
    const action = r.action;
    switch (action.tag) {
      case "Open":
        if (!isKernel(km.source)) {
          this.#ctx.grantCapabilities(km.source.process, [
            this.#cap("read", r),
            this.#cap("write", r),
          ]);
        }
        this.#db(r, true);
        return { response: "Ok" };
      case "RemoveDb": {
        const key = dbKeyOf(r);
        this.#dbs.get(key)?.close();
        this.#dbs.delete(key);
        for (const [id, tx] of this.#txs) if (tx.db === key) this.#txs.delete(id);
        Deno.removeSync(join(this.#root, key), { recursive: true });
        return { response: "Ok" };
      }
      case "Query": {
        const db = this.#db(r, false);
        if (!READ_KEYWORDS.has(firstKeyword(action.query))) {
          throw new SqliteFailure("NotAReadKeyword");
        }
        const params = parseParams(km.lazyLoadBlob?.bytes);
        if (!params) throw new SqliteFailure("InvalidParameters");
        const stmt = db.statement(action.query);
        stmt.setReturnArrays(true);
        const rows = stmt.all(...params) as unknown as unknown[][];
        const columns = stmt.columns().map((c) => c.name);
        return {
          response: "Read",
          blob: new TextEncoder().encode(rowsToJson(columns, rows)),
        };
      }
      case "Write": {
        const db = this.#db(r, false);
        if (!WRITE_KEYWORDS.has(firstKeyword(action.statement))) {
          throw new SqliteFailure("NotAWriteKeyword");
        }
        const params = parseParams(km.lazyLoadBlob?.bytes);
        if (!params) throw new SqliteFailure("InvalidParameters");
        if (action.txId !== undefined) {
          this.#tx(action.txId, r).statements.push([action.statement, params]);
        } else {
          db.statement(action.statement).run(...params);
        }
        return { response: "Ok" };
      }
      case "BeginTx": {
        this.#db(r, false);
        const txId = freshTxId(this.#txs);
        this.#txs.set(txId, { db: dbKeyOf(r), statements: [] });
        return { response: { BeginTx: { tx_id: txId } } };
      }
      case "Commit": {
        const db = this.#db(r, false);
        const tx = this.#tx(action.txId, r);
        this.#txs.delete(action.txId); // consumed whether or not it commits
        db.conn.exec("BEGIN");
        try {
          for (const [sql, params] of tx.statements) db.statement(sql).run(...params);
          db.conn.exec("COMMIT");
        } catch (e) {
          if (db.conn.isTransaction) db.conn.exec("ROLLBACK");
          throw e;
        }
        return { response: "Ok" };
      }
    }
  }

  error(e: unknown): SqliteResponse {
    let error: SqliteError;
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof SqliteFailure) error = e.error;
    else if (e instanceof RowEncodingError) error = { RusqliteError: msg };
    else if (msg.includes("(os error")) error = { IOError: ioErrorMessage(e) }; // filesystem
    else error = { RusqliteError: msg }; // SQLite itself: syntax, constraints, binding
    return { Err: error };
  }

  encode(r: SqliteResponse): Uint8Array {
    return encodeSqliteResponse(r);
  }
}

/** sqlite:distro:sys. Register with the kernel as a non-public runtime module. */
export function createSqliteModule(opts: SqliteModuleOptions = {}): RuntimeModule {
  return new SqliteModule(opts);
}
