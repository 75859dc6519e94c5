// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC1967_IMPLEMENTATION_SLOT} from "./Constants.sol";

/// The ERC-1967 proxy in front of Hypermap: every call runs the implementation whose address is in
/// the ERC-1967 implementation slot. The deploy writes that slot; there is no upgrade function.
contract HypermapProxy {
    fallback() external payable {
        _delegate();
    }

    receive() external payable {
        _delegate();
    }

    function _delegate() private {
        bytes32 slot = ERC1967_IMPLEMENTATION_SLOT;
        assembly {
            let implementation := sload(slot)
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), implementation, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}
