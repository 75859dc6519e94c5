// settings:settings:sys on a real node booted with the distro packages: /ask answers
// with this node's identity, processes, eth providers, access settings and stylesheet
// (read back from net, eth, the kernel and the homepage); a second node known through
// its PKI record becomes a peer after settings says hi to it; eth providers and access
// settings round-trip through eth:distro:sys; KillProcess, SetStylesheet (seen on the
// homepage), Reset and Shutdown; settings:sys-v0.wit requests from processes answered
// as Hyperdrive's; malformed input refused with reasons while settings keeps serving;
// the homepage tile and widget.

import { assert, assertEquals } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { encodeNetAction } from "../../net/codec.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import {
  appId,
  HOMEPAGE,
  NODE_NAME,
  SETTINGS,
  type SettingsNode,
  SUBDOMAIN,
  until,
  withSettingsNode,
} from "./helpers.ts";

const dec = new TextDecoder();

async function askEth(n: SettingsNode, body: unknown): Promise<Record<string, unknown>> {
  const res = await n.node.request("our@eth:distro:sys", JSON.stringify(body));
  return JSON.parse(dec.decode(res.body));
}

function teach(node: { send(t: string, b: Uint8Array): Promise<void> }, update: HnsUpdate) {
  return node.send("our@net:distro:sys", encodeNetAction({ tag: "HnsUpdate", update }));
}

Deno.test({
  name: "settings: /ask answers with this node's identity, processes, eth, stylesheet; peers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withSettingsNode(async (n, home) => {
      const s = await n.state();
      const me = n.node.identity;
      assertEquals(s.our, `${NODE_NAME}@${SETTINGS}`);
      assertEquals(s.identity, {
        name: NODE_NAME,
        networking_key: me.public_key,
        routing: { Direct: { ip: "127.0.0.1", ports: { tcp: me.ports.tcp } } },
      });
      assert((s.diagnostics as string).includes(NODE_NAME), String(s.diagnostics));
      assertEquals(s.peers, []);
      // the kernel's process map, runtime modules and the distro's apps
      const map = s.process_map as Record<string, { wasm_bytes_handle: string }>;
      for (const pid of [SETTINGS, HOMEPAGE, "hello:hello:sys", "net:distro:sys"]) {
        assert(pid in map, pid);
      }
      assertEquals(map[SETTINGS].wasm_bytes_handle, "/settings:sys/pkg/settings.ts");
      assertEquals(map["net:distro:sys"].wasm_bytes_handle, "");
      // eth's own answers, as they are
      assertEquals(s.eth_rpc_providers, (await askEth(n, "GetProviders")).Providers);
      assertEquals(s.eth_rpc_access_settings, { public: false, allow: [], deny: [] });
      // the stylesheet the homepage serves
      const css = await (await n.get("/hyperware.css", { cookie: false })).text();
      assertEquals(s.stylesheet, css);
      // Hypermap records are not read (yet): null, not made up
      for (const k of ["our_tba", "our_owner", "net_key", "routers", "ip", "ws_port"]) {
        assertEquals(s[k], null, k);
      }

      // only with the login scoped to settings, and only on its subdomain
      const anon = await n.http("GET", "/ask", undefined, { cookie: false });
      assertEquals(anon.status, 401);
      const mainCookie = await n.http("GET", "/ask", undefined, { cookie: n.cookie });
      assertEquals(mainCookie.status, 401);
      const onMain = await n.http("GET", "/ask", undefined, { host: `localhost:${n.port}` });
      assertEquals(onMain.status, 307);
      assertEquals(
        onMain.headers.get("location"),
        `http://${SUBDOMAIN}.localhost:${n.port}/${SETTINGS}/ask`,
      );
      const page = await n.http("GET", "/");
      assertEquals(page.status, 200);
      assert(page.text.includes(`/${SETTINGS}/settings.js`));
      for (const asset of ["/settings.js", "/settings.css", "/icon.svg"]) {
        assertEquals((await n.http("GET", asset)).status, 200, asset);
      }

      // PeerId as a process asks it (Hyperdrive's answer shape) and over HTTP
      const ports = [["tcp", me.ports.tcp]];
      const peerId = {
        PeerId: {
          name: NODE_NAME,
          networking_key: me.public_key,
          routing: { Direct: { ip: "127.0.0.1", ports } },
        },
      };
      assertEquals(await n.request({ PeerId: NODE_NAME }), { Ok: peerId });
      assertEquals((await n.ask({ PeerId: NODE_NAME })).json, peerId);
      assertEquals(await n.request({ PeerId: "nobody.dev" }), { Ok: null });
      const none = await n.ask({ PeerId: "nobody.dev" });
      assertEquals([none.status, none.json], [200, null]);

      // the homepage tile and widget
      const apps = await (await n.get("/apps")).json() as Record<string, unknown>[];
      const tile = apps.find((a) => a.id === SETTINGS)!;
      assertEquals([tile.label, tile.path, tile.favorite], ["Settings", `/${SETTINGS}/`, true]);
      assert(String(tile.base64_icon).startsWith("data:image/svg+xml;base64,"));
      assert(String(tile.widget).includes(NODE_NAME), String(tile.widget));
      // the widget's refresh, on the main origin
      const refresh = await n.get(`/${SETTINGS}/refresh`);
      assertEquals(refresh.status, 200);
      const sum = await refresh.json();
      assertEquals([sum.node, sum.routing, sum.ip, sum.peers], [
        NODE_NAME,
        "direct",
        "127.0.0.1",
        0,
      ]);
      assertEquals(sum.processes, Object.keys(map).length);

      // a second node, known through its PKI record, is a peer once we say hi
      const peerHome = `${home}/peer`;
      const prints: string[] = [];
      const peer = await bootNode({
        home: peerHome,
        name: "peer.dev",
        httpPort: false,
        tcpPort: 0,
        wsPort: false,
        // it knows us from its PKI at boot; we learn it as the hns-indexer would tell us
        pki: [n.node.identity],
        onPrint: (_l, t) => prints.push(t),
      });
      try {
        await teach(n.node, peer.identity);
        const hi = await n.ask({
          Hi: { node: "peer.dev", content: "hello from settings", timeout: 5 },
        });
        assertEquals([hi.status, hi.json], [200, null]);
        await until(
          () => Promise.resolve(prints.some((p) => p.includes("hello from settings"))),
          "peer.dev printing the hello",
        );
        const after = await n.state();
        assertEquals(after.peers, [{
          name: "peer.dev",
          networking_key: peer.identity.public_key,
          routing: { Direct: { ip: "127.0.0.1", ports: { tcp: peer.identity.ports.tcp } } },
        }]);
        assert((after.diagnostics as string).includes("peer.dev"), String(after.diagnostics));
        assertEquals((await n.ask({ PeerId: "peer.dev" })).json, {
          PeerId: {
            name: "peer.dev",
            networking_key: peer.identity.public_key,
            routing: { Direct: { ip: "127.0.0.1", ports: [["tcp", peer.identity.ports.tcp]] } },
          },
        });
        assertEquals((await (await n.get(`/${SETTINGS}/refresh`)).json()).peers, 1);
        // as a process: Hi answered Ok(None)
        assertEquals(
          await n.request({ Hi: { node: "peer.dev", content: "again", timeout: 5 } }),
          { Ok: null },
        );
      } finally {
        await peer.shutdown();
      }
      // a node nobody knows is offline at once
      const off = await n.ask({ Hi: { node: "nobody.dev", content: "hi", timeout: 3 } });
      assertEquals([off.status, off.json], [502, {
        Err: "HiOffline",
        message: "nobody.dev is offline or does not exist",
      }]);
      assertEquals(
        await n.request({ Hi: { node: "nobody.dev", content: "hi", timeout: 3 } }),
        { Err: "HiOffline" },
      );
    });
  },
});

Deno.test({
  name: "settings: eth providers and access settings round-trip through eth:distro:sys",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withSettingsNode(async (n) => {
      const providers = async () =>
        (await askEth(n, "GetProviders")).Providers as Record<string, unknown>[];
      const before = await providers();
      const url = "ws://127.0.0.1:9/rpc";

      const add = await n.ask({
        EthConfig: { AddProvider: { chain_id: 31337, node_or_rpc_url: { RpcUrl: url } } },
      });
      assertEquals([add.status, add.json], [200, null]);
      let now = await providers();
      assertEquals(now.length, before.length + 1);
      assert(
        now.some((p) =>
          JSON.stringify(p) ===
            JSON.stringify({ chain_id: 31337, trusted: true, provider: { RpcUrl: { url } } })
        ),
        JSON.stringify(now),
      );
      // the state shows what eth has
      assertEquals((await n.state()).eth_rpc_providers, now);

      // a node provider, by name, as a process asks it
      assertEquals(
        await n.request({
          EthConfig: {
            AddProvider: { chain_id: 10, node_or_rpc_url: { Node: "relay.dev" } },
          },
        }),
        { Ok: null },
      );
      now = await providers();
      const relay = now.find((p) =>
        (p.provider as { Node?: { hns_update: { name: string } } }).Node?.hns_update.name ===
          "relay.dev"
      )!;
      assertEquals(relay.chain_id, 10);
      assertEquals(relay.trusted, true);
      assertEquals(
        (relay.provider as { Node: { use_as_provider: boolean } }).Node.use_as_provider,
        true,
      );

      // remove both; removing again: not found (HTTP says so; the WIT answer is Hyperdrive's Ok)
      const rm = await n.ask({ EthConfig: { RemoveProvider: [31337, url] } });
      assertEquals([rm.status, rm.json], [200, null]);
      assertEquals(await n.request({ EthConfig: { RemoveProvider: [10, "relay.dev"] } }), {
        Ok: null,
      });
      assertEquals(await providers(), before);
      const again = await n.ask({ EthConfig: { RemoveProvider: [31337, url] } });
      assertEquals([again.status, again.json], [404, {
        Err: "ProviderNotFound",
        message: `no provider ${url} for chain 31337`,
      }]);
      assertEquals(await n.request({ EthConfig: { RemoveProvider: [31337, url] } }), { Ok: null });

      // access settings
      const access = async () => (await askEth(n, "GetAccessSettings")).AccessSettings;
      assertEquals((await n.ask({ EthConfig: "SetPublic" })).status, 200);
      assertEquals(await access(), { public: true, allow: [], deny: [] });
      for (
        const req of [
          { AllowNode: "friend.dev" },
          { AllowNode: "other.dev" },
          { DenyNode: "pest.dev" },
          "SetPrivate",
        ]
      ) {
        assertEquals((await n.ask({ EthConfig: req })).status, 200, JSON.stringify(req));
      }
      assertEquals(await access(), {
        public: false,
        allow: ["friend.dev", "other.dev"],
        deny: ["pest.dev"],
      });
      assertEquals((await n.state()).eth_rpc_access_settings, await access());
      assertEquals(await n.request({ EthConfig: { UnallowNode: "other.dev" } }), { Ok: null });
      assertEquals((await n.ask({ EthConfig: { UndenyNode: "pest.dev" } })).status, 200);
      assertEquals(await access(), { public: false, allow: ["friend.dev"], deny: [] });
    });
  },
});

Deno.test({
  name: "settings: KillProcess, SetStylesheet on the homepage, Reset, Shutdown",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withSettingsNode(async (n) => {
      await n.installApp("notes");
      await n.installApp("clock");
      assert(n.node.isRunning(appId("notes")));

      // over HTTP, as the UI does
      const kill = await n.ask({ KillProcess: appId("notes") });
      assertEquals([kill.status, kill.json], [200, null]);
      assert(!n.node.isRunning(appId("notes")), "notes stopped");
      assert(!(appId("notes") in ((await n.state()).process_map as object)), "notes gone");
      // as a process: Hyperdrive's answer
      assertEquals(await n.request({ KillProcess: appId("clock") }), { Ok: null });
      assert(!n.node.isRunning(appId("clock")), "clock stopped");

      // what cannot be stopped is refused with the reason
      const refusals: [string, string][] = [
        [appId("notes"), `there is no process ${appId("notes")} on this node`],
        ["net:distro:sys", "net:distro:sys is part of the runtime and cannot be stopped"],
        [SETTINGS, "settings cannot stop itself"],
      ];
      for (const [pid, message] of refusals) {
        const r = await n.ask({ KillProcess: pid });
        assertEquals([r.status, r.json], [400, { Err: "MalformedRequest", message }], pid);
        assertEquals(await n.request({ KillProcess: pid }), { Err: "MalformedRequest" });
      }
      assert(n.node.isRunning(SETTINGS));
      assert("net:distro:sys" in ((await n.state()).process_map as object));

      // SetStylesheet: the homepage serves it (settings holds its SetStylesheet cap)
      const original = await (await n.get("/hyperware.css", { cookie: false })).text();
      const css = ":root { --hw-bg: rgb(1, 2, 3); }";
      assertEquals((await n.ask({ SetStylesheet: css })).status, 200);
      await until(async () => {
        const r = await n.get("/hyperware.css", { cookie: false });
        return (await r.text()) === css;
      }, "the homepage serving the new stylesheet");
      assertEquals((await n.state()).stylesheet, css);
      // the package's own, to restore it
      const def = await n.http("GET", "/default-stylesheet");
      assertEquals([def.status, def.text], [200, original]);
      assertEquals(await n.request({ SetStylesheet: original }), { Ok: null });
      await until(async () => {
        const r = await n.get("/hyperware.css", { cookie: false });
        return (await r.text()) === original;
      }, "the default stylesheet back");

      // Reset: this node has no hns-indexer
      const reset = await n.ask("Reset");
      assertEquals([reset.status, reset.json], [404, {
        Err: "NotInstalled",
        message: "hns-indexer is not installed on this node: there is no HNS state to reset",
      }]);
      assertEquals(await n.request("Reset"), { Ok: null });

      // verbosity: the kernel's (hyperdeno's) Debug Verbosity / SetVerbosity commands
      assertEquals(await n.http("GET", "/verbosity").then((v) => [v.status, v.json]), [
        200,
        { level: 1 },
      ]);
      assertEquals(await n.http("POST", "/verbosity", { level: 2 }).then((v) => v.json), {
        level: 2,
      });
      assertEquals(await n.http("GET", "/verbosity").then((v) => v.json), { level: 2 });

      // Shutdown: the node stops
      const down = await n.ask("Shutdown");
      assertEquals(down.status, 200);
      await until(
        () => Promise.resolve(!n.node.isRunning(HOMEPAGE) && !n.node.isRunning(SETTINGS)),
        "the node shut down",
      );
    });
  },
});

Deno.test({
  name: "settings: malformed requests are refused with reasons; settings keeps serving",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withSettingsNode(async (n) => {
      const cases: [string, string][] = [
        ["not json", "body is not JSON"],
        ["[1, 2]", 'expected a request variant: "Name" or {"Name": value}'],
        [
          '"Bogus"',
          'unknown request "Bogus": expected Hi, PeerId, EthConfig, Shutdown, Reset, KillProcess or SetStylesheet',
        ],
        ['{"Shutdown": 1}', "Shutdown takes no value"],
        ['{"PeerId": 5}', "PeerId must be a node name"],
        [
          '{"PeerId": "Not A Node"}',
          'PeerId "Not A Node" is not a node name: lowercase letters, digits, "-" and dots',
        ],
        ['{"Hi": "x"}', "Hi takes {node, content, timeout}"],
        ['{"Hi": {"node": "a.dev", "content": 1, "timeout": 5}}', "Hi's content must be a string"],
        [
          '{"Hi": {"node": "a.dev", "content": "x", "timeout": 0}}',
          "Hi's timeout is a whole number of seconds, 1 to 120",
        ],
        [
          `{"Hi": {"node": "${NODE_NAME}", "content": "x", "timeout": 5}}`,
          `${NODE_NAME} is this node: say hi to another one`,
        ],
        [
          '{"EthConfig": "Bogus"}',
          'unknown EthConfig "Bogus": expected AddProvider, RemoveProvider, SetPublic, SetPrivate, AllowNode, UnallowNode, DenyNode or UndenyNode',
        ],
        ['{"EthConfig": {"AddProvider": 1}}', "AddProvider takes {chain_id, node_or_rpc_url}"],
        [
          '{"EthConfig": {"AddProvider": {"chain_id": -1, "node_or_rpc_url": {"RpcUrl": "wss://a.b"}}}}',
          "chain_id must be a whole number, such as 1 for Ethereum mainnet",
        ],
        [
          '{"EthConfig": {"AddProvider": {"chain_id": 1, "node_or_rpc_url": {"RpcUrl": "nonsense"}}}}',
          '"nonsense" is not a URL (e.g. wss://eth.example.com/ws)',
        ],
        [
          '{"EthConfig": {"AddProvider": {"chain_id": 1, "node_or_rpc_url": {"RpcUrl": "ftp://a.b"}}}}',
          "an RPC URL starts with wss://, ws://, https:// or http://, not ftp://",
        ],
        [
          '{"EthConfig": {"AddProvider": {"chain_id": 1, "node_or_rpc_url": {"Node": "A B"}}}}',
          'the provider node "A B" is not a node name: lowercase letters, digits, "-" and dots',
        ],
        [
          '{"EthConfig": {"AddProvider": {"chain_id": 1, "node_or_rpc_url": {"Ip": "x"}}}}',
          'node_or_rpc_url is {"Node": name} or {"RpcUrl": url}, not Ip',
        ],
        [
          '{"EthConfig": {"RemoveProvider": [1]}}',
          'RemoveProvider takes [chain_id, "<RPC URL or node name>"]',
        ],
        ['{"EthConfig": {"AllowNode": ""}}', "AllowNode's node must be a node name"],
        ['{"EthConfig": {"SetPublic": true}}', "SetPublic takes no value"],
        ['{"KillProcess": "nope"}', '"nope" is not a process id (process:package:publisher)'],
        ['{"KillProcess": 7}', "KillProcess takes a process id string"],
        ['{"SetStylesheet": 5}', "SetStylesheet takes the stylesheet as a string"],
      ];
      for (const [raw, message] of cases) {
        const r = await n.ask(raw, true);
        assertEquals([r.status, r.json], [400, { Err: "MalformedRequest", message }], raw);
        assertEquals(await n.request(raw, true), { Err: "MalformedRequest" }, raw);
      }
      const big = await n.ask({ SetStylesheet: "x".repeat((1 << 20) + 1) });
      assertEquals([big.status, big.json], [400, {
        Err: "MalformedRequest",
        message: "the stylesheet is over 1 MiB",
      }]);

      // bad HTTP
      const empty = await n.http("POST", "/ask", "");
      assertEquals([empty.status, (empty.json as { message: string }).message], [
        400,
        "POST /ask needs a JSON body",
      ]);
      assertEquals((await n.http("PUT", "/ask", "{}")).status, 405);
      const lvl = await n.http("POST", "/verbosity", { level: 9 });
      assertEquals([lvl.status, (lvl.json as { message: string }).message], [
        400,
        'expected {"level": 0, 1, 2 or 3}',
      ]);
      const post = await n.get(`/${SETTINGS}/refresh`, { method: "POST", body: "{}" });
      assertEquals(post.status, 405);
      await post.body?.cancel();

      // still serving, nothing changed, nothing crashed
      const s = await n.state();
      assertEquals(s.eth_rpc_access_settings, { public: false, allow: [], deny: [] });
      assert(n.node.isRunning(SETTINGS));
      assert(
        !n.prints.some((p) => p.includes(SETTINGS) && p.includes("exited")),
        n.prints.join("\n"),
      );
    });
  },
});
