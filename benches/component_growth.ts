// Does a componentize-js component's round trip stay the same however many messages it has
// handled? Two pairs of the tester component ask each other in turn, one built as kit builds
// apps (kit/bindings.ts frees each import call's arguments) and one built by componentize-js
// alone (its bindings free them only when an export returns, which a process's `init` never
// does). Each pair runs `segments` blocks of `block` round trips, the two pairs interleaved;
// prints us per round trip of every block, and the last blocks against the first.
//
//   deno run -A benches/component_growth.ts [--segments=12] [--block=2000]

import { componentizeProcess } from "../kit/componentize.ts";
import { bootQuietNode } from "./quiet_node.ts";
import { makePackage } from "../tests/kernel/helpers.ts";
import { buildFixture } from "../tests/fixtures/build.ts";
import { sha256Hex } from "../kit/hash.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const SEGMENTS = Number(args.segments ?? 12);
const BLOCK = Number(args.block ?? 2000);
const ROOT = new URL("../", import.meta.url).pathname;

/** tests/fixtures/tester.js built by componentize-js with its own wizer (cached by content). */
async function plainTester(): Promise<Uint8Array> {
  const source = await Deno.readTextFile(`${ROOT}tests/fixtures/tester.js`);
  const wit = await Deno.readTextFile(`${ROOT}kernel/process_host/hyperware.wit`);
  const hash = await sha256Hex(`componentize-js-0.23.0 plain\n${wit}\n${source}`);
  const path = `${ROOT}.cache/components/tester-plain-${hash.slice(0, 16)}.wasm`;
  try {
    return await Deno.readFile(path);
  } catch { /* not built yet */ }
  console.error("[growth] building the tester with componentize-js alone (once)...");
  const component = await componentizeProcess(source, wit);
  await Deno.mkdir(`${ROOT}.cache/components`, { recursive: true });
  await Deno.writeFile(path, component);
  return component;
}

const root = await Deno.makeTempDir({ prefix: "hyperdeno-growth-" });
const builds: Record<string, Uint8Array> = {
  kit: await buildFixture("tester"),
  plain: await plainTester(),
};
const node = await bootQuietNode(`${root}/home`);
for (const [name, wasm] of Object.entries(builds)) {
  const dir = await makePackage(`${root}/${name}`, {
    name,
    processes: [{ name: "a" }, { name: "b" }],
  });
  await Deno.writeFile(`${dir}/pkg/tester.wasm`, wasm);
  await node.installPackage(dir);
}

const askMany = (pkg: string, n: number) =>
  node.request(
    `our@a:${pkg}:test.os`,
    JSON.stringify({ op: "ask-many", target: `fake.dev@b:${pkg}:test.os`, n }),
    { timeoutSeconds: 600 },
  );

const us: Record<string, number[]> = { kit: [], plain: [] };
for (const pkg of Object.keys(us)) await askMany(pkg, 200); // first-message paths, JIT
for (let s = 0; s < SEGMENTS; s++) {
  for (const pkg of Object.keys(us)) {
    const t0 = performance.now();
    await askMany(pkg, BLOCK);
    us[pkg].push(((performance.now() - t0) * 1000) / BLOCK);
  }
  console.error(
    `[growth] after ${(s + 1) * BLOCK} round trips: kit ${us.kit.at(-1)!.toFixed(0)} us, ` +
      `componentize-js alone ${us.plain.at(-1)!.toFixed(0)} us`,
  );
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const k = Math.max(1, Math.floor(SEGMENTS / 4));
const growth = Object.fromEntries(
  Object.entries(us).map(([pkg, xs]) => [pkg, mean(xs.slice(-k)) / mean(xs.slice(0, k))]),
);
console.log(JSON.stringify({ segments: SEGMENTS, block: BLOCK, us, growth }));
await node.shutdown();
await Deno.remove(root, { recursive: true }).catch(() => {});
