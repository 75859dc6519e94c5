// A sqlite database's Worker: holds its node:sqlite connection (WAL mode) and runs one
// request at a time, off the kernel's thread (the channel: protocol.ts). node:sqlite
// has no interrupt, so the module's time limit reaches in here only between rows of a
// query and between the statements of a transaction; a single step that never returns
// (an endless aggregate) keeps this thread until it does, then the connection closes,
// rolling back whatever it had not committed (see host.ts).

/// <reference lib="deno.worker" />

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { receiveMessageOnPort } from "node:worker_threads";
import {
  encodeSqliteResponse,
  firstKeyword,
  type SqliteError,
  SqliteFailure,
  sqliteRequestParser,
} from "../../wire/sqlite.ts";
import type { Request } from "../../wire/core.ts";
import { parseParams, rowEncoder, type SqlParam } from "./values.ts";
import { returnsAtMostOneRow } from "./plan.ts";
import {
  BELL,
  BELL_PARKED,
  closeModuleChannel,
  type OutgoingMessage,
  ServedChannel,
  wallClock,
  Writer,
} from "../../kernel/module.ts";
import {
  ABANDONED,
  CH_STATE,
  CH_WHO,
  type ChannelOpen,
  CTL_SEQ,
  decodeJob,
  encodeReply,
  IDLE,
  inflightFull,
  INFO_ID,
  INFO_LAST,
  INFO_SINCE,
  type Job,
  paramsTooBig,
  REP_LEN,
  REP_SEQ,
  REPLIED,
  type Reply,
  REQ_LEN,
  REQ_SEQ,
  RUNNING,
  sqliteErrorOf,
  STATE,
  type Statement,
  STOP,
  vetQuery,
  vetWrite,
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
let wake: Int32Array<SharedArrayBuffer>;
let infoF: Float64Array<SharedArrayBuffer>;
let infoId: BigUint64Array<SharedArrayBuffer>;
/** the state word the request running is cancelled through: STATE or CH_STATE */
let cancelWord = STATE;
/**
 * Prepared statements, kept only while the schema cannot have changed: a statement's columns
 * are fixed when it is prepared (`SELECT *` keeps the columns it had), so running one that
 * may change the schema (any but SCHEMA_KEPT's), a rollback, or any error (SQLite rolls some
 * transactions back by itself) drops them all, and the next request sees the new schema as
 * Hyperdrive's fresh prepare does.
 */
const statements = new Map<string, StatementSync>();
const encoder = new TextEncoder();
const SCHEMA_KEPT = new Set([
  "SELECT",
  "VALUES",
  "WITH",
  "EXPLAIN",
  "INSERT",
  "UPDATE",
  "DELETE",
  "REPLACE",
]);
/** Cached statements whose first keyword is not in SCHEMA_KEPT. */
const schemaChanging = new WeakSet<StatementSync>();
/** Each query statement's row encoder, built from its columns once. */
const encoders = new WeakMap<StatementSync, (row: unknown[]) => string>();
/** Query statements read with one all() (plan.ts: at most one row), not iterate(). */
const oneRow = new WeakMap<StatementSync, boolean>();

class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

function checkCancel(): void {
  if (Atomics.load(signal, cancelWord) === ABANDONED) throw new Interrupted();
}

/** The prepared statement for `sql`, about to run. */
function statement(sql: string): StatementSync {
  let s = statements.get(sql);
  if (!s) {
    s = db.prepare(sql);
    s.setReadBigInts(true); // INTEGER comes back exact, REAL as number
    if (!SCHEMA_KEPT.has(firstKeyword(sql))) schemaChanging.add(s);
    if (statements.size >= STATEMENT_CACHE) statements.clear();
    statements.set(sql, s);
  }
  if (schemaChanging.has(s)) schemaMayHaveChanged();
  return s;
}

function schemaMayHaveChanged(): void {
  statements.clear();
}

/** Rolls back the transaction open (which may undo schema changes). */
function rollback(): void {
  schemaMayHaveChanged();
  if (db.isTransaction) db.exec("ROLLBACK");
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

/**
 * Rows as the Query blob, read row by row (but for a query of one row at most): the size cap
 * and cancel state apply as it goes.
 */
function query(sql: string, blob: Uint8Array | undefined, maxBytes: number): Reply {
  const stmt = statement(sql);
  const p = params(blob);
  let encode = encoders.get(stmt);
  if (!encode) {
    stmt.setReturnArrays(true);
    encode = rowEncoder(stmt.columns().map((c) => c.name));
    encoders.set(stmt, encode);
    oneRow.set(stmt, returnsAtMostOneRow(db, sql));
  }
  const parts: string[] = [];
  let size = 2;
  let added = 0;
  try {
    for (const row of oneRow.get(stmt) ? stmt.all(...p) : stmt.iterate(...p)) {
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
    rollback();
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
function write(sql: string, blob: Uint8Array | undefined, keyword = firstKeyword(sql)): void {
  const stmt = statement(sql);
  const p = params(blob);
  if (db.isTransaction || UNWRAPPED.has(keyword)) {
    stmt.run(...p);
    return;
  }
  db.exec("BEGIN");
  try {
    stmt.run(...p);
    checkCancel();
    db.exec("COMMIT");
  } catch (e) {
    rollback();
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

const channels: ServedChannel[] = [];
const answerWriter = new Writer();
const parser = sqliteRequestParser();
let maxParamsBytes = 0;
let maxResultBytes = 0;
const OK_BODY = encodeSqliteResponse("Ok");
const READ_BODY = encodeSqliteResponse("Read");

function takeControl(ctl: MessagePort): void {
  const port = ctl as unknown as Parameters<typeof receiveMessageOnPort>[0];
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (!m) return;
    const open = m.message as ChannelOpen;
    channels.push(new ServedChannel(open.end, open.route, open.read, open.write, open.id));
  }
}

/** What a channel request does, once it passed the channel's checks. */
function channelRequest(ch: ServedChannel, req: Request, blob: Uint8Array | undefined): Reply {
  const { target, action } = parser.parse(req.body);
  const mine = ch.names(target.packageId, target.db);
  if (action.tag === "Query") {
    if (!mine || !ch.read) throw new SqliteFailure("NoReadCap");
    vetQuery(action.query);
    return withParams(blob, () => query(action.query, blob, maxResultBytes));
  }
  if (action.tag === "Write" && action.txId === undefined) {
    if (!mine || !ch.write) throw new SqliteFailure("NoWriteCap");
    const keyword = vetWrite(action.statement);
    return withParams(blob, () => {
      write(action.statement, blob, keyword);
      return { ok: true };
    });
  }
  // the process's glue sends nothing else on a channel
  throw new SqliteFailure("MalformedRequest");
}

/** Runs `work` with the parameters blob held in the module's in-flight budget (as #run does). */
function withParams(blob: Uint8Array | undefined, work: () => Reply): Reply {
  const n = blob?.length ?? 0;
  if (n > maxParamsBytes) throw paramsTooBig(maxParamsBytes);
  if (n > 0 && Atomics.add(held, 0, n) + n > heldLimit) {
    Atomics.sub(held, 0, n);
    throw inflightFull(heldLimit);
  }
  try {
    return work();
  } finally {
    if (n > 0) Atomics.sub(held, 0, n);
  }
}

/**
 * Runs one channel request and answers it into the process's inbox. False when the
 * module gave up on it (past the time limit; the module answered it): serving stops.
 */
function serveChannelRequest(ch: ServedChannel, m: OutgoingMessage): boolean {
  if (m.message.tag !== "request") return true;
  const req = m.message.val;
  Atomics.store(signal, CH_WHO, ch.id);
  infoId[INFO_ID] = m.id;
  infoF[INFO_SINCE] = wallClock();
  Atomics.store(signal, CH_STATE, RUNNING);
  cancelWord = CH_STATE;
  let reply: Reply | undefined;
  let failed: SqliteError | undefined;
  try {
    reply = channelRequest(ch, req, m.lazyLoadBlob?.bytes);
  } catch (e) {
    schemaMayHaveChanged();
    failed = sqliteErrorOf(e);
    post({ failed: e instanceof Error ? e.message : String(e) });
  }
  cancelWord = STATE;
  const now = wallClock();
  infoF[INFO_LAST] = now;
  if (Atomics.compareExchange(signal, CH_STATE, RUNNING, IDLE) !== RUNNING) {
    if (reply?.ok && reply.held) Atomics.sub(held, 0, reply.held);
    return false;
  }
  const blob = reply?.ok ? reply.blob : undefined;
  const body = failed ? encodeSqliteResponse({ Err: failed }) : blob ? READ_BODY : OK_BODY;
  ch.answer(answerWriter, m, body, blob, failed !== undefined, now);
  if (reply?.ok && reply.held) Atomics.sub(held, 0, reply.held);
  return true;
}

/**
 * Runs what every channel holds now (dropping channels closed and drained). Returns
 * whether it ran anything, or "abandoned" when the module gave up on a request.
 */
function serveChannels(): boolean | "abandoned" {
  let did = false;
  for (let i = 0; i < channels.length; i++) {
    const ch = channels[i];
    for (;;) {
      const m = ch.next(wake.buffer);
      if (m === null) {
        channels.splice(i--, 1);
        break;
      }
      if (m === undefined) break;
      did = true;
      if (!serveChannelRequest(ch, m)) return "abandoned";
    }
  }
  return did;
}

/** Runs the module's request; false when the module gave up on it (serving stops). */
function serveModuleJob(data: Uint8Array, port: MessagePort): boolean {
  const nodePort = port as unknown as Parameters<typeof receiveMessageOnPort>[0];
  const len = Atomics.load(signal, REQ_LEN);
  let bytes: Uint8Array;
  if (len >= 0) bytes = data.slice(0, len);
  else bytes = new Uint8Array(receiveMessageOnPort(nodePort)!.message as ArrayBuffer);
  let reply: Reply;
  try {
    reply = run(decodeJob(bytes));
  } catch (e) {
    schemaMayHaveChanged();
    reply = { ok: false, error: errorOf(e) };
  }
  infoF[INFO_LAST] = wallClock();
  // into the shared buffer when it fits (the request was copied out of it above); the
  // module reads it only once REPLIED, so a reply it gave up on is never read
  const out = encodeReply(reply, data);
  if (Atomics.compareExchange(signal, STATE, RUNNING, REPLIED) !== RUNNING) {
    // the module gave up on this request: nobody reads the reply
    if (reply.ok && reply.held) Atomics.sub(held, 0, reply.held);
    return false;
  }
  if (typeof out === "number") {
    Atomics.store(signal, REP_LEN, out);
  } else {
    port.postMessage(out.buffer, [out.buffer]);
    Atomics.store(signal, REP_LEN, -1);
  }
  Atomics.add(signal, REP_SEQ, 1);
  Atomics.notify(signal, REP_SEQ);
  return true;
}

/**
 * Takes the module's requests and its channels' until told to stop (or given up on).
 * The module's request counter is read before the channels are served, so a channel
 * request written before the module's request was sent (a process's earlier request)
 * runs first, as it would have through the module.
 */
function serveRequests(data: Uint8Array, port: MessagePort, ctl: MessagePort): void {
  let handled = 0;
  let ctlSeen = 0;
  for (;;) {
    const bell = Atomics.load(wake, BELL);
    const c = Atomics.load(signal, CTL_SEQ);
    if (c !== ctlSeen) {
      ctlSeen = c;
      takeControl(ctl);
    }
    const seq = Atomics.load(signal, REQ_SEQ);
    let did = false;
    if (channels.length > 0) {
      const r = serveChannels();
      if (r === "abandoned") return;
      did = r;
    }
    if (seq !== handled) {
      handled = seq;
      // a channel request given up on made the Worker's requests the module's to re-send
      if (Atomics.load(signal, CH_STATE) === ABANDONED) return;
      if (!serveModuleJob(data, port)) return;
      did = true;
    }
    if (did) continue;
    if (Atomics.load(signal, STOP) !== 0) return;
    Atomics.store(wake, BELL_PARKED, 1);
    Atomics.wait(wake, BELL, bell);
    Atomics.store(wake, BELL_PARKED, 0);
  }
}

/**
 * Before the connection closes: every channel is closed (the process sends through the
 * module from now on) and what is left in it still runs and is answered.
 */
function drainChannels(): void {
  for (const ch of channels) closeModuleChannel(ch.ring, wake.buffer);
  while (channels.length > 0) {
    Atomics.store(signal, CH_STATE, IDLE);
    serveChannels();
  }
}

self.onmessage = (ev: MessageEvent<WorkerInit>) => {
  const init = ev.data;
  signal = new Int32Array(init.signal);
  held = new Int32Array(init.held);
  heldLimit = init.heldLimit;
  wake = new Int32Array(init.wake);
  infoF = new Float64Array(init.info);
  infoId = new BigUint64Array(init.info);
  maxParamsBytes = init.maxParamsBytes;
  maxResultBytes = init.maxResultBytes;
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
  serveRequests(new Uint8Array(init.data), init.port, init.ctl);
  takeControl(init.ctl);
  drainChannels();
  statements.clear();
  try {
    db.close();
  } catch { /* already closed */ }
  post({ closed: true });
  self.close();
};
