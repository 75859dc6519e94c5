// chain/identity.ts on a real local chain: which providers an existing node is checked through
// (read from home, nothing written), assign_routing's answers for each shape of notes, and which
// homes count as an existing node's.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  assignRouting,
  ChainIdentityError,
  FALLBACK_RPC_URLS,
  identityProviders,
} from "../../chain/identity.ts";
import { writeNotes } from "../../chain/mod.ts";
import { bootNode, isOnchainHome } from "../../node.ts";
import { openUploadedKeyfile } from "../../modules/keyfile/mod.ts";
import { hashPassword } from "../../modules/keyfile/mod.ts";
import {
  freePort,
  homeWithKeyfile,
  makeKeyfile,
  mintDirect,
  mintIndirect,
  PASSWORD,
  snapshot,
  withChain,
  withTempDir,
} from "./helpers.ts";

const T = { sanitizeResources: false, sanitizeOps: false };
const key = () => crypto.getRandomValues(new Uint8Array(32));

Deno.test("identity: providers are the eth module's for the node's chain, read without writing", async () => {
  await withTempDir(async (home) => {
    // no .eth_providers: the defaults (node providers only), then --rpc, then the fallbacks
    const base = await identityProviders(home, { rpc: "wss://mine.example" });
    assertEquals(base.chainId, 8453n);
    assertEquals(base.providers.map((p) => p.url), ["wss://mine.example", ...FALLBACK_RPC_URLS]);
    assertEquals(await snapshot(home), {});

    await Deno.writeTextFile(
      `${home}/.eth_providers`,
      JSON.stringify([
        { chain_id: 1, trusted: true, provider: { RpcUrl: { url: "wss://mainnet" } } },
        {
          chain_id: 8453,
          trusted: true,
          provider: { RpcUrl: { url: "wss://saved", auth: { Bearer: "t" } } },
        },
        { chain_id: 31337, trusted: true, provider: { RpcUrl: { url: "ws://saved-local" } } },
      ]),
    );
    await Deno.writeTextFile(
      `${home}/rpc.json`,
      JSON.stringify([{ url: "wss://a" }, { url: "wss://b" }]),
    );
    const before = await snapshot(home);
    const both = await identityProviders(home, { rpc: "wss://r", rpcConfig: `${home}/rpc.json` });
    assertEquals(both.providers, [
      { url: "wss://a" },
      { url: "wss://b" },
      { url: "wss://r" },
      { url: "wss://saved", auth: { Bearer: "t" } },
      ...FALLBACK_RPC_URLS.map((url) => ({ url })),
    ]);
    // simulation: the local chain first, its saved providers, no public fallbacks
    const sim = await identityProviders(home, { simulation: true, fakechainPort: 8555 });
    assertEquals(sim.chainId, 31337n);
    assertEquals(sim.providers.map((p) => p.url), ["ws://localhost:8555", "ws://saved-local"]);
    assertEquals(await snapshot(home), before);
  });
});

Deno.test({
  ...T,
  name: "identity: assign_routing takes direct or indirect routing from chain, or refuses",
  fn: () =>
    withChain(async (chain) => {
      const providers = [{ url: chain.wsUrl }];
      const printed: string[] = [];
      const ask = (name: string, publicKey: Uint8Array, keyfileRouters: string[] = [], more = {}) =>
        assignRouting({
          name,
          publicKey,
          keyfileRouters,
          providers,
          print: (t) => printed.push(t),
          ...more,
        });
      const refused = (p: Promise<unknown>, message: string) =>
        assertRejects(() => p, (e) => e instanceof ChainIdentityError && e.message === message);

      // direct: the chain's ~ip and ports; a port flag must agree
      const a = key();
      await mintDirect(chain.url, "a.os", a, { ws: 9100, tcp: 10100 }, "10.1.2.3");
      assertEquals(await ask("a.os", a), { ip: "10.1.2.3", ports: { ws: 9100, tcp: 10100 } });
      assertEquals(
        await ask("a.os", a, [], {
          ws: { port: 9100, flag: true },
          tcp: { port: 1, flag: false },
        }),
        { ip: "10.1.2.3", ports: { ws: 9100, tcp: 10100 } },
      );
      await refused(
        ask("a.os", a, [], { tcp: { port: 0, flag: true } }),
        "Binary used --tcp-port flag to set port to 0, but node is using port 10100 onchain.",
      );
      // the chain says direct, the keyfile lists routers: direct, where others look for it
      assertEquals(await ask("a.os", a, ["r.os"]), {
        ip: "10.1.2.3",
        ports: { ws: 9100, tcp: 10100 },
      });
      assert(printed.some((p) => /keyfile lists routers, but the chain publishes/.test(p)));

      // IPv6 as Rust prints it
      const six = key();
      await writeNotes(chain.url, "six.os", [
        ["~ip", "0x20010db8000000000000000000000001"],
        ["~ws-port", "0x2328"],
        ["~net-key", `0x${six.toHex()}`],
      ]);
      assertEquals(await ask("six.os", six), { ip: "2001:db8::1", ports: { ws: 9000 } });

      // indirect: the keyfile's routers the chain lists, in the chain's order
      const b = key();
      await mintIndirect(chain.url, "b.os", b, ["r2.os", "r1.os"]);
      assertEquals(await ask("b.os", b, ["r1.os", "r2.os", "r3.os"]), {
        routers: ["r2.os", "r1.os"],
      });
      // ~routers names none of the keyfile's: the keyfile's (as Hyperdrive), with a warning
      assertEquals(await ask("b.os", b, ["x.os"]), { routers: ["x.os"] });
      await refused(
        ask("b.os", b),
        "b.os is an indirect node on chain (~routers), but its keyfile names no routers",
      );

      // only a ~net-key: the keyfile's routers, else nothing to boot on
      const c = key();
      await writeNotes(chain.url, "c.os", [["~net-key", `0x${c.toHex()}`]]);
      assertEquals(await ask("c.os", c, ["r.os"]), { routers: ["r.os"] });
      await refused(
        ask("c.os", c),
        "c.os has no ~ip with ~ws-port or ~tcp-port on chain, and no routers: " +
          "net: fatal error: need at least one networking protocol",
      );

      // Hyperdrive's refusals
      const other = key();
      await refused(
        ask("a.os", other),
        `Networking key from PKI (0x${a.toHex()}) does not match our saved networking key ` +
          `(0x${other.toHex()})`,
      );
      await refused(ask("nobody.os", a), "Provider returned empty hypermap entry (stale data)");

      // a provider that cannot be reached is skipped; none reachable is the connect error
      const dead = { url: `ws://127.0.0.1:${freePort()}` };
      assertEquals(
        await assignRouting({
          name: "a.os",
          publicKey: a,
          keyfileRouters: [],
          providers: [dead, ...providers],
        }),
        { ip: "10.1.2.3", ports: { ws: 9100, tcp: 10100 } },
      );
      const e = await assertRejects(
        () =>
          assignRouting({
            name: "a.os",
            publicKey: a,
            keyfileRouters: [],
            providers: [dead],
            timeoutMs: 2_000,
          }),
        (e) => e instanceof ChainIdentityError,
      ) as ChainIdentityError;
      assert(e.unreachable);
      assert(
        e.cliMessage.startsWith("Error: runtime could not connect to any configured"),
        e.cliMessage,
      );
      // a stale provider first, then one that knows: the one that knows answers
      const empty = await withEmptyChain((url) =>
        assignRouting({
          name: "a.os",
          publicKey: a,
          keyfileRouters: [],
          providers: [{ url }, ...providers],
        })
      );
      assertEquals(empty, { ip: "10.1.2.3", ports: { ws: 9100, tcp: 10100 } });
    }),
});

/** A second chain with Hypermap and no names on it: a provider with "stale" data. */
function withEmptyChain<T>(f: (wsUrl: string) => Promise<T>): Promise<T> {
  return withChain((c) => f(c.wsUrl));
}

Deno.test({
  ...T,
  name: "identity: which homes are an existing node's; bootNode adopts an uploaded keyfile",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const kf = await makeKeyfile("hal.os");
        // a keyfile alone (copied from Hyperdrive): an existing node
        await homeWithKeyfile(`${dir}/h`, kf);
        assert(await isOnchainHome(`${dir}/h`));
        // a home hyperdeno made (a name beside the keyfile): not
        await Deno.writeTextFile(`${dir}/h/.node-name`, "hal.os");
        assert(!(await isOnchainHome(`${dir}/h`)));
        // ... unless it booted as an existing node before
        await Deno.writeTextFile(`${dir}/h/.onchain`, "hal.os\n");
        assert(await isOnchainHome(`${dir}/h`));
        assert(!(await isOnchainHome(`${dir}/empty`)));

        // uploaded (the boot page's /import-keyfile), on a new home: checked, then written
        const ws = freePort();
        await mintDirect(chain.url, "hal.os", kf.publicKey, { ws });
        const home = `${dir}/new`;
        const loaded = await openUploadedKeyfile(kf.bytes, await hashPassword(PASSWORD, "hal.os"));
        const boot = (keyfile = loaded) =>
          bootNode({
            home,
            keyfile,
            httpPort: false,
            eth: { simulation: true, fakechainPort: chain.port },
            onPrint: () => {},
          });
        // the chain moved the node elsewhere first: refused, nothing written
        await mintDirect(chain.url, "hal.os", key(), { ws });
        await assertRejects(() => boot(), (e) => e instanceof ChainIdentityError);
        await assertRejects(() => Deno.stat(home), (e) => e instanceof Deno.errors.NotFound);
        await mintDirect(chain.url, "hal.os", kf.publicKey, { ws });
        const node = await boot();
        try {
          assertEquals(node.our, "hal.os");
          assertEquals(node.identity.ports, { ws });
          assertEquals(await Deno.readFile(`${home}/.keys`), kf.bytes);
          assertEquals(await Deno.readTextFile(`${home}/.onchain`), "hal.os\n");
        } finally {
          await node.shutdown();
        }
        // existingNode: false boots the same keyfile as a local node, with no chain
        const local = await bootNode({
          home: `${dir}/h2`,
          keyfile: { ...loaded, imported: false },
          existingNode: false,
          name: "hal.os",
          httpPort: false,
          wsPort: 0,
          tcpPort: false,
          onPrint: () => {},
        });
        try {
          assertEquals(local.identity.ips, ["127.0.0.1"]);
          assertEquals(local.identity.public_key, kf.publicKeyHex);
        } finally {
          await local.shutdown();
        }
      })
    ),
});
