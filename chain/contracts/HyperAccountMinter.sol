// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {HYPERMAP} from "./Constants.sol";
import {HyperAccount} from "./HyperAccount.sol";
import {IHypermap} from "./IHypermap.sol";

/// A HyperAccount whose owner mints sub-entries directly, without going through execute: the local
/// chain's `.os` account, so a fake node's name is one call (Hyperdrive's fakenet sends `mint` to
/// the `.os` account).
contract HyperAccountMinter is HyperAccount {
    function mint(address who, bytes calldata label, bytes calldata initialization, address implementation)
        external
        returns (address tba)
    {
        if (!_isValidSigner(msg.sender)) revert NotAuthorized();
        return IHypermap(HYPERMAP).mint(who, label, initialization, implementation);
    }
}
