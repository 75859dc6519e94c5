// `deno task build [DIR]`: kit build for TypeScript packages. In kit's layout a package is
//
//   metadata.json, pkg/manifest.json (and pkg/scripts.json), api/*.wit (optional),
//   <process>/src/lib.ts   one directory per process (or script), -> pkg/<process>.wasm
//   ui/                    optional static UI, -> pkg/ui/ (a UI with package.json: its dist/)
//
// and the build writes, as kit does: each process's component into pkg/ (bundled with the SDK,
// built by componentize-js with kit/wizer.ts: reproducible), api/ zipped into pkg/api.zip, then
// pkg/ zipped into target/<package>:<publisher>.zip (kit's file name: the publisher's last
// `.part` replaced by `.zip`) and that zip's sha256 printed. Same sources, same zip bytes.

import { type Parsed, userPath, type VerbSpec } from "./args.ts";
import { sha256Hex } from "./hash.ts";
import { zipDirectory } from "./zip.ts";

/** A process's source, as kit finds `src/lib.rs` (TypeScript first). */
const SOURCES = ["src/lib.ts", "src/lib.js"];

const DIR_ARG = {
  name: "DIR",
  positional: true,
  default: ".",
  help: "The package directory to build [default: the current directory]",
};

/** kit build's flags (those for Rust builds are accepted and ignored). */
export const BUILD_ARGS = [
  {
    name: "no-ui",
    long: "no-ui",
    flag: true,
    help: "If set, do NOT build the web UI for the process; no-op if passed with UI_ONLY",
  },
  {
    name: "ui-only",
    long: "ui-only",
    flag: true,
    help: "If set, build ONLY the web UI for the process; no-op if passed with NO_UI",
  },
  {
    name: "include",
    long: "include",
    short: "i",
    multiple: true,
    help: "Build only these processes/UIs (can specify multiple times) [default: build all]",
  },
  {
    name: "exclude",
    long: "exclude",
    short: "e",
    multiple: true,
    help: "Build all but these processes/UIs (can specify multiple times) [default: build all]",
  },
  {
    name: "skip-deps-check",
    long: "skip-deps-check",
    short: "s",
    flag: true,
    help: "If set, do not check for dependencies (nothing to check: accepted)",
  },
  {
    name: "features",
    long: "features",
    help: "Pass these comma-delimited feature flags to Rust cargo builds (ignored: TypeScript)",
  },
  {
    name: "port",
    long: "port",
    short: "p",
    default: "8080",
    help: "localhost node port (kit fetches Rust dependencies' APIs from it; unused)",
  },
  {
    name: "download-from",
    long: "download-from",
    short: "d",
    value: "NODE",
    help: "Download API from this node if not found (unused)",
  },
  {
    name: "world",
    long: "world",
    short: "w",
    help: "Fallback WIT world name (unused: components are world process-v1)",
  },
  {
    name: "local-dependency",
    long: "local-dependency",
    short: "l",
    multiple: true,
    value: "DEPENDENCY_PACKAGE_PATH",
    help: "Path to local dependency package (can specify multiple times; unused)",
  },
  {
    name: "add-to-api",
    long: "add-to-api",
    short: "a",
    multiple: true,
    value: "PATH",
    help: "Path to file to add to api.zip (can specify multiple times)",
  },
  {
    name: "rewrite",
    long: "rewrite",
    flag: true,
    help: "Rewrite the package (Rust's Spawn!(); not supported)",
  },
  {
    name: "hyperapp",
    long: "hyperapp",
    flag: true,
    help: "Write the WIT of processes that are SDK apps into api/ (kit: Hyperapp framework)",
  },
  {
    name: "reproducible",
    long: "reproducible",
    short: "r",
    flag: true,
    help: "Make a reproducible build (always: accepted)",
  },
  {
    name: "force",
    long: "force",
    short: "f",
    flag: true,
    help: "Force a rebuild (always rebuilds; components are cached by content)",
  },
  {
    name: "verbose",
    long: "verbose",
    short: "v",
    flag: true,
    help: "If set, output stdout and stderr",
  },
  {
    name: "toolchain",
    long: "toolchain",
    default: "+1.85.1",
    help: "Rust toolchain to use (ignored: TypeScript)",
  },
];

export const BUILD: VerbSpec = {
  name: "build",
  alias: "b",
  about: "Build a Hyperware package",
  args: [DIR_ARG, ...BUILD_ARGS],
};

export interface BuildOptions {
  /** The package directory. */
  dir: string;
  noUi?: boolean;
  uiOnly?: boolean;
  /** Build only these process/UI directories (relative to dir). */
  include?: string[];
  exclude?: string[];
  /** Files added to api.zip. */
  addToApi?: string[];
  /** Write SDK apps' WIT into api/. */
  hyperapp?: boolean;
  /** Progress lines (default: stdout). */
  log?: (line: string) => void;
}

export interface BuildResult {
  /** target/<package>:<publisher>.zip */
  zip: string;
  /** its sha256, lowercase hex */
  hash: string;
  /** "package:publisher" */
  packageId: string;
  /** the components built: pkg file name -> seconds */
  built: Record<string, number>;
}

/** The package's metadata.json, as kit reads it (Erc721Metadata). */
export interface Metadata {
  name?: string | null;
  description?: string | null;
  image?: string | null;
  external_url?: string | null;
  animation_url?: string | null;
  properties: {
    package_name: string;
    publisher: string;
    current_version: string;
    mirrors: string[];
    code_hashes: Record<string, string>;
    license?: string | null;
    screenshots?: string[] | null;
    wit_version?: number | null;
    dependencies?: string[] | null;
    api_includes?: string[] | null;
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function semver(v: string, where: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(v);
  if (!m) throw new Error(`${where}: ${JSON.stringify(v)} is not a semver version`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function cmpVersion(a: [number, number, number], b: [number, number, number]): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** kit's read_metadata. */
export async function readMetadata(dir: string): Promise<Metadata> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/metadata.json`);
  } catch {
    throw new Error(
      `Missing required metadata.json file in ${dir}. See discussion at ` +
        "https://book.hyperware.ai/my_first_app/chapter_1.html?highlight=metadata.json#metadatajson",
    );
  }
  const m = JSON.parse(text) as Metadata;
  const p = m?.properties;
  for (const k of ["package_name", "publisher", "current_version"] as const) {
    if (typeof p?.[k] !== "string") throw new Error(`${dir}/metadata.json: missing field \`${k}\``);
  }
  if (!p.code_hashes || typeof p.code_hashes !== "object") {
    throw new Error(`${dir}/metadata.json: missing field \`code_hashes\``);
  }
  if (!Array.isArray(p.mirrors)) throw new Error(`${dir}/metadata.json: missing field \`mirrors\``);
  return m;
}

/**
 * kit's read_and_update_metadata: current_version follows the newest version code_hashes
 * lists (metadata.json is rewritten when it is behind); one ahead of them is an error.
 */
export async function readAndUpdateMetadata(dir: string): Promise<Metadata> {
  const m = await readMetadata(dir);
  const file = `${dir}/metadata.json`;
  const current = semver(m.properties.current_version, file);
  const versions = Object.keys(m.properties.code_hashes)
    .flatMap((k) => /^\d+\.\d+\.\d+/.test(k) ? [semver(k, file)] : []);
  if (!versions.length) throw new Error(`${file} doesn't list versions`);
  const newest = versions.sort(cmpVersion)[versions.length - 1];
  const c = cmpVersion(newest, current);
  if (c > 0) {
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(
      file,
      text.replace(/("current_version":\s*")(\d+\.\d+\.\d+)/, `$1${newest.join(".")}`),
    );
    return await readMetadata(dir);
  }
  if (c < 0) {
    throw new Error(
      `${file} has a current_version (${m.properties.current_version}) that does not exist: ` +
        `newest listed version ${newest.join(".")}`,
    );
  }
  return m;
}

/** "package:publisher", kit's make_pkg_publisher. */
export function pkgPublisher(m: Metadata): string {
  return `${m.properties.package_name}:${m.properties.publisher}`;
}

/**
 * kit's make_zip_filename: target/<package>:<publisher> with its extension set to zip, as
 * Rust's Path::with_extension does (the publisher's last `.part` is replaced: template.os ->
 * <package>:template.zip).
 */
export function zipFilename(dir: string, pkgPublisherName: string): string {
  const dot = pkgPublisherName.lastIndexOf(".");
  const stem = dot > 0 ? pkgPublisherName.slice(0, dot) : pkgPublisherName;
  return `${dir}/target/${stem}.zip`;
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Runs `work`, saying every 5 s that it still runs. */
async function withProgress<T>(
  log: (line: string) => void,
  what: string,
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const timer = setInterval(
    () => log(`  ... ${what}: ${Math.round((performance.now() - t0) / 1000)} s`),
    5_000,
  );
  try {
    const value = await work();
    return { value, seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearInterval(timer);
  }
}

/** kit build: components, api.zip, the package zip and its hash. */
export async function buildPackage(opts: BuildOptions): Promise<BuildResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const dir = await Deno.realPath(opts.dir);
  if (opts.noUi && opts.uiOnly) {
    throw new Error("Cannot set both `no_ui` and `ui_only` to true at the same time");
  }
  if (!(await exists(`${dir}/pkg`))) {
    throw new Error(
      `Required \`pkg/\` dir not found within given input dir "${dir}" (or cwd, if none given). ` +
        "Please re-run targeting a package.",
    );
  }
  const included = (path: string) =>
    (!opts.include?.length || opts.include.some((i) => same(dir, i, path))) &&
    !opts.exclude?.some((e) => same(dir, e, path));
  const built: Record<string, number> = {};

  // the UI: ui/ as it is, or a built UI's dist/
  if (!opts.noUi && (await exists(`${dir}/ui`)) && included(`${dir}/ui`)) {
    let src = `${dir}/ui`;
    if (await exists(`${dir}/ui/package.json`)) {
      if (!(await exists(`${dir}/ui/dist`))) {
        throw new Error(
          `${dir}/ui has a package.json: hyperdeno copies a built UI (ui/dist); build it first ` +
            "(e.g. npm run build in ui/)",
        );
      }
      src = `${dir}/ui/dist`;
    }
    await Deno.remove(`${dir}/pkg/ui`, { recursive: true }).catch(() => {});
    await copyDir(src, `${dir}/pkg/ui`);
    log(`[build] ui: ${src.slice(dir.length + 1)} -> pkg/ui/`);
  }

  const metadata = await readAndUpdateMetadata(dir);
  if (!opts.uiOnly) {
    const processes: { name: string; entry: string }[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (!e.isDirectory || !included(`${dir}/${e.name}`)) continue;
      for (const s of SOURCES) {
        if (await exists(`${dir}/${e.name}/${s}`)) {
          processes.push({ name: e.name, entry: `${dir}/${e.name}/${s}` });
          break;
        }
      }
    }
    processes.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const p of processes) {
      log(`[build] ${p.name}: bundling ${p.entry.slice(dir.length + 1)}`);
      // the build's tools load here, not with every kit verb (start-package needs none)
      const { buildComponent, bundleProcess } = await import("./component.ts");
      const code = await bundleProcess(p.entry);
      if (opts.hyperapp) await writeAppWit(dir, code, p.entry, metadata, log);
      log(`[build] ${p.name}: building its component (componentize-js; seconds on a first build)`);
      const { value: wasm, seconds } = await withProgress(
        log,
        `${p.name}: building`,
        () => buildComponent(code),
      );
      await Deno.writeFile(`${dir}/pkg/${p.name}.wasm`, wasm);
      built[`${p.name}.wasm`] = seconds;
      log(
        `[build] ${p.name}: pkg/${p.name}.wasm (${(wasm.length / 1e6).toFixed(1)} MB, ${
          seconds.toFixed(1)
        } s)`,
      );
    }
    if (processes.length === 0) log("[build] no process directories (<name>/src/lib.ts) found");

    // the API: api/ (and --add-to-api, metadata's api_includes) zipped into pkg/api.zip
    const apiDir = `${dir}/api`;
    const targetApi = `${dir}/target/api`;
    await Deno.remove(targetApi, { recursive: true }).catch(() => {});
    if (await exists(apiDir)) await copyDir(apiDir, targetApi);
    else await Deno.mkdir(targetApi, { recursive: true });
    for (const add of [...(opts.addToApi ?? []), ...(metadata.properties.api_includes ?? [])]) {
      const path = add.startsWith("/") ? add : `${dir}/${add}`;
      if (!(await exists(path))) {
        log(`[build] warning: given path to add to API does not exist: ${path}`);
        continue;
      }
      await Deno.copyFile(path, `${targetApi}/${path.slice(path.lastIndexOf("/") + 1)}`);
    }
    await Deno.writeFile(`${dir}/pkg/api.zip`, await zipDirectory(targetApi));
  }

  const meta = await readMetadata(dir);
  const packageId = pkgPublisher(meta);
  const zip = zipFilename(dir, packageId);
  await Deno.mkdir(`${dir}/target`, { recursive: true });
  const bytes = await zipDirectory(`${dir}/pkg`);
  await Deno.writeFile(zip, bytes);
  const hash = await sha256Hex(bytes);
  log(`package zip hash: ${hash}`);
  return { zip, hash, packageId, built };
}

/** Whether the --include/--exclude path `given` names `path` (kit joins it to the package dir). */
function same(dir: string, given: string, path: string): boolean {
  const full = given.startsWith("/") ? given : `${dir}/${given}`;
  return full.replace(/\/+$/, "") === path.replace(/\/+$/, "");
}

/** --hyperapp: an SDK app's WIT (its interface and worlds) written into api/. */
async function writeAppWit(
  dir: string,
  code: string,
  entry: string,
  metadata: Metadata,
  log: (line: string) => void,
): Promise<void> {
  const { appOf } = await import("../sdk/build.ts");
  const { defaultWorld, generateWit, generateWorlds } = await import("../sdk/generate.ts");
  let app;
  try {
    app = await appOf(code, entry);
  } catch {
    return; // not an SDK app: nothing to generate
  }
  const world = app.config.witWorld ??
    defaultWorld(metadata.properties.package_name, metadata.properties.publisher);
  const files = { [`${app.witInterface}.wit`]: generateWit(app), ...generateWorlds(app, world) };
  await Deno.mkdir(`${dir}/api`, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/api/${name}`, text);
    log(`[build] --hyperapp: api/${name}`);
  }
}

export async function runBuild(args: Parsed): Promise<BuildResult> {
  const v = args.values;
  if (v.rewrite) throw new Error("--rewrite (Rust's Spawn!()) is not supported for TypeScript");
  return await buildPackage({
    dir: userPath(v.DIR as string),
    noUi: v["no-ui"] as boolean,
    uiOnly: v["ui-only"] as boolean,
    include: v.include as string[],
    exclude: v.exclude as string[],
    addToApi: v["add-to-api"] as string[],
    hyperapp: v.hyperapp as boolean,
  });
}
