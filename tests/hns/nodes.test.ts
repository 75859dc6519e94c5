// hns-indexer on real nodes (bootNode) and a real local chain (anvil + chain/): fake nodes mint
// themselves and find each other with no PKI given at boot; an indirect node is reached through
// its router; the indexer's answers; a restarted indexer resumes from its checkpoint; anvil
// stopped and restarted (and started over) loses no update.

import { type Hex, toHex } from "viem";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  ADDRESSES,
  type Chain,
  mintOrResetFakeNode,
  namehash,
  startChain,
  writeNotes,
} from "../../chain/mod.ts";
import { rpc } from "../../chain/anvil.ts";
import {
  ask,
  bootFakeNode,
  eventually,
  type FakeNode,
  hello,
  HNS,
  nodeInfo,
  runScript,
  shutdownAll,
  sleep,
  waitForKey,
  withChain,
  withTempDir,
} from "./helpers.ts";

const T = { sanitizeResources: false, sanitizeOps: false };

const randomKey = () => crypto.getRandomValues(new Uint8Array(32));
const head = async (chain: Chain) => Number(BigInt(await rpc(chain.url, "eth_blockNumber") as Hex));

Deno.test({
  ...T,
  name: "hns: fake nodes find each other on chain; NamehashToName, NodeInfo, GetState",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const nodes: FakeNode[] = [];
        try {
          const a = await bootFakeNode(`${dir}/a`, "alice.os", chain.port);
          nodes.push(a);
          const b = await bootFakeNode(`${dir}/b`, "bob.os", chain.port);
          nodes.push(b);
          await waitForKey(a.node, "bob.os", b.node.identity.public_key);
          await waitForKey(b.node, "alice.os", a.node.identity.public_key);
          // no PKI at boot: what each knows of the other came from chain
          assertEquals(
            await eventually(() => hello(a.node, "bob.os")),
            "hello, alice.os! you said: hi from alice.os",
          );
          assertEquals(
            await eventually(() => hello(b.node, "alice.os")),
            "hello, bob.os! you said: hi from bob.os",
          );

          assertEquals(
            await ask(a.node, { NamehashToName: { hash: namehash("bob.os"), block: 0 } }),
            {
              Name: "bob.os",
            },
          );
          assertEquals(
            await ask(a.node, { NamehashToName: { hash: toHex(randomKey()), block: 0 } }),
            { Name: null },
          );
          assertEquals(await nodeInfo(a.node, "bob.os"), {
            name: "bob.os",
            public_key: b.node.identity.public_key.slice(2),
            ips: ["127.0.0.1"],
            ports: [["ws", b.node.identity.ports.ws]],
            routers: [],
          });
          assertEquals(await nodeInfo(a.node, "nobody.os"), null);

          const now = await head(chain);
          const state = await ask(a.node, { GetState: { block: now } });
          assert("GetState" in state);
          const s = state.GetState;
          assertEquals(s.chain_id, 31337);
          assertEquals(
            toHex(Uint8Array.from(s.contract_address)),
            ADDRESSES.hypermap.toLowerCase(),
          );
          assert(s.last_block >= now, `last_block ${s.last_block} < ${now}`);
          assertEquals(
            s.names.map(([, n]) => n).sort(),
            ["alice.os", "bob.os", "dev", "os"],
          );
          assertEquals(new Map(s.names).get(namehash("alice.os")), "alice.os");

          // `block` ahead of the chain: the answer waits until the indexer got there
          const later = ask(
            a.node,
            { NamehashToName: { hash: namehash("carol.os"), block: now + 2 } },
            20,
          );
          await sleep(300);
          await mintOrResetFakeNode({
            url: chain.url,
            name: "carol.os",
            wsPort: 1,
            netKey: randomKey(),
          });
          assertEquals(await later, { Name: "carol.os" });

          // what is not an IndexerRequest is ignored; the indexer goes on answering
          await a.node.send(HNS, "not a request");
          await a.node.send(HNS, '{"NodeInfo":{"name":"x"}}');
          assertEquals((await nodeInfo(a.node, "carol.os"))?.ports, [["ws", 1]]);
          // Reset needs the root cap, attached, from the indexer's own package
          assertEquals(await ask(a.node, "Reset"), { Reset: { Err: "NoRootCap" } });
        } finally {
          await shutdownAll(nodes);
        }
      })
    ),
});

Deno.test({
  ...T,
  name: "hns: an indirect node (~routers on chain) is reached through its router",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const nodes: FakeNode[] = [];
        try {
          const router = await bootFakeNode(`${dir}/r`, "router.os", chain.port, {
            maxPassthroughs: 8,
          });
          nodes.push(router);
          const client = await bootFakeNode(`${dir}/c`, "client.os", chain.port, {
            routers: ["router.os"],
          });
          nodes.push(client);
          const a = await bootFakeNode(`${dir}/a`, "alice.os", chain.port);
          nodes.push(a);
          await waitForKey(a.node, "client.os", client.node.identity.public_key);
          assertEquals(await nodeInfo(a.node, "client.os"), {
            name: "client.os",
            public_key: client.node.identity.public_key.slice(2),
            ips: [],
            ports: [],
            routers: ["router.os"],
          });
          assertEquals(
            await eventually(() => hello(a.node, "client.os"), 30_000),
            "hello, alice.os! you said: hi from alice.os",
          );
          assertEquals(
            await eventually(() => hello(client.node, "alice.os"), 30_000),
            "hello, client.os! you said: hi from client.os",
          );
        } finally {
          await shutdownAll(nodes);
        }
      })
    ),
});

Deno.test({
  ...T,
  name: "hns: a restarted indexer resumes from its checkpoint and gets what came meanwhile",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const nodes: (FakeNode | undefined)[] = [];
        try {
          let a = await bootFakeNode(`${dir}/a`, "alice.os", chain.port);
          nodes.push(a);
          const b = await bootFakeNode(`${dir}/b`, "bob.os", chain.port);
          nodes.push(b);
          await waitForKey(a.node, "bob.os", b.node.identity.public_key);
          await sleep(1_500); // a few sync cycles: the checkpoint is written
          const before = await ask(a.node, { GetState: { block: 0 } });
          assert("GetState" in before);
          await a.node.shutdown();
          nodes[0] = undefined;

          // while alice is down: a new name, and a note on bob
          const carolKey = randomKey();
          await mintOrResetFakeNode({
            url: chain.url,
            name: "carol.os",
            wsPort: 7,
            netKey: carolKey,
          });
          await writeNotes(chain.url, "bob.os", [["~tcp-port", "0x1234"]]);

          a = await bootFakeNode(`${dir}/a`, "alice.os", chain.port);
          nodes[0] = a;
          await waitForKey(a.node, "carol.os", toHex(carolKey));
          await eventually(async () =>
            JSON.stringify((await nodeInfo(a.node, "bob.os"))?.ports) ===
              JSON.stringify([["tcp", 0x1234], ["ws", b.node.identity.ports.ws]])
          );
          // it went on from its checkpoint, not from block 0
          const from = a.prints.map((p) => /syncing from block (\d+)/.exec(p)?.[1]).find((x) => x);
          assert(from !== undefined, a.prints.join("\n"));
          assert(
            Number(from) > 0 && Number(from) <= before.GetState.last_block,
            `resumed from ${from}; the checkpoint was at most ${before.GetState.last_block}`,
          );
          // and alice (same key: nothing to mint) is still known
          await waitForKey(a.node, "alice.os", a.node.identity.public_key);
        } finally {
          await shutdownAll(nodes);
        }
      })
    ),
});

Deno.test({
  ...T,
  name: "hns: anvil stopped and restarted loses no update; a chain started over is indexed anew",
  fn: () =>
    withTempDir(async (dir) => {
      const statePath = `${dir}/chain-state.json`;
      let chain: Chain | undefined = await startChain({ port: 0, statePath });
      const port = chain.port;
      const nodes: FakeNode[] = [];
      try {
        const a = await bootFakeNode(`${dir}/a`, "alice.os", port);
        nodes.push(a);
        await waitForKey(a.node, "alice.os", a.node.identity.public_key);
        await sleep(1_000); // subscribed, synced

        // stopped (it saves its state) and started again on the same port
        await chain.stop();
        chain = undefined;
        await sleep(500);
        chain = await startChain({ port, statePath });
        assertEquals(chain.deployment.alreadyDeployed, true);
        const carolKey = randomKey();
        // at once: before or after eth's connection comes back, the indexer must get it
        await mintOrResetFakeNode({
          url: chain.url,
          name: "carol.os",
          wsPort: 7,
          netKey: carolKey,
        });
        await waitForKey(a.node, "carol.os", toHex(carolKey));
        const daveKey = randomKey();
        await mintOrResetFakeNode({ url: chain.url, name: "dave.os", wsPort: 8, netKey: daveKey });
        await waitForKey(a.node, "dave.os", toHex(daveKey));
        assert(
          !a.prints.some((p) => /indexing again/.test(p)),
          `the same chain came back: no re-indexing expected\n${a.prints.join("\n")}`,
        );

        // started over (a fresh chain on the port): everything indexed is gone
        await chain.stop();
        chain = undefined;
        await Deno.remove(statePath);
        chain = await startChain({ port });
        const erinKey = randomKey();
        await mintOrResetFakeNode({ url: chain.url, name: "erin.os", wsPort: 9, netKey: erinKey });
        await waitForKey(a.node, "erin.os", toHex(erinKey), 60_000);
        const state = await ask(a.node, { GetState: { block: 0 } });
        assert("GetState" in state);
        assertEquals(state.GetState.names.map(([, n]) => n).sort(), ["dev", "erin.os", "os"]);
        assert(
          a.prints.some((p) => /indexing again from block 0/.test(p)),
          a.prints.join("\n"),
        );
      } finally {
        await shutdownAll(nodes);
        await chain?.stop();
      }
    }),
});

Deno.test({
  ...T,
  name: "hns: scripts state, node-info, get-block and reset, run as the terminal runs them",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const a = await bootFakeNode(`${dir}/a`, "alice.os", chain.port);
        try {
          await waitForKey(a.node, "alice.os", a.node.identity.public_key);
          const state = await runScript(a.node, "state", "");
          assertMatch(
            state!,
            /^\nrunning on chain id 31337\nCA: 0x000000000044C6B8Cb4d8f0F889a3E47664EAeda\n3 known nodes as of block \d+\n {5}alice\.os\n {5}dev\n {5}os$/,
          );
          const key = a.node.identity.public_key.slice(2);
          const port = a.node.identity.ports.ws;
          assertEquals(
            await runScript(a.node, "node-info", "alice.os"),
            `node info: Some(\n    WitHnsUpdate {\n        name: "alice.os",\n        public_key: "${key}",\n` +
              `        ips: [\n            "127.0.0.1",\n        ],\n        ports: [\n            (\n` +
              `                "ws",\n                ${port},\n            ),\n        ],\n` +
              `        routers: [],\n    },\n)`,
          );
          assertEquals(await runScript(a.node, "node-info", "nobody.os"), "node info: None");
          assertMatch(
            (await runScript(a.node, "get-block", "31337"))!,
            /^latest block number: \d+$/,
          );
          // as Hyperdrive's: chain id 1 unless given, and this node has no provider for it
          assertEquals(
            await runScript(a.node, "get-block", ""),
            "failed to get block number: NoRpcForChain",
          );

          // reset (it holds the indexer's root cap and attaches it): indexed again from block 0
          await runScript(a.node, "reset", "", { expectAnswer: false });
          await eventually(() => a.prints.some((p) => p.includes('hns-indexer reset: "Success"')));
          await waitForKey(a.node, "alice.os", a.node.identity.public_key);
        } finally {
          await a.node.shutdown();
        }
      })
    ),
});
