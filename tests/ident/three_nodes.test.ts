// Issue #13's three nodes on one local chain, finding each other only through hns-indexer (no
// PKI given at boot) and exchanging messages every way: an existing node direct over TCP only
// (`~ip` and `~tcp-port` on chain), a WS-only fake node, and an existing indirect node reached
// through its router (a fake node serving passthroughs).

import { assertEquals } from "../assert.ts";
import { bootNode, type HyperdenoNode } from "../../main.ts";
import {
  bootFakeNode,
  type FakeNode,
  FAST_ETH,
  FAST_HNS,
  hello,
  shutdownAll,
  waitForKey,
} from "../hns/helpers.ts";
import {
  accepts,
  eventually,
  freePort,
  homeWithKeyfile,
  makeKeyfile,
  mintDirect,
  mintIndirect,
  PASSWORD,
  withChain,
  withTempDir,
} from "./helpers.ts";

const PACKAGES = ["hns-indexer", "hello"];

/** An existing node whose keyfile is in `home`, checked on the local chain at `port`. */
async function bootExisting(home: string, port: number): Promise<HyperdenoNode> {
  return await bootNode({
    home,
    password: PASSWORD,
    httpPort: false,
    eth: { simulation: true, fakechainPort: port, timing: FAST_ETH },
    hnsIndexer: FAST_HNS,
    distro: PACKAGES,
    onPrint: (_l, t) => {
      if (Deno.env.get("HNS_TEST_VERBOSE")) console.log(`[${home}] ${t}`);
    },
  });
}

Deno.test({
  sanitizeResources: false,
  sanitizeOps: false,
  name: "ident: TCP-direct, WS-only and indirect nodes find each other through hns-indexer",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const nodes: (FakeNode | HyperdenoNode)[] = [];
        try {
          const router = await bootFakeNode(`${dir}/r`, "router.os", chain.port, {
            maxPassthroughs: 8,
            distro: PACKAGES,
          });
          nodes.push(router);
          const ws = await bootFakeNode(`${dir}/w`, "wendy.os", chain.port, {
            distro: PACKAGES,
          });
          nodes.push(ws);

          const tcpPort = freePort();
          const tk = await makeKeyfile("tcp-direct.os");
          await mintDirect(chain.url, "tcp-direct.os", tk.publicKey, { tcp: tcpPort });
          await homeWithKeyfile(`${dir}/t`, tk);
          const tcp = await bootExisting(`${dir}/t`, chain.port);
          nodes.push(tcp);

          const ik = await makeKeyfile("indie.os", ["router.os"]);
          await mintIndirect(chain.url, "indie.os", ik.publicKey, ["router.os"]);
          await homeWithKeyfile(`${dir}/i`, ik);
          const indirect = await bootExisting(`${dir}/i`, chain.port);
          nodes.push(indirect);

          // what each publishes: TCP only; WS only; routers only
          assertEquals(tcp.identity, {
            name: "tcp-direct.os",
            public_key: tk.publicKeyHex,
            ips: ["127.0.0.1"],
            ports: { tcp: tcpPort },
            routers: [],
          });
          assertEquals(Object.keys(ws.node.identity.ports), ["ws"]);
          assertEquals(indirect.identity.routers, ["router.os"]);
          assertEquals(indirect.identity.ips, []);
          // the TCP node is reachable on another loopback address too (all interfaces)
          assertEquals(await accepts("127.0.0.2", tcpPort), true);

          const all: [string, HyperdenoNode][] = [
            ["tcp-direct.os", tcp],
            ["wendy.os", ws.node],
            ["indie.os", indirect],
          ];
          // each learns the others from chain alone
          for (const [, n] of all) {
            for (const [name, m] of all) {
              if (m !== n) await waitForKey(n, name, m.identity.public_key, 60_000);
            }
          }
          for (const [from, n] of all) {
            for (const [to, m] of all) {
              if (m === n) continue;
              assertEquals(
                await eventually(() => hello(n, to), 60_000),
                `hello, ${from}! you said: hi from ${from}`,
                `${from} -> ${to}`,
              );
            }
          }
        } finally {
          await shutdownAll(nodes);
        }
      })
    ),
});
