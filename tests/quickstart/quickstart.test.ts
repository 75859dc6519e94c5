// The Hyperware Book's Quick Start with hyperdeno's verbs: two fake nodes on a local chain,
// `new my-chat-app`, `build`, `start-package` on both, `inject-message` the Book's three ways,
// and the chat arriving on the other node.
//
// start-package installs through the node's app store (main:app-store:sys) as kit's does; the
// app store's other kit verbs (view-api, remove-package) and a refused zip are tested on one node
// below, and the whole CLI Quick Start (deno task fake-node subprocesses) runs last.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { startChain } from "../../chain/mod.ts";
import { buildPackage } from "../../kit/build.ts";
import { newPackage } from "../../kit/new.ts";
import { injectMessage } from "../../kit/inject_message.ts";
import { APP_STORE, removePackage, startPackage } from "../../kit/start_package.ts";
import { getApi, listApis } from "../../kit/view_api.ts";
import {
  bootQsNode,
  collector,
  eventually,
  freePort,
  type QsNode,
  waitToKnow,
  withTempDir,
} from "./helpers.ts";

const CHAT = "my-chat-app:my-chat-app:template.os";
const dec = new TextDecoder();
const enc = new TextEncoder();

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
        for (const n of nodes) {
          assert(n.node.isRunning(APP_STORE), "the distro's app store runs");
          await startPackage(app, n.url, collector().log);
        }
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
  name: "start-package, view-api, remove-package through the node's own app store",
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
        distro: true,
        onPrint: (_l, t) => Deno.env.get("QS_TEST_VERBOSE") && console.log(t),
      });
      try {
        assert(node.isRunning(APP_STORE), "the distro's app store runs");
        const url = `http://localhost:${port}`;
        const app = `${dir}/my-chat-app`;
        await newPackage({ dir: app });
        await buildPackage({ dir: app, log: collector().log });
        const c = collector();
        assertEquals(await startPackage(app, url, c.log), "my-chat-app:template.os");
        assertEquals(c.lines, [
          "my-chat-app:template.os",
          `Successfully installed package my-chat-app:template.os on node at ${url}`,
        ]);
        assert(node.isRunning(CHAT), "installed and started by the app store");
        // view-api: the list, then the package's API (its api.zip unpacked, its WIT)
        const apis = await listApis(url) as { ApisResponse: { apis: string[] } };
        assert(apis.ApisResponse.apis.includes("my-chat-app:template.os"), JSON.stringify(apis));
        const got = await getApi(url, "my-chat-app:template.os");
        const wit = "my-chat-app:template.os-v0.wit";
        assertEquals(got.files[wit], await Deno.readTextFile(`${app}/api/${wit}`));
        // start-package again: the same version is installed over itself, still running
        await startPackage(app, url, collector().log);
        assert(node.isRunning(CHAT));
        // remove-package: uninstalled, its process gone, the app store keeps serving
        await removePackage(url, "my-chat-app", "template.os", collector().log);
        await eventually(() => !node.isRunning(CHAT));
        const after = await listApis(url) as { ApisResponse: { apis: string[] } };
        assert(!after.ApisResponse.apis.includes("my-chat-app:template.os"));
        // a broken zip is refused with the node's answer; nothing else changes
        await Deno.writeFile(`${app}/target/my-chat-app:template.zip`, enc.encode("not a zip"));
        let err = "";
        await startPackage(app, url, collector().log).catch((e) => err = e.message);
        assertMatch(
          err,
          /^Failed to add package\. Got response from node: \{"NewPackageResponse":/,
        );
        assert(!node.isRunning(CHAT));
        assert(node.isRunning(APP_STORE));
      } finally {
        await node.shutdown();
      }
    });
  },
});

Deno.test({
  name: "Quick Start on the command line: deno task fake-node x2, start-package, inject-message",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { runCliQuickStart } = await import("./cli_quickstart.ts");
    await runCliQuickStart();
  },
});
