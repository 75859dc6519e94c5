// A booted hyperdeno node with the storage modules and the storage_app fixture
// installed as a real process (a JS process module in a Worker).

import { bootNode, type HyperdenoNode } from "../../main.ts";
import { writeKitPackage } from "../kernel/helpers.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import type { KernelMessage } from "../../wire/core.ts";
import type { RuntimeConsole } from "../../kernel/console_port.ts";
import { createKvModule } from "../../modules/kv/mod.ts";
import { createSqliteModule } from "../../modules/sqlite/mod.ts";
import { createTimerModule } from "../../modules/timer/mod.ts";
import { createVfsModule } from "../../modules/vfs/mod.ts";

export const NODE = "fake.dev";

export function storageModules(): RuntimeModule[] {
  return [createVfsModule(), createKvModule(), createSqliteModule(), createTimerModule()];
}

const STORAGE = ["vfs:distro:sys", "kv:distro:sys", "sqlite:distro:sys", "timer:distro:sys"];

/**
 * Writes a package running storage_app.js; returns its directory. `extraCaps`: more
 * processes it may message (a bench's own module).
 */
export function writeStoragePackage(
  root: string,
  packageName = "storage",
  extraCaps: string[] = [],
): Promise<string> {
  return writeKitPackage(root, {
    name: packageName,
    files: { "storage_app.js": new URL("./fixtures/storage_app.js", import.meta.url) },
    manifest: [{
      process_name: "app",
      process_wasm_path: "/storage_app.js",
      on_exit: "Restart",
      request_networking: false,
      // as Hyperdrive manifests: message the modules, and let them answer us
      request_capabilities: [...STORAGE, ...extraCaps],
      grant_capabilities: [...STORAGE, ...extraCaps],
      public: false,
    }],
  });
}

export interface StorageNode {
  node: HyperdenoNode;
  prints: string[];
  stop(): Promise<void>;
}

/** A node with the storage modules (`modules` replaces some, e.g. with other limits). */
export async function bootStorageNode(
  home: string,
  modules: RuntimeModule[] = [],
  console?: RuntimeConsole,
): Promise<StorageNode> {
  const prints: string[] = [];
  const replaced = new Set(modules.map((m) => m.processId.processName));
  const node = await bootNode({
    home,
    name: NODE,
    verbosity: 1,
    console,
    onPrint: (_l, t) => prints.push(t),
    modules: [
      ...storageModules().filter((m) => !replaced.has(m.processId.processName)),
      ...modules,
    ],
  });
  return { node, prints, stop: () => node.shutdown() };
}

export interface CallResult {
  text: string;
  json: unknown;
  blob: Uint8Array | null;
  mime: string | null;
  sendError?: string;
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function unb64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

export interface AppCall {
  target: string;
  body: unknown;
  blob?: Uint8Array;
  /** expects_response in seconds (the app's default is 30) */
  timeout?: number;
}

function toWire(c: AppCall) {
  return {
    target: c.target.includes("@") ? c.target : `our@${c.target}`,
    body: typeof c.body === "string" ? c.body : JSON.stringify(c.body),
    blob: c.blob ? b64(c.blob) : undefined,
    timeout: c.timeout,
  };
}

function fromWire(
  r: { body?: string; blob?: string | null; mime?: string | null; sendError?: string },
) {
  const text = r.body ?? "";
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return {
    text,
    json,
    // "" is an empty blob, which process_lib's get_blob() sees as Some
    blob: typeof r.blob === "string" ? unb64(r.blob) : null,
    mime: r.mime ?? null,
    sendError: r.sendError,
  };
}

/** Have process `app` send one request (exact body) and report the answer. */
export async function appCall(
  node: HyperdenoNode,
  app: string,
  c: AppCall,
): Promise<CallResult> {
  const res = await node.request(app, JSON.stringify({ op: "call", ...toWire(c) }), {
    timeoutSeconds: 30,
  });
  const out = JSON.parse(new TextDecoder().decode(res.body));
  if (out.error) throw new Error(`app: ${out.error}`);
  return fromWire(out);
}

/** Several requests in one round trip to the app, sent in order. */
export async function appBatch(
  node: HyperdenoNode,
  app: string,
  calls: AppCall[],
): Promise<CallResult[]> {
  const res = await node.request(
    app,
    JSON.stringify({ op: "batch", calls: calls.map(toWire) }),
    { timeoutSeconds: 60 },
  );
  const out = JSON.parse(new TextDecoder().decode(res.body));
  if (!Array.isArray(out)) throw new Error(`app: ${JSON.stringify(out)}`);
  return out.map(fromWire);
}

/** A count over a recursive CTE: seconds of pure SQLite work, one row at the end. */
export const countTo = (n: number) =>
  `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) ` +
  "SELECT count(*) AS n FROM c";

/** A runtime module that counts the messages the kernel hands it (a module channel's never reach it). */
export function counted(m: RuntimeModule) {
  const w = {
    processId: m.processId,
    public: m.public,
    handled: 0,
    ctx: undefined as RuntimeModuleContext | undefined,
    start(ctx: RuntimeModuleContext) {
      w.ctx = ctx;
      return m.start(ctx);
    },
    laneOf: (km: KernelMessage) => m.laneOf!(km),
    handleMessage(km: KernelMessage) {
      w.handled++;
      return m.handleMessage(km);
    },
    shutdown: () => m.shutdown?.(),
  };
  return w;
}

/** Runs `f` on a storage node where `module` (counted) replaces its namesake, with storage_app installed. */
export async function withCountedModule(
  module: RuntimeModule,
  f: (n: StorageNode, m: ReturnType<typeof counted>) => Promise<void>,
  console?: RuntimeConsole,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: `hd-${module.processId.processName}-channels-` });
  const m = counted(module);
  const n = await bootStorageNode(`${root}/home`, [m], console);
  try {
    await n.node.installPackage(await writeStoragePackage(root));
    await f(n, m);
  } finally {
    await n.stop();
    await Deno.remove(root, { recursive: true });
  }
}
