// Two nodes: a.os has anvil as its RPC provider; b.os has none and relays through a.os's
// eth module as a node provider. a.os's access settings decide whether b.os is served.

import { assert, assertEquals } from "../assert.ts";
import { sleep } from "../kernel/helpers.ts";
import { Anvil, callEcho, CHAIN_ID, deployEcho, DEV_ACCOUNT, publicClient } from "./anvil.ts";
import {
  bootEthNode,
  type EthNode,
  eventually,
  type Push,
  request,
  teach,
  withTempHome,
} from "./helpers.ts";

const C = CHAIN_ID;
const A_ETH = "a.os@eth:distro:sys";

Deno.test("eth relay: b.os without an RPC URL is served by node provider a.os", async (t) => {
  const anvil = await Anvil.start();
  const viem = publicClient(anvil);
  const nodes: EthNode[] = [];
  try {
    await withTempHome(async (root) => {
      try {
        const a = await bootEthNode(`${root}/a`, "a.os", {
          simulation: true,
          fakechainPort: anvil.port,
          timing: { remoteQueueCapacity: 4 },
        });
        nodes.push(a);
        const b = await bootEthNode(`${root}/b`, "b.os", { timing: { keepaliveMs: 300 } }, {
          pki: [a.node.identity],
        });
        nodes.push(b);
        await teach(a.node, b.node.identity);
        // b.os's providers for the chain: a.os, a node provider
        assertEquals(
          await b.eth({
            AddProvider: {
              chain_id: C,
              trusted: false,
              provider: { Node: { hns_update: a.node.identity, use_as_provider: true } },
            },
          }),
          "Ok",
        );
        const chainId = request(C, "eth_chainId", []);

        await t.step("a.os is private: b.os is refused, its relay finds no provider", async () => {
          assertEquals(await b.ask(A_ETH, chainId), { Err: "PermissionDenied" });
          assertEquals(await b.eth(chainId), { Err: "NoRpcForChain" });
          assert(
            b.prints.some((p) => p.includes("spawned health check for offline node provider a.os")),
          );
        });

        await t.step("a.os SetPublic: b.os's requests are relayed", async () => {
          assertEquals(await a.eth('"SetPublic"'), "Ok");
          // b.os's health check (300 ms here) finds a.os answering again
          await eventually(async () => {
            const r = await b.eth(chainId);
            return typeof r === "object" && r !== null && "Response" in r;
          });
          const balance = await viem.getBalance({ address: DEV_ACCOUNT.address });
          assertEquals(
            await b.eth(request(C, "eth_getBalance", [DEV_ACCOUNT.address, "latest"])),
            { Response: `0x${balance.toString(16)}` },
          );
          assertEquals(await b.probe.ask("our@eth:distro:sys", request(C, "eth_blockNumber", [])), {
            Response: `0x${(await viem.getBlockNumber()).toString(16)}`,
          });
          // a relayed invalid method comes back as a.os answered it
          assertEquals(await b.eth(request(C, "eth_sign", [])), {
            Err: { InvalidMethod: "eth_sign" },
          });
        });

        await t.step("a relayed log subscription: pushes reach b.os's process", async () => {
          const echo = await deployEcho(anvil);
          assertEquals(
            await b.probe.ask("our@eth:distro:sys", {
              SubscribeLogs: { sub_id: 3, chain_id: C, kind: "logs", params: { address: echo } },
            }),
            "Ok",
          );
          const bState = await b.eth('"GetState"') as {
            State: { active_subscriptions: Record<string, Record<string, string | null>> };
          };
          const mine = bState.State.active_subscriptions["b.os@probe:ethtest:sys"];
          const [remoteId] = Object.keys(mine);
          assertEquals(mine[remoteId], "a.os");
          assertEquals(await a.eth('"GetState"'), {
            State: {
              active_subscriptions: { "b.os@eth:distro:sys": { [remoteId]: null } },
              outstanding_requests: [],
            },
          });
          await callEcho(anvil, echo, "0x5151");
          const ok = (p: Push) => typeof p.body === "object" && p.body !== null && "Ok" in p.body;
          const [push] = await b.probe.waitPushes(ok);
          assertEquals(push.source, "b.os@eth:distro:sys");
          const body = push.body as { Ok: { id: number; result: { data: string } } };
          assertEquals(body.Ok.id, 3);
          assertEquals(body.Ok.result.data, "0x5151");
          // unsubscribing at b.os ends it at a.os too
          assertEquals(await b.probe.ask("our@eth:distro:sys", { UnsubscribeLogs: 3 }), "Ok");
          await eventually(async () => {
            const s = await a.eth('"GetState"') as {
              State: { active_subscriptions: Record<string, Record<string, unknown>> };
            };
            const left = s.State.active_subscriptions["b.os@eth:distro:sys"];
            return !left || Object.keys(left).length === 0;
          });
          assertEquals(await b.eth('"GetState"'), {
            State: { active_subscriptions: {}, outstanding_requests: [] },
          });
        });

        await t.step("DenyNode: b.os refused even though a.os is public", async () => {
          assertEquals(await a.eth({ DenyNode: "b.os" }), "Ok");
          assertEquals(await b.ask(A_ETH, chainId), { Err: "PermissionDenied" });
          assertEquals(await b.eth(request(C, "eth_gasPrice", [])), { Err: "NoRpcForChain" });
          assertEquals(await a.eth({ UndenyNode: "b.os" }), "Ok");
          assertEquals(await b.ask(A_ETH, chainId), { Response: "0x7a69" });
          // a.os went offline at b.os again soon after its last health check: checked again
          // all the same (Hyperdrive waits 30 s between checks and would leave it offline)
          await eventually(async () => {
            const r = await b.eth(request(C, "eth_gasPrice", []));
            return typeof r === "object" && r !== null && "Response" in r;
          });
        });

        await t.step("private with an allow list", async () => {
          assertEquals(await a.eth('"SetPrivate"'), "Ok");
          assertEquals(await b.ask(A_ETH, chainId), { Err: "PermissionDenied" });
          assertEquals(await a.eth({ AllowNode: "b.os" }), "Ok");
          assertEquals(await b.ask(A_ETH, chainId), { Response: "0x7a69" });
          assertEquals(await a.eth({ UnallowNode: "b.os" }), "Ok");
          assertEquals(await b.ask(A_ETH, chainId), { Err: "PermissionDenied" });
          assertEquals(await a.eth('"SetPublic"'), "Ok");
        });

        await t.step("EthConfigAction from another node: PermissionDenied", async () => {
          assertEquals(await b.ask(A_ETH, '"GetAccessSettings"'), "PermissionDenied");
          assertEquals(await b.ask(A_ETH, '"SetPrivate"'), "PermissionDenied");
          assertEquals(await a.eth('"GetAccessSettings"'), {
            AccessSettings: { public: true, allow: [], deny: [] },
          });
        });

        await t.step(
          "messages from one node: 200 ms apart, at most 4 waiting, else RateLimited",
          async () => {
            await sleep(300);
            const t0 = Date.now();
            const answers = await Promise.all(
              Array.from({ length: 9 }, async () => {
                const r = await b.ask(A_ETH, chainId, 20);
                return { r, at: Date.now() - t0 };
              }),
            );
            const served = answers.filter((x) => JSON.stringify(x.r) === '{"Response":"0x7a69"}');
            const limited = answers.filter((x) => JSON.stringify(x.r) === '{"Err":"RateLimited"}');
            assertEquals(served.length + limited.length, 9, JSON.stringify(answers));
            // one in hand and four waiting are served; the rest are refused at once
            assertEquals(served.length, 5, JSON.stringify(answers));
            const last = Math.max(...served.map((x) => x.at));
            assert(last >= 4 * 200, `five served within ${last} ms`);
            assert(Math.max(...limited.map((x) => x.at)) < last, "refusals come first");
          },
        );

        await t.step(
          "the provider node goes away: the relayed subscription ends with an error",
          async () => {
            assertEquals(
              await b.probe.ask("our@eth:distro:sys", {
                SubscribeLogs: { sub_id: 4, chain_id: C, kind: "logs", params: {} },
              }),
              "Ok",
            );
            await a.node.shutdown();
            const err = (p: Push) =>
              typeof p.body === "object" && p.body !== null && "Err" in p.body;
            const [push] = await b.probe.waitPushes(err);
            assertEquals(push.body, {
              Err: { id: 4, error: "subscription node-provider failed keepalive" },
            });
            assertEquals(await b.eth('"GetState"'), {
              State: {
                active_subscriptions: { "b.os@probe:ethtest:sys": {} },
                outstanding_requests: [],
              },
            });
          },
        );
      } finally {
        for (const n of nodes.reverse()) await n.node.shutdown();
      }
    });
  } finally {
    await anvil.stop();
  }
});
