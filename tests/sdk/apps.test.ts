// The SDK end to end: the sample counter app (sdk/examples/counter) as a process
// module on alice.os and built into a component on bob.os, calling each other
// with typed remote calls; hyperapp's JSON shapes on the wire; HTTP methods
// through http-server with the login cookie, and the generated TS client; a
// WebSocket; the homepage tile. A relay app declares the counter's API with
// api() and calls it remotely, including a method the counter serves only locally.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { writePackage } from "../../sdk/build.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { bootSdkNode, introduce, type SdkNode, until } from "./helpers.ts";

const COUNTER_SRC = new URL("../../sdk/examples/counter/counter.ts", import.meta.url).pathname;
const RELAY_SRC = new URL("./fixtures/relay.ts", import.meta.url).pathname;
const COUNTER = "counter:counter:template.os";
const RELAY = "relay:relay:test.os";
const enc = new TextEncoder();

interface App {
  id: string;
  label: string;
  path: string | null;
}

async function tiles(node: SdkNode): Promise<App[]> {
  const answer = await node.ask("our@homepage:homepage:sys", "GetApps") as { GetApps: App[] };
  return answer.GetApps;
}

Deno.test("sdk: a module app and its component call each other; HTTP, client, WebSocket, tile", async (t) => {
  await withTempDir(async (dir) => {
    const moduleBuild = await writePackage({
      entry: COUNTER_SRC,
      out: `${dir}/src/counter-module`,
      packageName: "counter",
      publisher: "template.os",
    });
    const componentBuild = await writePackage({
      entry: COUNTER_SRC,
      out: `${dir}/src/counter-component`,
      packageName: "counter",
      publisher: "template.os",
      component: true,
    });
    const relayBuild = await writePackage({
      entry: RELAY_SRC,
      out: `${dir}/src/relay`,
      packageName: "relay",
      publisher: "test.os",
      networking: true,
    });
    assertEquals(moduleBuild.processId, COUNTER);

    const alice = await bootSdkNode(`${dir}/alice`, "alice.os", { http: true, distro: true });
    let bobNode: SdkNode | undefined;
    try {
      bobNode = await bootSdkNode(`${dir}/bob`, "bob.os", { distro: true, pki: [alice.identity] });
      const bob = bobNode;
      await introduce(alice, bob);
      await alice.installPackage(moduleBuild.dir);
      await alice.installPackage(relayBuild.dir);
      await bob.installPackage(componentBuild.dir);
      await alice.waitForPrint(/counter: counting from 0/);
      await bob.waitForPrint(/counter: counting from 0/);
      const at = (node: string, p = COUNTER) => `${node}@${p}`;

      await t.step("hyperapp's wire shapes, on the module and the component", async () => {
        for (const node of [alice, bob]) {
          const c = at("our");
          assertEquals(await node.ask(c, { Increment: 2 }), 2); // one argument: newtype variant
          assertEquals(await node.ask(c, { GetCount: null }), 2); // none: {"V": null} ...
          assertEquals(await node.ask(c, "GetCount"), 2); // ... or the unit variant "V"
          // two arguments: a tuple; a Result answer as serde writes it
          assertEquals(await node.ask(c, { Leave: ["first", "Happy"] }), { Ok: 1 });
          assertEquals(await node.ask(c, { Leave: ["", "Grumpy"] }), { Err: "empty note" });
          assertEquals(await node.ask(c, { Notes: null }), [
            { from: `${node.our}@kernel:distro:sys`, text: "first", mood: "Happy" },
          ]);
          // a call it cannot serve is answered with process_lib's SendError (kind Timeout),
          // serde JSON, as hyperapp does: a Rust caller's send() reads it as an error
          const bad = JSON.stringify({ Increment: "x" });
          assertEquals(await node.ask(c, JSON.parse(bad)), {
            kind: "Timeout",
            target: `${node.our}@kernel:distro:sys`,
            message: {
              Request: {
                source: `${node.our}@kernel:distro:sys`,
                expects_response: 10,
                body: [...enc.encode(bad)],
                metadata: null,
                capabilities: [],
              },
            },
            lazy_load_blob: null,
            context: null,
          });
          assertEquals(
            (await node.ask(c, { NoSuchMethod: 1 }) as { kind: string }).kind,
            "Timeout",
          );
          assertEquals(await node.ask(c, { Increment: 1 }), 3); // still serving
        }
      });

      await t.step("typed remote calls: module -> component and component -> module", async () => {
        // alice's module calls bob's component (app.at(target).increment({amount}))
        assertEquals(await alice.ask(at("our"), { BumpPeer: [at("bob.os"), 5] }, 15), { Ok: 8 });
        assertEquals(await bob.ask(at("our"), "GetCount"), 8);
        // and bob's component calls alice's module
        assertEquals(await bob.ask(at("our"), { BumpPeer: [at("alice.os"), 4] }, 15), { Ok: 7 });
        // an unreachable node: the CallError becomes the method's Err
        const off = await alice.ask(at("our"), { BumpPeer: [at("nobody.os"), 1] }, 15) as {
          Err: string;
        };
        assertMatch(off.Err, /nobody\.os/);
      });

      await t.step("api(): another app's methods, called remotely", async () => {
        const bobCounter = at("bob.os");
        assertEquals(await alice.ask(at("our", RELAY), { CountAt: bobCounter }, 15), { Ok: 8 });
        assertEquals(
          await alice.ask(at("our", RELAY), { LeaveAt: [bobCounter, "from relay", "Grumpy"] }, 15),
          { Ok: { Ok: 2 } },
        );
        const notes = await bob.ask(at("our"), "Notes") as unknown[];
        assertEquals(notes[1], {
          from: at("alice.os", RELAY),
          text: "from relay",
          mood: "Grumpy",
        });
        // notes is local-only: bob refuses the remote call with a SendError, a CallError here
        const refused = await alice.ask(at("our", RELAY), { NotesAt: bobCounter }, 15) as {
          Err: string;
        };
        assertMatch(refused.Err, /^Timeout: .*Notes/);
      });

      const base = `${alice.httpUrl}/${COUNTER}`;
      const cookie = alice.cookie!;

      await t.step("HTTP methods through http-server, routed as hyperapp routes them", async () => {
        const call = async (method: string, path: string, body?: unknown, auth = true) => {
          const res = await fetch(base + path, {
            method,
            headers: auth ? { cookie } : {},
            body: body === undefined ? undefined : JSON.stringify(body),
            redirect: "manual",
          });
          return { status: res.status, text: await res.text() };
        };
        // a body is routed by its variant
        assertEquals(await call("POST", "/api", { Increment: 1 }), { status: 200, text: "8" });
        assertEquals(await call("POST", "/api", { BumpPeer: [at("bob.os"), 1] }), {
          status: 200,
          text: '{"Ok":9}',
        });
        // no body: a method without arguments, by method and path
        assertEquals(await call("GET", "/api/count"), { status: 200, text: "8" });
        // a remote-only method is not an HTTP method; garbage is a 400
        assertEquals((await call("POST", "/api", { Leave: ["x", "Happy"] })).status, 400);
        assertEquals((await call("POST", "/api", { Nope: 1 })).status, 400);
        const garbage = await fetch(base + "/api", {
          method: "POST",
          headers: { cookie },
          body: "{",
        });
        assertEquals(garbage.status, 400);
        await garbage.body?.cancel();
        // HttpBindingConfig's default: authenticated
        assertEquals((await call("GET", "/api/count", undefined, false)).status, 401);
        // the UI from pkg/ui, and the generated client beside it
        const page = await call("GET", "/");
        assertEquals(page.status, 200);
        assertMatch(page.text, /import \* as api from "\.\/api\.js"/);
        const js = await call("GET", "/api.js");
        assertEquals(js.status, 200);
        assertMatch(js.text, /export \{[^}]*increment/);
      });

      await t.step("the generated TS client calls the HTTP methods, typed", async () => {
        const clientFile = `${moduleBuild.dir}/client/counter.ts`;
        const client = await import(clientFile) as typeof import("./fixtures/counter_client.ts");
        client.config.origin = alice.httpUrl!;
        client.config.headers = { cookie };
        assertEquals(await client.increment(2), 10);
        assertEquals(await client.get_count(), 10);
        assertEquals((await client.notes()).map((n) => n.text), ["first"]);
        assertEquals(await client.bump_peer(at("bob.os"), 1), 10); // Ok unwrapped
        const e = await client.bump_peer(at("nobody.os"), 1).then(() => undefined, (e) => e);
        assert(e instanceof client.ApiError, `expected ApiError, got ${e}`);
        assertMatch(String(e.details), /nobody\.os/); // the Err, thrown
      });

      await t.step("WebSocket: messages in, pushes out", async () => {
        const url = `${base.replace("http", "ws")}/updates`;
        const ws = new WebSocket(url, { headers: { cookie } });
        const got: string[] = [];
        ws.onmessage = (e) => got.push(String(e.data));
        await new Promise<void>((ok, fail) => {
          ws.onopen = () => ok();
          ws.onerror = () => fail(new Error("ws open failed"));
        });
        try {
          ws.send("hello");
          await until(() => assertEquals(got, ['{"count":10,"said":"hello"}']), 10_000);
          // a method pushes to every open channel
          await alice.ask(at("our"), { Increment: 5 });
          await until(() => assertEquals(got.at(-1), '{"count":15}'), 10_000);
        } finally {
          const closed = new Promise((r) => (ws.onclose = r));
          ws.close();
          await closed;
        }
      });

      await t.step(
        "the homepage tile: added at start by the module and the component",
        async () => {
          for (const node of [alice, bob]) {
            const tile = await until(async () => {
              const found = (await tiles(node)).find((a) => a.id === COUNTER);
              assert(found, `no ${COUNTER} tile on ${node.our}`);
              return found;
            });
            assertEquals([tile.label, tile.path], ["Counter", `/${COUNTER}/`]);
          }
          // homepage: false (the relay) adds none
          assert(!(await tiles(alice)).some((a) => a.id === RELAY));
        },
      );
    } finally {
      await bobNode?.shutdown();
      await alice.shutdown();
    }
  });
});
