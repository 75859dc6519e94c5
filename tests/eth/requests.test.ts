// eth:distro:sys requests against a real anvil through a booted node: every answer is
// compared with what viem gets from the same anvil directly.

import { type Hex, parseGwei } from "viem";
import { assert, assertEquals } from "../assert.ts";
import { sleep } from "../kernel/helpers.ts";
import {
  Anvil,
  callEcho,
  CHAIN_ID,
  DEV_ACCOUNT,
  ECHO_INITCODE,
  ECHO_TOPIC,
  freePort,
  publicClient,
  walletClient,
} from "./anvil.ts";
import { bootEthNode, eventually, request, withTempHome } from "./helpers.ts";

const C = CHAIN_ID;

Deno.test("eth requests: a node's process API against anvil", async (t) => {
  const anvil = await Anvil.start();
  const viem = publicClient(anvil);
  try {
    await withTempHome(async (home) => {
      // kit's fake-node setup: the local chain at ws://localhost:<fakechain port>
      const n = await bootEthNode(home, "fake.dev", {
        simulation: true,
        fakechainPort: anvil.port,
      });
      try {
        await t.step("eth_blockNumber, eth_chainId (process_lib sends params null)", async () => {
          assertEquals(await n.eth(request(C, "eth_blockNumber", null)), { Response: "0x0" });
          assertEquals(await n.eth(request(C, "eth_chainId", [])), { Response: "0x7a69" });
        });

        await t.step("eth_getBalance equals viem's", async () => {
          const balance = await viem.getBalance({ address: DEV_ACCOUNT.address });
          const r = await n.eth(request(C, "eth_getBalance", [DEV_ACCOUNT.address, "latest"]));
          assertEquals(r, { Response: `0x${balance.toString(16)}` });
        });

        let echo: Hex = "0x";
        await t.step("eth_sendRawTransaction of a viem-signed tx, then its receipt", async () => {
          const wallet = walletClient(anvil);
          const signed = await wallet.signTransaction({
            account: DEV_ACCOUNT,
            chain: wallet.chain,
            data: ECHO_INITCODE,
            nonce: 0,
            gas: 200_000n,
            maxFeePerGas: parseGwei("10"),
            maxPriorityFeePerGas: 1n,
          });
          const sent = await n.eth(request(C, "eth_sendRawTransaction", [signed])) as {
            Response: Hex;
          };
          assert(/^0x[0-9a-f]{64}$/.test(sent.Response), JSON.stringify(sent));
          // anvil can answer null just after the send; the module caches an answer for 1 s
          // (as Hyperdrive), so poll past that until the receipt is there
          const receipt = await eventually(async () => {
            const r = await n.eth(
              request(C, "eth_getTransactionReceipt", [sent.Response]),
            ) as { Response: { contractAddress: Hex; status: string } | null };
            return r.Response
              ? r as { Response: { contractAddress: Hex; status: string } }
              : undefined;
          });
          assertEquals(receipt.Response.status, "0x1");
          echo = receipt.Response.contractAddress;
          const direct = await viem.getTransactionReceipt({ hash: sent.Response });
          assertEquals(direct.contractAddress, echo);
        });

        await t.step("eth_call and eth_getCode of the deployed contract", async () => {
          assertEquals(
            await n.eth(request(C, "eth_call", [{ to: echo, data: "0xc0ffee" }, "latest"])),
            { Response: "0xc0ffee" },
          );
          const code = await viem.getCode({ address: echo });
          assertEquals(await n.eth(request(C, "eth_getCode", [echo, "latest"])), {
            Response: code,
          });
        });

        await t.step("eth_getLogs: the same logs viem reads, keys sorted as serde", async () => {
          await callEcho(anvil, echo, "0x01");
          await callEcho(anvil, echo, "0x0202");
          const filter = { address: echo, fromBlock: "0x0", toBlock: "latest" };
          const res = await n.node.request(
            "our@eth:distro:sys",
            JSON.stringify(request(C, "eth_getLogs", [filter])),
          );
          const text = new TextDecoder().decode(res.body);
          const logs = (JSON.parse(text) as { Response: Record<string, unknown>[] }).Response;
          assertEquals(logs.map((l) => l.data), ["0x01", "0x0202"]);
          assertEquals(logs.map((l) => (l.topics as string[])[0]), [ECHO_TOPIC, ECHO_TOPIC]);
          assertEquals(Object.keys(logs[0]), Object.keys(logs[0]).sort());
          const direct = await viem.request({
            method: "eth_getLogs",
            params: [{ address: echo, fromBlock: "0x0", toBlock: "latest" }],
          });
          assertEquals(logs, direct as unknown as Record<string, unknown>[]);
        });

        await t.step("a repeat within 1 s is answered from the cache (Hyperdrive's)", async () => {
          await sleep(1100);
          const before = await n.eth(request(C, "eth_blockNumber", []));
          await callEcho(anvil, echo, "0x03");
          assertEquals(await n.eth(request(C, "eth_blockNumber", [])), before);
          await sleep(1100);
          const now = await viem.getBlockNumber();
          assertEquals(await n.eth(request(C, "eth_blockNumber", [])), {
            Response: `0x${now.toString(16)}`,
          });
        });

        await t.step("methods outside the whitelist: InvalidMethod", async () => {
          assertEquals(await n.eth(request(C, "eth_sign", [])), {
            Err: { InvalidMethod: "eth_sign" },
          });
          assertEquals(await n.eth(request(C, "anvil_mine", [])), {
            Err: { InvalidMethod: "anvil_mine" },
          });
        });

        await t.step("malformed bodies: MalformedRequest", async () => {
          for (
            const body of [
              "not json",
              '{"Request":{"chain_id":"1","method":"eth_blockNumber","params":[]}}',
              '{"Request":{"chain_id":1,"method":"eth_blockNumber"}}',
              '{"SubscribeLogs":{"sub_id":1,"chain_id":1,"kind":"blocks","params":{}}}',
              '"Unknown"',
              "-1",
            ]
          ) {
            assertEquals(await n.eth(body), { Err: "MalformedRequest" }, body);
          }
        });

        await t.step("a chain without providers: NoRpcForChain", async () => {
          assertEquals(await n.eth(request(999, "eth_blockNumber", [])), {
            Err: "NoRpcForChain",
          });
        });

        await t.step("the probe process needs no root for EthAction", async () => {
          assertEquals(await n.probe.ask("our@eth:distro:sys", request(C, "eth_chainId", [])), {
            Response: "0x7a69",
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

/** An HTTP JSON-RPC proxy to anvil that wants one Authorization header value. */
function authProxy(anvil: Anvil, want: string) {
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const auth = req.headers.get("authorization");
    seen.push(auth);
    if (req.headers.get("upgrade") === "websocket") {
      if (auth !== want) return new Response("no", { status: 401 });
      const { socket, response } = Deno.upgradeWebSocket(req);
      const upstream = new WebSocket(anvil.ws);
      const queued: string[] = [];
      upstream.onopen = () => queued.splice(0).forEach((m) => upstream.send(m));
      upstream.onmessage = (e) => socket.readyState === WebSocket.OPEN && socket.send(e.data);
      upstream.onclose = () => socket.readyState === WebSocket.OPEN && socket.close();
      socket.onmessage = (e) =>
        upstream.readyState === WebSocket.OPEN ? upstream.send(e.data) : queued.push(e.data);
      socket.onclose = () => upstream.close();
      return response;
    }
    if (auth !== want) return new Response("unauthorized", { status: 401 });
    const r = await fetch(anvil.http, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: await req.text(),
    });
    return new Response(await r.text(), { headers: { "content-type": "application/json" } });
  });
  return { server, seen, port: (server.addr as Deno.NetAddr).port };
}

Deno.test("eth providers: http and ws URLs with Basic, Bearer and Raw auth", async () => {
  const anvil = await Anvil.start();
  const basic = authProxy(anvil, "Basic dXNlcjpwYXNz");
  const bearer = authProxy(anvil, "Bearer t0ken");
  const raw = authProxy(anvil, "Custom xyz");
  try {
    await withTempHome(async (home) => {
      const n = await bootEthNode(home, "fake.dev", {});
      try {
        const add = (chain: number, url: string, auth?: unknown) =>
          n.eth({
            AddProvider: {
              chain_id: chain,
              trusted: true,
              provider: { RpcUrl: auth ? { url, auth } : { url } },
            },
          });
        assertEquals(
          await add(501, `http://127.0.0.1:${basic.port}`, { Basic: "dXNlcjpwYXNz" }),
          "Ok",
        );
        assertEquals(await add(502, `ws://127.0.0.1:${bearer.port}`, { Bearer: "t0ken" }), "Ok");
        assertEquals(await add(503, `http://127.0.0.1:${raw.port}`, { Raw: "Custom xyz" }), "Ok");
        // the right header gets through
        for (const chain of [501, 502, 503]) {
          assertEquals(await n.eth(request(chain, "eth_chainId", [])), { Response: "0x7a69" });
        }
        assertEquals(basic.seen.at(-1), "Basic dXNlcjpwYXNz");
        assertEquals(bearer.seen.at(-1), "Bearer t0ken");
        assertEquals(raw.seen.at(-1), "Custom xyz");
        // a wrong credential is refused by the provider: a transport failure, so
        // the provider goes offline and the answer is NoRpcForChain
        assertEquals(await add(504, `http://127.0.0.1:${bearer.port}`, { Bearer: "wrong" }), "Ok");
        assertEquals(await n.eth(request(504, "eth_chainId", [])), { Err: "NoRpcForChain" });
        assertEquals(await add(505, `ws://127.0.0.1:${basic.port}`), "Ok");
        assertEquals(await n.eth(request(505, "eth_chainId", [])), { Err: "NoRpcForChain" });
        // the saved form keeps auth (skipped when absent), as Hyperdrive's serde writes it
        const saved = JSON.parse(await Deno.readTextFile(`${home}/.eth_providers`)) as Record<
          string,
          unknown
        >[];
        assertEquals(saved.find((c) => c.chain_id === 505), {
          chain_id: 505,
          trusted: true,
          provider: { RpcUrl: { url: `ws://127.0.0.1:${basic.port}` } },
        });
        assertEquals(saved.find((c) => c.chain_id === 504), {
          chain_id: 504,
          trusted: true,
          provider: {
            RpcUrl: { url: `http://127.0.0.1:${bearer.port}`, auth: { Bearer: "wrong" } },
          },
        });
      } finally {
        await n.node.shutdown();
      }
    });
  } finally {
    await Promise.all([basic.server.shutdown(), bearer.server.shutdown(), raw.server.shutdown()]);
    await anvil.stop();
  }
});

Deno.test("eth faults: down, garbage, hanging and restarted providers; the node keeps going", async (t) => {
  const anvil = await Anvil.start();
  // a port nobody listens on
  const deadPort = freePort();
  // answers every POST with garbage
  const garbage = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (req.headers.get("upgrade") === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = () => socket.send("}}} not json");
      return response;
    }
    return new Response("<html>garbage</html>", { headers: { "content-type": "text/html" } });
  });
  const garbagePort = (garbage.addr as Deno.NetAddr).port;
  // never answers
  const stalls: Array<(r: Response) => void> = [];
  const hang = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Promise<Response>((r) => stalls.push(r)),
  );
  const hangPort = (hang.addr as Deno.NetAddr).port;
  try {
    await withTempHome(async (home) => {
      const n = await bootEthNode(home, "fake.dev", {});
      const add = (chain: number, url: string) =>
        n.eth({ AddProvider: { chain_id: chain, trusted: true, provider: { RpcUrl: url } } });
      try {
        await t.step("a provider that is down: NoRpcForChain at once", async () => {
          assertEquals(await add(601, `ws://127.0.0.1:${deadPort}`), "Ok");
          assertEquals(await add(602, `http://127.0.0.1:${deadPort}`), "Ok");
          assertEquals(await n.eth(request(601, "eth_blockNumber", [])), { Err: "NoRpcForChain" });
          assertEquals(await n.eth(request(602, "eth_blockNumber", [])), { Err: "NoRpcForChain" });
        });

        await t.step("a provider answering garbage: NoRpcForChain", async () => {
          assertEquals(await add(603, `http://127.0.0.1:${garbagePort}`), "Ok");
          assertEquals(await add(604, `ws://127.0.0.1:${garbagePort}`), "Ok");
          assertEquals(await n.eth(request(603, "eth_blockNumber", [])), { Err: "NoRpcForChain" });
          assertEquals(await n.eth(request(604, "eth_blockNumber", [])), { Err: "NoRpcForChain" });
        });

        await t.step("a provider that never answers: RpcTimeout at expects_response", async () => {
          assertEquals(await add(605, `http://127.0.0.1:${hangPort}`), "Ok");
          const t0 = Date.now();
          const r = await n.probe.ask(
            "our@eth:distro:sys",
            request(605, "eth_blockNumber", []),
            { expects: 2, waitMs: 6_000 },
          );
          const took = Date.now() - t0;
          assertEquals(r, { Err: "RpcTimeout" });
          assert(took >= 1_900 && took < 4_000, `answered after ${took} ms`);
        });

        await t.step("a provider behind a dead one is used", async () => {
          assertEquals(await add(606, anvil.http), "Ok");
          assertEquals(await add(606, `ws://127.0.0.1:${deadPort}`), "Ok");
          assertEquals(await n.eth(request(606, "eth_chainId", [])), { Response: "0x7a69" });
        });

        await t.step(
          "a provider that restarts: offline, then back after a health check",
          async () => {
            assertEquals(await add(607, anvil.ws), "Ok");
            assertEquals(await n.eth(request(607, "eth_chainId", [])), { Response: "0x7a69" });
            await anvil.kill();
            assertEquals(await n.eth(request(607, "eth_gasPrice", [])), { Err: "NoRpcForChain" });
            await anvil.restart();
            // skipped while offline, until the health check (300 ms here) finds it again
            await eventually(async () => {
              const r = await n.eth(request(607, "eth_gasPrice", []));
              return typeof r === "object" && r !== null && "Response" in r;
            });
            assert(n.prints.some((p) => p.includes(`provider ${anvil.ws} is back online`)));
          },
        );

        await t.step(
          "an RPC error marks the method failed: the retry finds no provider (Hyperdrive's)",
          async () => {
            assertEquals(await add(608, anvil.http), "Ok");
            const t0 = Date.now();
            // anvil refuses these params with a JSON-RPC error
            assertEquals(await n.eth(request(608, "eth_getBalance", ["0x1234"])), {
              Err: "NoRpcForChain",
            });
            assert(Date.now() - t0 >= 1_000, "retried after 1 s");
            assert(n.prints.some((p) => p.includes("spawned method retry for eth_getBalance")));
            // other methods still work on it
            assertEquals(await n.eth(request(608, "eth_chainId", [])), { Response: "0x7a69" });
          },
        );

        await t.step("the node still serves everything else", async () => {
          assertEquals(await n.eth('"GetAccessSettings"'), {
            AccessSettings: { public: false, allow: [], deny: [] },
          });
        });
      } finally {
        await n.node.shutdown();
      }
    });
  } finally {
    for (const r of stalls) r(new Response("late"));
    await Promise.all([garbage.shutdown(), hang.shutdown()]);
    await anvil.stop();
  }
});
