// A sqlite database's Worker: holds its node:sqlite connection (WAL mode) and runs one
// request at a time, off the kernel's thread (the channel: protocol.ts). node:sqlite
// has no interrupt, so the module's time limit reaches in here only between rows of a
// query and between the statements of a transaction; a single step that never returns
// (an endless aggregate) keeps this thread until it does, then the connection closes,
// rolling back whatever it had not committed (see host.ts).

/// <reference lib="deno.worker" />

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { receiveMessageOnPort } from "node:worker_threads";
import { firstKeyword, SqliteFailure } from "../../wire/sqlite.ts";
import { parseParams, rowEncoder, type SqlParam } from "./values.ts";
import {
  ABANDONED,
  decodeJob,
  encodeReply,
  type Job,
  REP_LEN,
  REP_SEQ,
  REPLIED,
  type Reply,
  REQ_LEN,
  REQ_SEQ,
  RUNNING,
  STATE,
  type Statement,
  STOP,
  type WorkerError,
  type WorkerEvent,
  type WorkerInit,
} from "./protocol.ts";

const STATEMENT_CACHE = 256;
const BUSY_TIMEOUT_MS = 5000;

let db: DatabaseSync;
let signal: Int32Array<SharedArrayBuffer>;
let held: Int32Array<SharedArrayBuffer>;
let heldLimit = 0;
const statements = new Map<string, StatementSync>();
const encoder = new TextEncoder();

class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

function checkCancel(): void {
  if (Atomics.load(signal, STATE) === ABANDONED) throw new Interrupted();
}

function statement(sql: string): StatementSync {
  let s = statements.get(sql);
  if (!s) {
    s = db.prepare(sql);
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

/** Rows as the Query blob, read row by row: the size cap and cancel state apply as it goes. */
function query(sql: string, blob: Uint8Array | undefined, maxBytes: number): Reply {
  const stmt = statement(sql);
  const p = params(blob);
  stmt.setReturnArrays(true);
  const encode = rowEncoder(stmt.columns().map((c) => c.name));
  const parts: string[] = [];
  let size = 2;
  let added = 0;
  try {
    for (const row of stmt.iterate(...p)) {
      const s = encode(row as unknown as unknown[]);
      size += s.length + 1;
      if (size > maxBytes) throw tooLarge(maxBytes);
      added += s.length;
      if (Atomics.add(held, 0, s.length) + s.length > heldLimit) throw budgetSpent();
      parts.push(s);
      checkCancel();
    }
    checkCancel();
    const bytes = encoder.encode(`[${parts.join(",")}]`);
    if (bytes.length > maxBytes) throw tooLarge(maxBytes);
    Atomics.add(held, 0, bytes.length - added);
    added = bytes.length;
    return { ok: true, blob: bytes, held: added };
  } catch (e) {
    Atomics.sub(held, 0, added);
    throw e;
  }
}

function commit(list: Statement[]): void {
  db.exec("BEGIN");
  try {
    for (const s of list) {
      checkCancel();
      statement(s.sql).run(...params(s.params));
    }
    checkCancel();
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

/** Statements that end or nest transactions, or cannot run inside one. */
const UNWRAPPED = new Set(["COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "VACUUM"]);

/**
 * A Write outside a transaction runs in one of its own, so that a Write which outlives
 * its time limit rolls back instead of landing after the requester was told it failed.
 * Inside a transaction a process opened itself, or for transaction control, it runs as is.
 */
function write(sql: string, blob: Uint8Array | undefined): void {
  const stmt = statement(sql);
  const p = params(blob);
  if (db.isTransaction || UNWRAPPED.has(firstKeyword(sql))) {
    stmt.run(...p);
    return;
  }
  db.exec("BEGIN");
  try {
    stmt.run(...p);
    checkCancel();
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

function run(job: Job): Reply {
  switch (job.op) {
    case "query":
      return query(job.sql, job.params, job.maxBytes);
    case "write":
      write(job.sql, job.params);
      return { ok: true };
    case "params":
      params(job.params);
      return { ok: true };
    case "commit":
      commit(job.statements);
      return { ok: true };
  }
}

function errorOf(e: unknown): WorkerError {
  if (e instanceof SqliteFailure) return { failure: e.error };
  return { message: e instanceof Error ? e.message : String(e) };
}

function post(e: WorkerEvent) {
  self.postMessage(e);
}

/** Takes requests until told to stop (or given up on); then closes the connection. */
function serveRequests(data: Uint8Array, port: MessagePort): void {
  const nodePort = port as unknown as Parameters<typeof receiveMessageOnPort>[0];
  let handled = 0;
  for (;;) {
    const seq = Atomics.load(signal, REQ_SEQ);
    if (seq === handled) {
      if (Atomics.load(signal, STOP) !== 0) return;
      Atomics.wait(signal, REQ_SEQ, seq);
      continue;
    }
    handled = seq;
    const len = Atomics.load(signal, REQ_LEN);
    let bytes: Uint8Array;
    if (len >= 0) bytes = data.slice(0, len);
    else bytes = new Uint8Array(receiveMessageOnPort(nodePort)!.message as ArrayBuffer);
    let reply: Reply;
    try {
      reply = run(decodeJob(bytes));
    } catch (e) {
      reply = { ok: false, error: errorOf(e) };
    }
    // into the shared buffer when it fits (the request was copied out of it above); the
    // module reads it only once REPLIED, so a reply it gave up on is never read
    const out = encodeReply(reply, data);
    if (Atomics.compareExchange(signal, STATE, RUNNING, REPLIED) !== RUNNING) {
      // the module gave up on this request: nobody reads the reply
      if (reply.ok && reply.held) Atomics.sub(held, 0, reply.held);
      return;
    }
    if (typeof out === "number") {
      Atomics.store(signal, REP_LEN, out);
    } else {
      port.postMessage(out.buffer, [out.buffer]);
      Atomics.store(signal, REP_LEN, -1);
    }
    Atomics.add(signal, REP_SEQ, 1);
    Atomics.notify(signal, REP_SEQ);
  }
}

self.onmessage = (ev: MessageEvent<WorkerInit>) => {
  const init = ev.data;
  signal = new Int32Array(init.signal);
  held = new Int32Array(init.held);
  heldLimit = init.heldLimit;
  try {
    db = new DatabaseSync(init.file);
    db.exec("PRAGMA journal_mode=WAL");
    // rusqlite's default (Hyperdrive's): a connection given up on may hold the write lock
    db.exec(`PRAGMA busy_timeout=${BUSY_TIMEOUT_MS}`);
  } catch (e) {
    post({ openError: errorOf(e) });
    return;
  }
  post({ opened: true });
  serveRequests(new Uint8Array(init.data), init.port);
  statements.clear();
  try {
    db.close();
  } catch { /* already closed */ }
  post({ closed: true });
  self.close();
};
