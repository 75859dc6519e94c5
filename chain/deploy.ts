// Deploys the project's Hypermap contracts onto a running anvil, as kit's `kit chain` lays them
// out: runtime code placed at the fixed addresses (anvil_setCode), the proxy's implementation slot
// written, then, from anvil's first account, Hypermap's initialize(owner) and the mint of `os`
// through the zeroth TBA with HyperAccountMinter as its implementation.

import { encodeFunctionData, type Hex, isAddressEqual, pad, toHex, zeroAddress } from "viem";
import { ADDRESSES, ERC1967_IMPLEMENTATION_SLOT, OWNER } from "./addresses.ts";
import { accountAbi, hypermapAbi, namehash } from "./abi.ts";
import { artifacts } from "./artifacts.ts";
import { clients, receiptOf } from "./client.ts";

/** What the deploy puts where (runtime code). */
export const PLACED_CODE: { name: string; address: Hex; code: Hex }[] = [
  { name: "ERC6551Registry", address: ADDRESSES.erc6551Registry, code: artifacts.ERC6551Registry },
  { name: "Multicall3", address: ADDRESSES.multicall3, code: artifacts.Multicall3 },
  { name: "HyperAccount", address: ADDRESSES.hyperAccount, code: artifacts.HyperAccount },
  {
    name: "HyperAccountMinter",
    address: ADDRESSES.hyperAccountMinter,
    code: artifacts.HyperAccountMinter,
  },
  {
    name: "Hypermap (implementation)",
    address: ADDRESSES.hypermapImplementation,
    code: artifacts.Hypermap,
  },
  { name: "Hypermap (ERC-1967 proxy)", address: ADDRESSES.hypermap, code: artifacts.HypermapProxy },
  {
    name: "AccountProxy (zeroth entry)",
    address: ADDRESSES.zerothAccountProxy,
    code: artifacts.AccountProxy,
  },
  { name: "AccountProxy (os)", address: ADDRESSES.osAccountProxy, code: artifacts.AccountProxy },
];

export interface DeployResult {
  /** true when everything was already in place and nothing was sent */
  alreadyDeployed: boolean;
  addresses: typeof ADDRESSES;
}

export interface DeployOptions {
  log?: (message: string) => void;
}

const OS = namehash("os");
const ZERO = namehash("");

/**
 * Deploys onto the anvil at `url`. Idempotent: on a chain where it already ran it checks and
 * returns. Refuses (throws, changing nothing) when a fixed address holds other code, e.g. a chain
 * where kit's contracts are deployed.
 */
export async function deployHypermap(
  url: string,
  options: DeployOptions = {},
): Promise<DeployResult> {
  const log = options.log ?? (() => {});
  const c = clients(url);
  const chainId = await c.public.getChainId();
  if (chainId !== c.chain.id) {
    throw new Error(`refusing to deploy: ${url} has chain id ${chainId}, not ${c.chain.id}`);
  }

  const present = await Promise.all(
    PLACED_CODE.map(async (p) =>
      ((await c.public.getCode({ address: p.address })) ?? "0x").toLowerCase()
    ),
  );
  const foreign = PLACED_CODE.filter((p, i) =>
    present[i] !== "0x" && present[i] !== p.code.toLowerCase()
  );
  const slot = (await c.public.getStorageAt({
    address: ADDRESSES.hypermap,
    slot: ERC1967_IMPLEMENTATION_SLOT,
  })) ?? pad("0x0");
  const implementationWord = pad(ADDRESSES.hypermapImplementation.toLowerCase() as Hex);
  if (BigInt(slot) !== 0n && slot.toLowerCase() !== implementationWord) {
    foreign.push({
      name: `Hypermap proxy's implementation slot (${slot})`,
      address: ADDRESSES.hypermap,
      code: "0x",
    });
  }
  if (foreign.length > 0) {
    throw new Error(
      `refusing to deploy on ${url}: these fixed addresses already hold something else ` +
        `(another Hypermap deployment, e.g. kit's chain?):\n` +
        foreign.map((p) => `  ${p.address} ${p.name}`).join("\n"),
    );
  }

  const complete = present.every((code) => code !== "0x") &&
    isAddressEqual(await entryTba(url, OS), ADDRESSES.dotOsTba);
  if (complete) {
    log("contracts already deployed; nothing to do");
    return { alreadyDeployed: true, addresses: ADDRESSES };
  }

  for (const [i, p] of PLACED_CODE.entries()) {
    if (present[i] !== "0x") continue;
    await c.test.setCode({ address: p.address, bytecode: p.code });
    log(`placed ${p.name} at ${p.address}`);
  }
  if (BigInt(slot) === 0n) {
    await c.test.setStorageAt({
      address: ADDRESSES.hypermap,
      index: ERC1967_IMPLEMENTATION_SLOT,
      value: implementationWord,
    });
    log(`pointed the Hypermap proxy at its implementation`);
  }

  await c.test.impersonateAccount({ address: OWNER });
  try {
    const wallet = c.wallet(OWNER);
    if (isAddressEqual(await entryTba(url, ZERO), zeroAddress)) {
      const hash = await wallet.sendTransaction({
        to: ADDRESSES.hypermap,
        data: encodeFunctionData({ abi: hypermapAbi, functionName: "initialize", args: [OWNER] }),
        gas: 0x500000n,
      });
      await receiptOf(c.public, hash, "initialize Hypermap");
      log(`initialized Hypermap: zeroth entry owned by ${OWNER}, its TBA ${ADDRESSES.zerothTba}`);
    }
    if (isAddressEqual(await entryTba(url, OS), zeroAddress)) {
      const mintOs = encodeFunctionData({
        abi: hypermapAbi,
        functionName: "mint",
        args: [
          OWNER,
          toHex("os"),
          encodeFunctionData({ abi: accountAbi, functionName: "initialize" }),
          ADDRESSES.hyperAccountMinter,
        ],
      });
      const hash = await wallet.sendTransaction({
        to: ADDRESSES.zerothTba,
        data: encodeFunctionData({
          abi: accountAbi,
          functionName: "execute",
          args: [ADDRESSES.hypermap, 0n, mintOs, 0],
        }),
        gas: 0x500000n,
      });
      await receiptOf(c.public, hash, "mint os");
      log(`minted os: its TBA ${ADDRESSES.dotOsTba}`);
    }
  } finally {
    await c.test.stopImpersonatingAccount({ address: OWNER });
  }

  const expected = [
    { hash: ZERO, tba: ADDRESSES.zerothTba, what: "zeroth" },
    { hash: OS, tba: ADDRESSES.dotOsTba, what: "os" },
  ];
  for (const { hash, tba, what } of expected) {
    const got = await entryTba(url, hash);
    if (!isAddressEqual(got, tba)) {
      throw new Error(`deploy ended with the ${what} TBA at ${got}, not ${tba}`);
    }
  }
  return { alreadyDeployed: false, addresses: ADDRESSES };
}

/** An entry's TBA per Hypermap.get (zero address if absent or Hypermap is not there yet). */
export async function entryTba(url: string, hash: Hex): Promise<Hex> {
  const c = clients(url);
  try {
    const [tba] = await c.public.readContract({
      address: ADDRESSES.hypermap,
      abi: hypermapAbi,
      functionName: "get",
      args: [hash],
    });
    return tba;
  } catch {
    return zeroAddress;
  }
}
