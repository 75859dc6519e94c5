// The ABI the project's contracts answer, in human-readable form (viem's parseAbi), with the names
// and types Hyperdrive (hyperdrive/src/sol.rs) and process_lib (src/hypermap.rs) declare.

import { type Hex, keccak256, parseAbi, toBytes, toHex } from "viem";

export const hypermapAbi = parseAbi([
  "event Mint(bytes32 indexed parenthash, bytes32 indexed childhash, bytes indexed labelhash, bytes label)",
  "event Fact(bytes32 indexed parenthash, bytes32 indexed facthash, bytes indexed labelhash, bytes label, bytes data)",
  "event Note(bytes32 indexed parenthash, bytes32 indexed notehash, bytes indexed labelhash, bytes label, bytes data)",
  "event Gene(bytes32 indexed entry, address indexed gene)",
  "event Zero(address indexed zeroTba)",
  "event Transfer(address indexed from, address indexed to, uint256 indexed id)",
  "event Approval(address indexed owner, address indexed spender, uint256 indexed id)",
  "event ApprovalForAll(address indexed owner, address indexed operator, bool approved)",
  "function initialize(address owner)",
  "function get(bytes32 namehash) view returns (address tba, address owner, bytes data)",
  "function mint(address who, bytes label, bytes initialization, address implementation) returns (address tba)",
  "function mint(address who, bytes label, bytes initialization, bytes erc721Data, address implementation) returns (address tba)",
  "function note(bytes note, bytes data) returns (bytes32 notehash)",
  "function fact(bytes fact, bytes data) returns (bytes32 facthash)",
  "function gene(address _gene)",
  "function tbaOf(uint256 entry) view returns (address tba)",
  "function balanceOf(address owner) view returns (uint256)",
  "function ownerOf(uint256 entry) view returns (address)",
  "function getApproved(uint256 entry) view returns (address)",
  "function isApprovedForAll(address owner, address operator) view returns (bool)",
  "function setApprovalForAll(address operator, bool approved)",
  "function approve(address spender, uint256 entry)",
  "function transferFrom(address from, address to, uint256 id)",
  "function safeTransferFrom(address from, address to, uint256 id)",
  "function safeTransferFrom(address from, address to, uint256 id, bytes data)",
  "function supportsInterface(bytes4 interfaceId) view returns (bool)",
]);

/** HyperAccount (ERC-6551) and HyperAccountMinter. */
export const accountAbi = parseAbi([
  "function execute(address to, uint256 value, bytes data, uint8 operation) payable returns (bytes returnData)",
  "function token() view returns (uint256 chainId, address tokenContract, uint256 tokenId)",
  "function owner() view returns (address)",
  "function state() view returns (uint256)",
  "function isValidSigner(address signer, bytes data) view returns (bytes4 magicValue)",
  "function initialize()",
  "function mint(address to, bytes label, bytes initialization, address implementation) returns (address tba)",
]);

export const multicall3Abi = parseAbi([
  "struct Call { address target; bytes callData; }",
  "struct Call3 { address target; bool allowFailure; bytes callData; }",
  "struct Result { bool success; bytes returnData; }",
  "function aggregate(Call[] calls) payable returns (uint256 blockNumber, bytes[] returnData)",
  "function aggregate3(Call3[] calls) payable returns (Result[] returnData)",
  "function getChainId() view returns (uint256)",
]);

export const erc6551RegistryAbi = parseAbi([
  "event ERC6551AccountCreated(address account, address indexed implementation, bytes32 salt, uint256 chainId, address indexed tokenContract, uint256 indexed tokenId)",
  "function createAccount(address implementation, bytes32 salt, uint256 chainId, address tokenContract, uint256 tokenId) returns (address)",
  "function account(address implementation, bytes32 salt, uint256 chainId, address tokenContract, uint256 tokenId) view returns (address)",
]);

const ZERO_HASH: Hex = `0x${"00".repeat(32)}`;

/**
 * Hypermap's namehash: for each label from the last to the first,
 * node = keccak256(node ++ keccak256(label)), from node = 0. The empty name is the root, 0 (as in
 * Hyperdrive's keygen::namehash; process_lib's version would hash one empty label instead).
 */
export function namehash(name: string): Hex {
  if (name === "") return ZERO_HASH;
  let node: Uint8Array = new Uint8Array(32);
  for (const label of name.split(".").reverse()) {
    const joined = new Uint8Array(64);
    joined.set(node, 0);
    joined.set(toBytes(keccak256(new TextEncoder().encode(label))), 32);
    node = toBytes(keccak256(joined));
  }
  return toHex(node);
}
