// The committed artifacts' runtime code, by contract (chain/artifacts/*.json, from chain/build.ts).

import type { Hex } from "viem";
import AccountProxy from "./artifacts/AccountProxy.json" with { type: "json" };
import ERC6551Registry from "./artifacts/ERC6551Registry.json" with { type: "json" };
import HyperAccount from "./artifacts/HyperAccount.json" with { type: "json" };
import HyperAccountMinter from "./artifacts/HyperAccountMinter.json" with { type: "json" };
import Hypermap from "./artifacts/Hypermap.json" with { type: "json" };
import HypermapProxy from "./artifacts/HypermapProxy.json" with { type: "json" };
import Multicall3 from "./artifacts/Multicall3.json" with { type: "json" };

const runtime = (a: { deployedBytecode: string }) => a.deployedBytecode as Hex;

export const artifacts = {
  AccountProxy: runtime(AccountProxy),
  ERC6551Registry: runtime(ERC6551Registry),
  HyperAccount: runtime(HyperAccount),
  HyperAccountMinter: runtime(HyperAccountMinter),
  Hypermap: runtime(Hypermap),
  HypermapProxy: runtime(HypermapProxy),
  Multicall3: runtime(Multicall3),
};

/** AccountProxy's creation code: Hypermap deploys one per entry with CREATE2 (salt = namehash). */
export const accountProxyCreationCode = AccountProxy.bytecode as Hex;
