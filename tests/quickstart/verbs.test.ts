// Each verb's flags and defaults are kit's (src/main.rs), and what the verbs send and write is
// what kit sends and writes: the RPC message, the app store's bodies, boot-fake-node's node
// command line, new's files and refusals, tests.toml.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { parseArgs, type Parsed, UsageError, type VerbSpec } from "../../kit/args.ts";
import { findVerb, main } from "../../kit/main.ts";
import { nodeArgs } from "../../kit/fake_node.ts";
import { makeMessage, sortedJson } from "../../kit/rpc.ts";
import { installMessage, newPackageMessage } from "../../kit/start_package.ts";
import { newPackage, templateVars } from "../../kit/new.ts";
import { readAndUpdateMetadata, readMetadata } from "../../kit/build.ts";
import { nodeNames, readConfig } from "../../kit/run_tests.ts";
import { parseToml } from "../../kit/toml.ts";
import { withTempDir } from "./helpers.ts";

function parse(verb: string, argv: string[]): Parsed {
  const [spec] = findVerb(verb)!;
  const p = parseArgs(spec, argv);
  if (p === "help") throw new Error("help");
  return p;
}
const defaults = (verb: string, argv: string[] = []) => parse(verb, argv).values;

Deno.test("verbs: every kit verb and alias has a deno task", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)))
    .tasks as Record<string, string>;
  const verbs = [
    "fake-node",
    "boot-fake-node",
    "chain",
    "new",
    "build",
    "start-package",
    "build-start-package",
    "remove-package",
    "inject-message",
    "view-api",
    "run-tests",
  ];
  for (const v of verbs) {
    assertEquals(tasks[v], `./node_modules/deno/deno run -A kit/main.ts ${v}`, v);
    assert(findVerb(v), v);
  }
  for (
    const [alias, verb] of Object.entries({
      f: "fake-node",
      c: "chain",
      n: "new",
      b: "build",
      s: "start-package",
      bs: "build-start-package",
      r: "remove-package",
      i: "inject-message",
      v: "view-api",
      t: "run-tests",
    })
  ) {
    assertEquals(findVerb(alias)![0].name, verb, alias);
  }
});

Deno.test("verbs: fake-node's flags and defaults are boot-fake-node's", () => {
  assertEquals(defaults("fake-node"), {
    "runtime-path": undefined,
    version: "latest",
    port: "8080",
    home: "/tmp/hyperdrive-fake-node",
    "fake-node-name": "fake.os",
    "fakechain-port": "8545",
    rpc: undefined,
    persist: false,
    password: "secret",
    release: false,
    verbosity: "0",
  });
  const p = parse("boot-fake-node", [
    "-o",
    "./node-2",
    "-p8081",
    "--fake-node-name=fake2",
    "-c",
    "9545",
    "--persist",
    "--",
    "--max-peers",
    "3",
  ]);
  assertEquals(p.values.home, "./node-2");
  assertEquals(p.values.port, "8081");
  assertEquals(p.values["fake-node-name"], "fake2");
  assertEquals(p.values["fakechain-port"], "9545");
  assertEquals(p.values.persist, true);
  assertEquals(p.rest, ["--max-peers", "3"]);
  // the node's command line, in kit's run_runtime order; a name without a dot gets .os
  assertEquals(
    nodeArgs({
      home: "/h",
      port: 8081,
      name: "fake2",
      fakechainPort: 8545,
      password: "secret",
      verbosity: 0,
      rpc: "wss://x",
      args: ["--max-peers", "3"],
    }),
    [
      "/h",
      "--port",
      "8081",
      "--verbosity",
      "0",
      "--expose-local",
      "--max-peers",
      "3",
      "--rpc",
      "wss://x",
      "--password",
      "secret",
      "--fake-node-name",
      "fake2.os",
      "--fakechain-port",
      "8545",
    ],
  );
});

Deno.test("verbs: the other verbs' flags and defaults are kit's", () => {
  assertEquals(defaults("chain"), {
    port: "8545",
    host: "127.0.0.1",
    verbose: false,
    tracing: false,
  });
  const n = defaults("new", ["my-chat-app"]);
  assertEquals([n.DIR, n.package, n.publisher, n.language, n.template, n.ui], [
    "my-chat-app",
    undefined,
    "template.os",
    "typescript",
    "chat",
    false,
  ]);
  assertEquals(
    defaults("new", ["x", "-t", "fibonacci", "--ui", "-a", "y", "-u", "me.os"]).template,
    "fibonacci",
  );
  const b = defaults("build");
  assertEquals([b.DIR, b.port, b["no-ui"], b["ui-only"], b.include, b.exclude, b.toolchain], [
    ".",
    "8080",
    false,
    false,
    [],
    [],
    "+1.85.1",
  ]);
  assertEquals(defaults("build", ["-i", "a", "-i", "b"]).include, ["a", "b"]);
  assertEquals(defaults("start-package", ["my-chat-app", "--port", "8081"]), {
    DIR: "my-chat-app",
    port: "8081",
  });
  assertEquals(defaults("start-package"), { DIR: ".", port: "8080" });
  assertEquals(defaults("build-start-package").port, "8080");
  assertEquals(defaults("remove-package", ["-a", "p", "-u", "q"]), {
    package: "p",
    publisher: "q",
    DIR: ".",
    port: "8080",
  });
  const i = parse("inject-message", [
    "a:b:c",
    '{"x": 1}',
    "-n",
    "fake2.os",
    "-p",
    "8081",
    "-b",
    "f",
    "-l",
  ]);
  assertEquals(i.values, {
    PROCESS: "a:b:c",
    BODY_JSON: '{"x": 1}',
    port: "8081",
    node: "fake2.os",
    blob: "f",
    "non-block": true,
  });
  assertEquals(defaults("inject-message", ["a:b:c", "{}"]).port, "8080");
  assertEquals(defaults("view-api"), {
    PACKAGE_ID: undefined,
    port: "8080",
    "download-from": undefined,
  });
  assertEquals(defaults("run-tests"), { PATH: "." });
});

Deno.test("verbs: bad command lines are refused as clap refuses them", () => {
  const refuse = (verb: string, argv: string[], text: string) => {
    try {
      parse(verb, argv);
    } catch (e) {
      assert(e instanceof UsageError, String(e));
      assert((e as Error).message.includes(text), (e as Error).message);
      return;
    }
    throw new Error(`${verb} ${argv.join(" ")} was accepted`);
  };
  refuse("new", [], "required arguments");
  refuse("new", ["x", "-t", "nope"], "possible values");
  refuse("inject-message", ["a:b:c"], "required arguments");
  refuse("build", ["--bogus"], "unexpected argument");
  refuse("start-package", ["--port"], "a value is required");
  refuse("build", ["--", "x"], "unexpected argument '--'");
});

Deno.test("verbs: main prints help and refuses unknown verbs with exit code 2", async () => {
  const log = console.log;
  const err = console.error;
  const out: string[] = [];
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    assertEquals(await main(["new", "--help"]), 0);
    assert(out.join("\n").includes("--template <TEMPLATE>"), out.join("\n"));
    assertEquals(await main(["nope"]), 2);
    assertEquals(await main(["new", "x", "--bogus"]), 2);
  } finally {
    console.log = log;
    console.error = err;
  }
});

Deno.test("rpc: kit's message, keys sorted as serde_json writes them", () => {
  assertEquals(
    sortedJson(
      makeMessage(
        "my-chat-app:my-chat-app:template.os",
        15,
        '{"Send": {"target": "fake2.os", "message": "hi"}}',
      ),
    ),
    '{"body":"{\\"Send\\": {\\"target\\": \\"fake2.os\\", \\"message\\": \\"hi\\"}}","context":null,' +
      '"data":null,"expects_response":15,"inherit":false,"metadata":null,' +
      '"mime":"application/octet-stream","node":null,"process":"my-chat-app:my-chat-app:template.os"}',
  );
  const m = makeMessage("p:q:r", null, "{}", "fake2.os", new Uint8Array([1, 2, 3]));
  assertEquals([m.expects_response, m.node, m.data], [null, "fake2.os", "AQID"]);
});

Deno.test("start-package: NewPackage and Install are kit's bodies", () => {
  const np = newPackageMessage("my-chat-app", "template.os", new Uint8Array([9]));
  assertEquals(np.process, "main:app-store:sys");
  assertEquals(np.expects_response, 15);
  assertEquals(np.data, "CQ==");
  assertEquals(
    np.body,
    '{"NewPackage":{"mirror":true,"package_id":{"package_name":"my-chat-app","publisher_node":"template.os"}}}',
  );
  const inst = installMessage("ab12", {
    name: "my-chat-app",
    description: "",
    image: "",
    external_url: "",
    animation_url: "",
    properties: {
      package_name: "my-chat-app",
      current_version: "0.1.0",
      publisher: "template.os",
      mirrors: [],
      code_hashes: { "0.1.0": "" },
      wit_version: 1,
      dependencies: [],
    },
  });
  assertEquals(
    inst.body,
    '{"Install":{"metadata":{"animation_url":"","description":"","external_url":"","image":"",' +
      '"name":"my-chat-app","properties":{"api_includes":null,"code_hashes":[["0.1.0",""]],' +
      '"current_version":"0.1.0","dependencies":[],"license":null,"mirrors":[],' +
      '"package_name":"my-chat-app","publisher":"template.os","screenshots":null,' +
      '"wit_version":1}},"package_id":{"package_name":"my-chat-app",' +
      '"publisher_node":"template.os"},"version_hash":"ab12"}}',
  );
});

Deno.test("new: kit's layout and names; kit's refusals", async () => {
  await withTempDir(async (dir) => {
    const files = await newPackage({ dir: `${dir}/my-chat-app` });
    assertEquals(files, [
      ".gitignore",
      "api/my-chat-app:template.os-v0.wit",
      "metadata.json",
      "my-chat-app/src/lib.ts",
      "pkg/manifest.json",
      "pkg/scripts.json",
      "send/src/lib.ts",
      "test/my-chat-app-test/api/my-chat-app-test:template.os-v0.wit",
      "test/my-chat-app-test/metadata.json",
      "test/my-chat-app-test/my-chat-app-test/src/lib.ts",
      "test/my-chat-app-test/pkg/manifest.json",
      "test/tests.toml",
    ]);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/my-chat-app/pkg/manifest.json`));
    assertEquals(manifest[0].process_name, "my-chat-app");
    assertEquals(manifest[0].process_wasm_path, "/my-chat-app.wasm");
    const meta = await readMetadata(`${dir}/my-chat-app`);
    assertEquals([meta.properties.package_name, meta.properties.publisher], [
      "my-chat-app",
      "template.os",
    ]);
    const wit = await Deno.readTextFile(`${dir}/my-chat-app/api/my-chat-app:template.os-v0.wit`);
    assert(wit.includes("world my-chat-app-template-dot-os-v0 {"), wit);
    assert(!/\{\{/.test(await Deno.readTextFile(`${dir}/my-chat-app/my-chat-app/src/lib.ts`)));
    // --ui: the UI and the app that serves it
    const ui = await newPackage({ dir: `${dir}/ui-chat`, ui: true, publisher: "me.os" });
    assert(ui.includes("ui/index.html"), ui.join());
    assertEquals(templateVars("p", "a.b.os").publisher_kebab, "a-dot-b-dot-os");
    // refusals
    await assertRejects(() => newPackage({ dir: `${dir}/my-chat-app` }), "already exists");
    await assertRejects(() => newPackage({ dir: `${dir}/test` }), "not allowed");
    await assertRejects(() => newPackage({ dir: `${dir}/Bad_Name` }), "Hypermap safe");
    await assertRejects(() => newPackage({ dir: `${dir}/x`, publisher: "Me" }), "Hypermap safe");
    await assertRejects(() => newPackage({ dir: `${dir}/y`, template: "echo", ui: true }), "--ui");
    await assertRejects(
      () => newPackage({ dir: `${dir}/z`, template: "blank" }),
      "isn't available",
    );
  });
});

Deno.test("build: current_version follows code_hashes as kit's read_and_update_metadata", async () => {
  await withTempDir(async (dir) => {
    await newPackage({ dir: `${dir}/app`, template: "echo" });
    const file = `${dir}/app/metadata.json`;
    const m = JSON.parse(await Deno.readTextFile(file));
    m.properties.code_hashes = { "0.1.0": "", "0.2.0": "" };
    await Deno.writeTextFile(file, JSON.stringify(m, null, 4));
    assertEquals((await readAndUpdateMetadata(`${dir}/app`)).properties.current_version, "0.2.0");
    assert((await Deno.readTextFile(file)).includes('"current_version": "0.2.0"'));
    m.properties.current_version = "0.3.0";
    await Deno.writeTextFile(file, JSON.stringify(m));
    await assertRejects(() => readAndUpdateMetadata(`${dir}/app`), "does not exist");
    m.properties.code_hashes = {};
    await Deno.writeTextFile(file, JSON.stringify(m));
    await assertRejects(() => readAndUpdateMetadata(`${dir}/app`), "doesn't list versions");
  });
});

Deno.test("run-tests: kit's tests.toml, its required fields, its node names", async () => {
  const text = await Deno.readTextFile(
    new URL("../../kit/templates/chat/test/tests.toml", import.meta.url),
  );
  const c = readConfig(text);
  assertEquals(c.runtime, { FetchVersion: "latest" });
  assertEquals([c.persist_home, c.runtime_build_release, c.always_print_node_output], [
    false,
    false,
    false,
  ]);
  assertEquals(c.tests.length, 1);
  assertEquals(c.tests[0].setup_packages, [{ path: "..", run: true }]);
  assertEquals(c.tests[0].fakechain_router, 8545);
  assertEquals(
    c.tests[0].nodes.map((n) => [n.port, n.home, n.fake_node_name, n.runtime_verbosity]),
    [
      [8080, "home/first", "first.os", 2],
      [8081, "home/second", "second.os", 2],
    ],
  );
  assertEquals(nodeNames(c.tests[0].nodes), ["first.os", "second.os"]);
  // kit's serde: a missing field is an error naming it
  let err = "";
  try {
    readConfig(text.replace(/^persist_home = false$/m, ""));
  } catch (e) {
    err = (e as Error).message;
  }
  assert(err.includes("missing field `persist_home`"), err);
  // TOML: nested arrays of tables, inline tables, strings, comments, underscores
  assertEquals(
    parseToml("a = 1_000 # c\n[[t]]\nx = { y = \"z\\n\", w = [1, 2,] }\n[[t.n]]\nk = 'v'\n[[t]]\n"),
    { a: 1000, t: [{ x: { y: "z\n", w: [1, 2] }, n: [{ k: "v" }] }, {}] },
  );
});

/** Spec sanity: every flag's long name is unique within its verb. */
Deno.test("verbs: specs are well formed", () => {
  for (
    const name of [
      "fake-node",
      "chain",
      "new",
      "build",
      "start-package",
      "build-start-package",
      "remove-package",
      "inject-message",
      "view-api",
      "run-tests",
    ]
  ) {
    const [spec] = findVerb(name)! as [VerbSpec, unknown];
    const longs = spec.args.filter((a) => a.long).map((a) => a.long);
    const shorts = spec.args.filter((a) => a.short).map((a) => a.short);
    assertEquals(new Set(longs).size, longs.length, name);
    assertEquals(new Set(shorts).size, shorts.length, name);
  }
});
