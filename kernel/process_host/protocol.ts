// Messages between the kernel side of a process and its Worker.
//
// Kernel -> worker travels on a MessagePort the worker drains synchronously
// (receiveMessageOnPort) after Atomics.wait on a shared counter, so blocking
// imports (receive, send-and-await-response, get-state ...) block only the
// worker. Worker -> kernel is plain postMessage: the kernel never blocks.

import type {
  Address,
  Capability,
  KernelMessage,
  LazyLoadBlob,
  OnExit,
  ProcessId,
  WrappedSendError,
} from "../types.ts";

export type Program =
  | { kind: "component"; js: string; coreModules: Record<string, WebAssembly.Module> }
  | { kind: "module"; source: string; mediaType: "typescript" | "javascript" };

export interface WorkerInit {
  t: "init";
  our: Address;
  program: Program;
  onExit: OnExit;
  port: MessagePort;
  signal: SharedArrayBuffer;
  tmpDir?: string;
}

/** Items a process can receive: a message, or a send error for one it sent. */
export type Incoming =
  | { t: "msg"; km: KernelMessage }
  | { t: "err"; err: WrappedSendError };

/**
 * Direct channels: once the kernel has routed (and so authorized) a message
 * from A to B, it gives A a port into B's inbox and B the other end, so later
 * cap-less messages skip the kernel's thread. B stamps their source from the
 * port, so A cannot forge it. Any cap change or exit revokes channels.
 */
export type ChannelControl =
  | { t: "channel"; target: string; port: MessagePort; signal: SharedArrayBuffer }
  | { t: "peer"; from: Address; port: MessagePort }
  | { t: "unchannel"; target?: string }
  | { t: "unpeer"; from: string };

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
  | { op: "getOnExit" }
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
}

export type FromWorker =
  | { t: "send"; msgs: OutgoingMessage[] }
  | { t: "print"; verbosity: number; text: string }
  | { t: "call"; callId: number; call: KernelCall }
  | { t: "started" }
  | { t: "exit"; error?: string };
