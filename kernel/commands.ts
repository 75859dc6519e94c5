// KernelCommands: requests to kernel:distro:sys from our node, answered as
// Hyperdrive's handle_kernel_request answers them (hyperdrive/src/kernel/mod.rs).
// The command is read in one place (wire/kernel.ts); one that does not parse is
// printed with the reason, and, if it meant InitializeProcess or RunProcess,
// answered with that command's error response so its sender need not time out.

import {
  capabilityKey,
  checkProcessId,
  type KernelMessage,
  makeResponse,
  processIdToString,
} from "../wire/core.ts";
import {
  encodeKernelResponse,
  type KernelCommand,
  KernelCommandError,
  type KernelPrint,
  type KernelPrintResponse,
  type KernelResponse,
  parseKernelCommand,
  type ProcessStats,
  type UserspaceProcess,
} from "../wire/kernel.ts";
import { wallClock } from "./process_host/protocol.ts";
import type { ProcessStatsSnapshot } from "./stats.ts";
import type { CapabilityStore } from "./capabilities.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { Router } from "./routing.ts";
import type { VerbosityControl } from "./kernel.ts";
import { errorText, type PersistedProcess, type ProcessTable } from "./process_table.ts";

export class KernelCommands {
  constructor(
    private readonly table: ProcessTable,
    private readonly caps: CapabilityStore,
    private readonly router: Router,
    private readonly lifecycle: Lifecycle,
    /** the Shutdown command: the node stops */
    private readonly shutdown: () => void,
    /** the node's global print verbosity (hyperdeno's Debug Verbosity / SetVerbosity) */
    private readonly verbosity?: VerbosityControl,
  ) {}

  /** One request to the kernel from our node. */
  handle(km: KernelMessage): void {
    if (km.message.tag !== "request") return;
    let command: KernelCommand;
    try {
      command = parseKernelCommand(km.message.val.body);
    } catch (e) {
      this.table.log(0, `kernel: couldn't parse command: ${errorText(e)}`);
      const meant = e instanceof KernelCommandError ? e.variant : undefined;
      if (meant === "InitializeProcess") this.respond(km, { tag: "InitializeProcessError" });
      if (meant === "RunProcess") this.respond(km, { tag: "RunProcessError" });
      return;
    }
    this.run(km, command);
  }

  private run(km: KernelMessage, command: KernelCommand) {
    switch (command.tag) {
      case "Booted":
        return; // our boot runs persisted processes itself
      case "Shutdown":
        this.shutdown();
        return;
      case "InitializeProcess":
        this.initializeProcess(km, command);
        return;
      case "GrantCapabilities":
        this.caps.add(command.target, command.capabilities);
        return;
      case "DropCapabilities":
        this.caps.drop(command.target, command.capabilities);
        return;
      case "SetOnExit":
        this.lifecycle.setOnExit(command.target, command.onExit);
        return;
      case "RunProcess": {
        if (this.lifecycle.runProcess(command.id)) {
          this.respond(km, { tag: "StartedProcess" });
        } else {
          this.table.log(0, `kernel: no such process ${processIdToString(command.id)} to run`);
          this.respond(km, { tag: "RunProcessError" });
        }
        return;
      }
      case "KillProcess":
        this.killProcess(km, command);
        return;
      case "Debug":
        this.respond(km, { tag: "Debug", print: this.debug(command.print) });
        return;
      case "SetVerbosity":
        this.verbosity?.set(command.level);
        this.respond(km, { tag: "Debug", print: this.debug({ tag: "Verbosity" }) });
        return;
    }
  }

  private initializeProcess(
    km: KernelMessage,
    c: Extract<KernelCommand, { tag: "InitializeProcess" }>,
  ) {
    if (!km.lazyLoadBlob) {
      this.table.log(0, "kernel: process startup requires bytes");
      this.respond(km, { tag: "InitializeProcessError" });
      return;
    }
    try {
      checkProcessId(c.id);
    } catch (e) {
      this.table.log(0, `kernel: ${errorText(e)}`);
      this.respond(km, { tag: "InitializeProcessError" });
      return;
    }
    this.lifecycle.initializeProcess({
      id: c.id,
      wasmBytesHandle: c.wasmBytesHandle,
      witVersion: c.witVersion,
      onExit: c.onExit,
      initialCapabilities: c.initialCapabilities,
      public: c.public,
      bytes: km.lazyLoadBlob.bytes,
      initializer: km.source.process,
    }).then(
      () => this.respond(km, { tag: "InitializedProcess" }),
      (e) => {
        this.table.log(0, `kernel: error initializing process: ${errorText(e)}`);
        this.respond(km, { tag: "InitializeProcessError" });
      },
    );
  }

  private killProcess(km: KernelMessage, c: Extract<KernelCommand, { tag: "KillProcess" }>) {
    if (km.message.tag !== "request") return;
    const req = km.message.val;
    const pid = processIdToString(c.id);
    // "no-revoke" metadata: a kill for an immediate restart keeps the caps it issued
    if (!this.lifecycle.killProcess(c.id, req.metadata !== "no-revoke")) {
      this.table.log(2, `kernel: no such process ${pid} to kill`);
      return;
    }
    if (req.expectsResponse === undefined) {
      this.table.log(2, `kernel: killing process ${pid}`);
      return;
    }
    this.table.log(0, `kernel: killing process ${pid}`);
    this.respond(km, { tag: "KilledProcess", id: c.id });
  }

  private debug(print: KernelPrint): KernelPrintResponse {
    const map = this.table.processMap;
    switch (print.tag) {
      case "ProcessMap": {
        const processes = new Map<string, UserspaceProcess>();
        for (const [pid, p] of map) processes.set(pid, userspace(p));
        return { tag: "ProcessMap", processes };
      }
      case "Process": {
        const p = map.get(processIdToString(print.id));
        return { tag: "Process", process: p && userspace(p) };
      }
      case "HasCap": {
        const p = map.get(processIdToString(print.on));
        return { tag: "HasCap", has: p?.capabilities.has(capabilityKey(print.cap)) };
      }
      case "ProcessStats":
        return { tag: "ProcessStats", stats: this.stats() };
      case "Verbosity":
        return { tag: "Verbosity", level: this.verbosity?.get() ?? 0 };
    }
  }

  /** Every process's figures: Workers' from their shared counters, modules' from their mailboxes. */
  stats(): Map<string, ProcessStats> {
    const now = wallClock();
    const out = new Map<string, ProcessStats>();
    for (const pid of this.table.processMap.keys()) {
      const host = this.table.hosts.get(pid);
      const mailbox = this.table.mailboxes.get(pid);
      let s: ProcessStatsSnapshot | undefined;
      if (host) s = host.statsSnapshot(now);
      else if (mailbox) {
        s = {
          kind: "runtime",
          running: true,
          queued: mailbox.depth,
          received: mailbox.handled,
          sent: mailbox.sent,
          latency: mailbox.latency.summary(now),
        };
      }
      if (s) out.set(pid, wireStats(s));
    }
    return out;
  }

  /** Answers a command: to rsvp, else the source, whether or not it expects a response. */
  private respond(km: KernelMessage, response: KernelResponse) {
    if (km.message.tag !== "request") return;
    this.router.route(makeResponse(km, this.router.ourAddress, encodeKernelResponse(response)));
  }
}

function wireStats(s: ProcessStatsSnapshot): ProcessStats {
  return {
    kind: s.kind,
    running: s.running,
    queued: s.queued,
    received: s.received,
    sent: s.sent,
    lastMinute: {
      handled: s.latency.count,
      p50Ms: s.latency.p50 ?? null,
      p99Ms: s.latency.p99 ?? null,
    },
    heapUsed: s.heapUsed ?? null,
    external: s.external ?? null,
    workerProcesses: s.workerProcesses ?? null,
  };
}

function userspace(p: PersistedProcess): UserspaceProcess {
  return {
    wasmBytesHandle: p.wasmBytesHandle,
    witVersion: p.witVersion,
    onExit: p.onExit,
    capabilities: [...p.capabilities.values()],
    public: p.public,
  };
}
