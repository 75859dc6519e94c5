// Many fake nodes at once (benchmarks): `<prefix><i>.os` minted with fakenet's three notes, sent by
// anvil itself from the owner account (anvil's dev accounts are unlocked, so nothing is signed
// here) in JSON-RPC batches with mining paused, one block per `perBlock` mints. The chain needs a
// block gas limit that fits them (startChain({ args: ["--gas-limit", ...] })).

import { encodeFunctionData, type Hex, toHex } from "viem";
import { ADDRESSES, OWNER } from "./addresses.ts";
import { accountAbi } from "./abi.ts";
import { fakeNodeNotes, notesExecuteCalldata } from "./fakenode.ts";

export interface BulkMintOptions {
  url: string;
  count: number;
  /** names are `<prefix><i>.os` (default "bulk") */
  prefix?: string;
  /** mints per block (default 200) */
  perBlock?: number;
  /** JSON-RPC requests per HTTP batch (default 500) */
  batch?: number;
  /** progress */
  log?: (message: string) => void;
}

export interface BulkMintResult {
  names: string[];
  /** the chain's head after the last block */
  head: number;
}

async function rpcBatch(url: string, calls: { method: string; params: unknown[] }[]) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(calls.map((c, id) => ({ jsonrpc: "2.0", id, ...c }))),
  });
  const out = await res.json() as { id: number; result?: unknown; error?: unknown }[];
  const failed = out.find((r) => r.error);
  if (failed) throw new Error(`${calls[failed.id].method}: ${JSON.stringify(failed.error)}`);
  return out.sort((a, b) => a.id - b.id).map((r) => r.result);
}

/** Mints `count` direct fake nodes (127.0.0.1, ws port 9000 + i % 1000, random keys). */
export async function bulkMintFakeNodes(options: BulkMintOptions): Promise<BulkMintResult> {
  const { url, count } = options;
  const prefix = options.prefix ?? "bulk";
  const perBlock = options.perBlock ?? 200;
  const batch = options.batch ?? 500;
  const [nonceHex] = await rpcBatch(url, [
    { method: "eth_getTransactionCount", params: [OWNER, "pending"] },
  ]) as Hex[];
  let nonce = Number(BigInt(nonceHex));
  const names: string[] = [];
  await rpcBatch(url, [{ method: "evm_setAutomine", params: [false] }]);
  try {
    for (let start = 0; start < count; start += perBlock) {
      const txs = [];
      for (let i = start; i < Math.min(count, start + perBlock); i++) {
        const label = `${prefix}${i}`;
        names.push(`${label}.os`);
        const notes = fakeNodeNotes({
          wsPort: 9000 + (i % 1000),
          netKey: crypto.getRandomValues(new Uint8Array(32)),
        });
        const data = encodeFunctionData({
          abi: accountAbi,
          functionName: "mint",
          args: [OWNER, toHex(label), notesExecuteCalldata(notes), ADDRESSES.hyperAccount],
        });
        txs.push({
          method: "eth_sendTransaction",
          params: [{
            from: OWNER,
            to: ADDRESSES.dotOsTba,
            data,
            gas: toHex(1_200_000),
            nonce: toHex(nonce++),
          }],
        });
      }
      for (let i = 0; i < txs.length; i += batch) await rpcBatch(url, txs.slice(i, i + batch));
      await rpcBatch(url, [{ method: "evm_mine", params: [] }]);
      options.log?.(`minted ${names.length}/${count}`);
    }
  } finally {
    await rpcBatch(url, [{ method: "evm_setAutomine", params: [true] }]);
  }
  const [headHex] = await rpcBatch(url, [{ method: "eth_blockNumber", params: [] }]) as Hex[];
  const [pending] = await rpcBatch(url, [
    { method: "eth_getTransactionCount", params: [OWNER, "latest"] },
  ]) as Hex[];
  if (Number(BigInt(pending)) !== nonce) {
    throw new Error(`only ${Number(BigInt(pending))} of ${nonce} transactions were mined`);
  }
  return { names, head: Number(BigInt(headHex)) };
}
