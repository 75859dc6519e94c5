// How long hns-indexer takes to index N Hypermap names from genesis on the local chain, against
// the raw eth_getLogs for the same logs in the same run.
//
//   ./node_modules/deno/deno run -A benches/hns_index.ts [--names 10000] [--per-block 200]
//
// One run: a fresh local chain (anvil, a block gas limit that fits --per-block mints), N fake
// nodes `bulk<i>.os` minted with fakenet's three notes (~ip, ~ws-port, ~net-key) by one script,
// then:
// - raw: eth_getLogs for hns-indexer's two filters (every Mint; the HNS Notes) over blocks
//   0..head, straight to anvil over HTTP, JSON parsed (best of 3);
// - hns-indexer: a node (simulation: the chain is its provider for 31337) installs the package
//   and is asked NamehashToName(last name, block = head), which it answers once every log up to
//   the head is indexed; the time from install to that answer, then GetState's count checked.
//
// Measured on the project's machine (2 shared vCPUs, loaded), N = 10,000 (40,001 logs, 52
// blocks): raw 429-769 ms, hns-indexer 2.0-3.8 s, 4.7x-5.6x. Of a quiet run's 2.0 s, about
// 1.4 s is eth:distro:sys's first answer to the two eth_getLogs (39 MB of JSON over its ws
// connection, parsed and written again with sorted keys); the indexer's own parse and indexing
// of 40,001 logs is about 0.6 s.

import { bootNode } from "../main.ts";
import { bulkMintFakeNodes, namehash, startChain } from "../chain/mod.ts";
import { rpc } from "../chain/anvil.ts";
import { ADDRESSES } from "../chain/addresses.ts";
import { encodeIndexerRequest, parseIndexerResponse } from "../wire/hns_indexer.ts";
import { keccak256, toEventSelector, toHex } from "viem";
import { hypermapAbi } from "../chain/abi.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(Deno.args[i + 1]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive integer`);
  return n;
}

const N = arg("names", 10_000);
const PER_BLOCK = arg("per-block", 200);
const say = (s: string) => console.log(`[hns_index] ${s}`);

const event = (name: string) =>
  toEventSelector(hypermapAbi.find((e) => e.type === "event" && e.name === name)!);
const NOTES = ["~ws-port", "~tcp-port", "~net-key", "~routers", "~ip"].map((n) =>
  keccak256(toHex(n))
);

const chain = await startChain({ port: 0, args: ["--gas-limit", "2000000000"] });
const home = await Deno.makeTempDir({ prefix: "hyperdeno-bench-hns-" });
try {
  say(`chain at ${chain.url}; minting ${N} names, ${PER_BLOCK} per block...`);
  const t0 = performance.now();
  const minted = await bulkMintFakeNodes({
    url: chain.url,
    count: N,
    perBlock: PER_BLOCK,
    log: (m) => {
      if (/000\//.test(m)) say(m);
    },
  });
  say(`minted in ${((performance.now() - t0) / 1000).toFixed(1)} s; head ${minted.head}`);

  // raw eth_getLogs, both filters, best of 3
  const range = { address: ADDRESSES.hypermap, fromBlock: "0x0", toBlock: toHex(minted.head) };
  let raw = Infinity;
  let logCount = 0;
  for (let i = 0; i < 3; i++) {
    const s = performance.now();
    const mints = await rpc(chain.url, "eth_getLogs", [{ ...range, topics: [event("Mint")] }]);
    const notes = await rpc(chain.url, "eth_getLogs", [
      { ...range, topics: [event("Note"), null, null, NOTES] },
    ]);
    raw = Math.min(raw, performance.now() - s);
    logCount = (mints as unknown[]).length + (notes as unknown[]).length;
  }
  say(`raw eth_getLogs: ${logCount} logs in ${raw.toFixed(0)} ms`);

  const node = await bootNode({
    home,
    name: "bench.os",
    httpPort: false,
    tcpPort: 0,
    wsPort: false,
    eth: { simulation: true, fakechainPort: chain.port },
    onPrint: () => {},
  });
  try {
    const s = performance.now();
    await node.installPackage(new URL("../packages/hns-indexer", import.meta.url).pathname);
    const last = minted.names.at(-1)!;
    const answer = parseIndexerResponse(
      (await node.request(
        "our@hns-indexer:hns-indexer:sys",
        encodeIndexerRequest({ NamehashToName: { hash: namehash(last), block: minted.head } }),
        { timeoutSeconds: 900 },
      )).body,
    );
    const indexed = performance.now() - s;
    if (!("Name" in answer) || answer.Name !== last) {
      throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
    }
    const state = parseIndexerResponse(
      (await node.request(
        "our@hns-indexer:hns-indexer:sys",
        encodeIndexerRequest({ GetState: { block: 0 } }),
        { timeoutSeconds: 120 },
      )).body,
    );
    if (!("GetState" in state)) throw new Error("no state");
    const complete = state.GetState.nodes.filter(([, u]) => u.public_key && u.ports.length).length;
    if (complete < N) throw new Error(`only ${complete} of ${N} nodes complete`);
    say(`hns-indexer: ${N} names (${complete} complete nodes) indexed in ${indexed.toFixed(0)} ms`);
    console.log(
      `\nhns_index: N=${N} names, ${logCount} logs, ${minted.head} blocks\n` +
        `  raw eth_getLogs (baseline)  ${raw.toFixed(0).padStart(7)} ms  1.00x\n` +
        `  hns-indexer from genesis    ${indexed.toFixed(0).padStart(7)} ms  ${
          (indexed / raw).toFixed(2)
        }x`,
    );
  } finally {
    await node.shutdown();
  }
} finally {
  await chain.stop();
  await Deno.remove(home, { recursive: true }).catch(() => {});
}
