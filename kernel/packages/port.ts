// What the installer needs of the kernel: KernelPort, and the port over the kernel
// itself (bootNode's installPackage and the distro). packages:distro:sys has its own,
// over KernelCommands (runtime_module.ts).

import type { Kernel } from "../kernel.ts";
import {
  type Capability,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  type OnExit,
  type ProcessId,
} from "../../wire/core.ts";
import {
  encodeKernelCommand,
  parseKernelResponse,
  type UserspaceProcess,
} from "../../wire/kernel.ts";

/** The kernel operations an install uses: the kernel itself, or KernelCommands. */
export interface KernelPort {
  /** Every process in the process map (runtime modules included), by id. */
  processes(): Promise<Map<string, UserspaceProcess>>;
  /** Ends a process; `revoke`: also the capabilities it issued. */
  kill(id: ProcessId, revoke: boolean): Promise<void>;
  /** Creates a process (not running) with no capabilities; throws why it could not. */
  initialize(p: {
    id: ProcessId;
    handle: string;
    witVersion?: number;
    onExit: OnExit;
    public: boolean;
    /** Its code; when absent, read from `handle` in the vfs (hashed there, not copied). */
    bytes?: Uint8Array;
  }): Promise<void>;
  grant(target: ProcessId, caps: Capability[]): Promise<void>;
  drop(target: ProcessId, caps: Capability[]): Promise<void>;
  run(id: ProcessId): Promise<boolean>;
}

/** The kernel, called directly (bootNode's installPackage and the distro). */
export function kernelPort(kernel: Kernel): KernelPort {
  return {
    async processes() {
      const res = await kernel.request(
        kernel.ourAddress,
        {
          inherit: false,
          body: encodeKernelCommand({ tag: "Debug", print: { tag: "ProcessMap" } }),
          metadata: undefined,
          capabilities: [],
        },
        undefined,
        10,
      );
      return processMapOf(res);
    },
    kill(id, revoke) {
      kernel.killProcess(id, revoke);
      return Promise.resolve();
    },
    initialize(p) {
      return kernel.initializeProcess({
        id: p.id,
        wasmBytesHandle: p.handle,
        witVersion: p.witVersion,
        onExit: p.onExit,
        initialCapabilities: [],
        public: p.public,
        bytes: p.bytes,
        initializer: KERNEL_PROCESS_ID,
      });
    },
    grant(target, caps) {
      kernel.addCapabilities(target, caps);
      return Promise.resolve();
    },
    drop(target, caps) {
      kernel.dropCapabilities(target, caps);
      return Promise.resolve();
    },
    run(id) {
      return Promise.resolve(kernel.runProcess(id));
    },
  };
}

function processMapOf(km: KernelMessage): Map<string, UserspaceProcess> {
  if (km.message.tag !== "response") throw new Error("kernel: expected a response");
  const r = parseKernelResponse(km.message.val[0].body);
  if (r.tag !== "Debug" || r.print.tag !== "ProcessMap") {
    throw new Error(`kernel: unexpected answer to Debug ProcessMap: ${r.tag}`);
  }
  return r.print.processes;
}
