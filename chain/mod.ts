// The local Hypermap chain: anvil from npm with the project's Hypermap contracts deployed at the
// addresses kit's `kit chain` uses, and the helpers a fake node needs.

import { type Anvil, startAnvil } from "./anvil.ts";
import { deployHypermap, type DeployResult } from "./deploy.ts";

export { ADDRESSES, CHAIN_ID, OWNER } from "./addresses.ts";
export { accountAbi, erc6551RegistryAbi, hypermapAbi, multicall3Abi, namehash } from "./abi.ts";
export { anvilBinary, startAnvil } from "./anvil.ts";
export type { Anvil, AnvilOptions } from "./anvil.ts";
export { deployHypermap } from "./deploy.ts";
export type { DeployResult } from "./deploy.ts";
export {
  fakeNodeNotes,
  hasNotes,
  mintOrResetFakeNode,
  readNode,
  routersBytes,
  writeNotes,
} from "./fakenode.ts";
export { bulkMintFakeNodes } from "./bulk.ts";
export type { BulkMintOptions, BulkMintResult } from "./bulk.ts";
export type { FakeNodeOptions, FakeNodeResult, NodeRecord } from "./fakenode.ts";

export interface ChainOptions {
  /** default 8545; 0 picks a free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** progress messages */
  log?: (message: string) => void;
  /** anvil's own output, line by line */
  anvilOutput?: (line: string) => void;
  /**
   * anvil's `--state <file>`: the chain is loaded from it if it exists and saved to it when
   * anvil stops (SIGTERM), so a restarted chain goes on where it was
   */
  statePath?: string;
  /** extra anvil arguments */
  args?: string[];
}

export interface Chain extends Anvil {
  deployment: DeployResult;
}

/** Starts anvil and deploys Hypermap; stop() ends anvil. */
export async function startChain(options: ChainOptions = {}): Promise<Chain> {
  const log = options.log ?? (() => {});
  const anvil = await startAnvil({
    port: options.port,
    host: options.host,
    output: options.anvilOutput,
    args: [
      ...(options.statePath ? ["--state", options.statePath] : []),
      ...(options.args ?? []),
    ],
  });
  log(`anvil ${anvil.pid} answering at ${anvil.url} (chain id 31337)`);
  try {
    const deployment = await deployHypermap(anvil.url, { log });
    return { ...anvil, deployment };
  } catch (e) {
    await anvil.stop();
    throw e;
  }
}
