// sqlite:distro:sys -- SQLite databases on node:sqlite (WAL mode), one per
// (package_id, db), at <home>/sqlite/<package_id>/<db>/<db>.db. A process opens a
// database of its own package (and so gets read and write caps on it); others need
// those caps, issued by sqlite with params {"kind": "read"|"write", "db_key": [package_id, db]}.
// Query needs read, Write/BeginTx/Commit need write. node:sqlite is synchronous, so
// every request runs to completion in order.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join, resolve } from "node:path";
import {
  type Address,
  type Capability,
  type KernelMessage,
  makeResponse,
  type Request,
  SQLITE_PROCESS_ID,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { dbKeyOf, freshTxId, ownsDb } from "../shared/db.ts";
import { fromOtherNode, ioErrorMessage, isKernel, reply } from "../shared/runtime.ts";
import {
  encodeSqliteResponse,
  firstKeyword,
  packageIdToJson,
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

class SqliteModule implements RuntimeModule {
  readonly processId = SQLITE_PROCESS_ID;
  readonly public = false;
  #ctx!: RuntimeModuleContext;
  #our!: Address;
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
    this.#our = { node: ctx.our, process: SQLITE_PROCESS_ID };
    this.#root = resolve(ctx.home, "sqlite");
    await Deno.mkdir(this.#root, { recursive: true });
  }

  handleMessage(km: KernelMessage): void {
    if (fromOtherNode(this.#ctx, "sqlite", km) || km.message.tag !== "request") return;
    const req = km.message.val;
    try {
      const request = parseSqliteRequest(req.body);
      const out = this.#handle(km, request);
      if (km.rsvp || req.expectsResponse !== undefined) this.#send(km, req, out);
    } catch (e) {
      this.#fail(km, e);
    }
  }

  shutdown(): void {
    for (const db of this.#dbs.values()) db.close();
    this.#dbs.clear();
  }

  #send(km: KernelMessage, req: Request, out: { response: SqliteResponse; blob?: Uint8Array }) {
    this.#ctx.sendToLoop(
      reply(km, this.#our, encodeSqliteResponse(out.response), out.blob, req.metadata),
    );
  }

  /** Hyperdrive answers every sqlite error, expected or not, to rsvp or source. */
  #fail(km: KernelMessage, e: unknown): void {
    let error: SqliteError;
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof SqliteFailure) error = e.error;
    else if (e instanceof RowEncodingError) error = { RusqliteError: msg };
    else if (msg.includes("(os error")) error = { IOError: ioErrorMessage(e) }; // filesystem
    else error = { RusqliteError: msg }; // SQLite itself: syntax, constraints, binding
    this.#ctx.sendToLoop(makeResponse(km, this.#our, encodeSqliteResponse({ Err: error })));
  }

  #cap(kind: "read" | "write", r: SqliteRequest): Capability {
    return { issuer: this.#our, params: sqliteCapParams(kind, r.packageId, r.db) };
  }

  #require(source: Address, kind: "read" | "write", r: SqliteRequest): void {
    if (isKernel(source)) return; // root authority (node.request), as in vfs
    if (!this.#ctx.hasCapability(source.process, this.#cap(kind, r))) {
      throw new SqliteFailure(kind === "read" ? "NoReadCap" : "NoWriteCap");
    }
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
        throw new SqliteFailure({ NoDb: [packageIdToJson(r.packageId), r.db] });
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

  #handle(km: KernelMessage, r: SqliteRequest): { response: SqliteResponse; blob?: Uint8Array } {
    const own = isKernel(km.source) || ownsDb(km.source, r.packageId);
    const action = r.action;
    switch (action.tag) {
      case "Open":
        if (!own) throw new SqliteFailure("MismatchingPackageId");
        if (!isKernel(km.source)) {
          this.#ctx.grantCapabilities(km.source.process, [
            this.#cap("read", r),
            this.#cap("write", r),
          ]);
        }
        this.#db(r, true);
        return { response: "Ok" };
      case "RemoveDb": {
        if (!own) throw new SqliteFailure("MismatchingPackageId");
        const key = dbKeyOf(r);
        this.#dbs.get(key)?.close();
        this.#dbs.delete(key);
        for (const [id, tx] of this.#txs) if (tx.db === key) this.#txs.delete(id);
        Deno.removeSync(join(this.#root, key), { recursive: true });
        return { response: "Ok" };
      }
      case "Query": {
        this.#require(km.source, "read", r);
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
        this.#require(km.source, "write", r);
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
        this.#require(km.source, "write", r);
        this.#db(r, false);
        const txId = freshTxId(this.#txs);
        this.#txs.set(txId, { db: dbKeyOf(r), statements: [] });
        return { response: { BeginTx: { tx_id: txId } } };
      }
      case "Commit": {
        this.#require(km.source, "write", r);
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
}

/** sqlite:distro:sys. Register with the kernel as a non-public runtime module. */
export function createSqliteModule(opts: SqliteModuleOptions = {}): RuntimeModule {
  return new SqliteModule(opts);
}
