// The kernel calls a process makes from its Worker (Hyperdrive's standard host
// functions): get/set/clear state through state:distro:sys, set-on-exit, save,
// drop and list capabilities, and spawn.

import {
  type Address,
  checkProcessId,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  messagingCap,
  type ProcessId,
  processIdToString,
  randomU64,
  STATE_PROCESS_ID,
  textDecoder,
  textEncoder,
  VFS_PROCESS_ID,
} from "../wire/core.ts";
import type { ProcessHost } from "./process_host/host.ts";
import type { KernelCall, SpawnArgs } from "./process_host/protocol.ts";
import { ProgramLoadError } from "./process_host/program.ts";
import { type CapabilityStore, messagingKey } from "./capabilities.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { Router } from "./routing.ts";
import type { ProcessTable } from "./process_table.ts";

type StateCall = Extract<KernelCall, { op: "getState" | "setState" | "clearState" }>;

export class ProcessCalls {
  constructor(
    private readonly table: ProcessTable,
    private readonly caps: CapabilityStore,
    private readonly router: Router,
    private readonly lifecycle: Lifecycle,
  ) {}

  async call(host: ProcessHost, call: KernelCall): Promise<unknown> {
    const id = host.our.process;
    switch (call.op) {
      case "getState":
      case "setState":
      case "clearState":
        return await this.state(id, call);
      case "setOnExit":
        this.lifecycle.setOnExit(id, call.onExit, host);
        return null;
      case "saveCapabilities":
        this.caps.save(id, call.caps);
        return null;
      case "dropCapabilities":
        this.caps.drop(id, call.caps);
        return null;
      case "ourCapabilities":
        return this.caps.held(id);
      case "spawn":
        return await this.spawn(host, call.args);
    }
  }

  /** A state call as a StateAction request to state:distro:sys, with root authority. */
  private async state(id: ProcessId, call: StateCall): Promise<unknown> {
    const pid = processIdToString(id);
    const action = call.op === "getState"
      ? { GetState: pid }
      : call.op === "setState"
      ? { SetState: pid }
      : { DeleteState: pid };
    let res: KernelMessage;
    try {
      res = await this.router.requestAs(
        this.router.ourAddress,
        { node: this.table.our, process: STATE_PROCESS_ID },
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

  /**
   * Reads a file as `source` reads it: a vfs Read sent with its authority
   * (Hyperdrive's spawn does this from inside the process). Undefined on any
   * failure: no messaging cap for vfs, no read cap for the drive, no file.
   */
  private async readAsProcess(source: Address, path: string): Promise<Uint8Array | undefined> {
    const vfs = { node: this.table.our, process: VFS_PROCESS_ID };
    const sourcePid = processIdToString(source.process);
    const src = this.table.processMap.get(sourcePid);
    const target = this.table.processMap.get(processIdToString(VFS_PROCESS_ID));
    if (!src || !target) return undefined;
    if (!target.public && !src.capabilities.has(messagingKey(vfs))) {
      // what routing the read would print; checked here to fail now, not at the timeout
      this.table.log(
        0,
        `event loop: process ${sourcePid} doesn't have capability to message process vfs:distro:sys`,
      );
      return undefined;
    }
    try {
      const res = await this.router.requestAs(
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
    const { our, hosts, modules, processMap } = this.table;
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
    if (hosts.has(pid) || modules.has(pid)) return { err: "name-taken" };
    const caps = this.caps.filter(parent, a.requestCapabilities);
    try {
      await this.lifecycle.initializeProcess({
        id,
        // the path as given, and the parent's wit version, as Hyperdrive records them
        wasmBytesHandle: a.wasmPath,
        witVersion: processMap.get(processIdToString(parent))?.witVersion,
        onExit: a.onExit,
        initialCapabilities: caps,
        public: a.public,
        bytes,
        initializer: KERNEL_PROCESS_ID,
      });
    } catch (e) {
      if (e instanceof ProgramLoadError) {
        this.table.log(0, `kernel: spawn of ${pid} failed: ${e.message}`);
        return { err: "no-file-at-path" };
      }
      return { err: "name-taken" };
    }
    for (const [grantee, params] of a.grantCapabilities) {
      this.caps.add(grantee, [{ issuer: { node: our, process: id }, params }]);
    }
    this.lifecycle.startHost(pid);
    this.caps.add(id, [messagingCap(host.our)]);
    this.caps.add(parent, [messagingCap({ node: our, process: id })]);
    return { ok: id };
  }
}
