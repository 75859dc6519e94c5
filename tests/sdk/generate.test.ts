// What sdk/build.ts generates from an app's methods: the WIT of its API (kit's
// hyperapp layout, checked by a real WIT parser against hyperware.wit), the typed
// TS client, the manifest's capabilities; and the app definitions it refuses.

import { componentWitMetadataForWorld } from "@bytecodealliance/jco-transpile";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { bundleApp, loadApp, writePackage } from "../../sdk/build.ts";
import { generateClient, generateWit, generateWorlds } from "../../sdk/generate.ts";
import { withTempDir } from "../kernel/helpers.ts";

const COUNTER_SRC = new URL("../../sdk/examples/counter/counter.ts", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const STANDARD_WIT = new URL("../../kernel/process_host/hyperware.wit", import.meta.url).pathname;

Deno.test("sdk generate: the counter's WIT is kit's hyperapp layout and parses", async () => {
  const { app } = await loadApp(COUNTER_SRC);
  const wit = generateWit(app);
  assertEquals(wit, await Deno.readTextFile(`${FIXTURES}counter.wit`));
  // every way a method is served has its signature record, with its args and return
  const records = [...wit.matchAll(/record (\S+)-signature-(\S+) \{/g)].map((m) =>
    `${m[1]}/${m[2]}`
  );
  assertEquals(records, [
    "bump-peer/http",
    "bump-peer/local",
    "get-count/http",
    "get-count/local",
    "get-count/remote",
    "increment/http",
    "increment/local",
    "increment/remote",
    "leave/remote",
    "notes/http",
    "notes/local",
  ]);
  assertMatch(
    wit,
    /record leave-signature-remote \{\n\s+target: address,\n\s+arg-types: tuple<string, mood>,\n\s+returning: result<u32, string>\n/,
  );
  assertMatch(wit, /\/\/ json fmt: \{"Leave": \[text, mood\]\}/);
  assertMatch(wit, /\/\/ HTTP: GET \/api\/count\n/);
  // a real WIT parser reads the interface and the world with hyperware.wit
  const worlds = generateWorlds(app, "counter-template-dot-os-v0");
  const source = [
    await Deno.readTextFile(STANDARD_WIT),
    wit,
    worlds["counter-template-dot-os-v0.wit"],
    worlds["types-counter-template-dot-os-v0.wit"],
  ].join("\n");
  const meta = await componentWitMetadataForWorld(
    { tag: "source", val: source },
    "counter-template-dot-os-v0",
  );
  assertEquals(
    meta.imports.map((i: { interface?: string }) => i.interface).sort(),
    ["counter", "standard"],
  );
});

Deno.test("sdk generate: the TS client has a typed function per HTTP method", async () => {
  const { app } = await loadApp(COUNTER_SRC);
  const client = generateClient(app, "counter:counter:template.os");
  assertEquals(client, await Deno.readTextFile(`${FIXTURES}counter_client.ts`));
  // hyperapp's bodies: {"Variant": arg}, {"Variant": [args]}, {"Variant": null}; GET without body
  assertMatch(
    client,
    /export function increment\(amount: number\): Promise<number> \{\n.*"POST", "\/api", \{ Increment: amount \}, false\)/,
  );
  assertMatch(
    client,
    /export function bump_peer\(target: string, amount: number\): Promise<number>[^]*\{ BumpPeer: \[target, amount\] \}, true\)/,
  );
  assertMatch(
    client,
    /export function get_count\(\): Promise<number> \{\n.*"GET", "\/api\/count", undefined, false\)/,
  );
  assertMatch(client, /export function notes\(\): Promise<Note\[\]>[^]*\{ Notes: null \}/);
  assertMatch(
    client,
    /export interface Note \{\n {2}from: string;\n {2}text: string;\n {2}mood: Mood;\n\}/,
  );
  assert(!client.includes("leave"), "leave is remote-only: not in the UI client");
  // it type-checks
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/client.ts`, client);
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-config", `${dir}/client.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(check.success, new TextDecoder().decode(check.stderr));
  });
});

Deno.test("sdk build: a package in kit's layout with the capabilities the app needs", async () => {
  await withTempDir(async (dir) => {
    const built = await writePackage({
      entry: COUNTER_SRC,
      out: `${dir}/counter`,
      packageName: "counter",
      publisher: "template.os",
    });
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/counter/pkg/manifest.json`));
    assertEquals(manifest, [{
      process_name: "counter",
      process_wasm_path: "/counter.js",
      on_exit: "Restart",
      request_networking: true,
      request_capabilities: ["http-server:distro:sys", "vfs:distro:sys", "homepage:homepage:sys"],
      grant_capabilities: ["http-server:distro:sys"],
      public: false,
    }]);
    const files = [];
    for await (const e of Deno.readDir(`${dir}/counter/api`)) files.push(e.name);
    assertEquals(files.sort(), [
      "counter-template-dot-os-v0.wit",
      "counter.wit",
      "types-counter-template-dot-os-v0.wit",
    ]);
    assertEquals(Object.keys(built.wit).length, 3);
    // one self-contained module: its only import is the standard API
    const code = await Deno.readTextFile(`${dir}/counter/pkg/counter.js`);
    assertEquals(
      [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]),
      ["hyperware:process/standard@1.0.0"],
    );
    assertMatch(code, /^export \{ app, init \};$/m);
    assert(!code.includes("/tmp/"), "no build paths in the bundle");
    // the UI and its client
    assertMatch(await Deno.readTextFile(`${dir}/counter/pkg/ui/index.html`), /api\.js/);
    assertMatch(await Deno.readTextFile(`${dir}/counter/pkg/ui/api.js`), /function increment/);
  });
});

Deno.test("sdk: app definitions that cannot work are refused when built", async () => {
  const cases: [string, RegExp][] = [
    [`.method("x", { args: { a: t.u8 } }, () => null)`, /serve it somewhere/],
    [
      `.method("x", { local: true }, () => null).method("X", { remote: true }, () => null)`,
      /two methods named X/,
    ],
    [`.method("get", { http: { method: "GET" }, args: { a: t.u8 } }, () => null)`, /GET and HEAD/],
    [`.method("9lives", { local: true }, () => null)`, /cannot be a WIT name/],
    [
      `.method("a", { http: { method: "GET", path: "/p" } }, () => 1).method("b", { http: { method: "GET", path: "/p" } }, () => 2)`,
      /GET \/p is a's/,
    ],
  ];
  const sdk = new URL("../../sdk/mod.ts", import.meta.url).pathname;
  await withTempDir(async (dir) => {
    for (const [methods, error] of cases) {
      const src = `${dir}/bad.ts`;
      await Deno.writeTextFile(
        src,
        `import { hyperapp, t } from "${sdk}";\n` +
          `export const app = hyperapp({ name: "bad", state: () => ({}) })${methods};\n` +
          `export const init = app.main;\n`,
      );
      const e = await loadApp(src).then(() => undefined, (e) => e as Error);
      assert(e, `accepted: ${methods}`);
      assertMatch(e.message, error);
    }
    // a module without `init` or without its app
    await Deno.writeTextFile(`${dir}/noinit.ts`, `export const x = 1;\n`);
    assertMatch((await loadApp(`${dir}/noinit.ts`).catch((e) => e)).message, /export const init/);
    assertMatch(await bundleApp(`${dir}/noinit.ts`), /export \{ x \}/);
  });
});
