// Turns process code into something a Worker can run: components are
// transpiled by jco once and cached under home by content hash; TS/JS
// modules run as they are.

import type { Program } from "./protocol.ts";
import { toFileUrl } from "./protocol.ts";
import { SERVED_WASI_INTERFACES } from "./wasi.ts";
import type { TranspileReply, TranspileRequest } from "./transpile_worker.ts";
import { collectModuleGraph } from "./module_graph.ts";
import { createHash } from "node:crypto";

/** Reads a file of a package by its vfs path (a module's relative imports). */
export type PackageFileReader = (vfsPath: string) => Promise<Uint8Array>;

const noPackageFiles: PackageFileReader = () =>
  Promise.reject(new Error("no package files to read here"));

const STANDARD_INTERFACE = "hyperware:process/standard";
const CACHE_FORMAT = "jco-transpile-0.15.0-async-min-v2";
/** Components built to share a Worker (shared_workers.ts): JSPI glue, interrupt checks. */
export const SHARED_CACHE_FORMAT = "jco-transpile-0.15.0-jspi-min-interrupt-v1";
/** In a shared build's cache folder: why the component cannot be built so (it runs alone). */
export const UNSHAREABLE_FILE = "unshareable.txt";

/**
 * The imports a component built to share a Worker suspends on: every one that waits (for a
 * message, the kernel's answer, or time). Without versions, jco matches any.
 */
export const SUSPENDING_IMPORTS = [
  ...[
    "receive",
    "send-and-await-response",
    "get-state",
    "set-state",
    "clear-state",
    "spawn",
    "set-on-exit",
    "save-capabilities",
    "drop-capabilities",
    "our-capabilities",
  ].map((f) => `hyperware:process/standard#${f}`),
  "wasi:io/poll#poll",
  "wasi:io/poll#[method]pollable.block",
];
/** The glue as Workers load it (component.js with the fix below), next to the cached files. */
const RUN_FILE = "component.run.js";

/** jco's transpile runs here, one Worker per transpile (a cache miss), never on the kernel's thread. */
const TRANSPILE_WORKER_URL = new URL("./transpile_worker.ts", import.meta.url);

/** A component transpiled by jco in a Worker; throws with jco's reason. */
function transpileOffThread(
  bytes: Uint8Array,
  suspending?: string[],
): Promise<Extract<TranspileReply, { ok: true }>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(TRANSPILE_WORKER_URL, { type: "module", name: "jco transpile" });
    const end = () => worker.terminate();
    worker.onmessage = (e: MessageEvent<TranspileReply>) => {
      end();
      const r = e.data;
      if (r.ok) resolve(r);
      else reject(new Error(r.error));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      end();
      reject(new Error(e.message || "the transpile Worker failed"));
    };
    worker.postMessage({ bytes, suspending } satisfies TranspileRequest);
  });
}

export class ProgramLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProgramLoadError";
  }
}

/** How much of a component file is read at a time to hash it. */
const HASH_CHUNK = 256 * 1024;

/**
 * SHA-256 of a component's bytes, copying nothing: crypto.subtle copies its input, and a
 * component's 12 MB copied on every start, then freed, stayed in the node's RSS (glibc keeps
 * freed heap; benches/memory.ts).
 */
function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The SHA-256 of a file and its first bytes, reading it a chunk at a time. */
async function sha256File(path: string): Promise<{ hash: string; head: Uint8Array }> {
  using file = await Deno.open(path);
  const hash = createHash("sha256");
  const buf = new Uint8Array(HASH_CHUNK);
  let head: Uint8Array | undefined;
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    head ??= buf.slice(0, Math.min(n, 8));
    hash.update(buf.subarray(0, n));
  }
  return { hash: hash.digest("hex"), head: head ?? new Uint8Array() };
}

/** Why `path` is not a component, when its first bytes are not Wasm's. */
function notWasm(path: string): ProgramLoadError {
  return new ProgramLoadError(`${path}: not a WebAssembly component (bad magic bytes)`);
}

/** Whether the process file at vfs path `path` is a TS/JS module (else a component). */
export function isModulePath(path: string): boolean {
  return /\.(m?ts|tsx)$/.test(path) || /\.m?js$/.test(path);
}

/**
 * Whether a package whose manifest names these process files builds its components to
 * share Workers (shared_workers.ts): when it has more than one; a lone one runs alone.
 */
export function packageShares(processFiles: Iterable<string>): boolean {
  let components = 0;
  for (const f of processFiles) if (!isModulePath(f)) components++;
  return components > 1;
}

function isWasm(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 &&
    bytes[3] === 0x6d;
}

/** Names an interface without its @version, e.g. "wasi:io/poll". */
function interfaceName(spec: string): string {
  const at = spec.indexOf("@");
  return at < 0 ? spec : spec.slice(0, at);
}

type CachedComponent = Extract<Program, { kind: "component" }>;

/**
 * Components loaded on this thread, by cache directory and hash, shared by every loader: an
 * install checks its components with a loader of its own, and the kernel then compiled each
 * one's core modules a second time.
 */
const compiled = new Map<string, Promise<CachedComponent>>();

export class ProgramLoader {
  constructor(
    private readonly cacheDir: string,
    /** Told when a component is transpiled (a cache miss takes a second or more). */
    private readonly onProgress: (text: string) => void = () => {},
    /** Where a module's relative imports are read from (the node's vfs). */
    private readonly readPackageFile: PackageFileReader = noPackageFiles,
    /**
     * Build components to share a Worker (shared_workers.ts) where they can be; one that
     * cannot is built to run alone, and the reason said through onProgress.
     */
    private readonly sharing = false,
  ) {}

  /**
   * Loads a process's code. `path` (its vfs path) decides the kind: .ts/.js modules, else
   * a component. A module's relative imports are read with `read` (default: the node's vfs).
   * `share: false` builds a component to run alone even where this loader builds to share
   * (a component with no neighbour to share with: the glue that blocks answers faster).
   */
  async load(
    path: string,
    bytes: Uint8Array,
    read: PackageFileReader = this.readPackageFile,
    share = true,
  ): Promise<Program> {
    if (isModulePath(path)) {
      if (isWasm(bytes)) throw new ProgramLoadError(`${path}: wasm bytes in a script file`);
      let source: string;
      try {
        source = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        throw new ProgramLoadError(`${path}: process module is not valid UTF-8 text`);
      }
      const mediaType = /\.m?js$/.test(path) ? "javascript" : "typescript";
      try {
        const { files } = await collectModuleGraph(path, source, mediaType, read);
        return { kind: "module", files, file: path };
      } catch (e) {
        throw new ProgramLoadError(e instanceof Error ? e.message : String(e));
      }
    }
    if (!isWasm(bytes)) throw notWasm(path);
    return await this.component(sha256Hex(bytes), () => Promise.resolve(bytes), share);
  }

  /**
   * Loads the process code in file `hostPath` (its vfs path `path` decides the kind, as in
   * load()). A component is hashed from the file a chunk at a time and read whole only when it
   * is not in the cache: a node starting its components holds no copy of them.
   */
  async loadFile(
    path: string,
    hostPath: string,
    read: PackageFileReader = this.readPackageFile,
    share = true,
  ): Promise<Program> {
    if (isModulePath(path)) {
      return await this.load(path, await Deno.readFile(hostPath), read);
    }
    const { hash, head } = await sha256File(hostPath);
    if (!isWasm(head)) throw notWasm(path);
    return await this.component(hash, () => Deno.readFile(hostPath), share);
  }

  private async component(
    hash: string,
    bytes: () => Promise<Uint8Array>,
    share: boolean,
  ): Promise<CachedComponent> {
    const sharing = this.sharing && share;
    const key = `${this.cacheDir}\n${hash}\n${sharing}`;
    let entry = compiled.get(key);
    if (!entry) {
      entry = this.compile(hash, bytes, sharing);
      compiled.set(key, entry);
      entry.catch(() => compiled.delete(key));
    }
    return await entry;
  }

  private async compile(
    hash: string,
    bytes: () => Promise<Uint8Array>,
    sharing: boolean,
  ): Promise<CachedComponent> {
    let unshared: unknown;
    if (sharing) {
      try {
        return { ...await this.build(hash, bytes, SUSPENDING_IMPORTS), suspends: true };
      } catch (e) {
        if (e instanceof ProgramLoadError && e.message.startsWith("the component changed")) throw e;
        unshared = e;
      }
    }
    const built = await this.build(hash, bytes);
    if (unshared !== undefined) {
      this.onProgress(
        `component ${hash.slice(0, 12)} runs in a Worker of its own: ${
          unshared instanceof Error ? unshared.message : unshared
        }`,
      );
    }
    return built;
  }

  /** The component's glue and core modules, from the cache or transpiled into it. */
  private async build(
    hash: string,
    bytes: () => Promise<Uint8Array>,
    suspending?: string[],
  ): Promise<CachedComponent> {
    const dir = `${this.cacheDir}/${suspending ? SHARED_CACHE_FORMAT : CACHE_FORMAT}/${hash}`;
    let files: Record<string, Uint8Array>;
    try {
      const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`)) as string[];
      files = {};
      for (const name of index) files[name] = await Deno.readFile(`${dir}/${name}`);
    } catch {
      if (suspending) {
        // tried before, and jco or the interrupt checks refused it: not again on every start
        const why = await Deno.readTextFile(`${dir}/${UNSHAREABLE_FILE}`).catch(() => undefined);
        if (why !== undefined) throw new Error(why);
      }
      const t0 = performance.now();
      const component = await bytes();
      // the file changed between its hash and this read: not cached under the wrong hash
      if (sha256Hex(component) !== hash) {
        throw new ProgramLoadError("the component changed while it was being loaded");
      }
      this.onProgress(
        `transpiling a ${(component.length / 1e6).toFixed(1)} MB component (${
          hash.slice(0, 12)
        }), first use...`,
      );
      try {
        files = await this.transpile(component, suspending);
      } catch (e) {
        if (suspending) {
          await Deno.mkdir(dir, { recursive: true });
          await Deno.writeTextFile(
            `${dir}/${UNSHAREABLE_FILE}`,
            e instanceof Error ? e.message : String(e),
          );
        }
        throw e;
      }
      this.onProgress(
        `transpiled ${hash.slice(0, 12)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      await Deno.mkdir(dir, { recursive: true });
      const names = Object.keys(files);
      for (const name of names) await Deno.writeFile(`${dir}/${name}`, files[name]);
      // index written last: a crash mid-write leaves no index, so no half cache
      await Deno.writeTextFile(`${dir}/index.json`, JSON.stringify(names));
    }
    const coreModules: Record<string, WebAssembly.Module> = {};
    let js = "";
    for (const [name, data] of Object.entries(files)) {
      if (name.endsWith(".wasm")) {
        coreModules[name] = await WebAssembly.compile(data as Uint8Array<ArrayBuffer>);
      } else if (name === "component.js") {
        js = new TextDecoder().decode(data);
      }
    }
    // jco's debug hook reads process.env, which a permission-less worker may not
    js = js.replaceAll("globalThis?.process?.env?.JCO_DEBUG", "false");
    if (Deno.build.standalone) {
      // a compiled binary imports only what it embeds: the glue goes to each Worker as text
      return { kind: "component", js, coreModules };
    }
    // Workers import the glue from its file (read access to it alone): posting its text
    // to each Worker, which made a Blob of it to import, left ~10 MB of malloc'd copies
    // behind per component (benches/memory.ts)
    const runFile = `${await Deno.realPath(dir)}/${RUN_FILE}`;
    let current = false;
    try {
      current = (await Deno.readTextFile(runFile)) === js;
    } catch { /* not written yet */ }
    if (!current) {
      const tmp = `${runFile}.${crypto.randomUUID()}.tmp`;
      await Deno.writeTextFile(tmp, js);
      await Deno.rename(tmp, runFile);
    }
    return { kind: "component", url: toFileUrl(runFile), coreModules };
  }

  private async transpile(
    bytes: Uint8Array,
    suspending?: string[],
  ): Promise<Record<string, Uint8Array>> {
    let result: Extract<TranspileReply, { ok: true }>;
    try {
      result = await transpileOffThread(bytes, suspending);
    } catch (e) {
      throw new ProgramLoadError(
        `malformed component: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    for (const spec of result.imports) {
      const name = interfaceName(spec);
      if (name !== STANDARD_INTERFACE && !SERVED_WASI_INTERFACES.has(name)) {
        throw new ProgramLoadError(
          `component imports ${spec}, which hyperdeno does not provide ` +
            `(served: hyperware:process/standard@1.0.0 and WASI 0.2 cli, clocks, filesystem, io, random)`,
        );
      }
    }
    if (!result.exports.some(([name]) => name === "init")) {
      throw new ProgramLoadError("component does not export init (world process-v1)");
    }
    return result.files;
  }
}
