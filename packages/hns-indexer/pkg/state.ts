// state (a script of hns-indexer:sys): prints the chain, Hypermap's address (EIP-55) and every
// name hns-indexer knows (IndexerRequest::GetState), as Hyperdrive's state script does.
import { sendAndAwaitResponse } from "hyperware:process/standard@1.0.0";
import { script } from "./lib/script.ts";
import { keccak256 } from "./lib/keccak.ts";

const HNS = {
  node: "our",
  process: { processName: "hns-indexer", packageName: "hns-indexer", publisherNode: "sys" },
};

/** 20 bytes as an EIP-55 checksummed address (as alloy's Address displays). */
export function checksumAddress(bytes: number[]): string {
  const hex = bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
  const hash = keccak256(new TextEncoder().encode(hex));
  let out = "0x";
  for (let i = 0; i < hex.length; i++) {
    const nibble = (hash[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    out += nibble >= 8 ? hex[i].toUpperCase() : hex[i];
  }
  return out;
}

function state(): string {
  let v;
  try {
    const [, message] = sendAndAwaitResponse(HNS, {
      inherit: false,
      expectsResponse: 10n,
      body: new TextEncoder().encode(JSON.stringify({ GetState: { block: 0 } })),
      metadata: undefined,
      capabilities: [],
    }, undefined);
    if (message.tag !== "response") return "failed to get state from hns-indexer";
    v = JSON.parse(new TextDecoder().decode(message.val[0].body));
  } catch {
    return "failed to get state from hns-indexer";
  }
  const s = v?.GetState;
  if (!s || !Array.isArray(s.names) || !Array.isArray(s.contract_address)) {
    return "failed to deserialize state";
  }
  if (s.contract_address.length !== 20) return "invalid contract addess: doesn't have 20 bytes";
  const names = (s.names as [string, string][]).map(([, name]) => name).sort();
  return `\nrunning on chain id ${s.chain_id}\nCA: ${
    checksumAddress(s.contract_address)
  }\n${names.length} known nodes as of block ${s.last_block}\n     ${names.join("\n     ")}`;
}

export const init = script(() => state());
