// How sqlite:distro:sys (on the kernel's thread) talks to a database's Worker
// (worker.ts), which holds the node:sqlite connection.
//
// A Worker's postMessage round trip costs ~110 us in Deno; a request here costs ~20 us.
// One request is in flight per Worker at a time. The module writes it as a frame into
// the Worker's shared `data` buffer (a frame too big for it goes by MessagePort, read
// with receiveMessageOnPort), bumps REQ_SEQ and notifies; the Worker, parked in
// Atomics.wait, runs it and writes the reply frame the same way, bumping REP_SEQ, which
// the module awaits with Atomics.waitAsync, so the kernel's thread never blocks.
//
// STATE settles who owns a reply: the module sets RUNNING before each request; the
// Worker moves it RUNNING -> REPLIED when done, the module RUNNING -> ABANDONED when the
// request's time is up (the Worker reads ABANDONED as "cancel" between rows and
// statements). Whichever compareExchange loses learns the other won: a Worker whose
// reply came too late closes its connection and ends; a module whose timer fired
// after the reply takes the reply.

import {
  firstKeyword,
  READ_KEYWORDS,
  type SqliteError,
  SqliteFailure,
  WRITE_KEYWORDS,
} from "../../wire/sqlite.ts";
import type { ModuleChannelEnd, ModuleRoute } from "../../kernel/module.ts";
import { ioErrorMessage } from "../shared/runtime.ts";

/** Int32 words of the signal buffer. */
export const REQ_SEQ = 0;
export const REP_SEQ = 1;
/** the request's frame length, or -1: on the port */
export const REQ_LEN = 2;
export const REP_LEN = 3;
export const STATE = 4;
/** non-zero: close the connection and end once idle */
export const STOP = 5;
/** bumped by the module with each message on the Worker's control port */
export const CTL_SEQ = 6;
/** the module-channel request running: its state (as STATE) and its channel's id */
export const CH_STATE = 7;
export const CH_WHO = 8;
export const SIGNAL_WORDS = 9;

/** Float64 indices of the Worker's `info` buffer: when the channel request began, last work */
export const INFO_SINCE = 0;
export const INFO_LAST = 1;
/** BigUint64 index of `info`: the channel request's message id */
export const INFO_ID = 2;
export const INFO_BYTES = 24;

export const RUNNING = 0;
export const REPLIED = 1;
export const ABANDONED = 2;
/** CH_STATE between channel requests */
export const IDLE = 3;

/** Bytes of each Worker's shared frame buffer; bigger frames go by MessagePort. */
export const FRAME_BYTES = 256 * 1024;

/** A statement with its parameters blob (the JSON array Hyperdrive takes), unparsed. */
export interface Statement {
  sql: string;
  params?: Uint8Array;
}

export type Job =
  /** run a read query; rows come back as the Query blob (JSON text), at most maxBytes */
  | { op: "query"; sql: string; params?: Uint8Array; maxBytes: number }
  | { op: "write"; sql: string; params?: Uint8Array }
  /** only check that a parameters blob is well formed (a Write inside a transaction) */
  | { op: "params"; params?: Uint8Array }
  /** run the statements in one SQLite transaction */
  | { op: "commit"; statements: Statement[] };

/** The first message to a Worker (by postMessage): what it needs to open the db. */
export interface WorkerInit {
  file: string;
  signal: SharedArrayBuffer;
  data: SharedArrayBuffer;
  port: MessagePort;
  /** the module's ByteBudget count, which query results are added to */
  held: SharedArrayBuffer;
  heldLimit: number;
  /** the module's bell (module_channel.ts): the Worker parks on it */
  wake: SharedArrayBuffer;
  /** INFO_* above */
  info: SharedArrayBuffer;
  /** control messages (ChannelOpen) */
  ctl: MessagePort;
  /** what module-channel requests are held to (the module's own requests carry theirs) */
  maxParamsBytes: number;
  maxResultBytes: number;
}

/** On the control port: serve a module channel of `end.process`, with the rights checked. */
export interface ChannelOpen {
  id: number;
  end: ModuleChannelEnd;
  route: ModuleRoute;
  read: boolean;
  write: boolean;
}

/** The Worker's own postMessages: opened (or not), and ended. */
export type WorkerEvent =
  | { opened: true }
  | { openError: WorkerError }
  | { closed: true }
  /** a channel request's error, printed at verbosity 1 as the module prints its own */
  | { failed: string };

/** An error raised in the Worker: a SqliteError variant, or another error's message. */
export type WorkerError = { failure: SqliteError } | { message: string };

export type Reply =
  /** `held`: result bytes the Worker added to the budget, for the module to give back */
  | { ok: true; blob?: Uint8Array; held?: number }
  | { ok: false; error: WorkerError };

// --- frames: u32 header length, header JSON, then the binary parts it lists ---

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The frame of `header` and `parts`: written into `into` when it fits there (its
 * length is returned), else a new array. Writing into the shared buffer directly
 * saves a copy of the blob.
 */
function frameInto(
  header: unknown,
  parts: (Uint8Array | undefined)[],
  into: Uint8Array,
): number | Uint8Array<ArrayBuffer> {
  const h = enc.encode(JSON.stringify(header));
  let size = 4 + h.length;
  for (const p of parts) size += p?.length ?? 0;
  if (size > into.length) return frame(h, parts, new Uint8Array(size));
  frame(h, parts, into);
  return size;
}

function frame<T extends Uint8Array>(h: Uint8Array, parts: (Uint8Array | undefined)[], out: T): T {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(0, h.length, true);
  out.set(h, 4);
  let off = 4 + h.length;
  for (const p of parts) {
    if (!p) continue;
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function unframe(bytes: Uint8Array): { header: unknown; body: Uint8Array } {
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  return {
    header: JSON.parse(dec.decode(bytes.subarray(4, 4 + n))),
    body: bytes.subarray(4 + n),
  };
}

/** Part lengths: -1 for none. */
const lens = (parts: (Uint8Array | undefined)[]) => parts.map((p) => p ? p.length : -1);

function split(body: Uint8Array, sizes: number[]): (Uint8Array | undefined)[] {
  let off = 0;
  return sizes.map((n) => {
    if (n < 0) return undefined;
    const p = body.subarray(off, off + n);
    off += n;
    return p;
  });
}

/** `job` as a frame, written into `into` when it fits (see frameInto). */
export function encodeJob(job: Job, into: Uint8Array): number | Uint8Array<ArrayBuffer> {
  if (job.op === "commit") {
    const parts = job.statements.map((s) => s.params);
    return frameInto(
      { op: job.op, sql: job.statements.map((s) => s.sql), p: lens(parts) },
      parts,
      into,
    );
  }
  const parts = [job.params];
  return frameInto({ ...job, params: undefined, p: lens(parts) }, parts, into);
}

export function decodeJob(bytes: Uint8Array): Job {
  const { header, body } = unframe(bytes);
  const h = header as Record<string, unknown> & { p: number[] };
  const parts = split(body, h.p);
  if (h.op === "commit") {
    return {
      op: "commit",
      statements: (h.sql as string[]).map((sql, i) => ({ sql, params: parts[i] })),
    };
  }
  return { ...h, p: undefined, params: parts[0] } as unknown as Job;
}

/** `r` as a frame, written into `into` when it fits (see frameInto). */
export function encodeReply(r: Reply, into: Uint8Array): number | Uint8Array<ArrayBuffer> {
  if (r.ok) return frameInto({ ok: true, held: r.held, p: lens([r.blob]) }, [r.blob], into);
  return frameInto({ ok: false, error: r.error, p: [] }, [], into);
}

export function decodeReply(bytes: Uint8Array): Reply {
  const { header, body } = unframe(bytes);
  const h = header as { ok: boolean; held?: number; error?: WorkerError; p: number[] };
  if (!h.ok) return { ok: false, error: h.error! };
  // the blob leaves the shared buffer: copy it out
  const blob = split(body, h.p)[0]?.slice();
  return { ok: true, held: h.held, blob };
}

// What the module and a db Worker serving a module channel both refuse, in the same words.

/** A Query's statement must start with a read keyword. */
export function vetQuery(sql: string): void {
  if (!READ_KEYWORDS.has(firstKeyword(sql))) throw new SqliteFailure("NotAReadKeyword");
}

/** A Write's statement must start with a write keyword; returns that keyword. */
export function vetWrite(sql: string): string {
  const keyword = firstKeyword(sql);
  if (!WRITE_KEYWORDS.has(keyword)) throw new SqliteFailure("NotAWriteKeyword");
  return keyword;
}

/** Parameters over the module's limit. */
export function paramsTooBig(max: number): SqliteFailure {
  return new SqliteFailure({
    RusqliteError: `string or blob too big: parameters over sqlite's limit of ${max} bytes`,
  });
}

/** The in-flight budget is full. */
export function inflightFull(limit: number): SqliteFailure {
  return new SqliteFailure({
    RusqliteError: `out of memory: requests in flight over sqlite's limit of ${limit} bytes; ` +
      "retry later",
  });
}

/** Anything a request's handling threw, as sqlite's one error shape. */
export function sqliteErrorOf(e: unknown): SqliteError {
  if (e instanceof SqliteFailure) return e.error;
  const msg = e instanceof Error ? e.message : String(e);
  if (msg.includes("(os error")) return { IOError: ioErrorMessage(e) }; // filesystem
  return { RusqliteError: msg }; // SQLite itself: syntax, constraints, binding
}
