// Message routing, Hyperdrive's event loop (hyperdrive/src/kernel/mod.rs): every
// KernelMessage goes through route(), which applies the networking and messaging
// capability rules, then hands it to a process's Worker, a runtime module's
// mailbox, net (remote targets) or the kernel itself. Also send errors, and the
// requests the node sends with root authority, pending until answered.

import {
  type Address,
  addressToString,
  capabilityKey,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  type LazyLoadBlob,
  networkingCap,
  type ProcessId,
  processIdToString,
  randomU64,
  type Request,
  type SendErrorKind,
  type WrappedSendError,
} from "../wire/core.ts";
import type { ProcessHost } from "./process_host/host.ts";
import type { OutgoingMessage } from "./process_host/protocol.ts";
import type { Mailbox } from "./mailbox.ts";
import type { PersistedProcess, PrintFn, ProcessTable } from "./process_table.ts";
import type { CapabilityStore } from "./capabilities.ts";
import type { Channels } from "./channels.ts";
import type { KernelDebug } from "./debug.ts";

export class SendErrorException extends Error {
  constructor(readonly kind: SendErrorKind, target: Address) {
    super(`${kind === "timeout" ? "timeout" : "offline"}: ${addressToString(target)}`);
    this.name = "SendError";
  }
}

interface Pending {
  resolve(km: KernelMessage): void;
  reject(err: Error & { kind?: SendErrorKind }): void;
  timer?: ReturnType<typeof setTimeout>;
}

export class Router {
  readonly ourAddress: Address;
  // the table's maps, held directly: route() reads them for every message
  private readonly our: string;
  private readonly processMap: Map<string, PersistedProcess>;
  private readonly hosts: Map<string, ProcessHost>;
  private readonly mailboxes: Map<string, Mailbox>;
  private readonly print: PrintFn;
  /** capabilityKey(networkingCap(our)), computed once: checked on every remote message */
  private readonly networkingKey: string;
  /** root requests (request()) waiting for their answer, by message id */
  private readonly pending = new Map<bigint, Pending>();
  /** the console's debug switches (event loop prints, step-through); set once at boot */
  debug!: KernelDebug;

  constructor(
    table: ProcessTable,
    private readonly caps: CapabilityStore,
    private readonly channels: Channels,
    /** a request to kernel:distro:sys from our node (a KernelCommand) */
    private readonly kernelRequest: (km: KernelMessage) => void,
  ) {
    this.our = table.our;
    this.ourAddress = { node: table.our, process: KERNEL_PROCESS_ID };
    this.processMap = table.processMap;
    this.hosts = table.hosts;
    this.mailboxes = table.mailboxes;
    this.print = table.print;
    this.networkingKey = capabilityKey(networkingCap(table.our));
  }

  /** The kernel's event loop entry: every message goes through here. */
  route(km: KernelMessage): void {
    const debug = this.debug;
    if (debug.on && debug.hold(km)) return;
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
      const net = this.mailboxes.get("net:distro:sys");
      if (!net) {
        this.throwSendError(km, "offline");
        return;
      }
      if (debug.on) debug.event(km, sourcePid, targetPid);
      net.enqueue(km);
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
      this.caps.verifyRemote(km);
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

    if (debug.on) debug.event(km, sourcePid, targetPid);
    if (targetPid === "kernel:distro:sys") {
      if (km.message.tag === "response") {
        this.resolvePending(km);
      } else if (km.source.node === this.our) {
        this.kernelRequest(km);
      }
      return;
    }
    const host = this.hosts.get(targetPid);
    if (host) {
      this.caps.noteReceived(targetPid, km);
      host.deliver({ t: "msg", km });
      if (km.source.node === this.our && !debug.on) {
        this.channels.maybeOpen(sourcePid, targetPid, host);
      }
      return;
    }
    // a runtime module: its mailbox hands it the message after route() returns
    const mailbox = this.mailboxes.get(targetPid);
    if (mailbox) {
      mailbox.enqueue(km);
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

  /** What a process's Worker sent: caps it may not attach are dropped, the rest routed. */
  fromProcess(host: ProcessHost, msgs: OutgoingMessage[]): void {
    const source = host.our;
    for (const m of msgs) {
      const val = m.message.tag === "request" ? m.message.val : m.message.val[0];
      if (val.capabilities.length > 0) {
        val.capabilities = this.caps.filter(source.process, val.capabilities);
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

  /** A request that cannot be delivered: its sender gets a SendError back. */
  private throwSendError(km: KernelMessage, kind: SendErrorKind) {
    if (km.message.tag !== "request" || km.message.val.expectsResponse === undefined) return;
    this.deliverSendError({
      id: km.id,
      source: this.ourAddress,
      error: { kind, target: km.target, message: km.message, lazyLoadBlob: km.lazyLoadBlob },
    }, km.source);
  }

  /** Hands a send error to the process that sent the failed request. */
  deliverSendError(err: WrappedSendError, sender?: Address): void {
    // net reports errors with `source` = the original sender
    const to = sender ?? err.source;
    const pid = processIdToString(to.process);
    if (this.debug.on) this.debug.sendError(err, pid, pidKey(err.error.target.process));
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
    const mailbox = this.mailboxes.get(pid);
    if (mailbox?.module.handleSendError) mailbox.enqueueSendError(err);
  }

  private resolvePending(km: KernelMessage) {
    const p = this.pending.get(km.id);
    if (!p) return;
    this.pending.delete(km.id);
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.resolve(km);
  }

  /**
   * Sends `request` as `source` (its capabilities apply; our kernel's is root
   * authority) and resolves with the response message, which comes back to the
   * kernel, or rejects with a SendErrorException.
   */
  requestAs(
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

  /** At shutdown: every root request still waiting fails as offline. */
  rejectPending(): void {
    for (const p of this.pending.values()) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(Object.assign(new Error("node shut down"), { kind: "offline" as const }));
    }
    this.pending.clear();
  }
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
