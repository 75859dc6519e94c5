// The `wizer` componentize-js runs when kit builds a component: kit/wizer.ts under this Deno,
// behind a small launcher script (componentize-js runs a binary). Its own module so that the
// test fixtures' builder can use it without importing the bundler.

import { sha256Hex } from "./hash.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The hash of kit/wizer.ts and kit/bindings.ts: a change to either may change components. */
export async function wizerHash(): Promise<string> {
  return await sha256Hex(
    (await Deno.readTextFile(`${ROOT}kit/wizer.ts`)) +
      (await Deno.readTextFile(`${ROOT}kit/bindings.ts`)),
  );
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
