// The kernel: process table, capability store, message routing, request
// timeouts and process lifecycle, with Hyperdrive's semantics
// (hyperdrive/src/kernel/*). One event loop on the main thread; processes run
// in Workers (./process_host) and runtime modules are in-process objects.

import { ed25519 } from "@noble/curves/ed25519.js";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import {
  type Address,
  addressToString,
  type Capability,
  capabilityFromJson,
  capabilityKey,
  capabilityToJson,
  checkProcessId,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  type LazyLoadBlob,
  makeResponse,
  messagingCap,
  networkingCap,
  type OnExit,
  onExitFromJson,
  onExitToJson,
  parseProcessId,
  type ProcessId,
  processIdToString,
  randomU64,
  type Request,
  type SendErrorKind,
  type SignedCapability,
  STATE_PROCESS_ID,
  textDecoder,
  textEncoder,
  VFS_PROCESS_ID,
  type WrappedSendError,
} from "../wire/core.ts";
import { ProcessHost } from "./process_host/host.ts";
import type { KernelCall, OutgoingMessage, SpawnArgs } from "./process_host/protocol.ts";
import { ProgramLoader, ProgramLoadError } from "./process_host/program.ts";
import { KernelStore } from "./store.ts";
import { Mailbox } from "./mailbox.ts";
import type { RuntimeModule, RuntimeModuleContext } from "./module.ts";

/**
 * randomU64 for runtime modules' message ids (http-server takes one per HTTP
 * request), drawn 256 at a time: each getRandomValues call is an op costing
 * ~0.4 us. Same source, same distribution.
 */
const idPool = new BigUint64Array(256);
let idsLeft = 0;
function pooledRandomU64(): bigint {
  if (idsLeft === 0) {
    crypto.getRandomValues(idPool);
    idsLeft = idPool.length;
  }
  return idPool[--idsLeft];
}

const BASE_BACKOFF_SECS = 1;
/** How long shutdown waits for runtime modules to finish what is in their mailboxes. */
const MAILBOX_DRAIN_MS = 5000;
const MAX_BACKOFF_SECS = 10 * 60;
const MAX_HEALTHY_DURATION_SECS = 50 * 60;
const HEALTHY_RUN_MULTIPLIER = 5;

export interface PersistedProcess {
  wasmBytesHandle: string;
  witVersion?: number;
  onExit: OnExit;
  capabilities: Map<string, SignedCapability>;
  public: boolean;
  /** runtime modules and the kernel: rebuilt every boot, never persisted */
  runtime?: boolean;
}

export type PrintFn = (verbosity: number, text: string, source: ProcessId) => void;

export interface KernelOptions {
  our: string;
  home: string;
  networkingKey: Uint8Array;
  modules: RuntimeModule[];
  print: PrintFn;
}

interface Pending {
  resolve(km: KernelMessage): void;
  reject(err: Error & { kind?: SendErrorKind }): void;
  timer?: ReturnType<typeof setTimeout>;
}

interface RestartBackoff {
  attempts: number;
  backoffSecs: number;
  lastStart: number;
  timer?: ReturnType<typeof setTimeout>;
}

export class SendErrorException extends Error {
  constructor(readonly kind: SendErrorKind, target: Address) {
    super(`${kind === "timeout" ? "timeout" : "offline"}: ${addressToString(target)}`);
    this.name = "SendError";
  }
}

export class Kernel {
  readonly our: string;
  readonly ourAddress: Address;
  private readonly home: string;
  private readonly vfsDir: string;
  private readonly key: Uint8Array;
  readonly publicKey: Uint8Array;
  private readonly processMap = new Map<string, PersistedProcess>();
  private readonly hosts = new Map<string, ProcessHost>();
  private readonly modules = new Map<string, RuntimeModule>();
  /** one kernel-owned mailbox per runtime module, by process id */
  private readonly mailboxes = new Map<string, Mailbox>();
  /** issuer process -> grantee process -> capability keys it issued to them */
  private readonly reverseCapIndex = new Map<string, Map<string, Set<string>>>();
  private readonly pending = new Map<bigint, Pending>();
  private readonly backoffs = new Map<string, RestartBackoff>();
  /** direct channels: source process -> targets it may post to without the kernel */
  private readonly channels = new Map<string, Set<string>>();
  /** caps each process received on messages: the ones it may save */
  private readonly receivedCaps = new Map<string, Map<string, SignedCapability>>();
  private readonly store: KernelStore;
  private readonly loader: ProgramLoader;
  private readonly print: PrintFn;
  /** capabilityKey(networkingCap(our)), computed once: checked on every remote message */
  private readonly networkingKey: string;
  private shuttingDown = false;
  private onShutdownRequest?: () => void;

  constructor(opts: KernelOptions) {
    this.our = opts.our;
    this.home = opts.home;
    this.vfsDir = `${opts.home}/vfs`;
    this.key = opts.networkingKey;
    this.publicKey = ed25519.getPublicKey(this.key);
    this.ourAddress = { node: this.our, process: KERNEL_PROCESS_ID };
    this.networkingKey = capabilityKey(networkingCap(this.our));
    this.print = opts.print;
    Deno.mkdirSync(this.vfsDir, { recursive: true });
    Deno.mkdirSync(`${opts.home}/cache`, { recursive: true });
    this.store = new KernelStore(`${opts.home}/kernel.sqlite`);
    this.loader = new ProgramLoader(
      `${opts.home}/cache/components`,
      (text) => this.print(1, `kernel: ${text}`, KERNEL_PROCESS_ID),
    );
    for (const m of opts.modules) {
      const pid = processIdToString(m.processId);
      this.modules.set(pid, m);
      this.mailboxes.set(
        pid,
        new Mailbox(m, (e) => this.print(0, `${pid}: ${errorText(e)}`, m.processId)),
      );
    }
  }

  // -------------------------------------------------------------------------
  // Capabilities

  signCapability(cap: Capability): SignedCapability {
    const bytes = msgpackEncode([addressToString(cap.issuer), cap.params]);
    return { issuer: cap.issuer, params: cap.params, signature: ed25519.sign(bytes, this.key) };
  }

  verifyCapability(cap: SignedCapability): boolean {
    if (!cap.signature || cap.signature.length !== 64) return false;
    try {
      const bytes = msgpackEncode([addressToString(cap.issuer), cap.params]);
      return ed25519.verify(cap.signature, bytes, this.publicKey);
    } catch {
      return false;
    }
  }

  hasCapability(process: ProcessId, cap: Capability): boolean {
    const p = this.processMap.get(processIdToString(process));
    return p !== undefined && p.capabilities.has(capabilityKey(cap));
  }

  addCapabilities(on: ProcessId, caps: (Capability | SignedCapability)[], persist = true): boolean {
    const pid = processIdToString(on);
    const entry = this.processMap.get(pid);
    if (!entry) return false;
    for (const cap of caps) {
      const key = capabilityKey(cap);
      entry.capabilities.set(key, this.signCapability(cap));
      const issuer = processIdToString(cap.issuer.process);
      let byGrantee = this.reverseCapIndex.get(issuer);
      if (!byGrantee) this.reverseCapIndex.set(issuer, byGrantee = new Map());
      let keys = byGrantee.get(pid);
      if (!keys) byGrantee.set(pid, keys = new Set());
      keys.add(key);
    }
    if (persist) this.persist(pid);
    return true;
  }

  dropCapabilities(on: ProcessId, caps: Capability[]): boolean {
    const pid = processIdToString(on);
    const entry = this.processMap.get(pid);
    if (!entry) return false;
    for (const cap of caps) entry.capabilities.delete(capabilityKey(cap));
    this.closeChannels(pid, false);
    this.persist(pid);
    return true;
  }

  /** Removes every capability `issuer` gave out (a killed process's caps die with it). */
  private revokeAll(issuer: string) {
    const byGrantee = this.reverseCapIndex.get(issuer);
    if (!byGrantee) return;
    for (const [grantee, keys] of byGrantee) {
      const entry = this.processMap.get(grantee);
      if (!entry) continue;
      for (const k of keys) entry.capabilities.delete(k);
      this.closeChannels(grantee, false);
      this.persist(grantee);
    }
    this.reverseCapIndex.delete(issuer);
  }

  /** Caps a process may attach: ones it holds, or ones it issues itself (signed now). */
  private filterCaps(on: ProcessId, caps: Capability[]): SignedCapability[] {
    const entry = this.processMap.get(processIdToString(on));
    if (!entry) return [];
    const out: SignedCapability[] = [];
    for (const cap of caps) {
      const p = cap.issuer.process;
      if (
        p.processName === on.processName && p.packageName === on.packageName &&
        p.publisherNode === on.publisherNode
      ) {
        out.push(this.signCapability(cap));
      } else {
        const held = entry.capabilities.get(capabilityKey(cap));
        if (held) out.push(held);
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Persistence

  private persist(pid: string) {
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

  // -------------------------------------------------------------------------
  // Boot

  /** Starts runtime modules, reloads persisted processes, runs them. */
  async boot(): Promise<void> {
    const runtimeCaps: Capability[] = [
      messagingCap({ node: this.our, process: KERNEL_PROCESS_ID }),
      networkingCap(this.our),
      ...[...this.modules.values()].map((m) =>
        messagingCap({ node: this.our, process: m.processId })
      ),
    ];
    const runtimeEntry = (isPublic: boolean): PersistedProcess => ({
      wasmBytesHandle: "",
      witVersion: 1,
      onExit: { tag: "restart" },
      capabilities: new Map(),
      public: isPublic,
      runtime: true,
    });
    this.processMap.set(processIdToString(KERNEL_PROCESS_ID), runtimeEntry(false));
    for (const m of this.modules.values()) {
      this.processMap.set(processIdToString(m.processId), runtimeEntry(m.public));
    }
    for (const pid of [KERNEL_PROCESS_ID, ...[...this.modules.values()].map((m) => m.processId)]) {
      this.addCapabilities(pid, runtimeCaps, false);
    }
    for (const m of this.modules.values()) await m.start(this.moduleContext(m));

    // reload the persisted process map
    const persisted = this.store.loadProcessMap();
    const toRun: string[] = [];
    const onExitAtBoot: [ProcessId, Extract<OnExit, { tag: "requests" }>][] = [];
    for (const [pid, raw] of persisted) {
      try {
        const e = raw as {
          wasm_bytes_handle: string;
          wit_version: number | null;
          on_exit: unknown;
          capabilities: [unknown, number[]][];
          public: boolean;
        };
        const id = checkProcessId(parseProcessId(pid));
        const runtime = this.processMap.get(pid);
        if (runtime?.runtime) {
          // a runtime module's saved caps: merge into the rebuilt entry
          this.addCapabilities(id, e.capabilities.map(([c]) => capabilityFromJson(c)), false);
          continue;
        }
        if (e.wasm_bytes_handle === "") continue; // a module no longer present
        const onExit = onExitFromJson(e.on_exit);
        const entry: PersistedProcess = {
          wasmBytesHandle: e.wasm_bytes_handle,
          witVersion: e.wit_version ?? undefined,
          onExit,
          capabilities: new Map(),
          public: e.public,
        };
        this.processMap.set(pid, entry);
        const caps = e.capabilities.map(([c]) => capabilityFromJson(c));
        this.addCapabilities(id, caps, false);
        // a process that died with on-exit requests fires them at boot,
        // once every process is loaded (Hyperdrive's loop delivers them later)
        if (onExit.tag === "requests") onExitAtBoot.push([id, onExit]);
        const bytes = await this.readWasm(e.wasm_bytes_handle);
        const program = await this.loader.load(e.wasm_bytes_handle, bytes);
        this.createHost(id, entry, program);
        toRun.push(pid);
      } catch (err) {
        this.print(
          0,
          `kernel: couldn't reboot process ${pid}: ${errorText(err)}`,
          KERNEL_PROCESS_ID,
        );
        this.processMap.delete(pid);
        this.store.deleteProcess(pid);
      }
    }
    for (const [id, onExit] of onExitAtBoot) {
      const entry = this.processMap.get(processIdToString(id));
      if (!entry) continue;
      // Hyperdrive fires only those the dead process holds a messaging cap for
      const allowed = onExit.val.filter(([target]) => entry.capabilities.has(messagingKey(target)));
      this.fireOnExitRequests(id, { tag: "requests", val: allowed });
    }
    for (const pid of toRun) this.startHost(pid);
  }

  private moduleContext(m: RuntimeModule): RuntimeModuleContext {
    return {
      our: this.our,
      home: this.home,
      sendToLoop: (km) => this.route(km),
      sendErrorToLoop: (err) => this.deliverSendError(err),
      print: (v, text) => this.print(v, text, m.processId),
      hasCapability: (p, c) => this.hasCapability(p, c),
      grantCapabilities: (p, caps) => void this.addCapabilities(p, caps),
      dropCapabilities: (p, caps) => void this.dropCapabilities(p, caps),
      newMessageId: pooledRandomU64,
    };
  }

  // -------------------------------------------------------------------------
  // Routing

  /** The kernel's event loop entry: every message goes through here. */
  route(km: KernelMessage): void {
    if (km.source.node === "our") km.source = { node: this.our, process: km.source.process };
    if (km.target.node === "our") km.target = { node: this.our, process: km.target.process };
    const sourcePid = pidKey(km.source.process);
    const targetPid = pidKey(km.target.process);

    if (km.source.node === this.our && km.target.node !== this.our) {
      const src = this.processMap.get(sourcePid);
      if (!src) return;
      if (!src.capabilities.has(this.networkingKey)) {
        this.print(
          0,
          `event loop: process ${sourcePid} doesn't have capability to send networked messages`,
          KERNEL_PROCESS_ID,
        );
        this.throwSendError(km, "timeout");
        return;
      }
      const net = this.modules.get("net:distro:sys");
      if (!net) {
        this.throwSendError(km, "offline");
        return;
      }
      this.callModule(net, km);
      return;
    }

    if (km.source.node !== this.our) {
      const target = this.processMap.get(targetPid);
      if (!target) {
        this.print(
          2,
          `event loop: got message from network for ${targetPid}, but process does not exist`,
          KERNEL_PROCESS_ID,
        );
        return;
      }
      if (!target.capabilities.has(this.networkingKey)) {
        this.print(
          0,
          `event loop: process ${targetPid} got a message from over the network, but doesn't have capability to receive networked messages`,
          KERNEL_PROCESS_ID,
        );
        return;
      }
      this.verifyRemoteCaps(km);
    } else if (
      sourcePid !== "kernel:distro:sys" && sourcePid !== "state:distro:sys" &&
      sourcePid !== "vfs:distro:sys"
    ) {
      const src = this.processMap.get(sourcePid);
      if (!src) {
        this.throwSendError(km, "timeout");
        return;
      }
      const target = this.processMap.get(targetPid);
      if (!target) {
        this.print(
          2,
          `event loop: process ${sourcePid} sent message to non-existing ${targetPid}; dropping message`,
          KERNEL_PROCESS_ID,
        );
        this.throwSendError(km, "timeout");
        return;
      }
      // answers to root-injected requests (node.request, RPC) go back to the kernel
      const answersRoot = km.message.tag === "response" && targetPid === "kernel:distro:sys";
      if (
        !target.public && !answersRoot &&
        !src.capabilities.has(messagingKeyOf(km.target.node, targetPid))
      ) {
        this.print(
          0,
          `event loop: process ${sourcePid} doesn't have capability to message process ${targetPid}`,
          KERNEL_PROCESS_ID,
        );
        this.throwSendError(km, "timeout");
        return;
      }
    }

    if (targetPid === "kernel:distro:sys") {
      if (km.message.tag === "response") {
        this.resolvePending(km);
      } else if (km.source.node === this.our) {
        this.handleKernelRequest(km);
      }
      return;
    }
    const host = this.hosts.get(targetPid);
    if (host) {
      this.noteReceivedCaps(targetPid, km);
      host.deliver({ t: "msg", km });
      if (km.source.node === this.our) this.maybeOpenChannel(sourcePid, targetPid, host);
      return;
    }
    const mod = this.modules.get(targetPid);
    if (mod) {
      this.callModule(mod, km);
      return;
    }
    this.print(
      0,
      `event loop: got ${
        km.message.tag === "request" ? "Request" : "Response"
      } from ${sourcePid} for ${targetPid}, but target doesn't exist (perhaps it terminated)`,
      KERNEL_PROCESS_ID,
    );
    this.throwSendError(km, "timeout");
  }

  /**
   * After routing a local process-to-process message, give the pair a direct
   * channel so later cap-less messages skip this thread. Authorized exactly
   * as route() authorizes: the target is public or the source may message it.
   */
  private maybeOpenChannel(sourcePid: string, targetPid: string, target: ProcessHost) {
    const source = this.hosts.get(sourcePid);
    if (!source || sourcePid === targetPid) return;
    let outbound = this.channels.get(sourcePid);
    if (outbound?.has(targetPid)) return;
    const targetEntry = this.processMap.get(targetPid);
    const sourceEntry = this.processMap.get(sourcePid);
    if (!targetEntry || !sourceEntry) return;
    if (!targetEntry.public && !sourceEntry.capabilities.has(messagingKey(target.our))) return;
    if (!outbound) this.channels.set(sourcePid, outbound = new Set());
    outbound.add(targetPid);
    const { port1, port2 } = new MessageChannel();
    source.control(
      { t: "channel", target: targetPid, port: port1, signal: target.signalBuffer },
      [port1],
    );
    target.control({ t: "peer", from: source.our, port: port2 }, [port2]);
  }

  /** Closes every direct channel from `pid` (its caps changed) or, with `all`, to it too. */
  private closeChannels(pid: string, all: boolean) {
    const outbound = this.channels.get(pid);
    if (outbound) {
      this.hosts.get(pid)?.control({ t: "unchannel" });
      for (const target of outbound) this.hosts.get(target)?.control({ t: "unpeer", from: pid });
      this.channels.delete(pid);
    }
    if (!all) return;
    for (const [source, targets] of this.channels) {
      if (!targets.delete(pid)) continue;
      this.hosts.get(source)?.control({ t: "unchannel", target: pid });
    }
  }

  /** Hands a message to a runtime module's mailbox; the module handles it after route() returns. */
  private callModule(mod: RuntimeModule, km: KernelMessage) {
    this.mailboxes.get(processIdToString(mod.processId))!.enqueue(km);
  }

  /** Each runtime module's mailbox: messages not yet handled, and handled since boot. */
  mailboxStats(): Map<string, { depth: number; handled: number }> {
    const out = new Map<string, { depth: number; handled: number }>();
    for (const [pid, mb] of this.mailboxes) out.set(pid, { depth: mb.depth, handled: mb.handled });
    return out;
  }

  /** Caps on a remote message that claim to be issued here must carry our signature. */
  private verifyRemoteCaps(km: KernelMessage) {
    const val = km.message.tag === "request" ? km.message.val : km.message.val[0];
    val.capabilities = val.capabilities.filter((c) =>
      c.issuer.node !== this.our || this.verifyCapability(c)
    );
  }

  private noteReceivedCaps(pid: string, km: KernelMessage) {
    const caps = km.message.tag === "request"
      ? km.message.val.capabilities
      : km.message.val[0].capabilities;
    if (caps.length === 0) return;
    let m = this.receivedCaps.get(pid);
    if (!m) this.receivedCaps.set(pid, m = new Map());
    for (const c of caps) m.set(capabilityKey(c), c);
  }

  /** A request that cannot be delivered: its sender gets a SendError back. */
  private throwSendError(km: KernelMessage, kind: SendErrorKind) {
    if (km.message.tag !== "request" || km.message.val.expectsResponse === undefined) return;
    this.deliverSendError({
      id: km.id,
      source: { node: this.our, process: KERNEL_PROCESS_ID },
      error: { kind, target: km.target, message: km.message, lazyLoadBlob: km.lazyLoadBlob },
    }, km.source);
  }

  /** Hands a send error to the process that sent the failed request. */
  deliverSendError(err: WrappedSendError, sender?: Address): void {
    // net reports errors with `source` = the original sender
    const to = sender ?? err.source;
    const pid = processIdToString(to.process);
    if (pid === "kernel:distro:sys") {
      const p = this.pending.get(err.id);
      if (p) {
        this.pending.delete(err.id);
        if (p.timer !== undefined) clearTimeout(p.timer);
        p.reject(new SendErrorException(err.error.kind, err.error.target));
      }
      return;
    }
    const host = this.hosts.get(pid);
    if (host) {
      host.deliver({ t: "err", err });
      return;
    }
    const mod = this.modules.get(pid);
    if (mod?.handleSendError) this.mailboxes.get(pid)!.enqueueSendError(err);
  }

  private resolvePending(km: KernelMessage) {
    const p = this.pending.get(km.id);
    if (!p) return;
    this.pending.delete(km.id);
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.resolve(km);
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
    return this.requestAs(this.ourAddress, target, request, blob, timeoutSeconds);
  }

  /** As request(), but sent as `source` (its capabilities apply); the answer comes to the kernel. */
  private requestAs(
    source: Address,
    target: Address,
    request: Request,
    blob: LazyLoadBlob | undefined,
    timeoutSeconds: number,
  ): Promise<KernelMessage> {
    const id = randomU64();
    const req = { ...request, expectsResponse: BigInt(Math.max(0, Math.ceil(timeoutSeconds))) };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SendErrorException("timeout", target));
      }, timeoutSeconds * 1000);
      this.pending.set(id, { resolve, reject, timer });
      this.route({
        id,
        source,
        target,
        rsvp: this.ourAddress,
        message: { tag: "request", val: req },
        lazyLoadBlob: blob,
      });
    });
  }

  /** Fire-and-forget with root authority. */
  send(target: Address, request: Request, blob?: LazyLoadBlob): void {
    this.route({
      id: randomU64(),
      source: this.ourAddress,
      target,
      message: { tag: "request", val: { ...request, expectsResponse: undefined } },
      lazyLoadBlob: blob,
    });
  }

  // -------------------------------------------------------------------------
  // Kernel commands (JSON KernelCommand bodies, as Hyperdrive's)

  private respond(km: KernelMessage, response: unknown) {
    if (km.message.tag !== "request") return;
    this.route(makeResponse(km, this.ourAddress, textEncoder.encode(JSON.stringify(response))));
  }

  private handleKernelRequest(km: KernelMessage) {
    if (km.message.tag !== "request") return;
    const req = km.message.val;
    let command: unknown;
    try {
      command = JSON.parse(textDecoder.decode(req.body));
    } catch (e) {
      this.print(0, `kernel: couldn't parse command: ${errorText(e)}`, KERNEL_PROCESS_ID);
      return;
    }
    const [name, args] = typeof command === "string"
      ? [command, undefined]
      : command && typeof command === "object" && Object.keys(command).length === 1
      ? [Object.keys(command)[0], Object.values(command)[0]]
      : ["", undefined];
    try {
      switch (name) {
        case "Booted":
          return;
        case "Shutdown":
          this.onShutdownRequest?.();
          return;
        case "InitializeProcess":
          this.commandInitializeProcess(km, args);
          return;
        case "GrantCapabilities":
        case "DropCapabilities": {
          const a = args as { target: string; capabilities: unknown[] };
          const target = parseProcessId(a.target);
          const caps = a.capabilities.map(capabilityFromJson);
          if (name === "GrantCapabilities") this.addCapabilities(target, caps);
          else this.dropCapabilities(target, caps);
          return;
        }
        case "SetOnExit": {
          const a = args as { target: string; on_exit: unknown };
          this.setOnExit(parseProcessId(a.target), onExitFromJson(a.on_exit));
          return;
        }
        case "RunProcess": {
          const pid = processIdToString(parseProcessId(args as string));
          if (this.hosts.has(pid)) {
            this.startHost(pid);
            this.respond(km, "StartedProcess");
          } else {
            this.print(0, `kernel: no such process ${pid} to run`, KERNEL_PROCESS_ID);
            this.respond(km, "RunProcessError");
          }
          return;
        }
        case "KillProcess": {
          const id = parseProcessId(args as string);
          const pid = processIdToString(id);
          if (!this.killProcess(id, req.metadata !== "no-revoke")) {
            this.print(2, `kernel: no such process ${pid} to kill`, KERNEL_PROCESS_ID);
            return;
          }
          if (req.expectsResponse === undefined) {
            this.print(2, `kernel: killing process ${pid}`, KERNEL_PROCESS_ID);
            return;
          }
          this.print(0, `kernel: killing process ${pid}`, KERNEL_PROCESS_ID);
          this.respond(km, { KilledProcess: pid });
          return;
        }
        case "Debug":
          this.respond(km, { Debug: this.debugCommand(args) });
          return;
        default:
          this.print(
            0,
            `kernel: couldn't parse command: unknown KernelCommand ${JSON.stringify(command)}`,
            KERNEL_PROCESS_ID,
          );
      }
    } catch (e) {
      this.print(0, `kernel: bad ${name} command: ${errorText(e)}`, KERNEL_PROCESS_ID);
      if (name === "InitializeProcess") this.respond(km, "InitializeProcessError");
      if (name === "RunProcess") this.respond(km, "RunProcessError");
    }
  }

  private userspaceProcessJson(p: PersistedProcess) {
    return {
      wasm_bytes_handle: p.wasmBytesHandle,
      wit_version: p.witVersion ?? null,
      on_exit: onExitToJson(p.onExit),
      capabilities: [...p.capabilities.values()].map(capabilityToJson),
      public: p.public,
    };
  }

  private debugCommand(args: unknown): unknown {
    if (args === "ProcessMap") {
      const out: Record<string, unknown> = {};
      for (const [pid, p] of this.processMap) out[pid] = this.userspaceProcessJson(p);
      return { ProcessMap: out };
    }
    const a = args as Record<string, unknown>;
    if (a && typeof a === "object" && "Process" in a) {
      const p = this.processMap.get(processIdToString(parseProcessId(a.Process as string)));
      return { Process: p ? this.userspaceProcessJson(p) : null };
    }
    if (a && typeof a === "object" && "HasCap" in a) {
      const h = a.HasCap as { on: string; cap: unknown };
      const p = this.processMap.get(processIdToString(parseProcessId(h.on)));
      return { HasCap: p ? p.capabilities.has(capabilityKey(capabilityFromJson(h.cap))) : null };
    }
    throw new Error(`unknown Debug command ${JSON.stringify(args)}`);
  }

  private commandInitializeProcess(km: KernelMessage, args: unknown) {
    const a = args as {
      id: string;
      wasm_bytes_handle: string;
      wit_version: number | null;
      on_exit: unknown;
      initial_capabilities: unknown[];
      public: boolean;
    };
    if (!km.lazyLoadBlob) {
      this.print(0, "kernel: process startup requires bytes", KERNEL_PROCESS_ID);
      this.respond(km, "InitializeProcessError");
      return;
    }
    const id = checkProcessId(parseProcessId(a.id));
    const caps = (a.initial_capabilities ?? []).map(capabilityFromJson);
    this.initializeProcess({
      id,
      wasmBytesHandle: a.wasm_bytes_handle,
      witVersion: a.wit_version ?? undefined,
      onExit: onExitFromJson(a.on_exit),
      initialCapabilities: caps,
      public: Boolean(a.public),
      bytes: km.lazyLoadBlob.bytes,
      initializer: km.source.process,
    }).then(
      () => this.respond(km, "InitializedProcess"),
      (e) => {
        this.print(0, `kernel: error initializing process: ${errorText(e)}`, KERNEL_PROCESS_ID);
        this.respond(km, "InitializeProcessError");
      },
    );
  }

  /** Creates a process (not yet running). Caps are limited to what the initializer holds. */
  async initializeProcess(p: {
    id: ProcessId;
    wasmBytesHandle: string;
    witVersion?: number;
    onExit: OnExit;
    initialCapabilities: Capability[];
    public: boolean;
    bytes: Uint8Array;
    initializer: ProcessId;
  }): Promise<void> {
    const pid = processIdToString(checkProcessId(p.id));
    if (this.hosts.has(pid) || this.modules.has(pid) || pid === "kernel:distro:sys") {
      throw new Error(`process with ID ${pid} already exists`);
    }
    const initializerPid = processIdToString(p.initializer);
    const program = await this.loader.load(p.wasmBytesHandle, p.bytes);
    if (this.hosts.has(pid)) throw new Error(`process with ID ${pid} already exists`);
    let caps = p.initialCapabilities;
    if (initializerPid !== "kernel:distro:sys") {
      const held = this.processMap.get(initializerPid)?.capabilities ?? new Map();
      caps = caps.filter((c) => {
        const ok = held.has(capabilityKey(c));
        if (!ok) {
          this.print(
            0,
            `kernel: InitializeProcess caller ${initializerPid} doesn't have capability ${
              capabilityToJson(c).issuer
            }(${c.params})`,
            KERNEL_PROCESS_ID,
          );
        }
        return ok;
      });
    }
    const entry: PersistedProcess = {
      wasmBytesHandle: p.wasmBytesHandle,
      witVersion: p.witVersion,
      onExit: p.onExit,
      capabilities: new Map(),
      public: p.public,
    };
    this.processMap.set(pid, entry);
    const self = messagingCap({ node: this.our, process: p.id });
    this.addCapabilities(p.id, [...caps, self], false);
    this.addCapabilities(p.initializer, [self], false);
    this.createHost(p.id, entry, program);
    this.persist(pid);
  }

  private createHost(
    id: ProcessId,
    entry: PersistedProcess,
    program: Awaited<ReturnType<ProgramLoader["load"]>>,
  ) {
    const pid = processIdToString(id);
    const tmpDir = `${this.vfsDir}/${id.packageName}:${id.publisherNode}/tmp`;
    Deno.mkdirSync(tmpDir, { recursive: true });
    const host = new ProcessHost(
      { node: this.our, process: id },
      program,
      entry.onExit,
      {
        send: (h, msgs) => this.processSent(h, msgs),
        print: (h, v, text) =>
          this.print(
            v,
            `${h.our.process.packageName}:${h.our.process.publisherNode}: ${text}`,
            h.our.process,
          ),
        call: (h, call) => this.processCall(h, call),
        exited: (h, error) => this.processExited(h, error),
      },
      tmpDir,
    );
    this.hosts.set(pid, host);
  }

  private startHost(pid: string) {
    const host = this.hosts.get(pid);
    if (!host || host.running) return;
    const entry = this.processMap.get(pid);
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

  runProcess(id: ProcessId): boolean {
    const pid = processIdToString(id);
    if (!this.hosts.has(pid)) return false;
    this.startHost(pid);
    return true;
  }

  /** Ends a process at once (even mid-loop). Its on-exit is not honored. */
  killProcess(id: ProcessId, revoke = true): boolean {
    const pid = processIdToString(id);
    const host = this.hosts.get(pid);
    const entry = this.processMap.get(pid);
    // a process waiting out its restart backoff has an entry but no host
    if (!host && (!entry || entry.runtime)) return false;
    host?.kill();
    this.closeChannels(pid, true);
    this.hosts.delete(pid);
    const b = this.backoffs.get(pid);
    if (b?.timer !== undefined) clearTimeout(b.timer);
    this.backoffs.delete(pid);
    this.processMap.delete(pid);
    this.receivedCaps.delete(pid);
    this.store.deleteProcess(pid);
    if (revoke) this.revokeAll(pid);
    return true;
  }

  /**
   * The process map's on-exit (persisted; used at reboot). As in Hyperdrive,
   * a running process exits by its own on-exit, which only its own
   * set-on-exit changes (`running`), not another's SetOnExit command.
   */
  private setOnExit(id: ProcessId, onExit: OnExit, running?: ProcessHost) {
    const pid = processIdToString(id);
    const entry = this.processMap.get(pid);
    if (!entry) return;
    entry.onExit = onExit;
    running?.setOnExit(onExit);
    this.persist(pid);
  }

  // -------------------------------------------------------------------------
  // From processes

  private processSent(host: ProcessHost, msgs: OutgoingMessage[]) {
    const source = host.our;
    for (const m of msgs) {
      const val = m.message.tag === "request" ? m.message.val : m.message.val[0];
      if (val.capabilities.length > 0) {
        val.capabilities = this.filterCaps(source.process, val.capabilities);
      }
      this.route({
        id: m.id,
        source,
        target: m.target,
        rsvp: m.rsvp,
        message: m.message,
        lazyLoadBlob: m.lazyLoadBlob,
      });
    }
  }

  private async processCall(host: ProcessHost, call: KernelCall): Promise<unknown> {
    const id = host.our.process;
    switch (call.op) {
      case "getState":
      case "setState":
      case "clearState":
        return await this.stateCall(id, call);
      case "setOnExit":
        this.setOnExit(id, call.onExit, host);
        return null;
      case "saveCapabilities": {
        const received = this.receivedCaps.get(processIdToString(id));
        const allowed = call.caps.filter((c) => {
          const own = processIdToString(c.issuer.process) === processIdToString(id);
          const got = received?.get(capabilityKey(c));
          if (!own && !got) {
            this.print(
              1,
              `kernel: ${processIdToString(id)} tried to save a capability it was never given: ${
                addressToString(c.issuer)
              }(${c.params})`,
              KERNEL_PROCESS_ID,
            );
          }
          return own || got;
        });
        this.addCapabilities(id, allowed);
        return null;
      }
      case "dropCapabilities":
        this.dropCapabilities(id, call.caps);
        return null;
      case "ourCapabilities": {
        const entry = this.processMap.get(processIdToString(id));
        return entry
          ? [...entry.capabilities.values()].map((c) => ({ issuer: c.issuer, params: c.params }))
          : [];
      }
      case "spawn":
        return await this.spawn(host, call.args);
    }
  }

  private async stateCall(
    id: ProcessId,
    call: { op: "getState" } | { op: "setState"; bytes: Uint8Array } | { op: "clearState" },
  ): Promise<unknown> {
    const pid = processIdToString(id);
    const action = call.op === "getState"
      ? { GetState: pid }
      : call.op === "setState"
      ? { SetState: pid }
      : { DeleteState: pid };
    let res: KernelMessage;
    try {
      res = await this.request(
        { node: this.our, process: STATE_PROCESS_ID },
        {
          inherit: false,
          body: textEncoder.encode(JSON.stringify(action)),
          metadata: pid,
          capabilities: [],
        },
        call.op === "setState" ? { bytes: call.bytes } : undefined,
        5,
      );
    } catch (e) {
      // Hyperdrive's get-state answers None when state does not answer
      if (call.op === "getState") return undefined;
      throw e;
    }
    if (res.message.tag !== "response") throw new Error("state: expected a response");
    const body = JSON.parse(textDecoder.decode(res.message.val[0].body));
    if (call.op === "getState") return body === "GetState" ? res.lazyLoadBlob?.bytes : undefined;
    if (body && typeof body === "object" && "Err" in body) {
      throw new Error(`state: ${JSON.stringify(body.Err)}`);
    }
    return null;
  }

  private async readWasm(handle: string): Promise<Uint8Array> {
    const rel = handle.replace(/^\/+/, "");
    if (rel.split("/").some((s) => s === ".." || s === "")) {
      throw new Error(`bad wasm path ${handle}`);
    }
    return await Deno.readFile(`${this.vfsDir}/${rel}`);
  }

  /**
   * Reads a file as `source` reads it: a vfs Read sent with its authority
   * (Hyperdrive's spawn does this from inside the process). Undefined on any
   * failure: no messaging cap for vfs, no read cap for the drive, no file.
   */
  private async readAsProcess(source: Address, path: string): Promise<Uint8Array | undefined> {
    const vfs = { node: this.our, process: VFS_PROCESS_ID };
    const sourcePid = processIdToString(source.process);
    const src = this.processMap.get(sourcePid);
    const target = this.processMap.get(processIdToString(VFS_PROCESS_ID));
    if (!src || !target) return undefined;
    if (!target.public && !src.capabilities.has(messagingKey(vfs))) {
      // what routing the read would print; checked here to fail now, not at the timeout
      this.print(
        0,
        `event loop: process ${sourcePid} doesn't have capability to message process vfs:distro:sys`,
        KERNEL_PROCESS_ID,
      );
      return undefined;
    }
    try {
      const res = await this.requestAs(
        source,
        vfs,
        {
          inherit: false,
          body: textEncoder.encode(JSON.stringify({ path, action: "Read" })),
          metadata: undefined,
          capabilities: [],
        },
        undefined,
        5,
      );
      if (res.message.tag !== "response") return undefined;
      const body = JSON.parse(textDecoder.decode(res.message.val[0].body));
      return body === "Read" ? res.lazyLoadBlob?.bytes : undefined;
    } catch {
      return undefined;
    }
  }

  private async spawn(
    host: ProcessHost,
    a: SpawnArgs,
  ): Promise<{ ok: ProcessId } | { err: string }> {
    const parent = host.our.process;
    // any drive the parent may read, as Hyperdrive's vfs Read decides
    const bytes = await this.readAsProcess(host.our, a.wasmPath);
    if (!bytes) return { err: "no-file-at-path" };
    const name = a.name ?? randomU64().toString();
    const id = checkProcessId({
      processName: name,
      packageName: parent.packageName,
      publisherNode: parent.publisherNode,
    });
    const pid = processIdToString(id);
    if (this.hosts.has(pid) || this.modules.has(pid)) return { err: "name-taken" };
    const caps = this.filterCaps(parent, a.requestCapabilities);
    try {
      await this.initializeProcess({
        id,
        // the path as given, and the parent's wit version, as Hyperdrive records them
        wasmBytesHandle: a.wasmPath,
        witVersion: this.processMap.get(processIdToString(parent))?.witVersion,
        onExit: a.onExit,
        initialCapabilities: caps,
        public: a.public,
        bytes,
        initializer: KERNEL_PROCESS_ID,
      });
    } catch (e) {
      if (e instanceof ProgramLoadError) {
        this.print(0, `kernel: spawn of ${pid} failed: ${e.message}`, KERNEL_PROCESS_ID);
        return { err: "no-file-at-path" };
      }
      return { err: "name-taken" };
    }
    for (const [grantee, params] of a.grantCapabilities) {
      this.addCapabilities(grantee, [{ issuer: { node: this.our, process: id }, params }]);
    }
    this.startHost(pid);
    this.addCapabilities(id, [messagingCap(host.our)]);
    this.addCapabilities(parent, [messagingCap({ node: this.our, process: id })]);
    return { ok: id };
  }

  private processExited(host: ProcessHost, error?: string) {
    const id = host.our.process;
    const pid = processIdToString(id);
    if (error) {
      this.print(
        0,
        `\x1b[38;5;196mprocess ${addressToString(host.our)} ended with error:\x1b[0m\n${error}`,
        KERNEL_PROCESS_ID,
      );
    } else {
      this.print(
        1,
        `process ${addressToString(host.our)} returned without error`,
        KERNEL_PROCESS_ID,
      );
    }
    if (this.shuttingDown || this.hosts.get(pid) !== host) return;
    this.closeChannels(pid, true);
    const entry = this.processMap.get(pid);
    const onExit = host.currentOnExit;
    // OnExit's Display in Hyperdrive: None, Restart, Requests
    const shown = onExit.tag === "none"
      ? "None"
      : onExit.tag === "restart"
      ? "Restart"
      : "Requests";
    this.print(1, `process ${pid} has OnExit behavior ${shown}`, KERNEL_PROCESS_ID);
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
          this.persist(pid);
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
        ? this.filterCaps(id, request.capabilities)
        : request.capabilities;
      this.route({
        id: randomU64(),
        source: { node: this.our, process: id },
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
    this.hosts.delete(pid);
    // keep the process map entry (and its caps) across the restart
    const restart = async () => {
      b.timer = undefined;
      if (this.shuttingDown || this.hosts.has(pid) || this.processMap.get(pid) !== entry) return;
      try {
        const bytes = await this.readWasm(entry.wasmBytesHandle);
        const program = await this.loader.load(entry.wasmBytesHandle, bytes);
        if (this.shuttingDown || this.hosts.has(pid) || this.processMap.get(pid) !== entry) return;
        this.createHost(id, entry, program);
        this.print(1, `kernel: restarting ${pid}`, KERNEL_PROCESS_ID);
        this.startHost(pid);
      } catch (e) {
        this.print(0, `kernel: couldn't restart ${pid}: ${errorText(e)}`, KERNEL_PROCESS_ID);
      }
    };
    if (waitMs === 0) void restart();
    else {
      this.print(
        1,
        `kernel: ${pid} crashed again; restarting in ${b.backoffSecs}s`,
        KERNEL_PROCESS_ID,
      );
      b.timer = setTimeout(restart, waitMs);
    }
  }

  // -------------------------------------------------------------------------

  processIds(): string[] {
    return [...this.processMap.keys()];
  }

  isRunning(id: ProcessId): boolean {
    return this.hosts.get(processIdToString(id))?.running ?? false;
  }

  setShutdownHandler(f: () => void) {
    this.onShutdownRequest = f;
  }

  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const [pid, host] of this.hosts) {
      host.kill();
      const entry = this.processMap.get(pid);
      if (entry && entry.onExit.tag === "none") this.store.deleteProcess(pid);
    }
    this.hosts.clear();
    for (const b of this.backoffs.values()) if (b.timer !== undefined) clearTimeout(b.timer);
    for (const p of this.pending.values()) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(Object.assign(new Error("node shut down"), { kind: "offline" as const }));
    }
    this.pending.clear();
    // let work already in the modules' mailboxes finish (bounded: a stuck handler can't hold shutdown)
    let bound: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...this.mailboxes.values()].map((mb) => mb.idle())),
      new Promise((r) => bound = setTimeout(r, MAILBOX_DRAIN_MS)),
    ]);
    clearTimeout(bound);
    for (const m of this.modules.values()) {
      try {
        await m.shutdown?.();
      } catch (e) {
        this.print(0, `${processIdToString(m.processId)} shutdown: ${errorText(e)}`, m.processId);
      }
    }
    this.store.close();
  }
}

/** capabilityKey(messagingCap(a)) without re-parsing the constant params on the hot path. */
function messagingKey(a: Address): string {
  return `${addressToString(a)}|"messaging"`;
}

// route() runs for every message; these keep it from building (and hashing)
// the same key strings over and over. Interned by content, not by object, so
// a mutated or fresh ProcessId can never map to a stale key.
const INTERN_MAX = 4096;
let pidKeys = new Map<string, Map<string, Map<string, string>>>();
let pidKeyCount = 0;

/** processIdToString(p), interned. */
function pidKey(p: ProcessId): string {
  let byPackage = pidKeys.get(p.processName);
  let byPublisher = byPackage?.get(p.packageName);
  const hit = byPublisher?.get(p.publisherNode);
  if (hit !== undefined) return hit;
  const key = processIdToString(p);
  if (pidKeyCount >= INTERN_MAX) {
    pidKeys = new Map();
    pidKeyCount = 0;
    byPackage = byPublisher = undefined;
  }
  if (!byPackage) pidKeys.set(p.processName, byPackage = new Map());
  if (!byPublisher) byPackage.set(p.packageName, byPublisher = new Map());
  byPublisher.set(p.publisherNode, key);
  pidKeyCount++;
  return key;
}

let messagingKeys = new Map<string, Map<string, string>>();
let messagingKeyCount = 0;

/** messagingKey({node, process}) for the process whose pidKey is `pid`, interned. */
function messagingKeyOf(node: string, pid: string): string {
  let byPid = messagingKeys.get(node);
  const hit = byPid?.get(pid);
  if (hit !== undefined) return hit;
  const key = `${node}@${pid}|"messaging"`;
  if (messagingKeyCount >= INTERN_MAX) {
    messagingKeys = new Map();
    messagingKeyCount = 0;
    byPid = undefined;
  }
  if (!byPid) messagingKeys.set(node, byPid = new Map());
  byPid.set(pid, key);
  messagingKeyCount++;
  return key;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
