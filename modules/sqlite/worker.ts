// A sqlite database's Worker: holds its node:sqlite connection (WAL mode) and runs one
// request at a time, off the kernel's thread. node:sqlite has no interrupt, so the
// module's time limit reaches in here only between rows of a query and between the
// statements of a transaction (the `cancel` flag); a single step that never returns
// (an endless aggregate) keeps this thread busy until it does, then the connection
// closes and any open transaction rolls back (see mod.ts).

/// <reference lib="deno.worker" />

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { SqliteFailure } from "../../wire/sqlite.ts";
import { parseParams, rowEncoder, type SqlParam } from "./values.ts";
import type { Statement, WorkerError, WorkerReply, WorkerRequest } from "./protocol.ts";

const STATEMENT_CACHE = 256;
/** Rows read between two looks at the cancel flag. */
const CANCEL_CHECK_ROWS = 64;

let db: DatabaseSync | undefined;
let cancel: Int32Array<ArrayBufferLike> = new Int32Array(1);
let held: Int32Array<ArrayBufferLike> = new Int32Array(1);
let heldLimit = 0;
const statements = new Map<string, StatementSync>();
const encoder = new TextEncoder();

class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

function checkCancel(): void {
  if (Atomics.load(cancel, 0) !== 0) throw new Interrupted();
}

function statement(sql: string): StatementSync {
  let s = statements.get(sql);
  if (!s) {
    s = db!.prepare(sql);
    s.setReadBigInts(true); // INTEGER comes back exact, REAL as number
    if (statements.size >= STATEMENT_CACHE) statements.clear();
    statements.set(sql, s);
  }
  return s;
}

function params(blob: Uint8Array | undefined): SqlParam[] {
  const p = parseParams(blob);
  if (!p) throw new SqliteFailure("InvalidParameters");
  return p;
}

function tooLarge(max: number): SqliteFailure {
  return new SqliteFailure({
    RusqliteError: `string or blob too big: query result over sqlite's limit of ${max} bytes`,
  });
}

function budgetSpent(): SqliteFailure {
  return new SqliteFailure({
    RusqliteError: `out of memory: query results in flight over sqlite's limit of ${heldLimit} ` +
      "bytes; retry later",
  });
}

/** Rows as the Query blob, read row by row: the size cap and cancel flag apply as it goes. */
function query(sql: string, blob: Uint8Array | undefined, maxBytes: number): WorkerReply {
  const stmt = statement(sql);
  const p = params(blob);
  stmt.setReturnArrays(true);
  const encode = rowEncoder(stmt.columns().map((c) => c.name));
  const parts: string[] = [];
  let size = 2;
  let added = 0;
  try {
    let n = 0;
    for (const row of stmt.iterate(...p)) {
      const s = encode(row as unknown as unknown[]);
      size += s.length + 1;
      if (size > maxBytes) throw tooLarge(maxBytes);
      added += s.length;
      if (Atomics.add(held, 0, s.length) + s.length > heldLimit) throw budgetSpent();
      parts.push(s);
      if (++n % CANCEL_CHECK_ROWS === 0) checkCancel();
    }
    checkCancel();
    const bytes = encoder.encode(`[${parts.join(",")}]`);
    if (bytes.length > maxBytes) throw tooLarge(maxBytes);
    Atomics.add(held, 0, bytes.length - added);
    added = bytes.length;
    return { id: 0, ok: true, blob: bytes, held: added };
  } catch (e) {
    Atomics.sub(held, 0, added);
    throw e;
  }
}

function commit(list: Statement[]): void {
  db!.exec("BEGIN");
  try {
    for (const s of list) {
      checkCancel();
      statement(s.sql).run(...params(s.params));
    }
    checkCancel();
    db!.exec("COMMIT");
  } catch (e) {
    if (db!.isTransaction) db!.exec("ROLLBACK");
    throw e;
  }
}

function run(m: Exclude<WorkerRequest, { op: "open" | "close" }>): WorkerReply {
  switch (m.op) {
    case "query":
      return { ...query(m.sql, m.params, m.maxBytes), id: m.id };
    case "write":
      statement(m.sql).run(...params(m.params));
      return { id: m.id, ok: true };
    case "params":
      params(m.params);
      return { id: m.id, ok: true };
    case "commit":
      commit(m.statements);
      return { id: m.id, ok: true };
  }
}

function errorOf(e: unknown): WorkerError {
  if (e instanceof SqliteFailure) return { failure: e.error };
  return { message: e instanceof Error ? e.message : String(e) };
}

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const m = ev.data;
  if (m.op === "close") {
    statements.clear();
    try {
      db?.close();
    } catch { /* already closed */ }
    self.postMessage({ closed: true } satisfies WorkerReply);
    self.close();
    return;
  }
  if (m.op === "open") {
    cancel = new Int32Array(m.cancel);
    held = m.held;
    heldLimit = m.heldLimit;
    try {
      db = new DatabaseSync(m.file);
      db.exec("PRAGMA journal_mode=WAL");
      self.postMessage({ id: 0, ok: true } satisfies WorkerReply);
    } catch (e) {
      self.postMessage({ id: 0, ok: false, error: errorOf(e) } satisfies WorkerReply);
    }
    return;
  }
  let reply: WorkerReply;
  try {
    reply = run(m);
  } catch (e) {
    reply = { id: m.id, ok: false, error: errorOf(e) };
  }
  const blob = "blob" in reply ? reply.blob : undefined;
  self.postMessage(reply, blob ? [blob.buffer as ArrayBuffer] : []);
};
