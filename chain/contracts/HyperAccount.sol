// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

interface IERC721OwnerOf {
    function ownerOf(uint256 tokenId) external view returns (address);
}

/// An ERC-6551 account implementation for Hypermap entries: the owner of the entry's token
/// executes calls (operation 0), delegatecalls (1, e.g. a Multicall3 batch run as the account),
/// CREATE (2) and CREATE2 (3) from the account.
contract HyperAccount {
    /// Where the account keeps its state counter: keccak256("hyperdeno.hyperaccount.state").
    /// A fixed slot far from 0, since delegatecalls (operation 1) run foreign code on this storage.
    bytes32 private constant STATE_SLOT = keccak256("hyperdeno.hyperaccount.state");

    error NotAuthorized();
    error InvalidOperation(uint8 operation);
    error ValueWithDelegatecall();
    error CreateFailed();
    error OwnershipCycle();

    receive() external payable {}

    /// Accepted and does nothing: kit's chain mints `os` with initialization = initialize(), so an
    /// account implementation must answer it.
    function initialize() external {}

    /// ERC-6551: runs an operation from the account; only a valid signer (the token owner).
    function execute(address to, uint256 value, bytes calldata data, uint8 operation)
        external
        payable
        virtual
        returns (bytes memory result)
    {
        if (!_isValidSigner(msg.sender)) revert NotAuthorized();
        _bumpState();
        bool ok;
        if (operation == 0) {
            (ok, result) = to.call{value: value}(data);
        } else if (operation == 1) {
            if (value != 0) revert ValueWithDelegatecall();
            (ok, result) = to.delegatecall(data);
        } else if (operation == 2) {
            bytes memory code = data;
            address created;
            assembly {
                created := create(value, add(code, 0x20), mload(code))
            }
            if (created == address(0)) revert CreateFailed();
            return abi.encode(created);
        } else if (operation == 3) {
            bytes32 salt = bytes32(data[:32]);
            bytes memory code = data[32:];
            address created;
            assembly {
                created := create2(value, add(code, 0x20), mload(code), salt)
            }
            if (created == address(0)) revert CreateFailed();
            return abi.encode(created);
        } else {
            revert InvalidOperation(operation);
        }
        if (!ok) {
            assembly {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    /// ERC-6551: the token that owns this account, read from the account's code footer.
    function token() public view returns (uint256 chainId, address tokenContract, uint256 tokenId) {
        bytes memory footer = new bytes(0x60);
        assembly {
            extcodecopy(address(), add(footer, 0x20), 0x4d, 0x60)
        }
        return abi.decode(footer, (uint256, address, uint256));
    }

    /// The owner of the token that owns this account (zero if that token is on another chain).
    function owner() public view returns (address) {
        (uint256 chainId, address tokenContract, uint256 tokenId) = token();
        if (chainId != block.chainid || tokenContract.code.length == 0) return address(0);
        try IERC721OwnerOf(tokenContract).ownerOf(tokenId) returns (address holder) {
            return holder;
        } catch {
            return address(0);
        }
    }

    /// ERC-6551: changes on every execute.
    function state() external view returns (uint256 value) {
        bytes32 slot = STATE_SLOT;
        assembly {
            value := sload(slot)
        }
    }

    /// ERC-6551: the magic value if `signer` may act for the account.
    function isValidSigner(address signer, bytes calldata) external view returns (bytes4) {
        return _isValidSigner(signer) ? this.isValidSigner.selector : bytes4(0);
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x6faff5f1 // IERC6551Account
            || interfaceId == 0x51945447 // IERC6551Executable
            || interfaceId == 0x150b7a02 // ERC721TokenReceiver
            || interfaceId == 0x4e2312e0; // ERC1155TokenReceiver
    }

    function onERC721Received(address, address, uint256 receivedId, bytes calldata)
        external
        view
        returns (bytes4)
    {
        (uint256 chainId, address tokenContract, uint256 tokenId) = token();
        // an account that owns its own token can never be used again
        if (chainId == block.chainid && msg.sender == tokenContract && receivedId == tokenId) {
            revert OwnershipCycle();
        }
        return this.onERC721Received.selector;
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return this.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return this.onERC1155BatchReceived.selector;
    }

    function _isValidSigner(address signer) internal view returns (bool) {
        return signer != address(0) && signer == owner();
    }

    function _bumpState() private {
        bytes32 slot = STATE_SLOT;
        assembly {
            sstore(slot, add(sload(slot), 1))
        }
    }
}
