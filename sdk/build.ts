// Builds an SDK app (a .ts module that exports `init = app.main` and the app)
// into what a node runs:
//
//   bundleApp(entry)     one self-contained ES module: the app and the SDK, importing
//                        only hyperware:process/standard@1.0.0 (a process module, ~50 ms)
//   buildComponent(js)   that module built into a component by componentize-js (seconds;
//                        cached by content hash under .cache/components)
//   writePackage(opts)   a package in kit's layout: metadata.json, pkg/manifest.json
//                        (capabilities from the app), pkg/<process>.js or .wasm, api/*.wit,
//                        client/<interface>.ts (and pkg/<ui>/api.js next to a UI)
//
// CLI:
//   deno run -A sdk/build.ts <app.ts> --out <dir> --package <name> --publisher <node>
//        [--process <name>] [--component] [--ui <dir>] [--public]

import { rolldown } from "rolldown";
import { componentizeProcess } from "../kit/componentize.ts";
import { sha256Hex } from "../kit/hash.ts";
// types only: the SDK's process side imports the standard API, which exists only in a process
import type { HyperApp } from "./app.ts";
import { defaultWorld, generateClient, generateWit, generateWorlds } from "./generate.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const WIT_PATH = `${ROOT}kernel/process_host/hyperware.wit`;
const CACHE_DIR = `${ROOT}.cache/components`;
const BUILDER = "componentize-js-0.23.0";
const STANDARD = "hyperware:process/standard@1.0.0";
/** Every function of the standard interface, for the stub build.ts loads apps with. */
const STANDARD_FUNCTIONS = [
  "printToTerminal",
  "our",
  "getOnExit",
  "setOnExit",
  "getState",
  "setState",
  "clearState",
  "spawn",
  "saveCapabilities",
  "dropCapabilities",
  "ourCapabilities",
  "receive",
  "hasBlob",
  "getBlob",
  "lastBlob",
  "sendRequest",
  "sendRequests",
  "sendResponse",
  "sendAndAwaitResponse",
];

// deno-lint-ignore no-explicit-any
export type AnyApp = HyperApp<any, any>;

/** The app module and the SDK as one ES module importing only the standard API. */
export async function bundleApp(entry: string): Promise<string> {
  const bundle = await rolldown({
    input: entry,
    external: [STANDARD],
    platform: "neutral",
    logLevel: "warn",
    // no `// <module path>` comments: the build machine's paths stay out of the package
    experimental: { attachDebugInfo: "none" },
  });
  try {
    const { output } = await bundle.generate({ format: "esm", comments: false });
    if (output.length !== 1) throw new Error(`${entry}: bundling made ${output.length} files`);
    return output[0].code;
  } finally {
    await bundle.close();
  }
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/**
 * The app a bundle exports (its definition: methods, endpoints, ...), read by loading
 * the bundle here with a stand-in for the standard API (nothing runs until init).
 */
export async function appOf(code: string, entry = "the app"): Promise<AnyApp> {
  const stub = STANDARD_FUNCTIONS.map((f) =>
    `export const ${f} = () => { throw new Error("the standard API exists only in a process"); };`
  ).join("\n");
  const source = code.replaceAll(
    JSON.stringify(STANDARD),
    JSON.stringify(`data:application/javascript;base64,${base64(stub)}`),
  );
  const mod = await import(`data:application/javascript;base64,${base64(source)}`);
  if (typeof mod.init !== "function") {
    throw new Error(`${entry} does not export init: add \`export const init = app.main;\``);
  }
  // app.ts's APP_BRAND: an app object of the bundle's own copy of the SDK
  const apps = Object.values(mod).filter((v) =>
    typeof v === "object" && v !== null && (v as Record<string, unknown>).__hyperdenoApp === true
  );
  if (apps.length !== 1) {
    throw new Error(`${entry} must export its app (export const app = hyperapp(...)...)`);
  }
  return apps[0] as AnyApp;
}

/** Bundles `entry` and reads its app. */
export async function loadApp(entry: string): Promise<{ app: AnyApp; code: string }> {
  const code = await bundleApp(entry);
  return { app: await appOf(code, entry), code };
}

/** The bundle built into a hyperware:process@1.0.0 component (world process-v1). */
export async function buildComponent(code: string): Promise<Uint8Array> {
  const wit = await Deno.readTextFile(WIT_PATH);
  const hash = await sha256Hex(`${BUILDER}\nsdk\n${wit}\n${code}`);
  const path = `${CACHE_DIR}/sdk-${hash.slice(0, 16)}.wasm`;
  try {
    return await Deno.readFile(path);
  } catch { /* not built yet */ }
  const component = await componentizeProcess(code, wit);
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, component);
  await Deno.rename(tmp, path);
  return component;
}

export interface PackageOptions {
  /** The app module (.ts). */
  entry: string;
  /** The package directory to write (kit's layout). */
  out: string;
  packageName: string;
  publisher: string;
  /** The process name (default: the package name). */
  processName?: string;
  /** Build a Wasm component (default: a JS process module, no Wasm build). */
  component?: boolean;
  /** The UI source directory to copy into pkg/ (default: `ui` next to the entry, if any). */
  ui?: string;
  /** Any local process may call it without a messaging capability. */
  public?: boolean;
  /** Request networking (default: when the app has remote methods). */
  networking?: boolean;
  /** Extra manifest capabilities to request, e.g. "kv:distro:sys". */
  requestCapabilities?: string[];
}

export interface BuiltPackage {
  dir: string;
  /** "process:package:publisher" */
  processId: string;
  app: AnyApp;
  /** file name -> WIT text (also written under api/) */
  wit: Record<string, string>;
  /** the TS client (also written to client/<interface>.ts) */
  client: string;
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes the app as a package in kit's layout; `node.installPackage(dir)` runs it. */
export async function writePackage(opts: PackageOptions): Promise<BuiltPackage> {
  const { app, code } = await loadApp(opts.entry);
  const cfg = app.config;
  const processName = opts.processName ?? opts.packageName;
  const processId = `${processName}:${opts.packageName}:${opts.publisher}`;
  const dir = opts.out;
  await Deno.mkdir(`${dir}/pkg`, { recursive: true });
  await Deno.mkdir(`${dir}/api`, { recursive: true });
  await Deno.mkdir(`${dir}/client`, { recursive: true });

  const file = opts.component ? `${processName}.wasm` : `${processName}.js`;
  if (opts.component) await Deno.writeFile(`${dir}/pkg/${file}`, await buildComponent(code));
  else await Deno.writeTextFile(`${dir}/pkg/${file}`, code);

  const serves = (cfg.endpoints?.length ?? 0) > 0 || !!cfg.ui;
  const request = new Set<string>(opts.requestCapabilities ?? []);
  const grant = new Set<string>();
  if (serves) {
    request.add("http-server:distro:sys");
    grant.add("http-server:distro:sys");
  }
  if (cfg.ui) request.add("vfs:distro:sys");
  if (cfg.homepage !== false) request.add("homepage:homepage:sys");
  // the timer's answers reach us only if we let it message us
  if (typeof cfg.save === "object" && "EveryNSeconds" in cfg.save) grant.add("timer:distro:sys");
  const manifest = [{
    process_name: processName,
    process_wasm_path: `/${file}`,
    on_exit: "Restart",
    request_networking: opts.networking ?? app.methods.some((m) => m.remote),
    request_capabilities: [...request],
    grant_capabilities: [...grant],
    public: !!opts.public,
  }];
  await Deno.writeTextFile(`${dir}/pkg/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  await Deno.writeTextFile(
    `${dir}/metadata.json`,
    JSON.stringify(
      {
        name: cfg.name,
        description: `${cfg.name}, built with hyperdeno's app SDK`,
        image: "",
        properties: {
          package_name: opts.packageName,
          current_version: "0.1.0",
          publisher: opts.publisher,
          mirrors: [],
          code_hashes: {},
          wit_version: 1,
          dependencies: [],
        },
        external_url: "",
        animation_url: "",
      },
      null,
      2,
    ) + "\n",
  );

  const world = cfg.witWorld ?? defaultWorld(opts.packageName, opts.publisher);
  const wit: Record<string, string> = {
    [`${app.witInterface}.wit`]: generateWit(app),
    ...generateWorlds(app, world),
  };
  for (const [name, text] of Object.entries(wit)) {
    await Deno.writeTextFile(`${dir}/api/${name}`, text);
  }
  const client = generateClient(app, processId);
  const clientPath = `${dir}/client/${app.witInterface}.ts`;
  await Deno.writeTextFile(clientPath, client);

  if (cfg.ui) {
    const uiDir = (cfg.ui.dir ?? "ui").replace(/^\/|\/$/g, "");
    const src = opts.ui ?? new URL(`./${uiDir}`, new URL(opts.entry, `file://${Deno.cwd()}/`))
      .pathname;
    if (await exists(src)) await copyDir(src, `${dir}/pkg/${uiDir}`);
    else await Deno.mkdir(`${dir}/pkg/${uiDir}`, { recursive: true });
    // the client as plain JS beside the UI: <script type="module"> import * as api from "./api.js"
    await Deno.writeTextFile(`${dir}/pkg/${uiDir}/api.js`, await bundleApp(clientPath));
  }
  return { dir, processId, app, wit, client };
}

function usage(): never {
  console.error(
    "usage: deno run -A sdk/build.ts <app.ts> --out <dir> --package <name> --publisher <node>\n" +
      "                               [--process <name>] [--component] [--ui <dir>] [--public]",
  );
  Deno.exit(2);
}

if (import.meta.main) {
  const args = [...Deno.args];
  const opts: Partial<PackageOptions> = {};
  while (args.length) {
    const a = args.shift()!;
    const value = () => args.shift() ?? usage();
    if (a === "--out") opts.out = value();
    else if (a === "--package") opts.packageName = value();
    else if (a === "--publisher") opts.publisher = value();
    else if (a === "--process") opts.processName = value();
    else if (a === "--ui") opts.ui = value();
    else if (a === "--component") opts.component = true;
    else if (a === "--public") opts.public = true;
    else if (a.startsWith("-") || opts.entry) usage();
    else opts.entry = a;
  }
  if (!opts.entry || !opts.out || !opts.packageName || !opts.publisher) usage();
  const t0 = performance.now();
  const built = await writePackage(opts as PackageOptions);
  console.log(
    `${built.processId}: ${opts.out} (${opts.component ? "component" : "process module"}, ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s)`,
  );
}
