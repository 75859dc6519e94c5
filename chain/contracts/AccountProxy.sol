// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC1967_IMPLEMENTATION_SLOT, HYPERMAP} from "./Constants.sol";

/// The ERC-6551 implementation of an entry's token-bound account. The account (the registry's
/// minimal proxy) delegatecalls here, so this code runs in the account's context: it reads the
/// account implementation chosen at mint from the account's own ERC-1967 slot and delegatecalls it.
/// Hypermap sets that slot once, right after creating the account. Keeping this layer between the
/// account and its implementation makes an entry's account address independent of the
/// implementation: it depends only on the namehash.
contract AccountProxy {
    /// ERC-1967's event for a new implementation.
    event Upgraded(address indexed implementation);

    error NotHypermap();
    error AlreadyInitialized();
    error NotAContract(address implementation);
    error NoImplementation();

    /// Sets the account implementation. Only Hypermap, only once.
    function initializeAccountProxy(address implementation) external {
        if (msg.sender != HYPERMAP) revert NotHypermap();
        if (_implementation() != address(0)) revert AlreadyInitialized();
        if (implementation.code.length == 0) revert NotAContract(implementation);
        bytes32 slot = ERC1967_IMPLEMENTATION_SLOT;
        assembly {
            sstore(slot, implementation)
        }
        emit Upgraded(implementation);
    }

    fallback() external payable {
        _delegate();
    }

    receive() external payable {
        _delegate();
    }

    function _implementation() private view returns (address implementation) {
        bytes32 slot = ERC1967_IMPLEMENTATION_SLOT;
        assembly {
            implementation := sload(slot)
        }
    }

    function _delegate() private {
        address implementation = _implementation();
        if (implementation == address(0)) revert NoImplementation();
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), implementation, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}
