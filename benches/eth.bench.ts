// eth:distro:sys against viem called directly, on the same anvil in one run:
// eth_blockNumber (what most apps poll; the module answers a repeat within 1 s from its
// request cache, as Hyperdrive does) and eth_getBalance of a fresh address every time
// (never cached: the full path node.request -> kernel -> eth -> ws provider -> back); and
// eth_blockNumber on a second node whose cache is off.
//
// Also, with no chain: what the module does with a large eth_getLogs answer (10,000 logs shaped
// as anvil writes them, ~7.6 MB): the provider's text parsed, keys sorted as serde_json::Value
// writes them, the answer body encoded; against JSON.parse + JSON.stringify + encode of the same
// text (no sorting: the floor) and the encoders before the fast paths (exact parse, a sorted
// copy of everything, stringify with a replacer).
//
//   deno bench -A benches/eth.bench.ts

import { createPublicClient, http, webSocket } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { bootQuietNode } from "./quiet_node.ts";
import { createEthModule } from "../modules/eth/mod.ts";
import { encodeEth, serdeValue } from "../wire/eth.ts";
import { encodeJsonExact, parseJsonExact, parseJsonReviving } from "../wire/json.ts";
import { Anvil, anvilChain } from "../tests/eth/anvil.ts";

const anvil = await Anvil.start();
globalThis.addEventListener("unload", () => anvil.killNow());
const root = await Deno.makeTempDir({ prefix: "hyperdeno-bench-eth-" });
const node = await bootQuietNode(root, {
  httpPort: false,
  modules: [createEthModule({ simulation: true, fakechainPort: anvil.port })],
});
// the same, with the request cache off: every eth_blockNumber goes to anvil
const uncached = await bootQuietNode(`${root}/uncached`, {
  name: "uncached.dev",
  httpPort: false,
  modules: [
    createEthModule({ simulation: true, fakechainPort: anvil.port, timing: { cacheMs: 0 } }),
  ],
});
const chain = anvilChain(anvil);
const viemWs = createPublicClient({ chain, transport: webSocket(anvil.ws), cacheTime: 0 });
const viemHttp = createPublicClient({ chain, transport: http(anvil.http), cacheTime: 0 });

const enc = new TextEncoder();
const body = (method: string, params: unknown) =>
  enc.encode(JSON.stringify({ Request: { chain_id: 31337, method, params } }));
const blockNumber = body("eth_blockNumber", []);
async function viaModule(b: Uint8Array, via = node) {
  const r = await via.request("our@eth:distro:sys", b, { timeoutSeconds: 10 });
  if (r.body[2] !== 0x52) throw new Error(new TextDecoder().decode(r.body)); // {"Response":..
}
// warm up both paths (connections, JIT)
for (let i = 0; i < 50; i++) {
  await viaModule(blockNumber);
  await viaModule(blockNumber, uncached);
  await viemWs.request({ method: "eth_blockNumber" });
  await viemHttp.request({ method: "eth_blockNumber" });
}

let k = 1n;
function freshAddress(): `0x${string}` {
  return privateKeyToAccount(`0x${(k++).toString(16).padStart(64, "0")}`).address;
}
const addresses = Array.from({ length: 20_000 }, freshAddress);
let next = 0;

Deno.bench({
  name: "viem -> anvil (ws): eth_blockNumber",
  group: "eth_blockNumber",
  baseline: true,
  async fn() {
    await viemWs.request({ method: "eth_blockNumber" });
  },
});

Deno.bench({
  name: "viem -> anvil (http): eth_blockNumber",
  group: "eth_blockNumber",
  async fn() {
    await viemHttp.request({ method: "eth_blockNumber" });
  },
});

Deno.bench({
  name: "node.request -> eth:distro:sys (ws, cached within 1 s): eth_blockNumber",
  group: "eth_blockNumber",
  async fn() {
    await viaModule(blockNumber);
  },
});

Deno.bench({
  name: "node.request -> eth:distro:sys (ws, cache off): eth_blockNumber",
  group: "eth_blockNumber",
  async fn() {
    await viaModule(blockNumber, uncached);
  },
});

Deno.bench({
  name: "viem -> anvil (ws): eth_getBalance, fresh address",
  group: "eth_getBalance",
  baseline: true,
  async fn() {
    await viemWs.request({
      method: "eth_getBalance",
      params: [addresses[next++ % addresses.length], "latest"],
    });
  },
});

Deno.bench({
  name: "node.request -> eth:distro:sys (ws, uncached): eth_getBalance, fresh address",
  group: "eth_getBalance",
  async fn() {
    await viaModule(body("eth_getBalance", [addresses[next++ % addresses.length], "latest"]));
  },
});

// a large eth_getLogs answer, as anvil writes it (its key order, not sorted)
const hex = (n: number, len: number) => "0x" + n.toString(16).padStart(len, "0");
const logsText = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  result: Array.from({ length: 10_000 }, (_, i) => ({
    address: "0x000000000044c6b8cb4d8f0f889a3e47664eaeda",
    topics: [hex(0xe40d9f1e, 64), hex(i * 7919, 64), hex(i * 104729, 64), hex(0x8e929416, 64)],
    data: hex(0x40, 64) + "0".repeat(62) + "80" + "0".repeat(63) + "3" + hex(i, 256).slice(2),
    blockHash: hex(i >> 8, 64),
    blockNumber: hex(i >> 8, 1),
    blockTimestamp: hex(0x6b103bbb + (i >> 8), 8),
    transactionHash: hex(i * 31, 64),
    transactionIndex: hex(i & 0xff, 1),
    logIndex: hex(i % 800, 1),
    removed: false,
  })),
});
const enc8 = new TextEncoder();
/** serdeValue before the fast path: a sorted copy of everything. */
function sortedCopy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedCopy);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortedCopy((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

Deno.bench({
  name: "JSON.parse + JSON.stringify + encode, unsorted (floor)",
  group: "eth_getLogs answer, 10,000 logs",
  baseline: true,
  fn() {
    const r = JSON.parse(logsText) as { result: unknown };
    enc8.encode(JSON.stringify({ Response: r.result }));
  },
});

Deno.bench({
  name: "eth:distro:sys: parseJsonExact + serdeValue + encodeEth",
  group: "eth_getLogs answer, 10,000 logs",
  fn() {
    const r = parseJsonExact(logsText) as { result: unknown };
    encodeEth({ Response: serdeValue(r.result) });
  },
});

Deno.bench({
  name: "before: reviving parse + sorted copy + encodeJsonExact",
  group: "eth_getLogs answer, 10,000 logs",
  fn() {
    const r = parseJsonReviving(logsText) as { result: unknown };
    encodeJsonExact({ Response: sortedCopy(r.result) });
  },
});

// deno bench exits after the last bench: the unload handler kills anvil; the node's
// sockets end with the process and the temp home stays behind in /tmp.
