// The Hyperware Book's Quick Start with hyperdeno's verbs: two fake nodes on a local chain,
// `new my-chat-app`, `build`, `start-package` on both, `inject-message` the Book's three ways,
// and the chat arriving on the other node.
//
// START-PACKAGE: kit's start-package installs through the node's app store
// (main:app-store:sys). Until hyperdeno's app store is merged, a node without one gets the
// package through bootNode's installPackage instead (the same files, installed as a distro
// package is); the test says which path it took. The app store protocol itself (what
// start-package, remove-package and view-api send, byte for byte) is tested against a recording
// stand-in below, and the whole CLI Quick Start (deno task fake-node subprocesses) runs once
// packages/app-store exists.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { startChain } from "../../chain/mod.ts";
import { buildPackage, readMetadata } from "../../kit/build.ts";
import { newPackage } from "../../kit/new.ts";
import { injectMessage } from "../../kit/inject_message.ts";
import {
  APP_STORE,
  installMessage,
  newPackageMessage,
  removePackage,
  startPackage,
} from "../../kit/start_package.ts";
import { getApi, listApis } from "../../kit/view_api.ts";
import { zipDirectory } from "../../kit/zip.ts";
import {
  bootQsNode,
  collector,
  eventually,
  freePort,
  type QsNode,
  sha256,
  waitToKnow,
  withTempDir,
} from "./helpers.ts";

const CHAT = "my-chat-app:my-chat-app:template.os";
const STUB = new URL("./fixtures/app-store-stub", import.meta.url).pathname;
const dec = new TextDecoder();

/** start-package as kit does it when the node has an app store; bootNode's install until then. */
async function startOn(n: QsNode, dir: string, log: (l: string) => void): Promise<string> {
  if (n.node.isRunning(APP_STORE)) {
    await startPackage(dir, n.url, log);
    return "start-package (app store)";
  }
  await n.node.installPackage(dir);
  return "bootNode installPackage (no app store yet)";
}

async function history(n: QsNode, of: string) {
  const out = await injectMessage({
    url: n.url,
    process: CHAT,
    body: JSON.stringify({ History: of }),
  });
  const body = /^Response:\nbody: (.*)\nblob: None$/s.exec(out);
  assert(body, out);
  return JSON.parse(body[1]);
}

/**
 * A script of the package run as hyperdeno's terminal runs one: its scripts.json grants, then
 * InitializeProcess (a random name in the package) from pkg/<script>.wasm, RunProcess, and the
 * rest of the line as its first message.
 */
async function runScript(n: QsNode, pkgDir: string, script: string, args: string) {
  const entry = JSON.parse(await Deno.readTextFile(`${pkgDir}/scripts.json`))[`${script}.wasm`];
  const id = `${script}-${crypto.randomUUID().slice(0, 8)}:my-chat-app:template.os`;
  const kernel = "our@kernel:distro:sys";
  for (const g of entry.grant_capabilities as string[]) {
    await n.node.send(
      kernel,
      JSON.stringify({
        GrantCapabilities: {
          target: g,
          capabilities: [{ issuer: `${n.node.our}@${id}`, params: '"messaging"' }],
        },
      }),
    );
  }
  const init = await n.node.request(
    kernel,
    JSON.stringify({
      InitializeProcess: {
        id,
        wasm_bytes_handle: `/my-chat-app:template.os/pkg/${script}.wasm`,
        wit_version: 1,
        on_exit: "None",
        initial_capabilities: [],
        public: false,
      },
    }),
    { blob: await Deno.readFile(`${pkgDir}/${script}.wasm`), timeoutSeconds: 60 },
  );
  assertEquals(dec.decode(init.body), '"InitializedProcess"');
  const run = await n.node.request(kernel, JSON.stringify({ RunProcess: id }));
  assertEquals(dec.decode(run.body), '"StartedProcess"');
  await n.node.send(`our@${id}`, args);
}

Deno.test({
  name: "Quick Start: two fake nodes, new, build, start-package on both, inject-message, chat",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const chain = await startChain({ port: 0 });
      const nodes: QsNode[] = [];
      try {
        // deno task new my-chat-app; deno task build my-chat-app
        const app = `${dir}/my-chat-app`;
        await newPackage({ dir: app });
        const built = await buildPackage({ dir: app, log: collector().log });
        assertEquals(built.zip, `${app}/target/my-chat-app:template.zip`);
        // deno task fake-node; deno task fake-node --home ... --port 8081 --fake-node-name fake2
        nodes.push(await bootQsNode(`${dir}/fake-node`, "fake.os", chain.port));
        nodes.push(await bootQsNode(`${dir}/fake-node-2`, "fake2.os", chain.port));
        const [fake, fake2] = nodes;
        // deno task start-package my-chat-app [--port 8081]
        const how = [];
        for (const n of nodes) how.push(await startOn(n, app, collector().log));
        console.log(`  start-package path: ${how.join(", ")}`);
        assert(fake.node.isRunning(CHAT) && fake2.node.isRunning(CHAT));
        // the app answers (its component instantiated) on both nodes
        for (const n of nodes) {
          const r = await n.node.request(`our@${CHAT}`, '{"History": "nobody.os"}', {
            timeoutSeconds: 60,
          });
          assertEquals(JSON.parse(dec.decode(r.body)), { History: [] });
        }
        await waitToKnow(fake.node, "fake2.os", 60_000, fake.prints);
        await waitToKnow(fake2.node, "fake.os", 60_000, fake2.prints);

        // deno task inject-message my-chat-app:my-chat-app:template.os '{"Send": ...fake2.os...}'
        const send = (target: string, message: string) =>
          JSON.stringify({ Send: { target, message } });
        assertEquals(
          await injectMessage({
            url: fake.url,
            process: CHAT,
            body: send("fake2.os", "hello from the outside world"),
          }),
          'Response:\nbody: "Send"\nblob: None',
        );
        // ... arrives on fake2, printed by its my-chat-app
        await eventually(() =>
          fake2.prints.some((p) => p.includes("fake.os: hello from the outside world"))
        );
        // ... --node fake2.os: sent by fake2's app, through fake.os's RPC
        assertMatch(
          await injectMessage({
            url: fake.url,
            process: CHAT,
            node: "fake2.os",
            body: send("fake.os", "replying from fake2.os using first method..."),
          }),
          /^Response:\nbody: "Send"/,
        );
        // ... -p 8081: fake2's own RPC
        assertMatch(
          await injectMessage({
            url: fake2.url,
            process: CHAT,
            body: send("fake.os", "and second!"),
          }),
          /^Response:\nbody: "Send"/,
        );
        await eventually(() => fake.prints.some((p) => p.includes("fake2.os: and second!")));
        const expected = [
          { author: "fake.os", content: "hello from the outside world" },
          { author: "fake2.os", content: "replying from fake2.os using first method..." },
          { author: "fake2.os", content: "and second!" },
        ];
        assertEquals(await history(fake, "fake2.os"), { History: expected });
        assertEquals(await history(fake2, "fake.os"), { History: expected });
        // the template's send script, run as the terminal runs `send:my-chat-app:template.os ...`
        await runScript(fake, `${app}/pkg`, "send", "fake2.os via the send script");
        await eventually(() =>
          fake2.prints.some((p) => p.includes("fake.os: via the send script"))
        );
        // --non-block: kit prints the status only
        assertEquals(
          await injectMessage({
            url: fake.url,
            process: CHAT,
            body: send("fake.os", "to myself"),
            nonBlock: true,
          }),
          "200 OK",
        );
      } finally {
        for (const n of nodes) await n.node.shutdown().catch(() => {});
        await chain.stop();
      }
    });
  },
});

Deno.test({
  name:
    "start-package, remove-package, view-api send kit's app store requests (recording stand-in)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const port = freePort();
      const node = await bootNode({
        home: `${dir}/home`,
        password: "secret",
        httpPort: port,
        tcpPort: 0,
        wsPort: false,
        exposeLocal: true,
        onPrint: (_l, t) => Deno.env.get("QS_TEST_VERBOSE") && console.log(t),
      });
      try {
        await node.installPackage(STUB);
        const url = `http://localhost:${port}`;
        const app = `${dir}/my-echo`;
        await newPackage({ dir: app, template: "echo" });
        const built = await buildPackage({ dir: app, log: collector().log });
        const c = collector();
        assertEquals(await startPackage(app, url, c.log), "my-echo:template.os");
        assertEquals(c.lines, [
          "my-echo:template.os",
          `Successfully installed package my-echo:template.os on node at ${url}`,
        ]);
        await removePackage(url, "my-echo", "template.os", c.log);
        const rec = await node.request(`our@${APP_STORE}`, '"Recorded"');
        const kept = JSON.parse(dec.decode(rec.body)) as string[];
        const zip = await Deno.readFile(built.zip);
        assertEquals(kept, [
          newPackageMessage("my-echo", "template.os", zip).body,
          installMessage(built.hash, await readMetadata(app)).body,
          '{"Uninstall":{"package_name":"my-echo","publisher_node":"template.os"}}',
        ]);
        assertEquals(await sha256(rec.blob!.bytes), built.hash, "the zip went as the blob");
        // view-api: the list, then one API (its api.zip unpacked, its WIT)
        assertEquals(await listApis(url), { ApisResponse: { apis: ["my-echo:template.os"] } });
        await Deno.mkdir(`${dir}/api`);
        await Deno.writeTextFile(`${dir}/api/my-echo:template.os-v0.wit`, "world w { }\n");
        await node.request(`our@${APP_STORE}`, '{"SetApi": null}', {
          blob: await zipDirectory(`${dir}/api`),
        });
        const got = await getApi(url, "my-echo:template.os");
        assertEquals(got.files, { "my-echo:template.os-v0.wit": "world w { }\n" });
        // a refusal is reported with the node's answer
        const refused = `${dir}/refused`;
        await newPackage({ dir: refused, template: "echo" });
        await buildPackage({ dir: refused, log: collector().log });
        let err = "";
        await startPackage(refused, url, collector().log).catch((e) => (err = e.message));
        assertEquals(
          err,
          'Failed to add package. Got response from node: {"NewPackageResponse":"Failure"}',
        );
      } finally {
        await node.shutdown();
      }
    });
  },
});

/** packages/app-store: hyperdeno's app store, being built; this test runs once it is merged. */
const APP_STORE_MERGED = await Deno.stat(new URL("../../packages/app-store", import.meta.url))
  .then(() => true, () => false);

Deno.test({
  name: "Quick Start on the command line: deno task fake-node x2, start-package, inject-message",
  ignore: !APP_STORE_MERGED,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { runCliQuickStart } = await import("./cli_quickstart.ts");
    await runCliQuickStart();
  },
});
