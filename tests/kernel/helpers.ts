// Shared test scaffolding: temporary homes, package directories in kit's
// layout, booted nodes that collect their prints.

import { bootNode, type HyperdenoNode, type ManifestEntry } from "../../main.ts";
import { buildFixture, type BuildOptions } from "../fixtures/build.ts";
import { collectModuleGraph, linkModule } from "../../kernel/process_host/module_graph.ts";

export interface ProcessSpec {
  name: string;
  /** fixture name under tests/fixtures (tester) */
  fixture?: string;
  /** "component" (default) or "module" (the .js runs as a process module) */
  kind?: "component" | "module";
  public?: boolean;
  onExit?: unknown;
  requestNetworking?: boolean;
  requestCapabilities?: unknown[];
  grantCapabilities?: unknown[];
  /** componentize-js options (e.g. keep wasi:http to test an unserved import) */
  buildOptions?: BuildOptions;
}

async function exists(u: URL): Promise<boolean> {
  try {
    await Deno.stat(u);
    return true;
  } catch {
    return false;
  }
}

export interface PackageSpec {
  name: string;
  publisher?: string;
  processes: ProcessSpec[];
}

/** Writes a package directory in kit's layout and returns its path. */
/**
 * Writes a package directory in kit's layout (metadata.json, pkg/manifest.json,
 * pkg/<files>) and returns its path. File contents: bytes, text, or a file URL to copy.
 */
export async function writeKitPackage(root: string, p: {
  name: string;
  publisher?: string;
  manifest: ManifestEntry[];
  files: Record<string, Uint8Array | string | URL>;
}): Promise<string> {
  const dir = `${root}/${p.name}`;
  await Deno.mkdir(`${dir}/pkg`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/metadata.json`,
    JSON.stringify({
      name: p.name,
      description: "test package",
      image: "",
      properties: {
        package_name: p.name,
        current_version: "0.1.0",
        publisher: p.publisher ?? "test.os",
        mirrors: [],
        code_hashes: {},
        wit_version: 1,
        dependencies: [],
      },
      external_url: "",
      animation_url: "",
    }),
  );
  for (const [file, content] of Object.entries(p.files)) {
    const path = `${dir}/pkg/${file}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    if (content instanceof URL) await Deno.copyFile(content, path);
    else if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
  }
  await Deno.writeTextFile(`${dir}/pkg/manifest.json`, JSON.stringify(p.manifest));
  return dir;
}

/** Writes a package of fixture processes (built into components unless kind "module"). */
export async function makePackage(root: string, spec: PackageSpec): Promise<string> {
  const manifest: ManifestEntry[] = [];
  const files: Record<string, Uint8Array | URL> = {};
  for (const p of spec.processes) {
    const fixture = p.fixture ?? "tester";
    let file: string;
    if (p.kind === "module") {
      const ext = (await exists(new URL(`../fixtures/${fixture}.ts`, import.meta.url)))
        ? "ts"
        : "js";
      file = `${fixture}.${ext}`;
      files[file] = new URL(`../fixtures/${file}`, import.meta.url);
    } else {
      file = `${fixture}.wasm`;
      files[file] = await buildFixture(fixture, p.buildOptions);
    }
    manifest.push({
      process_name: p.name,
      process_wasm_path: `/${file}`,
      on_exit: p.onExit ?? "Restart",
      request_networking: p.requestNetworking ?? false,
      request_capabilities: p.requestCapabilities ?? [],
      grant_capabilities: p.grantCapabilities ?? [],
      public: p.public ?? true,
    });
  }
  return await writeKitPackage(root, {
    name: spec.name,
    publisher: spec.publisher,
    manifest,
    files,
  });
}

/** The tester fixture's blob pattern (blobOf) and checksum, for comparing blobs. */
export function patternBlob(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

export function checksum(bytes: Uint8Array): number {
  let h = 0;
  for (let i = 0; i < bytes.length; i++) h = (h * 33 + bytes[i]) >>> 0;
  return h;
}

export interface TestNode extends HyperdenoNode {
  prints: string[];
  /** request with a JSON command, parse the JSON answer */
  ask<T = unknown>(target: string, cmd: unknown, timeoutSeconds?: number): Promise<T>;
  waitForPrint(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export async function bootTestNode(home: string, name = "fake.dev"): Promise<TestNode> {
  const prints: string[] = [];
  const waiters: { re: RegExp; resolve: (s: string) => void }[] = [];
  const node = await bootNode({
    home,
    name,
    verbosity: 2,
    onPrint: (_level, text) => {
      prints.push(text);
      for (const w of [...waiters]) {
        if (w.re.test(text)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(text);
        }
      }
    },
  });
  const t = node as TestNode;
  t.prints = prints;
  t.ask = async <T>(target: string, cmd: unknown, timeoutSeconds = 30) => {
    const res = await node.request(target, JSON.stringify(cmd), { timeoutSeconds });
    return JSON.parse(new TextDecoder().decode(res.body)) as T;
  };
  t.waitForPrint = (re, timeoutMs = 10_000) => {
    const found = prints.find((p) => re.test(p));
    if (found) return Promise.resolve(found);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no print matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      const w = {
        re,
        resolve: (s: string) => {
          clearTimeout(timer);
          resolve(s);
        },
      };
      waiters.push(w);
    });
  };
  return t;
}

export async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "hyperdeno-test-" });
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `f` until it returns a truthy value or the time runs out. */
export async function eventually<T>(
  f: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${last}` : ""}`);
}

export interface CliNode {
  /** Everything the node printed to stdout until it booted. */
  readonly booted: string;
  /** SIGTERM, then everything it printed, and its exit code. */
  stop(): Promise<{ stdout: string; stderr: string; code: number }>;
}

/** Runs `main.ts <args>` (the CLI) until it prints "booted"; `stop()` ends it with SIGTERM. */
export async function runCliNode(args: string[]): Promise<CliNode> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 30_000;
  while (!seen.includes("booted") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  const booted = seen;
  return {
    booted,
    async stop() {
      child.kill("SIGTERM");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += value;
      }
      const { code } = await child.status;
      return { stdout: seen, stderr: await stderr, code };
    },
  };
}

/**
 * A distro package's process module (packages/<name>/pkg/<file>) loaded as the kernel loads
 * it, its relative imports too, with `standard` (the standard API's functions, as module
 * source) in place of hyperware:process/standard: its logic, tested without a node.
 */
export async function loadPackageModule<T>(
  name: string,
  file: string,
  standard: string,
): Promise<T> {
  const dir = new URL(`../../packages/${name}/pkg/`, import.meta.url);
  const drive = `/${name}:sys/pkg/`;
  const read = (vfsPath: string) => Deno.readFile(new URL(vfsPath.slice(drive.length), dir));
  const path = `${drive}${file}`;
  const source = new TextDecoder().decode(await read(path));
  const { files } = await collectModuleGraph(path, source, "typescript", read);
  return await import(linkModule(files, `data:application/javascript;base64,${btoa(standard)}`));
}
