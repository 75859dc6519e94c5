// A TS/JS process module importing files of its own package by relative path: the
// kernel reads them (the Worker cannot), shares one instance of a file imported twice,
// keeps them inside the drive, and refuses a broken graph at install with a clear error.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { bootTestNode, withTempDir, writeKitPackage } from "./helpers.ts";
import { collectModuleGraph, linkModule } from "../../kernel/process_host/module_graph.ts";

const entry = (process_name: string, path: string) => ({
  process_name,
  process_wasm_path: path,
  on_exit: "Restart", // brought back at boot (a None process is not)
  request_networking: false,
  request_capabilities: [],
  grant_capabilities: [],
  public: true,
});

const MAIN = `
import { receive, sendResponse } from "hyperware:process/standard@1.0.0";
import { greet, count } from "./lib/greet.ts";
import { shout } from "./lib/shout.js";
export function init(_our: string) {
  for (;;) {
    const [, m] = receive();
    if (m.tag !== "request") continue;
    const name = new TextDecoder().decode(m.val.body);
    const text = shout(greet(name)) + " " + count();
    sendResponse({ inherit: false, body: new TextEncoder().encode(text), metadata: undefined, capabilities: [] }, undefined);
  }
}
`;
// greet.ts and shout.js both import ../shared/counter.ts: one instance, so the count is shared
const GREET = `
import { bump } from "../shared/counter.ts";
export function greet(name: string): string { bump(); return "hello " + name; }
export { count } from "../shared/counter.ts";
`;
const SHOUT = `
import {
  bump,
} from "../shared/counter.ts";
// not imports: a comment saying import x from "./nope.ts", and a string
const NOTE = 'see from "./nope.ts" in the docs';
export function shout(s) { bump(); return s.toUpperCase(); }
`;
const COUNTER = `
let n = 0;
export function bump(): void { n++; }
export function count(): number { return n; }
`;

const MULTI = {
  "main.ts": MAIN,
  "lib/greet.ts": GREET,
  "lib/shout.js": SHOUT,
  "shared/counter.ts": COUNTER,
};

Deno.test("process modules: relative imports of the package's own files run, one instance each", async () => {
  await withTempDir(async (root) => {
    const dir = await writeKitPackage(root, {
      name: "multi",
      manifest: [entry("main", "/main.ts")],
      files: MULTI,
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      const ask = async (name: string) =>
        new TextDecoder().decode(
          (await node.request("our@main:multi:test.os", name, { timeoutSeconds: 10 })).body,
        );
      assertEquals(await ask("ada"), "HELLO ADA 2");
      assertEquals(await ask("bob"), "HELLO BOB 4");
      // a restart loads the graph again from the node's vfs
      await node.shutdown();
      const again = await bootTestNode(`${root}/home`);
      try {
        const r = await again.request("our@main:multi:test.os", "cy", { timeoutSeconds: 10 });
        assertEquals(new TextDecoder().decode(r.body), "HELLO CY 2");
      } finally {
        await again.shutdown();
      }
    } finally {
      await node.shutdown().catch(() => {});
    }
  });
});

Deno.test("process modules: a broken import graph is refused at install, naming the file", async () => {
  await withTempDir(async (root) => {
    const node = await bootTestNode(`${root}/home`);
    const install = async (name: string, files: Record<string, string>) =>
      node.installPackage(
        await writeKitPackage(root, { name, manifest: [entry("main", "/main.ts")], files }),
      );
    try {
      await assertRejects(
        () =>
          install("missing", {
            "main.ts": `import { x } from "./nope.ts"; export const init = () => x;`,
          }),
        "imports ./nope.ts, which its package does not hold",
      );
      await assertRejects(
        () =>
          install("cycle", {
            "main.ts": `import "./a.ts"; export function init() {}`,
            "a.ts": `import "./b.ts";`,
            "b.ts": `import "./a.ts";`,
          }),
        "import cycle: /cycle:test.os/pkg/main.ts -> /cycle:test.os/pkg/a.ts -> /cycle:test.os/pkg/b.ts -> /cycle:test.os/pkg/a.ts",
      );
      await assertRejects(
        () =>
          install("escape", {
            "main.ts": `import "../../other:test.os/pkg/x.ts"; export function init() {}`,
          }),
        "outside its drive /escape:test.os/pkg/",
      );
      await assertRejects(
        () => install("noext", { "main.ts": `import "./lib"; export function init() {}` }),
        "name the file with .ts, .mts, .js or .mjs",
      );
      // a file that loads but throws is the probe's to catch, as for a one-file module
      await assertRejects(
        () =>
          install("throws", {
            "main.ts": `import "./bad.ts"; export function init() {}`,
            "bad.ts": `throw new Error("bad at load");`,
          }),
        "bad at load",
      );
      // the node kept running: a good package still installs and answers
      await node.installPackage(
        await writeKitPackage(root, {
          name: "multi",
          manifest: [entry("main", "/main.ts")],
          files: MULTI,
        }),
      );
      const r = await node.request("our@main:multi:test.os", "dee", { timeoutSeconds: 10 });
      assertEquals(new TextDecoder().decode(r.body), "HELLO DEE 2");
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("module graph: dependencies first, specifiers rewritten, linked as data: URLs", async () => {
  const files: Record<string, string> = {
    "/p:t.os/pkg/lib/a.ts": `export * from "./b.js"; export const a = 1;`,
    "/p:t.os/pkg/lib/b.js": `export const b = 2;`,
  };
  const read = (p: string) =>
    files[p] === undefined
      ? Promise.reject(new Error("none"))
      : Promise.resolve(new TextEncoder().encode(files[p]));
  const g = await collectModuleGraph(
    "/p:t.os/pkg/main.ts",
    `import { a } from "./lib/a.ts";\nimport { b } from './lib/b.js';\nexport const init = () => a + b;`,
    "typescript",
    read,
  );
  assertEquals(g.files.map((f) => [f.file, f.mediaType]), [
    ["/p:t.os/pkg/lib/b.js", "javascript"],
    ["/p:t.os/pkg/lib/a.ts", "typescript"],
    ["/p:t.os/pkg/main.ts", "typescript"],
  ]);
  assertEquals(g.files[1].source, `export * from "hyperdeno:dep/0"; export const a = 1;`);
  assert(g.files[2].source.includes(`from "hyperdeno:dep/1"`), g.files[2].source);
  assert(g.files[2].source.includes(`from "hyperdeno:dep/0"`), g.files[2].source);
  const mod = await import(linkModule(g.files, "data:application/javascript,"));
  assertEquals(mod.init(), 3);
});
