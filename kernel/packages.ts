// Installing a package in kit's layout (dir/metadata.json, dir/pkg/manifest.json
// and the process files) as Hyperdrive's app-store installs one with root
// authority: files into the package's pkg drive, every manifest process
// initialized with its requested caps, grants applied, then all run.

import type { Kernel } from "./kernel.ts";
import {
  canonicalJson,
  type Capability,
  checkProcessId,
  KERNEL_PROCESS_ID,
  messagingCap,
  networkingCap,
  type OnExit,
  parseProcessId,
  type ProcessId,
  processIdToString,
  VFS_PROCESS_ID,
} from "../wire/core.ts";
import { isObject, str } from "../wire/fields.ts";
import { readOnExit } from "../wire/kernel.ts";
import { driveDir, vfsHostPath, vfsRoot } from "./vfs_layout.ts";

async function copyDir(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const src = `${from}/${e.name}`;
    const dst = `${to}/${e.name}`;
    if (e.isDirectory) await copyDir(src, dst);
    else if (e.isFile) await Deno.copyFile(src, dst);
  }
}

/** One process entry of a kit manifest.json. */
export interface ManifestEntry {
  /** The process name; the process id is process_name:package:publisher. */
  process_name: string;
  /** The process code inside the package's pkg/ directory, e.g. "/app.wasm". */
  process_wasm_path: string;
  /** What to do when the process exits: "None", "Restart", or { Requests: [...] }. */
  on_exit: unknown;
  /** Whether the process may message other nodes. */
  request_networking: boolean;
  /** Capabilities the process asks for at install. */
  request_capabilities: unknown[];
  /** Capabilities over this process that it grants to others at install. */
  grant_capabilities: unknown[];
  /** Whether any local process may message it without a messaging capability. */
  public: boolean;
}

/**
 * The manifest's entries. Names and paths must be strings; the rest keep kit's
 * defaults when absent (on_exit None, no caps, not public), as before.
 */
function readManifest(v: unknown, file: string): ManifestEntry[] {
  if (!Array.isArray(v)) throw new Error(`${file}: expected a list`);
  return v.map((e, i) => {
    try {
      if (!isObject(e)) throw new Error("expected an object");
      const list = (name: string) => {
        const l = e[name] ?? [];
        if (!Array.isArray(l)) throw new Error(`${name}: expected a list`);
        return l;
      };
      const text = (name: string) => {
        try {
          return str(e[name]);
        } catch (err) {
          throw new Error(`${name}: ${errorText(err)}`);
        }
      };
      return {
        process_name: text("process_name"),
        process_wasm_path: text("process_wasm_path"),
        on_exit: e.on_exit ?? "None",
        request_networking: Boolean(e.request_networking),
        request_capabilities: list("request_capabilities"),
        grant_capabilities: list("grant_capabilities"),
        public: Boolean(e.public),
      };
    } catch (err) {
      throw new Error(`${file}: entry ${i}: ${errorText(err)}`);
    }
  });
}

function onExitOf(entry: ManifestEntry, file: string): OnExit {
  try {
    return readOnExit(entry.on_exit);
  } catch (e) {
    throw new Error(`${file}: ${entry.process_name}: on_exit: ${errorText(e)}`);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A manifest capability entry, read as app-store's install reads it:
 * "proc:pkg:pub" (messaging) or {process, params}, params written as serde_json
 * writes a Value (compact, keys sorted). Anything else is skipped: `invalid`
 * says so where app-store prints it.
 */
function manifestCap(
  our: string,
  v: unknown,
  invalid: () => void,
): Capability | undefined {
  const parse = (s: unknown) => {
    try {
      return typeof s === "string" ? parseProcessId(s) : undefined;
    } catch {
      return undefined;
    }
  };
  if (typeof v === "string") {
    const process = parse(v);
    if (!process) invalid();
    return process && messagingCap({ node: our, process });
  }
  if (isObject(v)) {
    if (!("process" in v)) return undefined;
    const process = parse(v.process);
    if (!process) return undefined;
    if (!("params" in v)) {
      invalid();
      return undefined;
    }
    return { issuer: { node: our, process }, params: canonicalJson(JSON.stringify(v.params)) };
  }
  invalid();
  return undefined;
}

/**
 * One script of a package's pkg/scripts.json (process_lib's DotScriptsEntry): how the
 * terminal spawns it. `root` gives it every capability the terminal holds.
 */
export interface ScriptEntry {
  root: boolean;
  public: boolean;
  request_networking: boolean;
  request_capabilities?: unknown[];
  grant_capabilities?: unknown[];
  wit_version?: number;
}

/**
 * pkg/scripts.json read as serde reads HashMap<String, DotScriptsEntry>: an object from
 * the script's file in pkg/ ("echo.wasm", "echo.ts") to its entry; root, public and
 * request_networking are required booleans, the rest optional (null as absent); other
 * fields are ignored. Throws naming the first problem.
 */
export function readScriptsJson(v: unknown, file: string): Map<string, ScriptEntry> {
  if (!isObject(v)) throw new Error(`${file}: expected an object from script file to entry`);
  const out = new Map<string, ScriptEntry>();
  for (const [name, e] of Object.entries(v)) {
    const at = `${file}: ${JSON.stringify(name)}`;
    if (!isObject(e)) throw new Error(`${at}: expected an object`);
    const flag = (k: string) => {
      if (typeof e[k] !== "boolean") throw new Error(`${at}: ${k} must be true or false`);
      return e[k] as boolean;
    };
    const list = (k: string) => {
      const l = e[k];
      if (l === undefined || l === null) return undefined;
      if (!Array.isArray(l)) throw new Error(`${at}: ${k} must be a list`);
      return l;
    };
    const wit = e.wit_version;
    if (
      wit !== undefined && wit !== null &&
      !(Number.isInteger(wit) && (wit as number) >= 0 && (wit as number) <= 0xffffffff)
    ) {
      throw new Error(`${at}: wit_version must be a u32`);
    }
    if (!/^[^/\\]+\.(wasm|ts|js)$/.test(name) || name.startsWith(".")) {
      throw new Error(`${at}: expected a script file in pkg/ ending in .wasm, .ts or .js`);
    }
    out.set(name, {
      root: flag("root"),
      public: flag("public"),
      request_networking: flag("request_networking"),
      request_capabilities: list("request_capabilities"),
      grant_capabilities: list("grant_capabilities"),
      wit_version: typeof wit === "number" ? wit : undefined,
    });
  }
  return out;
}

/** dir/pkg/scripts.json, checked, with each script's file present; none: empty. */
async function readPackageScripts(dir: string): Promise<Map<string, ScriptEntry>> {
  const file = `${dir}/pkg/scripts.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return new Map();
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`pkg/scripts.json: not JSON: ${errorText(e)}`);
  }
  const scripts = readScriptsJson(json, "pkg/scripts.json");
  for (const name of scripts.keys()) {
    try {
      const st = await Deno.stat(`${dir}/pkg/${name}`);
      if (!st.isFile) throw new Error("not a file");
    } catch {
      throw new Error(`pkg/scripts.json: ${JSON.stringify(name)}: no such file in pkg/`);
    }
  }
  return scripts;
}

export interface InstallContext {
  our: string;
  home: string;
  print(level: number, text: string, source: ProcessId): void;
}

/** Installs and starts every process of the package at `dir`; returns "pkg:publisher". */
export async function installPackage(
  kernel: Kernel,
  { our, home, print }: InstallContext,
  dir: string,
): Promise<string> {
  const metadata = JSON.parse(await Deno.readTextFile(`${dir}/metadata.json`));
  const props = metadata?.properties;
  if (!props?.package_name || !props?.publisher) {
    throw new Error(`${dir}/metadata.json: properties.package_name and publisher are required`);
  }
  const pkgName = String(props.package_name);
  const publisher = String(props.publisher);
  checkProcessId({ processName: "x", packageName: pkgName, publisherNode: publisher });
  const manifestFile = `${dir}/pkg/manifest.json`;
  const manifest = readManifest(JSON.parse(await Deno.readTextFile(manifestFile)), manifestFile);
  // checked before anything is copied: a package whose scripts the terminal could not run
  // is refused whole, with the reason
  const scripts = await readPackageScripts(dir);
  const packageId = `${pkgName}:${publisher}`;
  const drive = `/${packageId}/pkg`;
  const pkg = { packageName: pkgName, publisherNode: publisher };
  await copyDir(`${dir}/pkg`, driveDir(vfsRoot(home), pkg, "pkg"));
  await Deno.mkdir(driveDir(vfsRoot(home), pkg, "tmp"), { recursive: true });
  const ids: ProcessId[] = [];
  for (const entry of manifest) {
    const id = checkProcessId({
      processName: entry.process_name,
      packageName: pkgName,
      publisherNode: publisher,
    });
    const caps: Capability[] = [];
    for (const v of entry.request_capabilities) {
      const c = manifestCap(
        our,
        v,
        () => print(0, `manifest requested invalid cap: ${JSON.stringify(v)}`, KERNEL_PROCESS_ID),
      );
      if (c) caps.push(c);
    }
    if (entry.request_networking) caps.push(networkingCap(our));
    for (const kind of ["read", "write"]) {
      caps.push({
        issuer: { node: our, process: VFS_PROCESS_ID },
        // serde_json's json!{..}.to_string(): keys sorted
        params: JSON.stringify({ drive, kind }),
      });
    }
    const file = entry.process_wasm_path.replace(/^\/+/, "");
    const handle = `${drive}/${file}`;
    const bytes = await Deno.readFile(vfsHostPath(vfsRoot(home), handle));
    if (kernel.isRunning(id)) kernel.killProcess(id);
    await kernel.initializeProcess({
      id,
      wasmBytesHandle: handle,
      witVersion: props.wit_version ?? undefined,
      onExit: onExitOf(entry, manifestFile),
      initialCapabilities: caps,
      public: entry.public,
      bytes,
      initializer: { processName: "kernel", packageName: "distro", publisherNode: "sys" },
    });
    ids.push(id);
  }
  for (const [i, entry] of manifest.entries()) {
    for (const v of entry.grant_capabilities) {
      // grant: this process issues the cap to the named process
      const c = manifestCap(our, v, () =>
        print(
          0,
          `${processIdToString(ids[i])} manifest tried to grant invalid cap: ${JSON.stringify(v)}`,
          KERNEL_PROCESS_ID,
        ));
      if (!c) continue;
      kernel.addCapabilities(c.issuer.process, [{
        issuer: { node: our, process: ids[i] },
        params: c.params,
      }]);
    }
  }
  for (const id of ids) kernel.runProcess(id);
  // a component script is transpiled now, not when first typed at the terminal
  const components = [...scripts.keys()].filter((n) => n.endsWith(".wasm"));
  if (components.length > 0) {
    void (async () => {
      for (const name of components) {
        try {
          await kernel.prepareProgram(`${drive}/${name}`);
        } catch (e) {
          print(0, `${packageId}: script ${name} cannot run: ${errorText(e)}`, KERNEL_PROCESS_ID);
        }
      }
    })();
  }
  return packageId;
}
