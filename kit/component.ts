// A process's component, built reproducibly: the bundle (sdk/build.ts's bundleApp, with the
// templates' `hyperdeno/sdk` imports resolved) built by componentize-js with kit/wizer.ts as its
// pre-initializer, so the same source gives the same bytes on every machine (wizer's own run
// gives different bytes every time). Cached by content under .cache/components.

import { rolldown } from "rolldown";
import { componentizeProcess } from "./componentize.ts";
import { sha256Hex } from "./hash.ts";
import { wizerHash, wizerLauncher } from "./wizer_bin.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const WIT_PATH = `${ROOT}kernel/process_host/hyperware.wit`;
const CACHE_DIR = `${ROOT}.cache/components`;
const STANDARD = "hyperware:process/standard@1.0.0";
/** Changes whenever the build could give other bytes for the same source. */
const BUILDER = "componentize-js-0.23.0+kit-wizer-2";

/** What templates import: the SDK (and its process API), wherever hyperdeno is checked out. */
export const SDK_ALIASES: Record<string, string> = {
  "hyperdeno/sdk": `${ROOT}sdk/mod.ts`,
  "hyperdeno/sdk/std": `${ROOT}sdk/std.ts`,
  "hyperdeno/tester": `${ROOT}kit/tester/lib.ts`,
};

/** The process module and what it imports as one ES module importing only the standard API. */
export async function bundleProcess(entry: string): Promise<string> {
  const bundle = await rolldown({
    input: entry,
    external: [STANDARD],
    platform: "neutral",
    logLevel: "warn",
    // exact names (an alias would also map "hyperdeno/sdk/std" by its "hyperdeno/sdk" prefix)
    plugins: [{ name: "hyperdeno-imports", resolveId: (id: string) => SDK_ALIASES[id] ?? null }],
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

/**
 * The bundle built into a hyperware:process@1.0.0 component (world process-v1). `cache: false`
 * builds it even when the cache has it (and leaves the cache as it is).
 */
export async function buildComponent(
  code: string,
  opts: { cache?: boolean } = {},
): Promise<Uint8Array> {
  if (Deno.build.os === "windows") {
    throw new Error("building components needs a POSIX shell (kit/wizer.ts's launcher)");
  }
  const wit = await Deno.readTextFile(WIT_PATH);
  // the pre-initializer's own source too: a change to it may change every component
  const hash = await sha256Hex(`${BUILDER}\n${await wizerHash()}\n${wit}\n${code}`);
  const path = `${CACHE_DIR}/kit-${hash.slice(0, 24)}.wasm`;
  if (opts.cache !== false) {
    try {
      return await Deno.readFile(path);
    } catch { /* not built yet */ }
  }
  const component = await componentizeProcess(code, wit, { wizerBin: await wizerLauncher() });
  if (opts.cache === false) return component;
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, component);
  await Deno.rename(tmp, path);
  return component;
}

/** The sha256 of bytes, lowercase hex (kit's hash_zip_pkg form). */
export { sha256Hex };
