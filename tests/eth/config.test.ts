// EthConfigAction (every variant), who may send it, the two files in the node home, and
// the boot rules for them (default providers, --rpc, --rpc-config, the simulation chain).

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { createEthModule } from "../../modules/eth/mod.ts";
import { defaultProviders } from "../../modules/eth/config.ts";
import { bootEthNode, PROBE, withTempHome } from "./helpers.ts";

const ETH = "our@eth:distro:sys";

const DEFAULTS = JSON.parse(
  await Deno.readTextFile(
    new URL("../../modules/eth/default_providers_mainnet.json", import.meta.url),
  ),
);

const rpcUrl = (chain: number, url: string, auth?: unknown) => ({
  chain_id: chain,
  trusted: true,
  provider: { RpcUrl: auth ? { url, auth } : { url } },
});

const nodeProvider = (chain: number, name: string) => ({
  chain_id: chain,
  trusted: false,
  provider: {
    Node: {
      hns_update: {
        name,
        public_key: `0x${"11".repeat(32)}`,
        ips: ["127.0.0.1"],
        ports: { ws: 9000, tcp: 10000 },
        routers: [],
      },
      use_as_provider: true,
    },
  },
});

/** nodeProvider as eth writes it back: ports in key order (a BTreeMap). */
const nodeProviderSaved = (chain: number, name: string) => {
  const p = nodeProvider(chain, name);
  p.provider.Node.hns_update.ports = { tcp: 10000, ws: 9000 };
  return p;
};

Deno.test("eth config: every EthConfigAction, answered and saved as Hyperdrive does", async (t) => {
  await withTempHome(async (home) => {
    let n = await bootEthNode(home, "fake.dev", {});
    try {
      await t.step(
        "first boot: the default providers, saved; no access settings file",
        async () => {
          assertEquals(await n.eth('"GetProviders"'), { Providers: DEFAULTS });
          assertEquals(JSON.parse(await Deno.readTextFile(`${home}/.eth_providers`)), DEFAULTS);
          await assertRejects(() => Deno.stat(`${home}/.eth_access_settings`));
          assertEquals(await n.eth('"GetAccessSettings"'), {
            AccessSettings: { public: false, allow: [], deny: [] },
          });
        },
      );

      await t.step("AddProvider: first for its chain, URL providers before nodes", async () => {
        assertEquals(
          await n.eth({ AddProvider: rpcUrl(8453, "wss://base.example", { Bearer: "k1" }) }),
          "Ok",
        );
        // the same URL again replaces it (auth included)
        assertEquals(
          await n.eth({ AddProvider: rpcUrl(8453, "wss://base.example", { Basic: "dTpw" }) }),
          "Ok",
        );
        // RpcUrl as a bare string, as older configs wrote it
        assertEquals(
          await n.eth({
            AddProvider: { chain_id: 8453, trusted: false, provider: { RpcUrl: "https://b2" } },
          }),
          "Ok",
        );
        assertEquals(await n.eth({ AddProvider: nodeProvider(8453, "extra.os") }), "Ok");
        const { Providers } = await n.eth('"GetProviders"') as { Providers: unknown[] };
        const base = Providers.filter((p) => (p as { chain_id: number }).chain_id === 8453);
        assertEquals(base, [
          { chain_id: 8453, trusted: false, provider: { RpcUrl: { url: "https://b2" } } },
          rpcUrl(8453, "wss://base.example", { Basic: "dTpw" }),
          nodeProviderSaved(8453, "extra.os"),
          DEFAULTS.find((d: { chain_id: number }) => d.chain_id === 8453),
        ]);
        // saved in the same form
        const saved = JSON.parse(await Deno.readTextFile(`${home}/.eth_providers`));
        assertEquals(saved, Providers);
      });

      await t.step("RemoveProvider by URL or node name; ProviderNotFound otherwise", async () => {
        assertEquals(await n.eth({ RemoveProvider: [8453, "https://b2"] }), "Ok");
        assertEquals(await n.eth({ RemoveProvider: [8453, "extra.os"] }), "Ok");
        assertEquals(await n.eth({ RemoveProvider: [8453, "https://b2"] }), "ProviderNotFound");
        assertEquals(await n.eth({ RemoveProvider: [777, "https://b2"] }), "ProviderNotFound");
        const { Providers } = await n.eth('"GetProviders"') as { Providers: unknown[] };
        assertEquals(Providers.length, DEFAULTS.length + 1);
      });

      await t.step("access settings: each action answers Ok and is saved", async () => {
        for (
          const a of [
            '"SetPublic"',
            { AllowNode: "x.os" },
            { AllowNode: "y.os" },
            { UnallowNode: "y.os" },
            { DenyNode: "z.os" },
            { DenyNode: "w.os" },
            { UndenyNode: "w.os" },
          ]
        ) {
          assertEquals(await n.eth(a), "Ok", JSON.stringify(a));
        }
        assertEquals(await n.eth('"GetAccessSettings"'), {
          AccessSettings: { public: true, allow: ["x.os"], deny: ["z.os"] },
        });
        assertEquals(
          await Deno.readTextFile(`${home}/.eth_access_settings`),
          '{"public":true,"allow":["x.os"],"deny":["z.os"]}',
        );
        assertEquals(await n.eth('"SetPrivate"'), "Ok");
        assertEquals(
          await Deno.readTextFile(`${home}/.eth_access_settings`),
          '{"public":false,"allow":["x.os"],"deny":["z.os"]}',
        );
      });

      await t.step("SetProviders replaces everything", async () => {
        const list = [
          rpcUrl(1, "wss://one", { Raw: "token" }),
          nodeProvider(1, "relay.os"),
          rpcUrl(10, "wss://ten"),
        ];
        assertEquals(await n.eth({ SetProviders: list }), "Ok");
        const expected = [list[0], nodeProviderSaved(1, "relay.os"), list[2]];
        assertEquals(await n.eth('"GetProviders"'), { Providers: expected });
        assertEquals(
          await Deno.readTextFile(`${home}/.eth_providers`),
          JSON.stringify(expected),
        );
      });

      await t.step("GetState", async () => {
        assertEquals(await n.eth('"GetState"'), {
          State: { active_subscriptions: {}, outstanding_requests: [] },
        });
      });

      await t.step("a process without eth's root capability: PermissionDenied", async () => {
        for (
          const a of [
            '"GetProviders"',
            '"GetAccessSettings"',
            '"GetState"',
            '"SetPublic"',
            '"SetPrivate"',
            { AllowNode: "q.os" },
            { UnallowNode: "q.os" },
            { DenyNode: "q.os" },
            { UndenyNode: "q.os" },
            { AddProvider: rpcUrl(5, "wss://five") },
            { RemoveProvider: [1, "wss://one"] },
            { SetProviders: [] },
          ]
        ) {
          assertEquals(await n.probe.ask(ETH, a), "PermissionDenied", JSON.stringify(a));
        }
        // with {"root":true} from eth:distro:sys it may
        n.probe.ctx.grantCapabilities(PROBE, [{
          issuer: {
            node: "fake.dev",
            process: { processName: "eth", packageName: "distro", publisherNode: "sys" },
          },
          params: '{"root":true}',
        }]);
        assertEquals(await n.probe.ask(ETH, '"GetAccessSettings"'), {
          AccessSettings: { public: false, allow: ["x.os"], deny: ["z.os"] },
        });
      });

      await t.step("a malformed config action: MalformedRequest (as EthResponse)", async () => {
        assertEquals(await n.eth({ AddProvider: { chain_id: 1, trusted: true } }), {
          Err: "MalformedRequest",
        });
        assertEquals(await n.eth({ RemoveProvider: [1] }), { Err: "MalformedRequest" });
        assertEquals(await n.eth({ AllowNode: 5 }), { Err: "MalformedRequest" });
      });

      await t.step("a reboot keeps providers and access settings", async () => {
        await n.node.shutdown();
        n = await bootEthNode(home, "fake.dev", {});
        assertEquals(await n.eth('"GetAccessSettings"'), {
          AccessSettings: { public: false, allow: ["x.os"], deny: ["z.os"] },
        });
        const { Providers } = await n.eth('"GetProviders"') as { Providers: unknown[] };
        assertEquals(Providers.length, 3);
      });
    } finally {
      await n.node.shutdown();
    }
  });
});

Deno.test("eth boot rules: --rpc, --rpc-config, simulation, a broken .eth_providers", async (t) => {
  await t.step("--rpc with --rpc-config, or a missing --rpc-config file: refused", () => {
    let e = "";
    try {
      createEthModule({ rpc: "wss://x", rpcConfig: "/dev/null" });
    } catch (err) {
      e = (err as Error).message;
    }
    assert(e.startsWith("Cannot use both --rpc and --rpc-config flags simultaneously"), e);
    try {
      createEthModule({ rpcConfig: "/nonexistent/rpc.json" });
      e = "";
    } catch (err) {
      e = (err as Error).message;
    }
    assertEquals(e, "specified rpc-config path /nonexistent/rpc.json not found");
  });

  await t.step("--rpc: first for Base (8453), trusted, saved", async () => {
    await withTempHome(async (home) => {
      const n = await bootEthNode(home, "fake.dev", { rpc: "wss://base.rpc" });
      try {
        const saved = JSON.parse(await Deno.readTextFile(`${home}/.eth_providers`));
        assertEquals(saved[0], rpcUrl(8453, "wss://base.rpc"));
        assertEquals(saved.slice(1), DEFAULTS);
      } finally {
        await n.node.shutdown();
      }
      // again at the next boot: still once, still first
      const m = await bootEthNode(home, "fake.dev", { rpc: "wss://base.rpc" });
      try {
        const saved = JSON.parse(await Deno.readTextFile(`${home}/.eth_providers`));
        assertEquals(saved.length, DEFAULTS.length + 1);
        assertEquals(saved[0], rpcUrl(8453, "wss://base.rpc"));
      } finally {
        await m.node.shutdown();
      }
    });
  });

  await t.step("--rpc-config: entries in file order, with auth", async () => {
    await withTempHome(async (home) => {
      const file = `${home}/rpc.json`;
      await Deno.writeTextFile(
        file,
        JSON.stringify([
          { url: "wss://first", auth: { Bearer: "b" } },
          { url: "wss://second" },
          { url: "wss://third", auth: null },
        ]),
      );
      const n = await bootEthNode(`${home}/node`, "fake.dev", { rpcConfig: file });
      try {
        const saved = JSON.parse(await Deno.readTextFile(`${home}/node/.eth_providers`));
        assertEquals(saved.slice(0, 3), [
          rpcUrl(8453, "wss://first", { Bearer: "b" }),
          rpcUrl(8453, "wss://second"),
          rpcUrl(8453, "wss://third"),
        ]);
      } finally {
        await n.node.shutdown();
      }
      // a file that does not parse: reported, nothing added
      await Deno.writeTextFile(file, "[{nope");
      const m = await bootEthNode(`${home}/other`, "fake.dev", { rpcConfig: file });
      try {
        assert(m.prints.includes("Failed to parse RPC config file"));
        assertEquals(await m.eth('"GetProviders"'), { Providers: DEFAULTS });
      } finally {
        await m.node.shutdown();
      }
    });
  });

  await t.step("simulation: chain 31337, the fakechain URL first and unsaved", async () => {
    await withTempHome(async (home) => {
      const n = await bootEthNode(home, "fake.dev", {
        simulation: true,
        fakechainPort: 8599,
        rpc: "ws://127.0.0.1:9999",
      });
      try {
        const { Providers } = await n.eth('"GetProviders"') as { Providers: unknown[] };
        assertEquals(Providers.slice(0, 2), [
          rpcUrl(31337, "ws://localhost:8599"),
          rpcUrl(31337, "ws://127.0.0.1:9999"),
        ]);
        const saved = JSON.parse(await Deno.readTextFile(`${home}/.eth_providers`));
        assertEquals(saved[0], rpcUrl(31337, "ws://127.0.0.1:9999"));
        assertEquals(saved.length, DEFAULTS.length + 1);
      } finally {
        await n.node.shutdown();
      }
    });
  });

  await t.step("a .eth_providers that does not parse: the defaults, reported", async () => {
    await withTempHome(async (home) => {
      await Deno.writeTextFile(`${home}/.eth_providers`, '[{"chain_id":"x"}]');
      const n = await bootEthNode(home, "fake.dev", {});
      try {
        assert(n.prints.includes("error loading saved eth providers, using default providers"));
        assertEquals(await n.eth('"GetProviders"'), { Providers: DEFAULTS });
        // left as it was (Hyperdrive saves only when something was added)
        assertEquals(await Deno.readTextFile(`${home}/.eth_providers`), '[{"chain_id":"x"}]');
      } finally {
        await n.node.shutdown();
      }
    });
  });

  await t.step(
    "node providers are taught to net at boot (Hyperdrive's PKI bootstrap)",
    async () => {
      await withTempHome(async (home) => {
        const n = await bootEthNode(home, "fake.dev", {});
        try {
          const { decodeNetResponse, encodeNetAction } = await import("../../net/codec.ts");
          for (const d of defaultProviders()) {
            if (!("Node" in d.provider)) continue;
            const name = d.provider.Node.hns_update.name;
            const r = await n.node.request(
              "our@net:distro:sys",
              encodeNetAction({ tag: "GetPeer", name }),
            );
            const peer = decodeNetResponse(r.body) as { Peer: { name: string } | null };
            assertEquals(peer.Peer?.name, name);
          }
        } finally {
          await n.node.shutdown();
        }
      });
    },
  );
});
