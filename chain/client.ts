// viem clients for the local chain, and a receipt wait that suits anvil's instant mining.

import {
  type Address,
  type Chain,
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  type Hash,
  http,
  type PublicClient,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
} from "viem";
import { ADDRESSES, CHAIN_ID } from "./addresses.ts";

export function localChain(url: string): Chain {
  return defineChain({
    id: CHAIN_ID,
    name: "hyperdeno local chain",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [url] } },
    contracts: { multicall3: { address: ADDRESSES.multicall3 } },
  });
}

export function clients(url: string) {
  const chain = localChain(url);
  const transport = http(url, { retryCount: 0, timeout: 15_000 });
  return {
    chain,
    public: createPublicClient({ chain, transport, pollingInterval: 50 }),
    test: createTestClient({ chain, transport, mode: "anvil" }),
    wallet: (account: Address) => createWalletClient({ chain, transport, account }),
  };
}

/** Waits for a transaction's receipt; throws if it reverted. */
export async function receiptOf(
  client: PublicClient,
  hash: Hash,
  what: string,
  timeoutMs = 30_000,
): Promise<TransactionReceipt> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const receipt = await client.getTransactionReceipt({ hash });
      if (receipt.status !== "success") throw new Error(`${what}: transaction ${hash} reverted`);
      return receipt;
    } catch (e) {
      if (!(e instanceof TransactionReceiptNotFoundError)) throw e;
      if (Date.now() > until) throw new Error(`${what}: no receipt for ${hash} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
