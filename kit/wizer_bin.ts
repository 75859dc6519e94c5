// The `wizer` componentize-js runs when kit builds a component: kit/wizer.ts under this Deno,
// behind a small launcher script (componentize-js runs a binary). Its own module so that the
// test fixtures' builder can use it without importing the bundler.

import { sha256Hex } from "./hash.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** kit/wizer.ts and what it imports of ours: a change to any may change components. */
const WIZER_SOURCES = ["kit/wizer.ts", "kit/bindings.ts", "kernel/process_host/wasm_binary.ts"];

/** The hash of the wizer's sources (WIZER_SOURCES). */
export async function wizerHash(): Promise<string> {
  let text = "";
  for (const file of WIZER_SOURCES) text += await Deno.readTextFile(`${ROOT}${file}`);
  return await sha256Hex(text);
}

/** The script componentize-js runs as `wizer`: kit/wizer.ts under this Deno. */
export async function wizerLauncher(): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const text = `#!/bin/sh\nexec ${quote(Deno.execPath())} run --quiet --no-lock ` +
    `--allow-read --allow-write --allow-env ${quote(`${ROOT}kit/wizer.ts`)} "$@"\n`;
  const dir = `${ROOT}.cache/kit`;
  const path = `${dir}/wizer-${(await sha256Hex(text)).slice(0, 12)}.sh`;
  try {
    if ((await Deno.readTextFile(path)) === text) return path;
  } catch { /* not written yet */ }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, text, { mode: 0o755 });
  await Deno.rename(tmp, path);
  return path;
}
