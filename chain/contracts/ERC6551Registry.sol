// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/// An ERC-6551 registry that computes and creates accounts as EIP-6551 specifies: each account is
/// an ERC-1167 minimal proxy to `implementation` followed by the footer
/// abi.encode(salt, chainId, tokenContract, tokenId), created with CREATE2 (salt = `salt`) by the
/// registry. At the canonical registry address this gives the canonical account addresses.
contract ERC6551Registry {
    event ERC6551AccountCreated(
        address account,
        address indexed implementation,
        bytes32 salt,
        uint256 chainId,
        address indexed tokenContract,
        uint256 indexed tokenId
    );

    error AccountCreationFailed();

    /// Creates the account (or returns it if it exists).
    function createAccount(
        address implementation,
        bytes32 salt,
        uint256 chainId,
        address tokenContract,
        uint256 tokenId
    ) external returns (address) {
        bytes memory code = _creationCode(implementation, salt, chainId, tokenContract, tokenId);
        address predicted = _address(salt, code);
        if (predicted.code.length != 0) return predicted;
        address created;
        assembly {
            created := create2(0, add(code, 0x20), mload(code), salt)
        }
        if (created == address(0) || created != predicted) revert AccountCreationFailed();
        emit ERC6551AccountCreated(created, implementation, salt, chainId, tokenContract, tokenId);
        return created;
    }

    /// The account's address, whether or not it exists yet.
    function account(
        address implementation,
        bytes32 salt,
        uint256 chainId,
        address tokenContract,
        uint256 tokenId
    ) external view returns (address) {
        return _address(salt, _creationCode(implementation, salt, chainId, tokenContract, tokenId));
    }

    // EIP-6551's account creation code: a constructor that returns the 0xad-byte runtime
    // (ERC-1167 proxy to `implementation`, then the 0x80-byte footer).
    function _creationCode(
        address implementation,
        bytes32 salt,
        uint256 chainId,
        address tokenContract,
        uint256 tokenId
    ) private pure returns (bytes memory) {
        return abi.encodePacked(
            hex"3d60ad80600a3d3981f3",
            hex"363d3d373d3d3d363d73",
            implementation,
            hex"5af43d82803e903d91602b57fd5bf3",
            abi.encode(salt, chainId, tokenContract, tokenId)
        );
    }

    function _address(bytes32 salt, bytes memory code) private view returns (address) {
        return address(
            uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, keccak256(code)))))
        );
    }
}
