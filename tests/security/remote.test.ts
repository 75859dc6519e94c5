// What a known peer may do to a node over the network. mallory.os is in alice.os's
// PKI and talks to her over real Noise/TCP; its app (prober, with networking)
// sends each runtime module and distro process of alice's what an attacker would.
// The rule (README, "Which APIs other nodes may use"): a runtime module that acts
// on this node's resources serves only its own node unless its API is meant to be
// remote (net's hello and routing, eth's relay under its access settings).

import { assert, assertEquals } from "../assert.ts";
import { decodeNetResponse, encodeNetAction } from "../../net/codec.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { bootSecNode, json, PROBER, type SecNode, teach } from "./helpers.ts";

const dec = new TextDecoder();

const A = (p: string) => `alice.os@${p}`;
const DROP = (module: string) =>
  `${module}: got request from mallory.os, but requests must come from our node`;

Deno.test("remote policy: what a known peer can ask of each module and distro process", async (t) => {
  await withTempDir(async (root) => {
    const nodes: SecNode[] = [];
    try {
      const alice = await bootSecNode(`${root}/alice`, "alice.os", { http: true, distro: true });
      nodes.push(alice);
      const mallory = await bootSecNode(`${root}/mallory`, "mallory.os", {
        http: false,
        pki: [alice.node.identity],
      });
      nodes.push(mallory);
      await teach(alice.node, mallory.node);
      const httpPort = Number(new URL(alice.node.httpUrl!).port);
      // alice's app binds a local-only path: only a client on her machine may read it
      assertEquals(
        await alice.httpServer({
          Bind: { path: "/local", authenticated: false, local_only: true, cache: false },
        }),
        { Ok: null },
      );
      const localUrl = `http://127.0.0.1:${httpPort}/${PROBER}/local`;
      const direct = await fetch(localUrl);
      assertEquals(direct.status, 200, "a client on alice's machine reads the local-only path");
      assertEquals((await direct.json()).secret, "secret of alice.os");
      // the peer is reachable: hello:sys is remote by design and answers
      const hello = await mallory.probeOne({ target: A("hello:hello:sys"), body: "hi" });
      assertEquals(hello.ok?.body, "hello, mallory.os! you said: hi");

      await t.step("http-client: a peer cannot make alice fetch anything", async () => {
        const rpc = JSON.stringify({
          process: PROBER,
          node: null,
          body: JSON.stringify({
            op: "http-server",
            action: {
              Bind: { path: "/owned", authenticated: false, local_only: false, cache: false },
            },
          }),
          expects_response: 5,
        });
        const [get, post, ws] = await mallory.probe([
          {
            target: A("http-client:distro:sys"),
            body: JSON.stringify({
              Http: { method: "GET", version: null, url: localUrl, headers: {} },
            }),
          },
          {
            // kit's RPC: root authority over alice's processes, with --expose-local
            target: A("http-client:distro:sys"),
            body: JSON.stringify({
              Http: {
                method: "POST",
                version: null,
                url: `http://127.0.0.1:${httpPort}/rpc:distro:sys/message`,
                headers: { "Content-Type": "application/json" },
              },
            }),
            blob: rpc,
          },
          {
            target: A("http-client:distro:sys"),
            body: JSON.stringify({
              WebSocketOpen: {
                url: `ws://127.0.0.1:${httpPort}/${PROBER}/ws`,
                headers: {},
                channel_id: 7,
              },
            }),
          },
        ]);
        assertEquals(get, { err: "timeout" }, `GET of the local-only path: ${JSON.stringify(get)}`);
        assertEquals(post, { err: "timeout" }, `POST to kit's RPC: ${JSON.stringify(post)}`);
        assertEquals(ws, { err: "timeout" }, `WebSocketOpen: ${JSON.stringify(ws)}`);
        assert(await alice.printed(DROP("http-client")), "alice printed the refusal");
        // the RPC did not reach alice's app
        const owned = await fetch(`http://127.0.0.1:${httpPort}/${PROBER}/owned`);
        assertEquals(owned.status, 404);
        await owned.body?.cancel();
      });

      await t.step("storage and timer: requests from another node are dropped", async () => {
        const pkg = { package_name: "sec", publisher_node: "test.os" };
        const outcomes = await mallory.probe([
          { target: A("state:distro:sys"), body: JSON.stringify({ GetState: PROBER }) },
          { target: A("state:distro:sys"), body: JSON.stringify({ SetState: PROBER }), blob: "x" },
          {
            target: A("vfs:distro:sys"),
            body: JSON.stringify({ path: "/sec:test.os/evil", action: "CreateDrive" }),
          },
          {
            target: A("vfs:distro:sys"),
            body: JSON.stringify({ path: "/sec:test.os/pkg/manifest.json", action: "Read" }),
          },
          {
            target: A("kv:distro:sys"),
            body: JSON.stringify({ package_id: pkg, db: "evil", action: "Open" }),
          },
          {
            target: A("sqlite:distro:sys"),
            body: JSON.stringify({ package_id: pkg, db: "evil", action: "Open" }),
          },
          { target: A("timer:distro:sys"), body: JSON.stringify({ SetTimer: 10 }) },
        ]);
        for (const o of outcomes) assertEquals(o, { err: "timeout" }, JSON.stringify(o));
        for (const m of ["state", "vfs", "kv", "sqlite", "timer"]) {
          assert(await alice.printed(DROP(m)), `${m} printed the refusal`);
        }
        // nothing was done: no state, no drive, no databases
        const state = await alice.node.request(
          "our@state:distro:sys",
          JSON.stringify({ GetState: PROBER }),
        );
        assert(dec.decode(state.body).includes("Err"), dec.decode(state.body));
        const vfs = await alice.node.request(
          "our@vfs:distro:sys",
          JSON.stringify({ path: "/sec:test.os/evil", action: "Metadata" }),
        );
        assert(dec.decode(vfs.body).includes("Err"), dec.decode(vfs.body));
        for (const m of ["kv", "sqlite"]) {
          const r = await alice.node.request(
            `our@${m}:distro:sys`,
            JSON.stringify({ package_id: pkg, db: "evil", action: "RemoveDb" }),
          );
          // RemoveDb of an existing database is Ok
          assert(dec.decode(r.body).includes("Err"), `${m}: ${dec.decode(r.body)}`);
        }
      });

      await t.step("http-server: another node's actions are refused", async () => {
        const outcomes = await mallory.probe([
          {
            target: A("http-server:distro:sys"),
            body: JSON.stringify({
              Bind: { path: "/x", authenticated: false, local_only: false, cache: false },
            }),
          },
          {
            target: A("http-server:distro:sys"),
            body: JSON.stringify({
              WebSocketBind: { path: "/x", authenticated: false, extension: false },
            }),
          },
          { target: A("http-server:distro:sys"), body: JSON.stringify({ Unbind: { path: "/x" } }) },
          {
            target: A("http-server:distro:sys"),
            body: JSON.stringify({ WebSocketPush: { channel_id: 1, message_type: "Text" } }),
            blob: "hi",
          },
          { target: A("http-server:distro:sys"), body: JSON.stringify({ WebSocketClose: 1 }) },
        ]);
        for (const o of outcomes) {
          assertEquals(json(o.ok?.body), { Err: "InvalidSourceProcess" }, JSON.stringify(o));
        }
        const bound = await fetch(`http://127.0.0.1:${httpPort}/${PROBER}/x`);
        assertEquals(bound.status, 404);
        await bound.body?.cancel();
      });

      await t.step("net: a peer gets hellos answered, never the node's key or PKI", async () => {
        const fake = {
          name: "fake.os",
          public_key: "0x" + "11".repeat(32),
          ips: ["127.0.0.1"],
          ports: { tcp: 1 },
          routers: [],
        };
        const b64 = (b: Uint8Array) => b.toBase64();
        const [peers, sign, update, diag] = await mallory.probe([
          { target: A("net:distro:sys"), bodyB64: b64(encodeNetAction({ tag: "GetPeers" })) },
          {
            target: A("net:distro:sys"),
            bodyB64: b64(encodeNetAction({ tag: "Sign" })),
            blob: "sign me",
          },
          {
            target: A("net:distro:sys"),
            bodyB64: b64(encodeNetAction({ tag: "HnsUpdate", update: fake })),
          },
          { target: A("net:distro:sys"), bodyB64: b64(encodeNetAction({ tag: "GetDiagnostics" })) },
        ]);
        // anything but ConnectionRequest from another node is a hello: printed, answered "ack"
        for (const o of [peers, sign, diag]) {
          assertEquals(o.ok?.body, "ack", JSON.stringify(o));
          assertEquals(o.ok?.blob, null);
        }
        assertEquals(update, { err: "timeout" });
        const r = await alice.node.request(
          "our@net:distro:sys",
          encodeNetAction({ tag: "GetPeer", name: "fake.os" }),
        );
        assertEquals(decodeNetResponse(r.body), { Peer: null });
      });

      await t.step("eth: relaying is for allowed nodes; configuration is local only", async () => {
        const [action, config] = await mallory.probe([
          {
            target: A("eth:distro:sys"),
            body: JSON.stringify({
              Request: { chain_id: 31337, method: "eth_chainId", params: [] },
            }),
          },
          { target: A("eth:distro:sys"), body: JSON.stringify("SetPublic") },
        ]);
        // alice is private (the default): PermissionDenied for both
        assertEquals(json(action.ok?.body), { Err: "PermissionDenied" });
        assertEquals(json(config.ok?.body), "PermissionDenied");
        const access = await alice.node.request(
          "our@eth:distro:sys",
          JSON.stringify("GetAccessSettings"),
        );
        const settings = json(dec.decode(access.body)) as { AccessSettings: { public: boolean } };
        assertEquals(settings.AccessSettings.public, false);
      });

      await t.step("kernel and homepage (no networking) never hear a peer", async () => {
        const outcomes = await mallory.probe([
          { target: A("kernel:distro:sys"), body: JSON.stringify({ KillProcess: PROBER }) },
          {
            target: A("homepage:homepage:sys"),
            body: JSON.stringify({ Add: { label: "evil", icon: null, path: "/", widget: null } }),
          },
        ]);
        for (const o of outcomes) assertEquals(o, { err: "timeout" }, JSON.stringify(o));
        assert(alice.node.isRunning(PROBER), "the kill from mallory did nothing");
        assert(
          await alice.printed(
            "homepage:homepage:sys got a message from over the network, but doesn't have capability",
          ),
          "the kernel dropped the message for homepage",
        );
      });

      await t.step({
        name: "terminal: a peer's text is not printed on alice's terminal",
        // terminal:terminal:sys (packages/terminal) runs only lines from the console and
        // requests from its own package on this node, as Hyperdrive's terminal
        fn: async () => {
          const marker = `from-mallory-${crypto.randomUUID()}`;
          await mallory.probe([{ target: A("terminal:terminal:sys"), body: marker, timeout: 1 }]);
          assert(!(await alice.printed(marker, 1000)), "alice printed a peer's text");
        },
      });
    } finally {
      for (const n of nodes.reverse()) await n.stop();
    }
  });
});
