// `deno task start-package [DIR]`, `remove-package`, `build-start-package`: kit's verbs that
// install through the node's app store (main:app-store:sys) over kit's RPC, as kit sends them:
//
//   NewPackage {package_id, mirror: true} with the package zip as the blob -> NewPackageResponse
//   Install {package_id, version_hash: sha256 of the zip, metadata}        -> InstallResponse
//   Uninstall {package_name, publisher_node}                               -> UninstallResponse

import { type Parsed, portValue, userPath, type VerbSpec } from "./args.ts";
import {
  BUILD_ARGS,
  buildPackage,
  type Metadata,
  pkgPublisher,
  readAndUpdateMetadata,
  zipFilename,
} from "./build.ts";
import { sha256Hex } from "./hash.ts";
import { isHypermapSafe } from "./new.ts";
import { makeMessage, nodeUrl, request, sortedJson } from "./rpc.ts";

export const APP_STORE = "main:app-store:sys";

const PORT_ARG = {
  name: "port",
  long: "port",
  short: "p",
  default: "8080",
  help: "localhost node port",
};
const DIR_ARG = {
  name: "DIR",
  positional: true,
  default: ".",
  help: "The package directory to start [default: the current directory]",
};

export const START_PACKAGE: VerbSpec = {
  name: "start-package",
  alias: "s",
  about: "Start a built Hyperware package",
  args: [DIR_ARG, PORT_ARG],
};

export const BUILD_START_PACKAGE: VerbSpec = {
  name: "build-start-package",
  alias: "bs",
  about: "Build and start a Hyperware package",
  args: [{ ...DIR_ARG, help: "The package directory to build" }, ...BUILD_ARGS],
};

export const REMOVE_PACKAGE: VerbSpec = {
  name: "remove-package",
  alias: "r",
  about: "Remove a running package from a node",
  args: [
    { name: "package", long: "package", short: "a", help: "Name of the package (Overrides DIR)" },
    {
      name: "publisher",
      long: "publisher",
      short: "u",
      help: "Name of the publisher (Overrides DIR)",
    },
    {
      ...DIR_ARG,
      help: "The package directory to remove (Overridden by PACKAGE/PUBLISHER)",
    },
    PORT_ARG,
  ],
};

/** kit's check_manifest: every process's `/<name>.wasm` exists, names Hypermap-safe. */
export async function checkManifest(pkgDir: string): Promise<void> {
  const file = `${pkgDir}/manifest.json`;
  const book = "https://book.hyperware.ai/my_first_app/chapter_1.html#pkgmanifestjson";
  let manifest: { process_name: string; process_wasm_path: string }[];
  try {
    manifest = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new Error(
      e instanceof Deno.errors.NotFound
        ? `Missing required manifest.json file. See discussion ${book}`
        : `Failed to parse required manifest.json file. See discussion ${book}`,
    );
  }
  if (!Array.isArray(manifest)) {
    throw new Error(`Failed to parse required manifest.json file. See discussion ${book}`);
  }
  for (const entry of manifest) {
    const path = String(entry.process_wasm_path);
    const m = /^\/(.*)\.wasm$/.exec(path);
    if (!m) {
      throw new Error(
        `${file} has unexpected Wasm path: ${JSON.stringify(path)} ` +
          "(expected beginning `/` and ending `.wasm`)",
      );
    }
    if (!isHypermapSafe(String(entry.process_name), false)) {
      throw new Error(
        `${file} file name '${entry.process_name}' must be Kimap safe (a-z, 0-9, - allowed)`,
      );
    }
    if (!isHypermapSafe(m[1], false)) {
      throw new Error(
        `${file} file path ${JSON.stringify(path)} must be Kimap safe (a-z, 0-9, - allowed)`,
      );
    }
  }
  for (const entry of manifest) {
    const rel = entry.process_wasm_path.replace(/^\//, "");
    try {
      await Deno.stat(`${pkgDir}/${rel}`);
    } catch {
      const other = rel.replaceAll("-", "_");
      const found = await Deno.stat(`${pkgDir}/${other}`).then(() => true, () => false);
      if (found) {
        throw new Error(
          `Found "${other}" (with underscores) in pkg/ but manifest.json expects "${rel}". ` +
            `Try updating ${file} to point to the correct file name "${other}".`,
        );
      }
      throw new Error(
        "Missing a .wasm file declared by manifest.json. Try `deno task build`ing package " +
          "first, or updating manifest.json.",
      );
    }
  }
}

/** kit's NewPackage message. */
export function newPackageMessage(pkg: string, publisher: string, zip: Uint8Array) {
  const body = {
    NewPackage: { package_id: { package_name: pkg, publisher_node: publisher }, mirror: true },
  };
  return makeMessage(APP_STORE, 15, sortedJson(body), null, zip);
}

/** kit's Install message (code_hashes as [version, hash] pairs, as kit sends a HashMap). */
export function installMessage(hash: string, m: Metadata) {
  const p = m.properties;
  const body = {
    Install: {
      package_id: { package_name: p.package_name, publisher_node: p.publisher },
      version_hash: hash,
      metadata: {
        name: m.name ?? null,
        description: m.description ?? null,
        image: m.image ?? null,
        external_url: m.external_url ?? null,
        animation_url: m.animation_url ?? null,
        properties: {
          package_name: p.package_name,
          publisher: p.publisher,
          current_version: p.current_version,
          mirrors: p.mirrors,
          code_hashes: Object.entries(p.code_hashes).sort(([a], [b]) => (a < b ? -1 : 1)),
          license: p.license ?? null,
          screenshots: p.screenshots ?? null,
          wit_version: p.wit_version ?? null,
          dependencies: p.dependencies ?? null,
          api_includes: p.api_includes ?? null,
        },
      },
    },
  };
  return makeMessage(APP_STORE, 15, sortedJson(body));
}

function answerJson(body: string): Record<string, unknown> {
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`Got a response from the node that is not JSON: ${body}`);
  }
}

/** kit start-package: the built zip through the app store's NewPackage and Install. */
export async function startPackage(
  dir: string,
  url: string,
  log: (line: string) => void = (l) => console.log(l),
): Promise<string> {
  try {
    await Deno.stat(`${dir}/pkg`);
  } catch {
    throw new Error(
      `Required \`pkg/\` dir not found within given input dir "${dir}" (or cwd, if none given). ` +
        "Please re-run targeting a package.",
    );
  }
  const metadata = await readAndUpdateMetadata(dir);
  const id = pkgPublisher(metadata);
  const zipPath = zipFilename(dir, id);
  let zip: Uint8Array;
  try {
    zip = await Deno.readFile(zipPath);
  } catch {
    throw new Error("Missing pkg zip. Try `deno task build`ing package first.");
  }
  await checkManifest(`${dir}/pkg`);
  log(id);
  const hash = await sha256Hex(zip);
  const { package_name, publisher } = metadata.properties;
  let answer;
  try {
    answer = await request(url, newPackageMessage(package_name, publisher, zip));
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    throw new Error(
      text.startsWith("Failed with status code:")
        ? `${text}\nis the node running with \`--expose-local\` at url ${url}, with ` +
          `${APP_STORE}? (deno task fake-node runs one)`
        : text,
    );
  }
  const added = answerJson(answer.body);
  if (added.NewPackageResponse !== "Success") {
    throw new Error(`Failed to add package. Got response from node: ${answer.body}`);
  }
  const installed = answerJson((await request(url, installMessage(hash, metadata))).body);
  if (installed.InstallResponse !== "Success") {
    throw new Error(
      `Failed to start package. Got response from node: ${JSON.stringify(installed)}`,
    );
  }
  log(`Successfully installed package ${id} on node at ${url}`);
  return id;
}

/** kit remove-package: the app store's Uninstall. */
export async function removePackage(
  url: string,
  pkg: string,
  publisher: string,
  log: (line: string) => void = (l) => console.log(l),
): Promise<void> {
  const body = sortedJson({ Uninstall: { package_name: pkg, publisher_node: publisher } });
  const answer = await request(url, makeMessage(APP_STORE, 15, body));
  const parsed = answerJson(answer.body);
  if (parsed.UninstallResponse !== "Success") {
    throw new Error(`Failed to remove package. Got response from node: ${answer.body}`);
  }
  log(`Successfully removed package ${pkg}:${publisher} on node at ${url}`);
}

export async function runStartPackage(args: Parsed): Promise<void> {
  const v = args.values;
  await startPackage(userPath(v.DIR as string), nodeUrl(portValue("port", v.port as string)));
}

export async function runBuildStartPackage(args: Parsed): Promise<void> {
  const v = args.values;
  const dir = userPath(v.DIR as string);
  if (v.rewrite) throw new Error("--rewrite (Rust's Spawn!()) is not supported for TypeScript");
  await buildPackage({
    dir,
    noUi: v["no-ui"] as boolean,
    uiOnly: v["ui-only"] as boolean,
    include: v.include as string[],
    exclude: v.exclude as string[],
    addToApi: v["add-to-api"] as string[],
    hyperapp: v.hyperapp as boolean,
  });
  await startPackage(dir, nodeUrl(portValue("port", v.port as string)));
}

export async function runRemovePackage(args: Parsed): Promise<void> {
  const v = args.values;
  const url = nodeUrl(portValue("port", v.port as string));
  let pkg = v.package as string | undefined;
  let publisher = v.publisher as string | undefined;
  if (pkg === undefined || publisher === undefined) {
    const m = await readAndUpdateMetadata(userPath(v.DIR as string));
    pkg = m.properties.package_name;
    publisher = m.properties.publisher;
  }
  await removePackage(url, pkg, publisher);
}
