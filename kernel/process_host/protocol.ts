// Messages between the kernel side of a process and its Worker.
//
// Kernel -> worker: the worker takes items synchronously after Atomics.wait
// on a shared counter, so blocking imports (receive, send-and-await-response,
// get-state ...) block only the worker. Worker -> kernel: the kernel never
// blocks; it handles the worker's items from an event.
//
// Each direction has two lanes. The hot items (a delivered message, a
// process's sends) are encoded by codec.ts into a shared-memory ring
// (ring.ts); everything else, and whatever does not fit, goes by MessagePort
// with structured clone. Every item carries its direction's sequence number,
// so the receiver merges the lanes in the order items were sent. The kernel
// learns of new ring records from a doorbell (a tiny postMessage) that the
// worker posts only when the kernel has drained the ring and raised the
// ring's flag, so a burst of sends costs one kernel event, not one each.

import type {
  Address,
  Capability,
  KernelMessage,
  LazyLoadBlob,
  OnExit,
  ProcessId,
  WrappedSendError,
} from "../../wire/core.ts";
import type { ModuleFile } from "./module_graph.ts";

export type Program =
  | {
    kind: "component";
    /** jco's glue: a file: URL the Worker may read and import, or (compiled binaries) its text */
    url?: string;
    js?: string;
    coreModules: Record<string, WebAssembly.Module>;
    /**
     * Built to share a Worker: the glue suspends the component on its blocking imports
     * (JSPI) and the core modules carry interrupt checks (interrupt.ts)
     */
    suspends?: boolean;
  }
  | {
    kind: "module";
    /** the module and the files of its package it imports: dependencies first, itself last */
    files: ModuleFile[];
    /** the file it came from (its vfs path), named in its stack traces */
    file: string;
  };

export interface WorkerInit {
  t: "init";
  our: Address;
  program: Program;
  onExit: OnExit;
  port: MessagePort;
  signal: SharedArrayBuffer;
  /** ring.ts buffers: kernel -> worker, worker -> kernel */
  toWorker: SharedArrayBuffer;
  fromWorker: SharedArrayBuffer;
  /** ../stats.ts WorkerStats: counters and latency the worker keeps for `top` */
  stats: SharedArrayBuffer;
  tmpDir?: string;
  /** the process shares its Worker (a component built to suspend), by this id in it */
  shared?: boolean;
  id?: number;
}

const PROCESS_WORKER_URL = new URL("./worker.ts", import.meta.url);

/**
 * A Worker for processes (worker.ts), named `name`, with no Deno permissions but reading
 * `readable` (their glue) and their package's tmp drive, and writing the drive.
 */
export function processWorker(name: string, readable: string[], tmpDir?: string): Worker {
  const read = [...readable, ...(tmpDir ? [tmpDir] : [])];
  const permissions: Deno.PermissionOptionsObject = {
    env: false,
    ffi: false,
    import: false,
    net: false,
    read: read.length > 0 ? read : false,
    run: false,
    sys: false,
    write: tmpDir ? [tmpDir] : false,
  };
  return new Worker(PROCESS_WORKER_URL, {
    type: "module",
    name,
    deno: { permissions },
  } as WorkerOptions);
}

/** What a shared Worker tells the kernel of itself: a process left it (ended, or stopped). */
export interface SharedWorkerNote {
  t: "gone";
  id?: number;
}

/**
 * The import interrupt checks call (interrupt.ts): `hyperdeno`.`interrupt`. Here so that a
 * Worker need not load the rewriter to serve it.
 */
export const INTERRUPT_MODULE = "hyperdeno";
export const INTERRUPT_NAME = "interrupt";

/** Data bytes of each ring (per direction, per process). */
export const RING_BYTES = 256 * 1024;

/**
 * Data bytes of a direct channel's ring (peer.ts); larger messages (over 1/8: 4 KiB) take its
 * port. One per communicating pair and direction, resident once traffic has cycled through it.
 */
export const PEER_RING_BYTES = 32 * 1024;

/** Worker -> kernel: "new ring records" (port items are {seq, m}). */
export const DOORBELL = 0;

/**
 * Signal word the worker sets while it waits. The kernel calls
 * Atomics.notify only then: a worker that is still busy takes new items
 * without a wake-up. (The worker sets it before its wait re-checks the
 * counter, and the kernel bumps the counter before reading it, so a post
 * can never slip between them unnoticed.)
 */
export const PARKED = 2;

/**
 * Signal words counting messages into the inbox (the kernel's deliveries and
 * peers' direct posts, each adds one) and out of it (the worker, for each it
 * takes), both mod 2^32: their difference is what waits (../stats.ts).
 */
export const DELIVERED = 3;
export const TAKEN = 4;
/** Bytes of the signal buffer: [0] wake counter, [1] stop, PARKED, DELIVERED, TAKEN. */
export const SIGNAL_BYTES = 24;

/**
 * Items a process can receive: a message, or a send error for one it sent.
 * `at` is when it reached the process's inbox (wallClock()), so the worker
 * can order it against its own request timeouts.
 */
export type Incoming =
  | { t: "msg"; km: KernelMessage; at?: number }
  | { t: "err"; err: WrappedSendError; at?: number };

/** A file: URL for an absolute path (what `import()` takes). */
export function toFileUrl(path: string): string {
  const url = new URL("file:///");
  url.pathname = path;
  return url.href;
}

/**
 * A random u64 message id, drawn 256 at a time (each getRandomValues call is an op
 * costing ~0.4 us hot, several times that right after a wake-up). Same source, same
 * distribution: the kernel's runtime modules and every process Worker take theirs here.
 */
export function pooledRandomU64(): bigint {
  if (idsLeft === 0) {
    crypto.getRandomValues(idPool);
    idsLeft = idPool.length;
  }
  return idPool[--idsLeft];
}
const idPool = new BigUint64Array(256);
let idsLeft = 0;

/** This thread's origin (read once: it never changes, and the getter is not free). */
const TIME_ORIGIN = performance.timeOrigin;

/** Milliseconds on a clock every thread shares (a Worker's performance.now() has its own origin). */
export function wallClock(): number {
  return TIME_ORIGIN + performance.now();
}

/**
 * Direct channels: once the kernel has routed (and so authorized) a message
 * from A to B, it gives A a port into B's inbox and B the other end, so later
 * cap-less messages skip the kernel's thread. B stamps their source from the
 * port, so A cannot forge it. Any cap change or exit revokes channels.
 */
export type ChannelControl =
  | {
    t: "channel";
    target: string;
    /** peer.ts: the channel's ring, and its port for what does not fit */
    ring: SharedArrayBuffer;
    port: MessagePort;
    signal: SharedArrayBuffer;
  }
  | { t: "peer"; from: Address; ring: SharedArrayBuffer; port: MessagePort }
  | { t: "unchannel"; target?: string }
  /**
   * module_channel.ts: requests to runtime module `target` that the module's `route`
   * names go into `ring` (waking `wake`); answers come back on `reply`/`port` from `from`.
   */
  | {
    t: "modchan";
    target: string;
    route: ModuleRoute;
    ring: SharedArrayBuffer;
    wake: SharedArrayBuffer;
    reply: SharedArrayBuffer;
    port: MessagePort;
    from: Address;
  }
  | { t: "unpeer"; from: string };

/**
 * Which requests a module channel takes, on one database named by its body's package_id
 * and db (module_channel.ts): sqlite's Query and Write outside a transaction; kv's Get,
 * and Set and Delete outside a transaction.
 */
export interface ModuleRoute {
  kind: "sqlite-db" | "kv-db";
  packageName: string;
  publisherNode: string;
  db: string;
}

/** The actions of a module's request body (its `action` variant) that a module channel takes. */
export interface ChannelActions {
  /** taken always */
  always: readonly string[];
  /** taken when their `tx_id` is null or absent (outside a transaction) */
  outsideTx: readonly string[];
}

/**
 * Runtime modules that open module channels (their pids as process glue keys them), and
 * which of their requests go on one.
 */
export const MODULE_CHANNEL_TARGETS: ReadonlyMap<string, ChannelActions> = new Map([
  ["sqlite:distro:sys", { always: ["Query"], outsideTx: ["Write"] }],
  ["kv:distro:sys", { always: ["Get"], outsideTx: ["Set", "Delete"] }],
]);

export type ToWorker =
  | Incoming
  | ChannelControl
  | { t: "reply"; callId: number; ok: boolean; value: unknown };

export interface SpawnArgs {
  name?: string;
  wasmPath: string;
  onExit: OnExit;
  requestCapabilities: Capability[];
  grantCapabilities: [ProcessId, string][];
  public: boolean;
}

export type KernelCall =
  | { op: "getState" }
  | { op: "setState"; bytes: Uint8Array }
  | { op: "clearState" }
  | { op: "setOnExit"; onExit: OnExit }
  | { op: "spawn"; args: SpawnArgs }
  | { op: "saveCapabilities"; caps: Capability[] }
  | { op: "dropCapabilities"; caps: Capability[] }
  | { op: "ourCapabilities" };

/** A message the process sends; the kernel fills in `source`. */
export interface OutgoingMessage {
  id: bigint;
  target: Address;
  rsvp?: Address;
  message: KernelMessage["message"];
  lazyLoadBlob?: LazyLoadBlob;
  /** set when posted on a direct channel: when it reached the target's inbox */
  at?: number;
}

export type FromWorker =
  | { t: "send"; msgs: OutgoingMessage[] }
  | { t: "print"; verbosity: number; text: string }
  | { t: "call"; callId: number; call: KernelCall }
  | { t: "started" }
  | { t: "exit"; error?: string };

// Deno's node:worker_threads receiveMessageOnPort walks every received value
// looking for MessagePorts, enumerating typed arrays element by element (1 MB
// costs ~60 ms). On the port, bytes therefore travel as ArrayBuffers, which
// the walk skips; messages here carry no other ArrayBuffers, so the receiver
// turns every ArrayBuffer back into a Uint8Array.

/** Copies at least this big made by toWire are handed to the receiver, not cloned again. */
const TRANSFER_MIN = 64 * 1024;

/**
 * Before posting on a port: Uint8Arrays -> ArrayBuffers (copied only if a view).
 * `transfer` collects the large copies toWire made itself: nothing else refers to
 * them, so posting can move them instead of cloning them a second time.
 */
export function toWire<T>(v: T, transfer?: Transferable[]): T {
  return encodeBytes(v, transfer) as T;
}

/** After receiveMessageOnPort: ArrayBuffers -> Uint8Arrays. */
export function fromWire<T>(v: T): T {
  return decodeBytes(v) as T;
}

function encodeBytes(v: unknown, transfer?: Transferable[]): unknown {
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Uint8Array) {
    const b = v.buffer;
    if (b instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === b.byteLength) return b;
    const copy = v.slice().buffer;
    if (transfer && copy.byteLength >= TRANSFER_MIN) transfer.push(copy);
    return copy;
  }
  if (Array.isArray(v)) return v.map((x) => encodeBytes(x, transfer));
  if (
    v instanceof MessagePort || v instanceof SharedArrayBuffer || ArrayBuffer.isView(v) ||
    v instanceof ArrayBuffer
  ) {
    return v;
  }
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = encodeBytes((v as Record<string, unknown>)[k], transfer);
  return out;
}

function decodeBytes(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = decodeBytes(v[i]);
    return v;
  }
  if (v instanceof MessagePort || v instanceof SharedArrayBuffer || ArrayBuffer.isView(v)) return v;
  const o = v as Record<string, unknown>;
  for (const k in o) o[k] = decodeBytes(o[k]);
  return o;
}
