// The kernel's debug switches, as Hyperdrive's DebugCommand drives them
// (hyperdrive/src/kernel/mod.rs): printing every event of the event loop at
// verbosity 3 (for all processes, or for some), and step-through mode, where
// each message waits in the loop until the console steps it (CTRL+J, CTRL+S).
// Events print as Hyperdrive's Display of KernelMessage and Debug of
// WrappedSendError (lib/src/kernel.rs, lib/src/core.rs).
//
// route() reads one field (`on`) while every switch is off. While any is on,
// direct Worker-to-Worker channels are closed and not opened, so every message
// passes the loop where it can be printed or held.

import {
  type Address,
  addressToString,
  type Capability,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  type LazyLoadBlob,
  type Message,
  type ProcessId,
  type Request,
  type Response,
  type SendError,
  type SignedCapability,
  type WrappedSendError,
} from "../wire/core.ts";
import type { PrintFn } from "./process_table.ts";

export class KernelDebug {
  /** Any switch on: route() holds or prints. */
  on = false;
  #eventLoop = false;
  readonly #eventLoopFor = new Set<string>();
  #stepping = false;
  /** messages waiting for a step, in arrival order */
  readonly #held: KernelMessage[] = [];
  /** the next route() is a stepped message: let it through */
  #release = false;

  constructor(
    private readonly our: string,
    private readonly print: PrintFn,
    /** a switch went on: close every direct channel */
    private readonly closeChannels: () => void,
    /** routes a held message */
    private readonly route: (km: KernelMessage) => void,
  ) {}

  get eventLoop(): boolean {
    return this.#eventLoop;
  }

  get stepping(): boolean {
    return this.#stepping;
  }

  /** Messages waiting in step-through mode. */
  get held(): number {
    return this.#held.length;
  }

  /** Prints every event (Hyperdrive's ToggleEventLoop). */
  setEventLoop(on: boolean): void {
    this.#eventLoop = on;
    this.#update();
  }

  /** Prints the events of one process (Hyperdrive's ToggleEventLoopForProcess). */
  setEventLoopFor(pid: string, on: boolean): void {
    if (on) this.#eventLoopFor.add(pid);
    else this.#eventLoopFor.delete(pid);
    this.#update();
  }

  /** Step-through mode: messages wait in the loop until step(). Off lets them all through. */
  setStepping(on: boolean): void {
    this.#stepping = on;
    this.#update();
    if (!on) {
      for (const km of this.#held.splice(0)) {
        this.#release = true;
        this.route(km);
      }
    }
  }

  /** At shutdown: every switch off, held messages dropped (as Hyperdrive's loop ends). */
  reset(): void {
    this.#held.length = 0;
    this.#eventLoopFor.clear();
    this.#eventLoop = this.#stepping = false;
    this.on = false;
  }

  /** Lets the next held message through (as Hyperdrive: nothing to do unless stepping). */
  step(): void {
    const km = this.#held.shift();
    if (!km) return;
    this.#release = true;
    this.route(km);
  }

  #update() {
    const was = this.on;
    this.on = this.#eventLoop || this.#eventLoopFor.size > 0 || this.#stepping;
    if (this.on && !was) this.closeChannels();
  }

  /** route()'s first step while `on`: true when the message now waits for a step. */
  hold(km: KernelMessage): boolean {
    if (this.#release) {
      this.#release = false;
      return false;
    }
    if (!this.#stepping) return false;
    this.#held.push(km);
    return true;
  }

  /** A message past the capability checks: print it if its events are shown. */
  event(km: KernelMessage, sourcePid: string, targetPid: string): void {
    if (this.#eventLoop) {
      this.print(3, displayKernelMessage(km), KERNEL_PROCESS_ID);
    } else if (this.#eventLoopFor.has(sourcePid) && km.source.node === this.our) {
      this.print(3, displayKernelMessage(km), km.source.process);
    } else if (this.#eventLoopFor.has(targetPid) && km.target.node === this.our) {
      this.print(3, displayKernelMessage(km), km.target.process);
    }
  }

  /** A send error on its way back to the sender. */
  sendError(err: WrappedSendError, sourcePid: string, targetPid: string): void {
    if (this.#eventLoop) {
      this.print(3, debugWrappedSendError(err), KERNEL_PROCESS_ID);
    } else if (this.#eventLoopFor.has(sourcePid) && err.source.node === this.our) {
      this.print(3, debugWrappedSendError(err), err.source.process);
    } else if (this.#eventLoopFor.has(targetPid) && err.error.target.node === this.our) {
      this.print(3, debugWrappedSendError(err), err.error.target.process);
    }
  }
}

// ---------------------------------------------------------------------------
// Hyperdrive's Display of KernelMessage (lib/src/kernel.rs, core.rs display_message)

const utf8 = new TextDecoder("utf-8", { fatal: true });

function utf8OrNull(b: Uint8Array): string | null {
  try {
    return utf8.decode(b);
  } catch {
    return null;
  }
}

/** Rust's `{:?}` of a Vec<u8>. */
function debugBytes(b: Uint8Array): string {
  return `[${Array.from(b).join(", ")}]`;
}

/** serde_json::Value's Display: compact, object keys sorted (no preserve_order). */
function jsonDisplay(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonDisplay).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${jsonDisplay(o[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

/** serde_json::from_slice::<Value> then Display, or the bytes' Debug. */
function jsonOrBytes(b: Uint8Array): string {
  const text = utf8OrNull(b);
  if (text !== null) {
    try {
      return jsonDisplay(JSON.parse(text));
    } catch { /* not JSON */ }
  }
  return debugBytes(b);
}

/** Capability's Display: issuer(params as JSON). */
export function displayCapability(c: Capability): string {
  let params: string;
  try {
    params = jsonDisplay(JSON.parse(c.params));
  } catch {
    params = '"invalid JSON in capability"';
  }
  return `${addressToString(c.issuer)}(${params})`;
}

function displayCapabilities(caps: Capability[], delimiter: string): string {
  if (caps.length === 0) return "[],";
  let s = "[";
  for (const c of caps) s += `${delimiter}    ${displayCapability(c)}`;
  return `${s}${delimiter}]`;
}

/** core.rs display_message. */
export function displayMessage(m: Message, delimiter: string): string {
  let lines: string[];
  if (m.tag === "request") {
    const r = m.val;
    const body = utf8OrNull(r.body);
    lines = [
      "Request(",
      `inherit: ${r.inherit},`,
      `expects_response: ${
        r.expectsResponse === undefined ? "None" : `Some(${r.expectsResponse})`
      },`,
      `body: ${body ?? debugBytes(r.body)},`,
      `metadata: ${r.metadata ?? "None"},`,
      `capabilities: ${displayCapabilities(r.capabilities, delimiter)}`,
    ];
  } else {
    const [r, context] = m.val;
    lines = [
      "Response(",
      `inherit: ${r.inherit},`,
      `body: ${jsonOrBytes(r.body)},`,
      `metadata: ${r.metadata ?? "None"},`,
      `context: ${context === undefined ? "None" : jsonOrBytes(context)},`,
      `capabilities: ${displayCapabilities(r.capabilities, delimiter)}`,
    ];
  }
  return lines.join(delimiter) + delimiter.slice(0, delimiter.length - 4) + ")";
}

/** KernelMessage's Display. */
export function displayKernelMessage(km: KernelMessage): string {
  return `{\n    id: ${km.id},\n    source: ${addressToString(km.source)},\n    target: ${
    addressToString(km.target)
  },\n    rsvp: ${km.rsvp ? addressToString(km.rsvp) : "None"},\n    message: ${
    displayMessage(km.message, "\n        ")
  },\n    blob: ${km.lazyLoadBlob !== undefined},\n}`;
}

// ---------------------------------------------------------------------------
// Rust's derived Debug, for WrappedSendError

/** `{:?}` of a String. */
export function debugStr(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}

function debugOption<T>(v: T | undefined, f: (v: T) => string): string {
  return v === undefined ? "None" : `Some(${f(v)})`;
}

function debugProcessId(p: ProcessId): string {
  return `ProcessId { process_name: ${debugStr(p.processName)}, package_name: ${
    debugStr(p.packageName)
  }, publisher_node: ${debugStr(p.publisherNode)} }`;
}

function debugAddress(a: Address): string {
  return `Address { node: ${debugStr(a.node)}, process: ${debugProcessId(a.process)} }`;
}

function debugCapabilities(caps: SignedCapability[]): string {
  return `[${
    caps.map((c) =>
      `(Capability { issuer: ${debugAddress(c.issuer)}, params: ${debugStr(c.params)} }, ${
        debugBytes(c.signature ?? new Uint8Array())
      })`
    ).join(", ")
  }]`;
}

function debugRequest(r: Request): string {
  return `Request { inherit: ${r.inherit}, expects_response: ${
    debugOption(r.expectsResponse, String)
  }, body: ${debugBytes(r.body)}, metadata: ${debugOption(r.metadata, debugStr)}, capabilities: ${
    debugCapabilities(r.capabilities)
  } }`;
}

function debugResponse(r: Response): string {
  return `Response { inherit: ${r.inherit}, body: ${debugBytes(r.body)}, metadata: ${
    debugOption(r.metadata, debugStr)
  }, capabilities: ${debugCapabilities(r.capabilities)} }`;
}

function debugMessage(m: Message): string {
  if (m.tag === "request") return `Request(${debugRequest(m.val)})`;
  const [r, context] = m.val;
  return `Response((${debugResponse(r)}, ${debugOption(context, debugBytes)}))`;
}

function debugBlob(b: LazyLoadBlob): string {
  return `LazyLoadBlob { mime: ${debugOption(b.mime, debugStr)}, bytes: ${debugBytes(b.bytes)} }`;
}

function debugSendError(e: SendError): string {
  return `SendError { kind: ${e.kind === "timeout" ? "Timeout" : "Offline"}, target: ${
    debugAddress(e.target)
  }, message: ${debugMessage(e.message)}, lazy_load_blob: ${
    debugOption(e.lazyLoadBlob, debugBlob)
  } }`;
}

/** WrappedSendError's derived Debug, as the kernel prints a send error event. */
export function debugWrappedSendError(w: WrappedSendError): string {
  return `WrappedSendError { id: ${w.id}, source: ${debugAddress(w.source)}, error: ${
    debugSendError(w.error)
  } }`;
}
