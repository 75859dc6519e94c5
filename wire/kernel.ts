// kernel:distro:sys's API (Hyperdrive lib/src/kernel.rs) as serde JSON: externally
// tagged enums, snake_case fields, ProcessId and Address as their display strings.
//   KernelCommand  "Booted" | "Shutdown"
//                  | {"InitializeProcess": {id, wasm_bytes_handle, wit_version: u32|null,
//                                           on_exit, initial_capabilities: [Capability], public}}
//                  | {"GrantCapabilities": {target, capabilities: [Capability]}}
//                  | {"DropCapabilities": {target, capabilities: [Capability]}}
//                  | {"SetOnExit": {target, on_exit}} | {"RunProcess": id} | {"KillProcess": id}
//                  | {"Debug": KernelPrint}
//   KernelPrint    "ProcessMap" | {"Process": id} | {"HasCap": {on, cap}}
//                  | "ProcessStats" (hyperdeno's own: what `top` shows beyond Hyperdrive)
//   KernelResponse "InitializedProcess" | "InitializeProcessError" | "StartedProcess"
//                  | "RunProcessError" | {"KilledProcess": id}
//                  | {"Debug": {"ProcessMap": {id: process}} | {"Process": process|null}
//                             | {"HasCap": bool|null} | {"ProcessStats": {id: stats}}}
//   Capability     {"issuer": "node@process:package:publisher", "params": string}
//   OnExit         "None" | "Restart" | {"Requests": [[address, Request, LazyLoadBlob|null]]}

import {
  type Address,
  type Capability,
  capabilityToJson,
  type LazyLoadBlob,
  type OnExit,
  onExitToJson,
  parseAddress,
  parseProcessId,
  type ProcessId,
  processIdToString,
  type Request,
  type SignedCapability,
} from "./core.ts";
import {
  bool,
  bytes,
  get,
  list,
  message,
  opt,
  show,
  str,
  struct,
  tuple,
  u32,
  u64,
  variant,
} from "./fields.ts";

import { parseJsonBody } from "./json.ts";

export type KernelPrint =
  | { tag: "ProcessMap" }
  | { tag: "Process"; id: ProcessId }
  | { tag: "HasCap"; on: ProcessId; cap: Capability }
  /** hyperdeno's own (Hyperdrive keeps no such figures): every process's ProcessStats */
  | { tag: "ProcessStats" }
  /** hyperdeno's own: the console's global verbosity (Hyperdrive has it only at its console) */
  | { tag: "Verbosity" };

/**
 * One process's message figures (Debug "ProcessStats", JSON in snake_case): what waits
 * in its inbox, messages received and sent since it started, handling time over the last
 * minute, and a Worker's heap. Times are in ms; null where there is nothing to say.
 */
export interface ProcessStats {
  /** "process" (runs in a Worker) or "runtime" (a runtime module) */
  kind: "process" | "runtime";
  running: boolean;
  queued: number;
  received: number;
  sent: number;
  /** messages handled in the last minute, and their p50 and p99 handling time */
  lastMinute: { handled: number; p50Ms: number | null; p99Ms: number | null };
  /** the Worker's V8 heap in use and its memory outside the heap, bytes */
  heapUsed: number | null;
  external: number | null;
  /** processes sharing that Worker, so its heap (null: a Worker of its own, or none) */
  workerProcesses: number | null;
}

export type KernelCommand =
  | { tag: "Booted" }
  | {
    tag: "InitializeProcess";
    id: ProcessId;
    wasmBytesHandle: string;
    witVersion: number | undefined;
    onExit: OnExit;
    initialCapabilities: Capability[];
    public: boolean;
  }
  | { tag: "GrantCapabilities"; target: ProcessId; capabilities: Capability[] }
  | { tag: "DropCapabilities"; target: ProcessId; capabilities: Capability[] }
  | { tag: "SetOnExit"; target: ProcessId; onExit: OnExit }
  | { tag: "RunProcess"; id: ProcessId }
  | { tag: "KillProcess"; id: ProcessId }
  | { tag: "Shutdown" }
  | { tag: "Debug"; print: KernelPrint }
  /** hyperdeno's own: set the console's global verbosity (0-4), as CTRL+V does; answers Debug Verbosity */
  | { tag: "SetVerbosity"; level: number };

/** A process as Debug shows it (Hyperdrive's UserspacePersistedProcess: caps without signatures). */
export interface UserspaceProcess {
  wasmBytesHandle: string;
  witVersion: number | undefined;
  onExit: OnExit;
  capabilities: Capability[];
  public: boolean;
}

export type KernelPrintResponse =
  | { tag: "ProcessMap"; processes: Map<string, UserspaceProcess> }
  | { tag: "Process"; process: UserspaceProcess | undefined }
  | { tag: "HasCap"; has: boolean | undefined }
  | { tag: "ProcessStats"; stats: Map<string, ProcessStats> }
  | { tag: "Verbosity"; level: number };

export type KernelResponse =
  | { tag: "InitializedProcess" }
  | { tag: "InitializeProcessError" }
  | { tag: "StartedProcess" }
  | { tag: "RunProcessError" }
  | { tag: "KilledProcess"; id: ProcessId }
  | { tag: "Debug"; print: KernelPrintResponse };

const COMMANDS = [
  "Booted",
  "InitializeProcess",
  "GrantCapabilities",
  "DropCapabilities",
  "SetOnExit",
  "RunProcess",
  "KillProcess",
  "Shutdown",
  "Debug",
  "SetVerbosity",
] as const;

/** A body that is not a KernelCommand; `variant` names the one it tried to be, if any. */
export class KernelCommandError extends Error {
  constructor(readonly variant: KernelCommand["tag"] | undefined, reason: string) {
    super(variant ? `${variant}: ${reason}` : reason);
    this.name = "KernelCommandError";
  }
}

// ---------------------------------------------------------------------------
// Readers (throw a plain Error naming what was wrong; `get` prefixes the field)

function processId(v: unknown): ProcessId {
  return parseProcessId(str(v));
}

function address(v: unknown): Address {
  return parseAddress(str(v));
}

/** A Capability: {issuer: Address, params: String}. */
export function readCapability(v: unknown): Capability {
  const o = struct(v);
  return { issuer: get(o, "issuer", address), params: get(o, "params", str) };
}

function readBlob(v: unknown): LazyLoadBlob {
  const o = struct(v);
  return { mime: opt(o, "mime", str), bytes: get(o, "bytes", bytes) };
}

/** A Request as core.rs declares it: caps travel as (Capability, signature bytes). */
function readRequest(v: unknown): Request {
  const o = struct(v);
  return {
    inherit: get(o, "inherit", bool),
    expectsResponse: opt(o, "expects_response", u64),
    body: get(o, "body", bytes),
    metadata: opt(o, "metadata", str),
    capabilities: get(o, "capabilities", (c) =>
      list(c, (pair): SignedCapability => {
        const [cap, sig] = tuple(pair, 2);
        return { ...readCapability(cap), signature: bytes(sig) };
      })),
  };
}

/** OnExit: "None" | "Restart" | {"Requests": [(Address, Request, Option<LazyLoadBlob>)]}. */
export function readOnExit(v: unknown): OnExit {
  const [tag, val] = variant(v);
  if (tag === "None" && val === null) return { tag: "none" };
  if (tag === "Restart" && val === null) return { tag: "restart" };
  if (tag === "Requests") {
    return {
      tag: "requests",
      val: list(val, (item): [Address, Request, LazyLoadBlob | undefined] => {
        const [a, r, b] = tuple(item, 3);
        return [address(a), readRequest(r), b === null ? undefined : readBlob(b)];
      }),
    };
  }
  throw new Error(`expected OnExit "None", "Restart" or {"Requests": [...]}, got ${show(v)}`);
}

function readKernelPrint(v: unknown): KernelPrint {
  const [tag, val] = variant(v);
  if ((tag === "ProcessMap" || tag === "ProcessStats" || tag === "Verbosity") && val === null) {
    return { tag };
  }
  if (tag === "Process") return { tag, id: processId(val) };
  if (tag === "HasCap") {
    const o = struct(val);
    return { tag, on: get(o, "on", processId), cap: get(o, "cap", readCapability) };
  }
  throw new Error(
    `expected KernelPrint "ProcessMap", {"Process"}, {"HasCap"}, "ProcessStats" or "Verbosity", got ${
      show(v)
    }`,
  );
}

function unit(val: unknown) {
  if (val !== null) throw new Error("a unit variant takes no value");
}

// ---------------------------------------------------------------------------
// KernelCommand

/** Body bytes -> KernelCommand, as serde_json::from_slice reads one; throws KernelCommandError. */
export function parseKernelCommand(body: Uint8Array): KernelCommand {
  let json: unknown;
  try {
    json = parseJsonBody(body);
  } catch (e) {
    throw new KernelCommandError(undefined, `not JSON: ${message(e)}`);
  }
  let tag: string, val: unknown;
  try {
    [tag, val] = variant(json);
  } catch {
    throw new KernelCommandError(undefined, `expected a KernelCommand variant, got ${show(json)}`);
  }
  const name = COMMANDS.find((c) => c === tag);
  if (!name) {
    throw new KernelCommandError(
      undefined,
      `unknown variant ${show(tag)}, expected one of ${COMMANDS.join(", ")}`,
    );
  }
  try {
    return readCommand(name, val);
  } catch (e) {
    throw new KernelCommandError(name, message(e));
  }
}

function readCommand(tag: KernelCommand["tag"], val: unknown): KernelCommand {
  switch (tag) {
    case "Booted":
    case "Shutdown":
      unit(val);
      return { tag };
    case "InitializeProcess": {
      const o = struct(val);
      return {
        tag,
        id: get(o, "id", processId),
        wasmBytesHandle: get(o, "wasm_bytes_handle", str),
        witVersion: opt(o, "wit_version", u32),
        onExit: get(o, "on_exit", readOnExit),
        // a HashSet in Hyperdrive; the cap store keeps equal caps once
        initialCapabilities: get(o, "initial_capabilities", (v) => list(v, readCapability)),
        public: get(o, "public", bool),
      };
    }
    case "GrantCapabilities":
    case "DropCapabilities": {
      const o = struct(val);
      return {
        tag,
        target: get(o, "target", processId),
        capabilities: get(o, "capabilities", (v) => list(v, readCapability)),
      };
    }
    case "SetOnExit": {
      const o = struct(val);
      return { tag, target: get(o, "target", processId), onExit: get(o, "on_exit", readOnExit) };
    }
    case "RunProcess":
    case "KillProcess":
      return { tag, id: processId(val) };
    case "Debug":
      return { tag, print: readKernelPrint(val) };
    case "SetVerbosity": {
      const level = u32(val);
      if (level > 4) throw new Error(`verbosity ${level} is not 0-4`);
      return { tag, level };
    }
  }
}

/** The serde JSON value of a KernelCommand. */
export function kernelCommandToJson(c: KernelCommand): unknown {
  switch (c.tag) {
    case "Booted":
    case "Shutdown":
      return c.tag;
    case "InitializeProcess":
      return {
        InitializeProcess: {
          id: processIdToString(c.id),
          wasm_bytes_handle: c.wasmBytesHandle,
          wit_version: c.witVersion ?? null,
          on_exit: onExitToJson(c.onExit),
          initial_capabilities: c.initialCapabilities.map(capabilityToJson),
          public: c.public,
        },
      };
    case "GrantCapabilities":
    case "DropCapabilities":
      return {
        [c.tag]: {
          target: processIdToString(c.target),
          capabilities: c.capabilities.map(capabilityToJson),
        },
      };
    case "SetOnExit":
      return {
        SetOnExit: { target: processIdToString(c.target), on_exit: onExitToJson(c.onExit) },
      };
    case "RunProcess":
    case "KillProcess":
      return { [c.tag]: processIdToString(c.id) };
    case "SetVerbosity":
      return { SetVerbosity: c.level };
    case "Debug": {
      const p = c.print;
      return {
        Debug: p.tag === "ProcessMap" || p.tag === "ProcessStats" || p.tag === "Verbosity"
          ? p.tag
          : p.tag === "Process"
          ? { Process: processIdToString(p.id) }
          : { HasCap: { on: processIdToString(p.on), cap: capabilityToJson(p.cap) } },
      };
    }
  }
}

export function encodeKernelCommand(c: KernelCommand): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(kernelCommandToJson(c)));
}

// ---------------------------------------------------------------------------
// KernelResponse

function userspaceProcessToJson(p: UserspaceProcess) {
  // field order as UserspacePersistedProcess declares them
  return {
    wasm_bytes_handle: p.wasmBytesHandle,
    wit_version: p.witVersion ?? null,
    on_exit: onExitToJson(p.onExit),
    capabilities: p.capabilities.map(capabilityToJson),
    public: p.public,
  };
}

function readUserspaceProcess(v: unknown): UserspaceProcess {
  const o = struct(v);
  return {
    wasmBytesHandle: get(o, "wasm_bytes_handle", str),
    witVersion: opt(o, "wit_version", u32),
    onExit: get(o, "on_exit", readOnExit),
    capabilities: get(o, "capabilities", (c) => list(c, readCapability)),
    public: get(o, "public", bool),
  };
}

/** The serde JSON value of a KernelResponse. */
export function kernelResponseToJson(r: KernelResponse): unknown {
  switch (r.tag) {
    case "InitializedProcess":
    case "InitializeProcessError":
    case "StartedProcess":
    case "RunProcessError":
      return r.tag;
    case "KilledProcess":
      return { KilledProcess: processIdToString(r.id) };
    case "Debug": {
      const p = r.print;
      if (p.tag === "ProcessMap") {
        const map: Record<string, unknown> = {};
        for (const [pid, proc] of p.processes) map[pid] = userspaceProcessToJson(proc);
        return { Debug: { ProcessMap: map } };
      }
      if (p.tag === "Process") {
        return { Debug: { Process: p.process ? userspaceProcessToJson(p.process) : null } };
      }
      if (p.tag === "ProcessStats") {
        const map: Record<string, unknown> = {};
        for (const [pid, st] of p.stats) map[pid] = processStatsToJson(st);
        return { Debug: { ProcessStats: map } };
      }
      if (p.tag === "Verbosity") return { Debug: { Verbosity: { level: p.level } } };
      return { Debug: { HasCap: p.has ?? null } };
    }
  }
}

function processStatsToJson(st: ProcessStats) {
  return {
    kind: st.kind,
    running: st.running,
    queued: st.queued,
    received: st.received,
    sent: st.sent,
    last_minute: {
      handled: st.lastMinute.handled,
      p50_ms: st.lastMinute.p50Ms,
      p99_ms: st.lastMinute.p99Ms,
    },
    heap_used: st.heapUsed,
    external: st.external,
    worker_processes: st.workerProcesses,
  };
}

function num(v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`expected a number, got ${show(v)}`);
  }
  return v;
}

function readProcessStats(v: unknown): ProcessStats {
  const o = struct(v);
  const kind = get(o, "kind", str);
  if (kind !== "process" && kind !== "runtime") throw new Error(`kind: unknown ${show(kind)}`);
  const m = get(o, "last_minute", struct);
  return {
    kind,
    running: get(o, "running", bool),
    queued: get(o, "queued", num),
    received: get(o, "received", num),
    sent: get(o, "sent", num),
    lastMinute: {
      handled: get(m, "handled", num),
      p50Ms: get(m, "p50_ms", (x) => x === null ? null : num(x)),
      p99Ms: get(m, "p99_ms", (x) => x === null ? null : num(x)),
    },
    heapUsed: get(o, "heap_used", (x) => x === null ? null : num(x)),
    external: get(o, "external", (x) => x === null ? null : num(x)),
    workerProcesses: "worker_processes" in o
      ? get(o, "worker_processes", (x) => x === null ? null : num(x))
      : null,
  };
}

export function encodeKernelResponse(r: KernelResponse): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(kernelResponseToJson(r)));
}

/** Body bytes -> KernelResponse (what a client of the kernel reads); throws a plain Error. */
export function parseKernelResponse(body: Uint8Array): KernelResponse {
  const [tag, val] = variant(parseJsonBody(body));
  switch (tag) {
    case "InitializedProcess":
    case "InitializeProcessError":
    case "StartedProcess":
    case "RunProcessError":
      unit(val);
      return { tag };
    case "KilledProcess":
      return { tag, id: processId(val) };
    case "Debug": {
      const [kind, v] = variant(val);
      if (kind === "ProcessMap") {
        const o = struct(v);
        const processes = new Map<string, UserspaceProcess>();
        for (const pid of Object.keys(o)) {
          processes.set(
            processIdToString(parseProcessId(pid)),
            get(o, pid, readUserspaceProcess),
          );
        }
        return { tag, print: { tag: kind, processes } };
      }
      if (kind === "Process") {
        return {
          tag,
          print: { tag: kind, process: v === null ? undefined : readUserspaceProcess(v) },
        };
      }
      if (kind === "HasCap") {
        return { tag, print: { tag: kind, has: v === null ? undefined : bool(v) } };
      }
      if (kind === "Verbosity") {
        return { tag, print: { tag: kind, level: get(struct(v), "level", u32) } };
      }
      if (kind === "ProcessStats") {
        const o = struct(v);
        const stats = new Map<string, ProcessStats>();
        for (const pid of Object.keys(o)) stats.set(pid, get(o, pid, readProcessStats));
        return { tag, print: { tag: kind, stats } };
      }
      throw new Error(`unknown KernelPrintResponse ${show(kind)}`);
    }
  }
  throw new Error(`unknown KernelResponse ${show(tag)}`);
}
