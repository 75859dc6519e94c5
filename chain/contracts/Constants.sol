// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

// Fixed addresses of the local Hypermap chain. They are the addresses Hyperdrive's fakenet,
// process_lib and kit's `kit chain` use, so the same packages find the same contracts here.

// Hypermap: the ERC-1967 proxy every caller talks to.
address constant HYPERMAP = 0x000000000044C6B8Cb4d8f0F889a3E47664EAeda;
// The canonical ERC-6551 registry address.
address constant ERC6551_REGISTRY = 0x000000006551c19487814612e58FE06813775758;
// HyperAccount: the default account implementation (also the zeroth entry's).
address constant HYPER_ACCOUNT = 0x0000000000EDAd72076CBe7b9Cfa3751D5a85C97;

// The ERC-1967 implementation slot, keccak256("eip1967.proxy.implementation") - 1.
bytes32 constant ERC1967_IMPLEMENTATION_SLOT =
    0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;

// namehash("os") = keccak256(bytes32(0) ++ keccak256("os")).
bytes32 constant OS_NAMEHASH = 0xdeeac81ae11b64e7cab86d089c306e5d223552a630f02633ce170d2786ff1bbd;

// An entry's token-bound account is the registry's account for (implementation = the entry's
// account proxy, salt = namehash, chainId, Hypermap, tokenId = namehash), so its address depends on
// the namehash and on where the entry's account proxy lives. Hypermap deploys one AccountProxy per
// entry with CREATE2 (salt = namehash). For the two entries whose accounts kit's chain puts at
// fixed addresses (the zeroth TBA 0x809A598d9883f2Fb6B77382eBfC9473Fd6A857c9 and the `.os` TBA
// 0x9b3853358ede717fc7D4806cF75d7A4d4517A9C9, which Hyperdrive's fakenet hardcodes) the account
// proxy must sit where kit's Hypermap puts its own: the deploy places AccountProxy code at these two
// addresses and Hypermap uses them instead of deploying one.

// Account proxy of the zeroth entry (namehash 0).
address constant ZEROTH_ACCOUNT_PROXY = 0x157AB34BE9584FEFD9420eFCd72F689E9917f051;
// Account proxy of `os`.
address constant OS_ACCOUNT_PROXY = 0x0df6BDeE3e7107421d56BEF382546f581e55b3DE;
