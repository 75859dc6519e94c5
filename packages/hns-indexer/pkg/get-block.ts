// get-block (a script of hns-indexer:sys): `get-block [chain id, default 1]` prints the chain's
// latest block number, asked of eth:distro:sys as process_lib's Provider::get_block_number asks.
import { sendAndAwaitResponse } from "hyperware:process/standard@1.0.0";
import { firstWord, script } from "./lib/script.ts";

const ETH = {
  node: "our",
  process: { processName: "eth", packageName: "distro", publisherNode: "sys" },
};
const U64_MAX = (1n << 64n) - 1n;

/** An EthError as Rust's Debug prints it. */
function debugEthError(e: unknown): string {
  if (typeof e === "string") return e;
  if (e && typeof e === "object") {
    const [[tag, val]] = Object.entries(e);
    return `${tag}(${typeof val === "string" ? JSON.stringify(val) : JSON.stringify(val)})`;
  }
  return "RpcMalformedResponse";
}

function blockNumber(chainId: string): string {
  const body = `{"Request":{"chain_id":${chainId},"method":"eth_blockNumber","params":[]}}`;
  let answer: unknown;
  try {
    const [, message] = sendAndAwaitResponse(ETH, {
      inherit: false,
      expectsResponse: 5n,
      body: new TextEncoder().encode(body),
      metadata: undefined,
      capabilities: [],
    }, undefined);
    if (message.tag !== "response") return "failed to get block number: RpcMalformedResponse";
    answer = JSON.parse(new TextDecoder().decode(message.val[0].body));
  } catch (e) {
    if ((e as { payload?: unknown }).payload) return "failed to get block number: RpcTimeout";
    return "failed to get block number: RpcMalformedResponse";
  }
  const a = answer as { Response?: unknown; Err?: unknown };
  if (a && typeof a === "object" && "Response" in a && typeof a.Response === "string") {
    try {
      return `latest block number: ${BigInt(a.Response)}`;
    } catch { /* not a number */ }
  }
  if (a && typeof a === "object" && "Err" in a) {
    return `failed to get block number: ${debugEthError(a.Err)}`;
  }
  return "failed to get block number: RpcMalformedResponse";
}

export const init = script((args) => {
  const word = firstWord(args);
  return blockNumber(/^\d+$/.test(word) && BigInt(word) <= U64_MAX ? BigInt(word).toString() : "1");
});
