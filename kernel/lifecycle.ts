// Process lifecycle, as Hyperdrive's kernel runs it: reloading the persisted
// process map at boot, initialize / run / kill, on-exit (None: gone, Restart:
// again with exponential backoff, Requests: sent in the dead process's name),
// and each process's Worker (ProcessHost).

import {
  addressToString,
  type Capability,
  checkProcessId,
  messagingCap,
  type OnExit,
  packageIdOf,
  packageIdToString,
  parseProcessId,
  type ProcessId,
  processIdToString,
  randomU64,
} from "../wire/core.ts";
import { ProcessHost, type ProcessHostHooks } from "./process_host/host.ts";
import { isModulePath, packageShares, type ProgramLoader } from "./process_host/program.ts";
import type { SharedWorkers } from "./process_host/shared_workers.ts";
import { type CapabilityStore, messagingKey } from "./capabilities.ts";
import type { Channels } from "./channels.ts";
import type { Router } from "./routing.ts";
import { driveDir, vfsHostPath } from "./vfs_layout.ts";
import {
  errorText,
  type PersistedProcess,
  type ProcessTable,
  readStoredProcess,
} from "./process_table.ts";

const BASE_BACKOFF_SECS = 1;
const MAX_BACKOFF_SECS = 10 * 60;
const MAX_HEALTHY_DURATION_SECS = 50 * 60;
const HEALTHY_RUN_MULTIPLIER = 5;

interface RestartBackoff {
  attempts: number;
  backoffSecs: number;
  lastStart: number;
  timer?: ReturnType<typeof setTimeout>;
}

type Program = Awaited<ReturnType<ProgramLoader["load"]>>;

/** What a new process is made of (InitializeProcess, spawn, a package install). */
export interface NewProcess {
  id: ProcessId;
  wasmBytesHandle: string;
  witVersion?: number;
  onExit: OnExit;
  initialCapabilities: Capability[];
  public: boolean;
  /** Its code; when absent, read from `wasmBytesHandle` in the vfs. */
  bytes?: Uint8Array;
  initializer: ProcessId;
}

export class Lifecycle {
  private readonly backoffs = new Map<string, RestartBackoff>();
  private readonly hooks: ProcessHostHooks;

  constructor(
    private readonly table: ProcessTable,
    private readonly caps: CapabilityStore,
    private readonly channels: Channels,
    private readonly router: Router,
    private readonly loader: ProgramLoader,
    private readonly vfsDir: string,
    /** a process's kernel calls (state, caps, spawn ...) */
    call: ProcessHostHooks["call"],
    /** where components built to share a Worker find one (none: each has its own) */
    private readonly sharing?: SharedWorkers,
  ) {
    const print = table.print;
    this.hooks = {
      send: (h, msgs) => router.fromProcess(h, msgs),
      print: (h, v, text) =>
        print(
          v,
          `${h.our.process.packageName}:${h.our.process.publisherNode}: ${text}`,
          h.our.process,
        ),
      call,
      exited: (h, error) => this.processExited(h, error),
    };
  }

  /**
   * Reloads the persisted process map (runtime entries are already in the table)
   * and runs every process; a process that died with on-exit requests fires them
   * once every process is loaded (Hyperdrive's loop delivers them later).
   */
  async reload(): Promise<void> {
    const { processMap, store } = this.table;
    const toRun: string[] = [];
    const onExitAtBoot: [ProcessId, Extract<OnExit, { tag: "requests" }>][] = [];
    const loaded: [string, ProcessId, PersistedProcess][] = [];
    for (const [pid, raw] of store.loadProcessMap()) {
      try {
        const stored = readStoredProcess(raw);
        const id = checkProcessId(parseProcessId(pid));
        if (processMap.get(pid)?.runtime) {
          // a runtime module's saved caps: merge into the rebuilt entry
          this.caps.add(id, stored.capabilities, false);
          continue;
        }
        if (stored.wasmBytesHandle === "") continue; // a module no longer present
        const entry: PersistedProcess = {
          wasmBytesHandle: stored.wasmBytesHandle,
          witVersion: stored.witVersion,
          onExit: stored.onExit,
          capabilities: new Map(),
          public: stored.public,
        };
        processMap.set(pid, entry);
        this.caps.add(id, stored.capabilities, false);
        if (entry.onExit.tag === "requests") onExitAtBoot.push([id, entry.onExit]);
        loaded.push([pid, id, entry]);
      } catch (err) {
        this.dropAtBoot(pid, err);
      }
    }
    // programs once the whole map is in: whether a component shares a Worker depends on
    // its package's others (sharesWorker)
    for (const [pid, id, entry] of loaded) {
      try {
        const program = await this.loadProgram(entry.wasmBytesHandle, this.sharesWorker(id));
        this.createHost(id, entry, program);
        toRun.push(pid);
      } catch (err) {
        this.dropAtBoot(pid, err);
      }
    }
    for (const [id, onExit] of onExitAtBoot) {
      const entry = processMap.get(processIdToString(id));
      if (!entry) continue;
      // Hyperdrive fires only those the dead process holds a messaging cap for
      const allowed = onExit.val.filter(([target]) => entry.capabilities.has(messagingKey(target)));
      this.fireOnExitRequests(id, { tag: "requests", val: allowed });
    }
    for (const pid of toRun) this.startHost(pid);
  }

  /** A stored process that could not be brought back at boot: said, and forgotten. */
  private dropAtBoot(pid: string, err: unknown): void {
    const { processMap, store } = this.table;
    this.table.log(0, `kernel: couldn't reboot process ${pid}: ${errorText(err)}`);
    // a runtime module's entry was rebuilt this boot: only its stored caps are lost
    if (!processMap.get(pid)?.runtime) processMap.delete(pid);
    store.deleteProcess(pid);
  }

  /** Creates a process (not yet running). Caps are limited to what the initializer holds. */
  async initializeProcess(p: NewProcess): Promise<void> {
    const { processMap, hosts, modules } = this.table;
    const pid = processIdToString(checkProcessId(p.id));
    if (hosts.has(pid) || modules.has(pid) || pid === "kernel:distro:sys") {
      throw new Error(`process with ID ${pid} already exists`);
    }
    const share = this.sharesWorker(p.id);
    const program = p.bytes
      ? await this.loader.load(p.wasmBytesHandle, p.bytes, undefined, share)
      : await this.loadProgram(p.wasmBytesHandle, share);
    if (hosts.has(pid)) throw new Error(`process with ID ${pid} already exists`);
    const caps = this.caps.heldBy(p.initializer, p.initialCapabilities);
    const entry: PersistedProcess = {
      wasmBytesHandle: p.wasmBytesHandle,
      witVersion: p.witVersion,
      onExit: p.onExit,
      capabilities: new Map(),
      public: p.public,
    };
    processMap.set(pid, entry);
    // itself and its initializer may message it (even if public: a process may
    // redundantly grant it)
    const self = messagingCap({ node: this.table.our, process: p.id });
    this.caps.add(p.id, [...caps, self], false);
    this.caps.add(p.initializer, [self], false);
    this.createHost(p.id, entry, program);
    this.table.persist(pid);
  }

  private createHost(id: ProcessId, entry: PersistedProcess, program: Program) {
    const tmpDir = driveDir(this.vfsDir, packageIdOf(id), "tmp");
    Deno.mkdirSync(tmpDir, { recursive: true });
    const host = new ProcessHost(
      { node: this.table.our, process: id },
      program,
      entry.onExit,
      this.hooks,
      tmpDir,
      this.sharing,
    );
    this.table.hosts.set(processIdToString(id), host);
  }

  /** Runs an initialized process; false when there is none by that id. */
  runProcess(id: ProcessId): boolean {
    const pid = processIdToString(id);
    if (!this.table.hosts.has(pid)) return false;
    this.startHost(pid);
    return true;
  }

  startHost(pid: string): void {
    const host = this.table.hosts.get(pid);
    if (!host || host.running) return;
    const entry = this.table.processMap.get(pid);
    if (entry?.onExit.tag === "restart") {
      const b = this.backoffs.get(pid);
      if (b) b.lastStart = performance.now();
      else {
        this.backoffs.set(pid, {
          attempts: 1,
          backoffSecs: BASE_BACKOFF_SECS,
          lastStart: performance.now(),
        });
      }
    }
    host.run();
  }

  /** Ends a process at once (even mid-loop). Its on-exit is not honored. */
  killProcess(id: ProcessId, revoke = true): boolean {
    const { processMap, hosts, store } = this.table;
    const pid = processIdToString(id);
    const host = hosts.get(pid);
    const entry = processMap.get(pid);
    // a process waiting out its restart backoff has an entry but no host
    if (!host && (!entry || entry.runtime)) return false;
    host?.kill();
    this.channels.close(pid, true);
    hosts.delete(pid);
    const b = this.backoffs.get(pid);
    if (b?.timer !== undefined) clearTimeout(b.timer);
    this.backoffs.delete(pid);
    processMap.delete(pid);
    this.caps.forget(pid);
    store.deleteProcess(pid);
    if (revoke) this.caps.revokeAll(pid);
    return true;
  }

  /**
   * The process map's on-exit (persisted; used at reboot). As in Hyperdrive,
   * a running process exits by its own on-exit, which only its own
   * set-on-exit changes (`running`), not another's SetOnExit command.
   */
  setOnExit(id: ProcessId, onExit: OnExit, running?: ProcessHost): void {
    const pid = processIdToString(id);
    const entry = this.table.processMap.get(pid);
    if (!entry) return;
    entry.onExit = onExit;
    running?.setOnExit(onExit);
    this.table.persist(pid);
  }

  private processExited(host: ProcessHost, error?: string) {
    const id = host.our.process;
    const pid = processIdToString(id);
    if (error) {
      this.table.log(
        0,
        `\x1b[38;5;196mprocess ${addressToString(host.our)} ended with error:\x1b[0m\n${error}`,
      );
    } else {
      this.table.log(1, `process ${addressToString(host.our)} returned without error`);
    }
    if (this.table.shuttingDown || this.table.hosts.get(pid) !== host) return;
    this.channels.close(pid, true);
    const entry = this.table.processMap.get(pid);
    const onExit = host.currentOnExit;
    // OnExit's Display in Hyperdrive: None, Restart, Requests
    const shown = onExit.tag === "none"
      ? "None"
      : onExit.tag === "restart"
      ? "Restart"
      : "Requests";
    this.table.log(1, `process ${pid} has OnExit behavior ${shown}`);
    if (!entry) return;
    switch (onExit.tag) {
      case "none":
        this.killProcess(id);
        return;
      case "requests":
        this.fireOnExitRequests(id, onExit);
        this.killProcess(id);
        return;
      case "restart":
        // re-initialized with the process's own on-exit, as Hyperdrive's restart does
        if (entry.onExit.tag !== "restart") {
          entry.onExit = onExit;
          this.table.persist(pid);
        }
        this.scheduleRestart(host, entry);
        return;
    }
  }

  private fireOnExitRequests(id: ProcessId, onExit: Extract<OnExit, { tag: "requests" }>) {
    for (const [target, request, blob] of onExit.val) {
      // caps as if the process sent it: so a receiver can never save (mint) one
      // the process did not hold (Hyperdrive sends them unchecked, but its
      // save-capabilities has no check to protect)
      const capabilities = request.capabilities.length > 0
        ? this.caps.filter(id, request.capabilities)
        : request.capabilities;
      this.router.route({
        id: randomU64(),
        source: { node: this.table.our, process: id },
        target,
        message: {
          tag: "request",
          val: { ...request, expectsResponse: undefined, capabilities },
        },
        lazyLoadBlob: blob,
      });
    }
  }

  private scheduleRestart(host: ProcessHost, entry: PersistedProcess) {
    const { processMap, hosts } = this.table;
    const id = host.our.process;
    const pid = processIdToString(id);
    const now = performance.now();
    const b = this.backoffs.get(pid) ??
      { attempts: 1, backoffSecs: BASE_BACKOFF_SECS, lastStart: now };
    const uptimeSecs = (now - b.lastStart) / 1000;
    const healthySecs = Math.min(b.backoffSecs * HEALTHY_RUN_MULTIPLIER, MAX_HEALTHY_DURATION_SECS);
    if (uptimeSecs >= healthySecs) {
      b.attempts = 1;
      b.backoffSecs = BASE_BACKOFF_SECS;
    } else {
      b.attempts += 1;
      b.backoffSecs = Math.min(
        Math.max(2 ** Math.min(b.attempts - 1, 30), BASE_BACKOFF_SECS),
        MAX_BACKOFF_SECS,
      );
    }
    const waitMs = b.attempts === 1 ? 0 : b.backoffSecs * 1000;
    this.backoffs.set(pid, b);
    hosts.delete(pid);
    // keep the process map entry (and its caps) across the restart
    const gone = () => this.table.shuttingDown || hosts.has(pid) || processMap.get(pid) !== entry;
    const restart = async () => {
      b.timer = undefined;
      if (gone()) return;
      try {
        const program = await this.loadProgram(entry.wasmBytesHandle, this.sharesWorker(id));
        if (gone()) return;
        this.createHost(id, entry, program);
        this.table.log(1, `kernel: restarting ${pid}`);
        this.startHost(pid);
      } catch (e) {
        this.table.log(0, `kernel: couldn't restart ${pid}: ${errorText(e)}`);
      }
    };
    if (waitMs === 0) void restart();
    else {
      this.table.log(1, `kernel: ${pid} crashed again; restarting in ${b.backoffSecs}s`);
      b.timer = setTimeout(restart, waitMs);
    }
  }

  /**
   * A process's program, by its wasm's handle: a path in the vfs. A component with
   * neighbours (`share`) is built to share a Worker with them; one alone in its package
   * gets a Worker of its own and the glue that blocks, whose calls cost less.
   */
  private async loadProgram(handle: string, share: boolean): Promise<Program> {
    // resolved as a vfs Read resolves it; an escape above the vfs root throws
    return await this.loader.loadFile(handle, vfsHostPath(this.vfsDir, handle), undefined, share);
  }

  /**
   * Whether `id` (a component) is to share a Worker: its package's installed manifest lists
   * more than one component (an install initializes them one at a time, through kernel
   * commands as Hyperdrive's app store does), or another component of its package runs
   * (a spawned child, a script).
   */
  private sharesWorker(id: ProcessId): boolean {
    return this.manifestShares(id) || this.hasNeighbours(id);
  }

  /** Whether `id`'s installed package's manifest makes its components share (packageShares). */
  private manifestShares(id: ProcessId): boolean {
    try {
      const file = `${driveDir(this.vfsDir, packageIdOf(id), "pkg")}/manifest.json`;
      const manifest = JSON.parse(Deno.readTextFileSync(file));
      if (!Array.isArray(manifest)) return false;
      return packageShares(
        manifest.map((e) => e?.process_wasm_path).filter((f) => typeof f === "string"),
      );
    } catch {
      return false; // no manifest to read: the process map decides
    }
  }

  /** Whether another component of `id`'s package is in the process map. */
  private hasNeighbours(id: ProcessId): boolean {
    const self = processIdToString(id);
    // a process id string ends with its package id
    const suffix = `:${packageIdToString(packageIdOf(id))}`;
    for (const [pid, entry] of this.table.processMap) {
      if (pid === self || entry.runtime || entry.wasmBytesHandle === "") continue;
      if (pid.endsWith(suffix) && !isModulePath(entry.wasmBytesHandle)) return true;
    }
    return false;
  }

  /** At shutdown: no restart may fire any more. */
  stop(): void {
    for (const b of this.backoffs.values()) if (b.timer !== undefined) clearTimeout(b.timer);
  }
}
