// The process table every kernel part shares: each process's entry (on-exit,
// capabilities, public), the Workers hosting processes, the runtime modules with
// their mailboxes, and the entries' durable copy in kernel.sqlite.

import {
  type Capability,
  capabilityToJson,
  KERNEL_PROCESS_ID,
  type OnExit,
  onExitToJson,
  type ProcessId,
  type SignedCapability,
} from "../wire/core.ts";
import { field, isObject, str } from "../wire/fields.ts";
import { readCapability, readOnExit } from "../wire/kernel.ts";
import type { ProcessHost } from "./process_host/host.ts";
import type { KernelStore } from "./store.ts";
import type { Mailbox } from "./mailbox.ts";
import type { RuntimeModule } from "./module.ts";

export interface PersistedProcess {
  wasmBytesHandle: string;
  witVersion?: number;
  onExit: OnExit;
  capabilities: Map<string, SignedCapability>;
  public: boolean;
  /** runtime modules and the kernel: rebuilt every boot, never persisted */
  runtime?: boolean;
}

/** A persisted process as read back at boot (its caps are signed again when added). */
export interface StoredProcess {
  wasmBytesHandle: string;
  witVersion?: number;
  onExit: OnExit;
  capabilities: Capability[];
  public: boolean;
}

export type PrintFn = (verbosity: number, text: string, source: ProcessId) => void;

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class ProcessTable {
  /** process id string -> entry, userspace and runtime alike */
  readonly processMap = new Map<string, PersistedProcess>();
  /** Workers of userspace processes (absent while one waits out a restart backoff) */
  readonly hosts = new Map<string, ProcessHost>();
  readonly modules = new Map<string, RuntimeModule>();
  /** one kernel-owned mailbox per runtime module, by process id */
  readonly mailboxes = new Map<string, Mailbox>();
  shuttingDown = false;

  constructor(
    readonly our: string,
    readonly store: KernelStore,
    readonly print: PrintFn,
  ) {}

  /** A printout from the kernel itself. */
  log(verbosity: number, text: string): void {
    this.print(verbosity, text, KERNEL_PROCESS_ID);
  }

  /** Writes `pid`'s entry to the store as it is now (or removes it). */
  persist(pid: string): void {
    const entry = this.processMap.get(pid);
    if (!entry) {
      this.store.deleteProcess(pid);
      return;
    }
    if (entry.runtime) {
      // runtime modules are rebuilt each boot, but caps granted to them
      // (e.g. by a manifest's grant_capabilities) must survive a reboot
      this.store.putProcess(pid, {
        wasm_bytes_handle: "",
        wit_version: entry.witVersion ?? null,
        on_exit: "Restart",
        capabilities: [...entry.capabilities.values()].map((c) => [capabilityToJson(c), []]),
        public: entry.public,
      });
      return;
    }
    if (entry.onExit.tag === "none") {
      // transient processes are not brought back at boot
      this.store.deleteProcess(pid);
      return;
    }
    this.store.putProcess(pid, {
      wasm_bytes_handle: entry.wasmBytesHandle,
      wit_version: entry.witVersion ?? null,
      on_exit: onExitToJson(entry.onExit),
      capabilities: [...entry.capabilities.values()].map((c) => [
        capabilityToJson(c),
        Array.from(c.signature ?? []),
      ]),
      public: entry.public,
    });
  }
}

/** One stored entry, as `persist` wrote it; throws naming what is wrong. */
export function readStoredProcess(v: unknown): StoredProcess {
  if (!isObject(v)) throw new Error("stored process is not an object");
  const witVersion = v.wit_version;
  if (witVersion !== undefined && witVersion !== null && !Number.isInteger(witVersion)) {
    throw new Error("stored wit_version is not an integer");
  }
  const caps = field(v, "capabilities");
  if (!Array.isArray(caps)) throw new Error("stored capabilities are not a list");
  const isPublic = field(v, "public");
  if (typeof isPublic !== "boolean") throw new Error("stored public is not a boolean");
  return {
    wasmBytesHandle: str(field(v, "wasm_bytes_handle")),
    witVersion: typeof witVersion === "number" ? witVersion : undefined,
    onExit: readOnExit(field(v, "on_exit")),
    // [capability, signature]: the signature is made again when the cap is added
    capabilities: caps.map((pair) => readCapability(Array.isArray(pair) ? pair[0] : undefined)),
    public: isPublic,
  };
}
