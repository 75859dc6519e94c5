// Between kv:distro:sys (mod.ts, on the kernel's thread) and kv's Worker (worker.ts),
// which holds the node's Deno KV stores: the module posts jobs on databases it has
// checked, the Worker answers each by id. The Worker also serves module channels
// (kernel/process_host/module_channel.ts) for a process's Get, and its Set and Delete
// outside a transaction, once one of them passed the module's checks; those never touch
// the kernel's thread.

import type { ModuleChannelEnd, ModuleRoute } from "../../kernel/module.ts";
import { encodeKvResponse, type KvError, KvFailure, type KvResponse } from "../../wire/kv.ts";
import { ioErrorMessage } from "../shared/runtime.ts";
import { KvBackendError, type TxOp } from "./store.ts";
import { NoSuchDb } from "./stores.ts";

export interface WorkerInit {
  root: string;
  maxOpen: number;
  /** the Worker parks on this bell (module_channel.ts's WAKE_BYTES layout) */
  wake: SharedArrayBuffer;
  /** the module's in-flight byte budget (ByteBudget.shared) and its limit */
  held: SharedArrayBuffer;
  heldLimit: number;
  maxValueBytes: number;
  timeoutMs: number;
}

/** Serve a module channel of `end.process` for database `dbKey`, with the rights checked. */
export interface ChannelOpen {
  end: ModuleChannelEnd;
  route: ModuleRoute;
  dbKey: string;
  read: boolean;
  write: boolean;
}

export type Job =
  | { id: number; op: "open"; dbKey: string; create: boolean }
  | { id: number; op: "get"; dbKey: string; key: Uint8Array }
  | { id: number; op: "commit"; dbKey: string; ops: TxOp[] }
  | { id: number; op: "remove"; dbKey: string }
  | { id: number; op: "channel"; open: ChannelOpen }
  | { id: number; op: "close" };

/** Why a job failed, as structured clone carries it. */
export type JobError =
  | { failure: KvError }
  | { noDb: string }
  | { backend: string }
  | { io: string };

export type Reply =
  | { id: number; ok: true; value?: Uint8Array; held?: number }
  | { id: number; ok: false; error: JobError };

/** The Worker's postMessages: a job's reply, or an error of a channel request to print. */
export type WorkerEvent = Reply | { failed: string };

export function jobErrorOf(e: unknown): JobError {
  if (e instanceof KvFailure) return { failure: e.error };
  if (e instanceof NoSuchDb) return { noDb: e.message };
  if (e instanceof KvBackendError) return { backend: e.message };
  return { io: ioErrorMessage(e) };
}

export function errorOfJob(e: JobError): Error {
  if ("failure" in e) return new KvFailure(e.failure);
  if ("noDb" in e) return new NoSuchDb(e.noDb);
  if ("backend" in e) return new KvBackendError(e.backend);
  return new KvFailure({ IOError: e.io });
}

/** The KvError an exception is answered with. */
export function kvErrorOf(e: unknown): KvError {
  if (e instanceof KvFailure) return e.error;
  if (e instanceof KvBackendError) return { RocksDBError: `Deno KV: ${e.message}` };
  return { IOError: ioErrorMessage(e) };
}

/** A limit refusal, in kv's store error variant. */
export function refused(text: string): KvFailure {
  return new KvFailure({ RocksDBError: text });
}

export function inflightFull(limit: number): KvFailure {
  return refused(
    `out of memory: requests in flight are over kv's limit of ${limit} bytes; retry later`,
  );
}

export function valueTooBig(n: number, limit: number): KvFailure {
  return refused(`value of ${n} bytes is over kv's limit of ${limit}`);
}

export function timedOut(ms: number): KvFailure {
  return new KvFailure({
    IOError: `timed out: past kv's time limit of ${ms} ms; a write may still complete`,
  });
}

const OK_TEXT = encodeKvResponse("Ok");
const encoder = new TextEncoder();

/** A response's body. */
export function encodeAnswer(r: KvResponse): Uint8Array {
  if (r === "Ok") return OK_TEXT.slice();
  // {"Get":[u8, ...]}: a byte array's JSON is its numbers joined by commas
  if (typeof r === "object" && "Get" in r) return encoder.encode(`{"Get":[${r.Get.join(",")}]}`);
  return encodeKvResponse(r);
}
