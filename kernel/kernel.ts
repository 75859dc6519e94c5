// The kernel: process table, capability store, message routing, request
// timeouts and process lifecycle, with Hyperdrive's semantics
// (hyperdrive/src/kernel/*). One event loop on the main thread; processes run
// in Workers (./process_host) and runtime modules are in-process objects.
// This class composes the parts, one concern each:
//   process_table.ts  entries, hosts, modules, persistence
//   capabilities.ts   signing, verifying, the cap store, attach and save rules
//   routing.ts        route(), send errors, root requests pending an answer
//   channels.ts       direct Worker-to-Worker channels
//   lifecycle.ts      boot reload, initialize / run / kill, on-exit, restart backoff
//   process_calls.ts  a process's kernel calls (state, caps, spawn)
//   commands.ts       KernelCommands (wire/kernel.ts)

import {
  type Address,
  type Capability,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  type LazyLoadBlob,
  messagingCap,
  networkingCap,
  parseProcessId,
  type ProcessId,
  processIdToString,
  type Request,
  type SignedCapability,
  type WrappedSendError,
} from "../wire/core.ts";
import { ProgramLoader } from "./process_host/program.ts";
import { SharedWorkers } from "./process_host/shared_workers.ts";
import { KernelStore } from "./store.ts";
import { Mailbox } from "./mailbox.ts";
import { vfsHostPath, vfsRoot } from "./vfs_layout.ts";
import type { RuntimeModule, RuntimeModuleContext } from "./module.ts";
import { CapabilityStore } from "./capabilities.ts";
import { Channels } from "./channels.ts";
import { pooledRandomU64 } from "./process_host/protocol.ts";
import { KernelCommands } from "./commands.ts";
import { Lifecycle, type NewProcess } from "./lifecycle.ts";
import { ProcessCalls } from "./process_calls.ts";
import { errorText, type PersistedProcess, type PrintFn, ProcessTable } from "./process_table.ts";
import { Router } from "./routing.ts";
import { KernelDebug } from "./debug.ts";
import { type ConsolePort, terminalLine } from "./console_port.ts";

export { errorText } from "./process_table.ts";
export type { PersistedProcess, PrintFn } from "./process_table.ts";
export { SendErrorException } from "./routing.ts";

/** How long shutdown waits for runtime modules to finish what is in their mailboxes. */
const MAILBOX_DRAIN_MS = 5000;

export interface KernelOptions {
  our: string;
  home: string;
  networkingKey: Uint8Array;
  modules: RuntimeModule[];
  print: PrintFn;
  /** The global print verbosity, read and set by KernelCommand (Debug Verbosity, SetVerbosity). */
  verbosity?: VerbosityControl;
  /**
   * Components of one package share Workers (process_host/shared_workers.ts); default on.
   * Off: every process has a Worker of its own.
   */
  shareWorkers?: boolean;
}

/** Where the node keeps its global print verbosity (the console's CTRL+V, or bootNode's filter). */
export interface VerbosityControl {
  get(): number;
  set(level: number): void;
}

export class Kernel {
  readonly our: string;
  readonly ourAddress: Address;
  readonly publicKey: Uint8Array;
  private readonly home: string;
  private readonly table: ProcessTable;
  private readonly caps: CapabilityStore;
  private readonly router: Router;
  private readonly lifecycle: Lifecycle;
  private readonly calls: ProcessCalls;
  private readonly commands: KernelCommands;
  private readonly debug: KernelDebug;
  private readonly channels: Channels;
  private readonly loader: ProgramLoader;
  private readonly shareWorkers: boolean;
  private onShutdownRequest?: () => void;
  private readonly shutdownListeners: (() => void)[] = [];

  constructor(opts: KernelOptions) {
    this.our = opts.our;
    this.home = opts.home;
    const vfsDir = vfsRoot(opts.home);
    Deno.mkdirSync(vfsDir, { recursive: true });
    Deno.mkdirSync(`${opts.home}/cache`, { recursive: true });
    const table = this.table = new ProcessTable(
      opts.our,
      new KernelStore(`${opts.home}/kernel.sqlite`),
      opts.print,
    );
    for (const m of opts.modules) {
      const pid = processIdToString(m.processId);
      table.modules.set(pid, m);
      table.mailboxes.set(
        pid,
        new Mailbox(m, (e) => opts.print(0, `${pid}: ${errorText(e)}`, m.processId)),
      );
    }
    const channels = new Channels(table);
    this.caps = new CapabilityStore(
      table,
      opts.networkingKey,
      (pid) => channels.close(pid, false),
      (pid) => channels.closeModules(pid),
    );
    this.publicKey = this.caps.publicKey;
    // commands and calls are made below: routing and hosts reach them only once booted
    this.router = new Router(table, this.caps, channels, (km) => this.commands.handle(km));
    this.ourAddress = this.router.ourAddress;
    this.debug = this.router.debug = new KernelDebug(
      opts.our,
      opts.print,
      () => channels.closeAll(),
      (km) => this.router.route(km),
    );
    channels.debugOn = () => this.debug.on;
    this.channels = channels;
    this.shareWorkers = opts.shareWorkers !== false;
    const loader = this.loader = new ProgramLoader(
      `${opts.home}/cache/components`,
      (text) => table.log(1, `kernel: ${text}`),
      (path) => Deno.readFile(vfsHostPath(vfsDir, path)),
      this.shareWorkers,
    );
    this.lifecycle = new Lifecycle(
      table,
      this.caps,
      channels,
      this.router,
      loader,
      vfsDir,
      (host, call) => this.calls.call(host, call),
      this.shareWorkers ? new SharedWorkers() : undefined,
    );
    this.calls = new ProcessCalls(table, this.caps, this.router, this.lifecycle);
    this.commands = new KernelCommands(
      table,
      this.caps,
      this.router,
      this.lifecycle,
      () => this.onShutdownRequest?.(),
      opts.verbosity,
    );
  }

  /** Starts runtime modules, reloads persisted processes, runs them. */
  async boot(): Promise<void> {
    const { processMap, modules } = this.table;
    const runtimeCaps: Capability[] = [
      messagingCap({ node: this.our, process: KERNEL_PROCESS_ID }),
      networkingCap(this.our),
      ...[...modules.values()].map((m) => messagingCap({ node: this.our, process: m.processId })),
    ];
    const runtimeEntry = (isPublic: boolean): PersistedProcess => ({
      wasmBytesHandle: "",
      witVersion: 1,
      onExit: { tag: "restart" },
      capabilities: new Map(),
      public: isPublic,
      runtime: true,
    });
    processMap.set(processIdToString(KERNEL_PROCESS_ID), runtimeEntry(false));
    for (const m of modules.values()) {
      processMap.set(processIdToString(m.processId), runtimeEntry(m.public));
    }
    for (const pid of [KERNEL_PROCESS_ID, ...[...modules.values()].map((m) => m.processId)]) {
      this.caps.add(pid, runtimeCaps, false);
    }
    for (const m of modules.values()) await m.start(this.moduleContext(m));
    await this.lifecycle.reload();
  }

  private moduleContext(m: RuntimeModule): RuntimeModuleContext {
    const router = this.router;
    const mailbox = this.table.mailboxes.get(processIdToString(m.processId));
    return {
      our: this.our,
      home: this.home,
      shareWorkers: this.shareWorkers,
      sendToLoop: mailbox
        ? (km) => {
          mailbox.sent++;
          router.route(km);
        }
        : (km) => router.route(km),
      sendErrorToLoop: (err) => router.deliverSendError(err),
      print: (v, text) => this.table.print(v, text, m.processId),
      hasCapability: (p, c) => this.caps.has(p, c),
      grantCapabilities: (p, caps) => void this.caps.add(p, caps),
      dropCapabilities: (p, caps) => void this.caps.drop(p, caps),
      newMessageId: pooledRandomU64,
      openChannel: (p, route, wake) =>
        this.channels.openModule(
          { node: this.our, process: m.processId },
          processIdToString(p),
          route,
          wake,
        ),
    };
  }

  // -------------------------------------------------------------------------
  // Capabilities

  signCapability(cap: Capability): SignedCapability {
    return this.caps.sign(cap);
  }

  verifyCapability(cap: SignedCapability): boolean {
    return this.caps.verify(cap);
  }

  hasCapability(process: ProcessId, cap: Capability): boolean {
    return this.caps.has(process, cap);
  }

  addCapabilities(on: ProcessId, caps: (Capability | SignedCapability)[], persist = true): boolean {
    return this.caps.add(on, caps, persist);
  }

  dropCapabilities(on: ProcessId, caps: Capability[]): boolean {
    return this.caps.drop(on, caps);
  }

  // -------------------------------------------------------------------------
  // Messages

  /** The kernel's event loop entry: every message goes through here. */
  route(km: KernelMessage): void {
    this.router.route(km);
  }

  /** Hands a send error to the process that sent the failed request. */
  deliverSendError(err: WrappedSendError, sender?: Address): void {
    this.router.deliverSendError(err, sender);
  }

  /**
   * Sends a request with root authority (source: our kernel) and resolves
   * with the response message, or rejects with a SendErrorException.
   */
  request(
    target: Address,
    request: Request,
    blob?: LazyLoadBlob,
    timeoutSeconds = 5,
  ): Promise<KernelMessage> {
    return this.router.requestAs(this.ourAddress, target, request, blob, timeoutSeconds);
  }

  /** Fire-and-forget with root authority. */
  send(target: Address, request: Request, blob?: LazyLoadBlob): void {
    this.router.send(target, request, blob);
  }

  /** Each runtime module's mailbox: messages not yet handled, and handled since boot. */
  mailboxStats(): Map<string, { depth: number; handled: number }> {
    const out = new Map<string, { depth: number; handled: number }>();
    for (const [pid, mb] of this.table.mailboxes) {
      out.set(pid, { depth: mb.depth, handled: mb.handled });
    }
    return out;
  }

  /**
   * Loads the program at a vfs path (a package's file) as running it would, so a
   * component is transpiled and cached ahead of its first run; throws why it cannot run.
   */
  async prepareProgram(handle: string): Promise<void> {
    if (this.table.shuttingDown) return;
    await this.loader.loadFile(handle, vfsHostPath(vfsRoot(this.home), handle));
  }

  /** What the runtime console (console/) may do: enter lines, flip debug switches, kill. */
  consolePort(): ConsolePort {
    const debug = this.debug;
    return {
      our: this.our,
      enterLine: (line) => this.router.route(terminalLine(this.our, line)),
      setEventLoop: (on) => debug.setEventLoop(on),
      setEventLoopFor: (pid, on) => debug.setEventLoopFor(pid, on),
      setStepping: (on) => debug.setStepping(on),
      step: () => debug.step(),
      kill: (pid) => {
        try {
          return this.lifecycle.killProcess(parseProcessId(pid));
        } catch {
          return false;
        }
      },
      onShutdown: (f) => void this.shutdownListeners.push(f),
    };
  }

  // -------------------------------------------------------------------------
  // Processes

  /** Creates a process (not yet running). Caps are limited to what the initializer holds. */
  initializeProcess(p: NewProcess): Promise<void> {
    return this.lifecycle.initializeProcess(p);
  }

  runProcess(id: ProcessId): boolean {
    return this.lifecycle.runProcess(id);
  }

  /** Ends a process at once (even mid-loop). Its on-exit is not honored. */
  killProcess(id: ProcessId, revoke = true): boolean {
    return this.lifecycle.killProcess(id, revoke);
  }

  processIds(): string[] {
    return [...this.table.processMap.keys()];
  }

  isRunning(id: ProcessId): boolean {
    return this.table.hosts.get(processIdToString(id))?.running ?? false;
  }

  setShutdownHandler(f: () => void) {
    this.onShutdownRequest = f;
  }

  async shutdown(): Promise<void> {
    const table = this.table;
    if (table.shuttingDown) return;
    table.shuttingDown = true;
    // held messages are dropped as Hyperdrive's loop drops them on exit
    this.debug.reset();
    for (const f of this.shutdownListeners.splice(0)) {
      try {
        f();
      } catch (e) {
        table.log(0, `kernel: shutdown listener: ${errorText(e)}`);
      }
    }
    for (const [pid, host] of table.hosts) {
      host.kill();
      const entry = table.processMap.get(pid);
      if (entry && entry.onExit.tag === "none") table.store.deleteProcess(pid);
    }
    table.hosts.clear();
    this.lifecycle.stop();
    this.router.rejectPending();
    // let work already in the modules' mailboxes finish (bounded: a stuck handler can't hold shutdown)
    let bound: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...table.mailboxes.values()].map((mb) => mb.idle())),
      new Promise((r) => bound = setTimeout(r, MAILBOX_DRAIN_MS)),
    ]);
    clearTimeout(bound);
    for (const m of table.modules.values()) {
      try {
        await m.shutdown?.();
      } catch (e) {
        table.print(0, `${processIdToString(m.processId)} shutdown: ${errorText(e)}`, m.processId);
      }
    }
    table.store.close();
  }
}
