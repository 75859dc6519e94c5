// The local Hypermap chain's fixed addresses: the ones Hyperdrive's fakenet, process_lib and kit's
// `kit chain` use (see chain/contracts/Constants.sol for why the two account proxies are fixed).

import type { Address } from "viem";

/** Anvil's chain id, which Hyperdrive's fakenet signs with. */
export const CHAIN_ID = 31337;

/** Anvil's first dev account: owns the zeroth entry and `os`, and mints fake nodes. */
export const OWNER: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/**
 * Anvil's well-known (public) dev key for OWNER. Hyperdrive's fakenet signs its fake-node
 * transactions with it; so does mintOrResetFakeNode.
 */
export const OWNER_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

export const ADDRESSES = {
  /** Hypermap as everyone calls it: an ERC-1967 proxy */
  hypermap: "0x000000000044C6B8Cb4d8f0F889a3E47664EAeda",
  /** Hypermap's implementation, behind the proxy */
  hypermapImplementation: "0x000000000013a0486EBDc2DB1D7B4d1f7fCA92eD",
  /** HyperAccount: the ERC-6551 account implementation of nodes and of the zeroth entry */
  hyperAccount: "0x0000000000EDAd72076CBe7b9Cfa3751D5a85C97",
  /** HyperAccountMinter: the `.os` account's implementation (its owner mints sub-names freely) */
  hyperAccountMinter: "0xE01dCbD3Ed5f709874A1eA7a25677de18C8661c9",
  multicall3: "0xcA11bde05977b3631167028862bE2a173976CA11",
  erc6551Registry: "0x000000006551c19487814612e58FE06813775758",
  /** the zeroth entry's account proxy (its TBA's ERC-6551 implementation) */
  zerothAccountProxy: "0x157AB34BE9584FEFD9420eFCd72F689E9917f051",
  /** the `os` entry's account proxy */
  osAccountProxy: "0x0df6BDeE3e7107421d56BEF382546f581e55b3DE",
  /** the zeroth entry's TBA: mints `os` */
  zerothTba: "0x809A598d9883f2Fb6B77382eBfC9473Fd6A857c9",
  /** the `.os` TBA: mints fake nodes */
  dotOsTba: "0x9b3853358ede717fc7D4806cF75d7A4d4517A9C9",
} as const satisfies Record<string, Address>;

/** The ERC-1967 implementation slot, keccak256("eip1967.proxy.implementation") - 1. */
export const ERC1967_IMPLEMENTATION_SLOT =
  "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc";
