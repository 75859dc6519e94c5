// chain/'s helpers for hns-indexer's tests and benchmark, on a real anvil: indirect fake nodes
// (~routers), notes written later, several fake nodes minting at once (one owner account), a
// chain saved on stop and loaded on start, and the bulk mint.

import { type Hex, toHex } from "viem";
import { assert, assertEquals } from "../assert.ts";
import {
  bulkMintFakeNodes,
  fakeNodeNotes,
  hasNotes,
  mintOrResetFakeNode,
  namehash,
  readNode,
  routersBytes,
  startChain,
  writeNotes,
} from "../../chain/mod.ts";
import { rpc } from "../../chain/anvil.ts";

const key = (n: number) => new Uint8Array(32).fill(n);

Deno.test("chain: an indirect fake node's notes are ~net-key and ~routers (namehashes)", () => {
  assertEquals(
    routersBytes(["a.os", "b.os"]),
    `0x${namehash("a.os").slice(2)}${namehash("b.os").slice(2)}`,
  );
  assertEquals(fakeNodeNotes({ netKey: key(1), routers: ["r.os"] }), [
    ["~net-key", toHex(key(1))],
    ["~routers", namehash("r.os")],
  ]);
  for (const bad of [{ netKey: key(1), routers: [] }, { netKey: key(1) }]) {
    let threw = false;
    try {
      fakeNodeNotes(bad);
    } catch {
      threw = true;
    }
    assert(threw, JSON.stringify(bad));
  }
});

Deno.test("chain: routers, later notes, concurrent mints, a chain saved and loaded, bulk mints", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyperdeno-chain-" });
  const statePath = `${dir}/state.json`;
  let chain = await startChain({ port: 0, statePath, args: ["--gas-limit", "500000000"] });
  try {
    // five fake nodes at once: all from the owner account, nonces sorted out
    await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        mintOrResetFakeNode({ url: chain.url, name: `n${i}.os`, wsPort: 9000 + i, netKey: key(i) })
      ),
    );
    for (const i of [1, 2, 3, 4, 5]) {
      assertEquals((await readNode(chain.url, `n${i}.os`))?.wsPort, 9000 + i);
    }
    await mintOrResetFakeNode({
      url: chain.url,
      name: "c.os",
      netKey: key(9),
      routers: ["n1.os", "n2.os"],
    });
    const c = await readNode(chain.url, "c.os");
    assertEquals(c?.routers, [namehash("n1.os"), namehash("n2.os")]);
    assertEquals([c?.ip, c?.wsPort], [undefined, undefined]);
    assert(
      await hasNotes(
        chain.url,
        "c.os",
        fakeNodeNotes({ netKey: key(9), routers: ["n1.os", "n2.os"] }),
      ),
    );
    assert(
      !(await hasNotes(chain.url, "c.os", fakeNodeNotes({ netKey: key(8), routers: ["n1.os"] }))),
    );
    assert(!(await hasNotes(chain.url, "nobody.os", [])));

    const r = await writeNotes(chain.url, "n3.os", [["~tcp-port", "0x1234"], [
      "~ws-port",
      "0x0001",
    ]]);
    assertEquals(r.reset, true);
    const n3 = await readNode(chain.url, "n3.os");
    assertEquals([n3?.tcpPort, n3?.wsPort, n3?.netKey], [0x1234, 1, toHex(key(3))]);

    // stopped (state saved) and started again on the same port: the same chain
    const head = await rpc(chain.url, "eth_blockNumber") as Hex;
    const block = await rpc(chain.url, "eth_getBlockByNumber", [head, false]) as { hash: Hex };
    const port = chain.port;
    await chain.stop();
    chain = await startChain({ port, statePath, args: ["--gas-limit", "500000000"] });
    assertEquals(chain.deployment.alreadyDeployed, true);
    assertEquals(
      ((await rpc(chain.url, "eth_getBlockByNumber", [head, false])) as { hash: Hex }).hash,
      block.hash,
    );
    assertEquals((await readNode(chain.url, "c.os"))?.netKey, toHex(key(9)));

    const bulk = await bulkMintFakeNodes({ url: chain.url, count: 45, perBlock: 20, prefix: "b" });
    assertEquals(bulk.names.length, 45);
    assertEquals(bulk.head - Number(BigInt(head)), 3); // 20 + 20 + 5
    const last = await readNode(chain.url, "b44.os");
    assertEquals([last?.ip, last?.wsPort], ["127.0.0.1", 9044]);
  } finally {
    await chain.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
