// Direct channels between process Workers (see process_host/protocol.ts and
// peer.ts): after the kernel has routed, and so authorized, a local message from
// A to B, A gets a ring (and a port for what does not fit) into B's inbox so
// later cap-less messages skip the kernel's thread. Any change to A's caps, or A
// or B exiting, closes them. Module channels (process_host/module_channel.ts) are the
// same for a runtime module's Worker as B, opened by the module itself, which has just
// checked a request of A's; they close on the same events.

import type { ProcessHost } from "./process_host/host.ts";
import type { ProcessTable } from "./process_table.ts";
import { messagingKey } from "./capabilities.ts";
import { type ModuleRoute, PEER_RING_BYTES } from "./process_host/protocol.ts";
import { Ring } from "./process_host/ring.ts";
import {
  closeModuleChannel,
  MODULE_RING_BYTES,
  moduleChannelClosed,
} from "./process_host/module_channel.ts";
import type { ModuleChannelEnd } from "./module.ts";
import { type Address, processIdToString } from "../wire/core.ts";

export class Channels {
  /** source process -> targets it may post to without the kernel */
  private readonly outbound = new Map<string, Set<string>>();

  /** source process -> its module channels' request rings (and their readers' bells) */
  private readonly toModules = new Map<
    string,
    { ring: SharedArrayBuffer; wake: SharedArrayBuffer }[]
  >();
  /** whether a debug switch is on: then no channel opens */
  debugOn: () => boolean = () => false;

  constructor(private readonly table: ProcessTable) {}

  /**
   * A channel from process `sourcePid` to a Worker of runtime module `module` for the
   * requests `route` names; undefined when the process has no Worker or a debug switch
   * is on. The module has authorized the process for those requests itself.
   */
  openModule(
    module: Address,
    sourcePid: string,
    route: ModuleRoute,
    wake: SharedArrayBuffer,
  ): ModuleChannelEnd | undefined {
    const source = this.table.hosts.get(sourcePid);
    if (!source || this.debugOn()) return undefined;
    const ring = Ring.create(MODULE_RING_BYTES).sab;
    const reply = Ring.create(PEER_RING_BYTES).sab;
    const { port1, port2 } = new MessageChannel();
    source.control({
      t: "modchan",
      target: processIdToString(module.process),
      route,
      ring,
      wake,
      reply,
      port: port1,
      from: module,
    }, [port1]);
    // channels closed since (by their module, or the process's glue) are forgotten here
    const list = (this.toModules.get(sourcePid) ?? []).filter((c) => !moduleChannelClosed(c.ring));
    list.push({ ring, wake });
    this.toModules.set(sourcePid, list);
    return { ring, reply, port: port2, signal: source.signalBuffer, process: source.our };
  }

  /** Closes `pid`'s module channels (they carry the rights it had when each opened). */
  closeModules(pid: string): void {
    const list = this.toModules.get(pid);
    if (!list) return;
    this.toModules.delete(pid);
    for (const { ring, wake } of list) closeModuleChannel(ring, wake);
  }

  /** Authorized exactly as route() authorizes: the target is public or the source may message it. */
  maybeOpen(sourcePid: string, targetPid: string, target: ProcessHost): void {
    const source = this.table.hosts.get(sourcePid);
    if (!source || sourcePid === targetPid) return;
    let outbound = this.outbound.get(sourcePid);
    if (outbound?.has(targetPid)) return;
    const targetEntry = this.table.processMap.get(targetPid);
    const sourceEntry = this.table.processMap.get(sourcePid);
    if (!targetEntry || !sourceEntry) return;
    if (!targetEntry.public && !sourceEntry.capabilities.has(messagingKey(target.our))) return;
    if (!outbound) this.outbound.set(sourcePid, outbound = new Set());
    outbound.add(targetPid);
    const { port1, port2 } = new MessageChannel();
    const ring = Ring.create(PEER_RING_BYTES).sab;
    source.control(
      { t: "channel", target: targetPid, ring, port: port1, signal: target.signalBuffer },
      [port1],
    );
    target.control({ t: "peer", from: source.our, ring, port: port2 }, [port2]);
  }

  /** Closes every direct channel (the kernel's debug switches need every message). */
  closeAll(): void {
    for (const pid of [...this.outbound.keys()]) this.close(pid, false);
    for (const pid of [...this.toModules.keys()]) this.closeModules(pid);
  }

  /** Closes every direct channel from `pid` (its caps changed) or, with `all`, to it too. */
  close(pid: string, all: boolean): void {
    this.closeModules(pid);
    const hosts = this.table.hosts;
    const outbound = this.outbound.get(pid);
    if (outbound) {
      hosts.get(pid)?.control({ t: "unchannel" });
      for (const target of outbound) hosts.get(target)?.control({ t: "unpeer", from: pid });
      this.outbound.delete(pid);
    }
    if (!all) return;
    for (const [source, targets] of this.outbound) {
      if (!targets.delete(pid)) continue;
      hosts.get(source)?.control({ t: "unchannel", target: pid });
    }
  }
}
