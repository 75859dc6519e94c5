// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/// What account implementations call on Hypermap.
interface IHypermap {
    function mint(address who, bytes calldata label, bytes calldata initialization, address implementation)
        external
        returns (address tba);

    function note(bytes calldata note, bytes calldata data) external returns (bytes32 notehash);

    function fact(bytes calldata fact, bytes calldata data) external returns (bytes32 facthash);

    function gene(address gene) external;
}
