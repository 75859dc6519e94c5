// packages:distro:sys: the install machinery for main:app-store:sys, as a runtime module
// that drives the kernel with KernelCommands.

import type { RuntimeModule, RuntimeModuleContext } from "../module.ts";
import {
  type Address,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  makeResponse,
  parsePackageId,
  parseProcessId,
  type ProcessId,
  textDecoder,
  textEncoder,
  type WrappedSendError,
} from "../../wire/core.ts";
import { isObject } from "../../wire/fields.ts";
import {
  encodeKernelCommand,
  type KernelCommand,
  type KernelResponse,
  parseKernelResponse,
} from "../../wire/kernel.ts";
import { driveDir, vfsHostPath, vfsRoot } from "../vfs_layout.ts";
import { installsDir } from "./disk.ts";
import { type InstallContext, installStaged, uninstallPackage } from "./install.ts";
import { errorText, InstallError } from "./manifest.ts";
import type { KernelPort } from "./port.ts";

/** The runtime module's process id. */
export const PACKAGES_PROCESS_ID: ProcessId = parseProcessId("packages:distro:sys");

/**
 * packages:distro:sys (hyperdeno's own API, JSON; from this node's processes holding its
 * messaging capability, i.e. main:app-store:sys):
 *   {"Install": {"package_id": "pkg:pub", "path": "<vfs dir holding the pkg/ content>",
 *                "wit_version": u32 | null, "approved_capabilities": [name] | null}}
 *     -> {"Ok": {"processes": [id], "upgraded": bool}} | {"Err": "<why>"}
 *   {"Uninstall": "pkg:pub"} -> {"Ok": {"processes": [id]}} | {"Err": "<why>"}
 * Install consumes `path` (it becomes the pkg drive) and is strict about capabilities.
 */
export function createPackagesModule(): RuntimeModule {
  return new PackagesModule();
}

const KERNEL_TIMEOUT_S = 60;

class PackagesModule implements RuntimeModule {
  readonly processId = PACKAGES_PROCESS_ID;
  readonly public = false;
  #ctx!: RuntimeModuleContext;
  #self!: Address;
  #pending = new Map<bigint, (r: KernelMessage | WrappedSendError) => void>();

  start(ctx: RuntimeModuleContext): void {
    this.#ctx = ctx;
    this.#self = { node: ctx.our, process: PACKAGES_PROCESS_ID };
    // an install cut short (the node stopped mid-swap) left a drive aside: put it back
    try {
      for (const e of Deno.readDirSync(installsDir(ctx.home))) {
        const path = `${installsDir(ctx.home)}/${e.name}`;
        const m = /^previous-(.+)-[0-9a-f-]{36}$/.exec(e.name);
        if (m) {
          const live = driveDir(vfsRoot(ctx.home), parsePackageId(m[1]), "pkg");
          try {
            Deno.lstatSync(live);
            Deno.removeSync(path, { recursive: true });
          } catch {
            Deno.renameSync(path, live);
            ctx.print(0, `packages: restored ${m[1]}'s previous pkg drive`);
          }
        } else if (e.name.startsWith("staged-")) Deno.removeSync(path, { recursive: true });
      }
    } catch { /* nothing left aside */ }
  }

  /**
   * Answers to our KernelCommands get their own lane: a request (an install) holds its
   * lane while it waits for them.
   */
  laneOf(km: KernelMessage): string {
    return km.message.tag === "response" ? "answers" : "requests";
  }

  /** Requests from this node's processes; answers to our KernelCommands. */
  handleMessage(km: KernelMessage): Promise<void> | void {
    if (km.message.tag === "response") {
      const resolve = this.#pending.get(km.id);
      if (resolve) {
        this.#pending.delete(km.id);
        resolve(km);
      }
      return;
    }
    if (km.source.node !== this.#ctx.our) {
      this.#ctx.print(1, `packages: dropped a request from ${km.source.node}`);
      return;
    }
    return this.#serve(km);
  }

  handleSendError(err: WrappedSendError): void {
    const resolve = this.#pending.get(err.id);
    if (resolve) {
      this.#pending.delete(err.id);
      resolve(err);
    }
  }

  async #serve(km: KernelMessage): Promise<void> {
    if (km.message.tag !== "request") return;
    const req = km.message.val;
    let answer: unknown;
    try {
      const ctx: InstallContext = {
        our: this.#ctx.our,
        home: this.#ctx.home,
        shareWorkers: this.#ctx.shareWorkers,
        print: (level, text) => this.#ctx.print(level, text),
      };
      const action = parsePackagesAction(req.body);
      if (action.tag === "Install") {
        const staged = vfsHostPath(vfsRoot(this.#ctx.home), action.path);
        const r = await installStaged(this.#port(), ctx, action.packageId, staged, {
          witVersion: action.witVersion,
          strictCapabilities: true,
          approvedCapabilities: action.approved,
        });
        answer = { Ok: { processes: r.processes, upgraded: r.upgraded } };
      } else {
        const processes = await uninstallPackage(this.#port(), ctx, action.packageId);
        answer = { Ok: { processes } };
      }
    } catch (e) {
      answer = { Err: errorText(e) };
    }
    if (req.expectsResponse === undefined && !km.rsvp) return;
    this.#ctx.sendToLoop(
      makeResponse(km, this.#self, textEncoder.encode(JSON.stringify(answer))),
    );
  }

  /** A KernelCommand from us; its answer (or undefined when none is expected). */
  #command(
    cmd: KernelCommand,
    o: { blob?: Uint8Array; metadata?: string; answer?: boolean } = {},
  ): Promise<KernelResponse | undefined> {
    const id = this.#ctx.newMessageId();
    const expects = o.answer === false ? undefined : BigInt(KERNEL_TIMEOUT_S);
    const km: KernelMessage = {
      id,
      source: this.#self,
      target: { node: this.#ctx.our, process: KERNEL_PROCESS_ID },
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: expects,
          body: encodeKernelCommand(cmd),
          metadata: o.metadata,
          capabilities: [],
        },
      },
      lazyLoadBlob: o.blob ? { mime: undefined, bytes: o.blob } : undefined,
    };
    if (expects === undefined) {
      this.#ctx.sendToLoop(km);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (r) => {
        if (!("error" in r)) {
          const m = r.message;
          if (m.tag !== "response") return reject(new Error("kernel: expected a response"));
          try {
            resolve(parseKernelResponse(m.val[0].body));
          } catch (e) {
            reject(e);
          }
        } else reject(new Error(`kernel: ${r.error.kind}`));
      });
      this.#ctx.sendToLoop(km);
    });
  }

  #port(): KernelPort {
    return {
      processes: async () => {
        const r = await this.#command({ tag: "Debug", print: { tag: "ProcessMap" } });
        if (r?.tag !== "Debug" || r.print.tag !== "ProcessMap") {
          throw new Error("kernel: unexpected answer to Debug ProcessMap");
        }
        return r.print.processes;
      },
      kill: async (id, revoke) => {
        // no answer is asked for: the kernel answers nothing for a process it does not have
        await this.#command({ tag: "KillProcess", id }, {
          answer: false,
          metadata: revoke ? undefined : "no-revoke",
        });
      },
      initialize: async (p) => {
        // InitializeProcess carries the code as its blob, as Hyperdrive's does
        const bytes = p.bytes ??
          await Deno.readFile(vfsHostPath(vfsRoot(this.#ctx.home), p.handle));
        const r = await this.#command({
          tag: "InitializeProcess",
          id: p.id,
          wasmBytesHandle: p.handle,
          witVersion: p.witVersion,
          onExit: p.onExit,
          initialCapabilities: [],
          public: p.public,
        }, { blob: bytes });
        if (r?.tag !== "InitializedProcess") throw new Error("the kernel refused it");
      },
      grant: async (target, capabilities) => {
        await this.#command({ tag: "GrantCapabilities", target, capabilities }, {
          answer: false,
        });
      },
      drop: async (target, capabilities) => {
        await this.#command({ tag: "DropCapabilities", target, capabilities }, {
          answer: false,
        });
      },
      run: async (id) => (await this.#command({ tag: "RunProcess", id }))?.tag === "StartedProcess",
    };
  }
}

type PackagesAction =
  | {
    tag: "Install";
    packageId: string;
    path: string;
    witVersion?: number;
    approved?: string[];
  }
  | { tag: "Uninstall"; packageId: string };

function parsePackagesAction(body: Uint8Array): PackagesAction {
  let v: unknown;
  try {
    v = JSON.parse(textDecoder.decode(body));
  } catch {
    throw new InstallError("request is not JSON");
  }
  if (isObject(v) && typeof v.Uninstall === "string") {
    return { tag: "Uninstall", packageId: v.Uninstall };
  }
  if (isObject(v) && isObject(v.Install)) {
    const o = v.Install;
    if (typeof o.package_id !== "string") throw new InstallError("Install.package_id: a string");
    if (typeof o.path !== "string") throw new InstallError("Install.path: a string");
    const wit = o.wit_version ?? undefined;
    if (wit !== undefined && !(Number.isInteger(wit) && (wit as number) >= 0)) {
      throw new InstallError("Install.wit_version: a u32 or null");
    }
    const approved = o.approved_capabilities ?? undefined;
    if (
      approved !== undefined &&
      !(Array.isArray(approved) && approved.every((a) => typeof a === "string"))
    ) {
      throw new InstallError("Install.approved_capabilities: a list of names or null");
    }
    return {
      tag: "Install",
      packageId: o.package_id,
      path: o.path,
      witVersion: wit as number | undefined,
      approved: approved as string[] | undefined,
    };
  }
  throw new InstallError('expected {"Install": {...}} or {"Uninstall": "pkg:pub"}');
}
