// Log subscriptions through eth:distro:sys against a real anvil: pushes as anvil mines,
// surviving anvil being killed and restarted on the same port, and the error push when
// the provider does not come back.

import { assert, assertEquals } from "../assert.ts";
import { sleep } from "../kernel/helpers.ts";
import { Anvil, callEcho, CHAIN_ID, deployEcho, ECHO_TOPIC } from "./anvil.ts";
import { bootEthNode, type Push, withTempHome } from "./helpers.ts";

const PROBE = "fake.dev@probe:ethtest:sys";

function subscribe(subId: number, params: unknown, kind = "logs", chain = CHAIN_ID) {
  return { SubscribeLogs: { sub_id: subId, chain_id: chain, kind, params } };
}

const okFor = (id: number) => (p: Push) =>
  typeof p.body === "object" && p.body !== null && "Ok" in p.body &&
  (p.body as { Ok: { id: number } }).Ok.id === id;

const errFor = (id: number) => (p: Push) =>
  typeof p.body === "object" && p.body !== null && "Err" in p.body &&
  (p.body as { Err: { id: number } }).Err.id === id;

Deno.test("eth subscriptions: pushes, unsubscribe, provider restart, provider gone", async (t) => {
  const anvil = await Anvil.start();
  try {
    await withTempHome(async (home) => {
      const n = await bootEthNode(home, "fake.dev", {
        simulation: true,
        fakechainPort: anvil.port,
        timing: { reconnectDelayMs: 200, reconnectAttempts: 25 },
      });
      const eth = "our@eth:distro:sys";
      try {
        let echo = await deployEcho(anvil);
        const filter = () => ({ address: echo, topics: [ECHO_TOPIC] });

        await t.step("SubscribeLogs answers Ok; each mined log is pushed", async () => {
          assertEquals(await n.probe.ask(eth, subscribe(7, filter())), "Ok");
          await callEcho(anvil, echo, "0xaa");
          await callEcho(anvil, echo, "0xbb");
          const got = await n.probe.waitPushes(okFor(7), 2);
          assertEquals(got.map((p) => p.source), [
            `fake.dev@eth:distro:sys`,
            "fake.dev@eth:distro:sys",
          ]);
          const logs = got.map((p) => (p.body as { Ok: { result: Record<string, unknown> } }).Ok);
          assertEquals(logs.map((l) => l.result.data), ["0xaa", "0xbb"]);
          assertEquals((logs[0].result.topics as string[])[0], ECHO_TOPIC);
          // the push body is exactly {"Ok":{"id":7,"result":{...sorted keys}}}
          const keys = Object.keys(logs[0].result);
          assertEquals(keys, [...keys].sort());
        });

        await t.step("GetState lists it as served here (null)", async () => {
          assertEquals(await n.eth('"GetState"'), {
            State: {
              active_subscriptions: { [PROBE]: { "7": null } },
              outstanding_requests: [],
            },
          });
        });

        await t.step("anvil killed and restarted on the same port: pushes resume", async () => {
          const before = n.probe.pushes.length;
          await anvil.kill();
          await sleep(500);
          await anvil.restart();
          // a fresh chain: the contract comes back at the same address (nonce 0)
          echo = await deployEcho(anvil);
          // the subscription is re-issued on the new connection shortly after it opens
          let pushed = false;
          for (let i = 0; i < 40 && !pushed; i++) {
            await callEcho(anvil, echo, "0xcc");
            await sleep(150);
            pushed = n.probe.pushes.slice(before).some(okFor(7));
          }
          assert(pushed, "no push after the restart");
          assertEquals(n.probe.pushes.slice(before).filter(errFor(7)), [], "no error push");
          assert(n.prints.some((p) => p.includes("reconnected, re-subscribing 1")));
        });

        await t.step(
          "UnsubscribeLogs: Ok, then no more pushes; again: MalformedRequest",
          async () => {
            assertEquals(await n.probe.ask(eth, { UnsubscribeLogs: 7 }), "Ok");
            const count = n.probe.pushes.length;
            await callEcho(anvil, echo, "0xdd");
            await sleep(300);
            assertEquals(n.probe.pushes.length, count);
            assertEquals(await n.probe.ask(eth, { UnsubscribeLogs: 7 }), {
              Err: "MalformedRequest",
            });
            assertEquals(await n.eth('"GetState"'), {
              State: { active_subscriptions: {}, outstanding_requests: [] },
            });
          },
        );

        await t.step("newHeads: warned about at verbosity 0, heads pushed", async () => {
          assertEquals(await n.probe.ask(eth, subscribe(8, {}, "newHeads")), "Ok");
          assert(
            n.prints.some((p) =>
              p === `warning: newHeads subscription (expensive!) requested by ${PROBE}`
            ),
          );
          await callEcho(anvil, echo, "0xee");
          const [head] = await n.probe.waitPushes(okFor(8));
          const result = (head.body as { Ok: { result: Record<string, unknown> } }).Ok.result;
          assert(typeof result.number === "string" && typeof result.hash === "string");
        });

        await t.step("no provider for the chain: NoRpcForChain", async () => {
          assertEquals(await n.probe.ask(eth, subscribe(9, {}, "logs", 4242)), {
            Err: "NoRpcForChain",
          });
        });

        await t.step("an http-only chain cannot subscribe: NoRpcForChain", async () => {
          assertEquals(
            await n.eth({
              AddProvider: { chain_id: 4343, trusted: true, provider: { RpcUrl: anvil.http } },
            }),
            "Ok",
          );
          assertEquals(await n.probe.ask(eth, subscribe(10, {}, "logs", 4343)), {
            Err: "NoRpcForChain",
          });
        });

        await t.step("the provider never comes back: an EthSubError push", async () => {
          assertEquals(await n.probe.ask(eth, subscribe(11, filter())), "Ok");
          await anvil.kill();
          // 25 attempts 200 ms apart, then the subscription is closed
          const [push] = await n.probe.waitPushes(errFor(11), 1, 20_000);
          assertEquals(push.body, {
            Err: {
              id: 11,
              error: `subscription (${PROBE}) closed unexpectedly: channel closed`,
            },
          });
          const [heads] = await n.probe.waitPushes(errFor(8));
          assert(heads);
          // gone from the map; the emptied entry stays, as in Hyperdrive
          assertEquals(await n.eth('"GetState"'), {
            State: { active_subscriptions: { [PROBE]: {} }, outstanding_requests: [] },
          });
        });
      } finally {
        await n.node.shutdown();
      }
    });
  } finally {
    await anvil.stop();
  }
});
