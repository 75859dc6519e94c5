// Messages between sqlite:distro:sys (on the kernel's thread) and a database's Worker
// (worker.ts), which holds the node:sqlite connection. One request is in flight per
// Worker at a time; the module sends the next when the previous one is answered.

import type { SqliteError } from "../../wire/sqlite.ts";

/** A statement with its parameters blob (the JSON array Hyperdrive takes), unparsed. */
export interface Statement {
  sql: string;
  params?: Uint8Array;
}

export type WorkerRequest =
  /** open the database file (it exists); answered with id 0 */
  | {
    op: "open";
    file: string;
    /** Int32[1]: set non-zero when the module gave up on this Worker's request */
    cancel: SharedArrayBuffer;
    /** the module's ByteBudget count, which query results are added to */
    held: Int32Array<ArrayBufferLike>;
    heldLimit: number;
  }
  /** run a read query; rows come back as the Query blob (JSON text), at most maxBytes */
  | { op: "query"; id: number; sql: string; params?: Uint8Array; maxBytes: number }
  | { op: "write"; id: number; sql: string; params?: Uint8Array }
  /** only check that a parameters blob is well formed (a Write inside a transaction) */
  | { op: "params"; id: number; params?: Uint8Array }
  /** run the statements in one SQLite transaction */
  | { op: "commit"; id: number; statements: Statement[] }
  /** close the connection (after any request still running) and end the Worker */
  | { op: "close" };

/** An error raised in the Worker: a SqliteError variant, or another error's message. */
export type WorkerError = { failure: SqliteError } | { message: string };

export type WorkerReply =
  /** `held`: result bytes the Worker added to the budget, for the module to give back */
  | { id: number; ok: true; blob?: Uint8Array; held?: number }
  | { id: number; ok: false; error: WorkerError }
  | { closed: true };
