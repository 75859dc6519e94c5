// Runtime modules: in-runtime services addressed as processes (vfs:distro:sys,
// net:distro:sys ...). They talk to the kernel only by messages: the kernel puts
// each message for a module into that module's mailbox (./mailbox.ts), which
// hands them to `handleMessage` in order, never inside the kernel's routing.

import type { ModuleRoute } from "./process_host/protocol.ts";

// What a module's own Worker needs to serve a module channel's end.
export {
  BELL,
  BELL_PARKED,
  closeModuleChannel,
  moduleChannelClosed,
  ModuleChannelReader,
  ringBell,
  ServedChannel,
  WAKE_BYTES,
} from "./process_host/module_channel.ts";
export { PeerSender } from "./process_host/peer.ts";
export { Writer } from "./process_host/codec.ts";
export { wallClock } from "./process_host/protocol.ts";
export type { ModuleRoute, OutgoingMessage } from "./process_host/protocol.ts";
import type {
  Address,
  Capability,
  KernelMessage,
  NodeId,
  ProcessId,
  WrappedSendError,
} from "../wire/core.ts";

export interface RuntimeModuleContext {
  /** This node's name. */
  readonly our: NodeId;
  /** The node's home directory. */
  readonly home: string;
  /** Components of one package share Workers (KernelOptions.shareWorkers). */
  readonly shareWorkers?: boolean;
  /** Put a message into the kernel's event loop (source must be this module). */
  sendToLoop(km: KernelMessage): void;
  /** Return a send error to the process that sent the failed request (net: Offline). */
  sendErrorToLoop(err: WrappedSendError): void;
  /** Print at a verbosity level (0 always shows). */
  print(verbosity: number, text: string): void;
  /** Does `process` hold `cap`? (the kernel's capability store, read synchronously) */
  hasCapability(process: ProcessId, cap: Capability): boolean;
  /** Add capabilities to a process (kernel signs and persists them). */
  grantCapabilities(process: ProcessId, caps: Capability[]): void;
  /** Remove capabilities from a process. */
  dropCapabilities(process: ProcessId, caps: Capability[]): void;
  /** A fresh random u64 message id. */
  newMessageId(): bigint;
  /**
   * Opens a direct channel from `process`'s Worker to a Worker of this module (woken
   * through `wake`) for the requests `route` names, which the module has authorized for
   * that process (process_host/module_channel.ts). Undefined when the process has no
   * Worker or a kernel debug switch is on. The kernel closes it when the process's caps
   * change or it exits; the module closes it by its ring when its Worker goes.
   */
  openChannel?(
    process: ProcessId,
    route: ModuleRoute,
    wake: SharedArrayBuffer,
  ): ModuleChannelEnd | undefined;
}

/** The module's end of a module channel. */
export interface ModuleChannelEnd {
  /** the request ring (module_channel.ts's ModuleChannelReader) */
  ring: SharedArrayBuffer;
  /** the answer channel into the process's inbox (peer.ts's PeerSender) */
  reply: SharedArrayBuffer;
  port: MessagePort;
  /** the process's signal buffer, which answers wake */
  signal: SharedArrayBuffer;
  /** the process: the target of answers */
  process: Address;
}

export interface RuntimeModule {
  /** e.g. "vfs:distro:sys" */
  readonly processId: ProcessId;
  /** Whether any local process may message it without a messaging cap. */
  readonly public: boolean;
  start(ctx: RuntimeModuleContext): Promise<void> | void;
  /**
   * The ordering lane of a message. Messages of one lane reach `handleMessage` one
   * after another, each after the previous one's promise settled; lanes run
   * concurrently. Without it the whole mailbox is one lane. The storage modules use
   * the source process, as Hyperdrive's per-process queues do.
   */
  laneOf?(km: KernelMessage): string;
  /** Every KernelMessage whose target is this module, from its mailbox. */
  handleMessage(km: KernelMessage): Promise<void> | void;
  /** Send errors for requests this module sent (optional), from its mailbox. */
  handleSendError?(err: WrappedSendError): void;
  /** Called once the mailbox is drained (or after a bounded wait) at node shutdown. */
  shutdown?(): Promise<void> | void;
}
