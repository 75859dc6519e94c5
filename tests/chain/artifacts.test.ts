// The committed chain/artifacts/*.json are exactly what compiling chain/contracts/ gives, and the
// namehash and account-address facts the contracts hardcode hold.

import {
  type AbiEvent,
  type AbiFunction,
  concat,
  encodeAbiParameters,
  getContractAddress,
  type Hex,
  keccak256,
  parseAbi,
  toEventSelector,
  toFunctionSelector,
  toHex,
} from "viem";
import { assertEquals } from "../assert.ts";
import { ARTIFACTS_DIR, artifactText, compileContracts, CONTRACTS } from "../../chain/compile.ts";
import { ADDRESSES, CHAIN_ID } from "../../chain/addresses.ts";
import { namehash } from "../../chain/abi.ts";

Deno.test("chain: rebuilding the contracts from source gives exactly the committed artifacts", () => {
  const built = compileContracts();
  assertEquals(Object.keys(built).sort(), Object.keys(CONTRACTS).sort());
  for (const [name, artifact] of Object.entries(built)) {
    const committed = Deno.readTextFileSync(new URL(`${name}.json`, ARTIFACTS_DIR));
    assertEquals(
      artifactText(artifact),
      committed,
      `${name}.json differs: run deno task chain:build`,
    );
  }
  // the compiler the artifacts name is the one in package.json
  const pkg = JSON.parse(Deno.readTextFileSync(new URL("../../package.json", import.meta.url)));
  const solc = pkg.devDependencies.solc ?? pkg.dependencies.solc;
  assertEquals(built.Hypermap.compiler.version.split("+")[0], solc);
});

Deno.test("chain: namehash matches the hashes Hyperdrive and kit's chain use", () => {
  assertEquals(namehash(""), `0x${"00".repeat(32)}`);
  // hns-indexer's hardcoded top-level zones (simulation mode)
  assertEquals(
    namehash("os"),
    "0xdeeac81ae11b64e7cab86d089c306e5d223552a630f02633ce170d2786ff1bbd",
  );
  assertEquals(
    namehash("dev"),
    "0x137d9e4cc0479164d40577620cb3b41b083c6e8dbf58f8523be76d207d6fd8ea",
  );
  // keccak256(namehash("os") ++ keccak256("fake"))
  assertEquals(
    namehash("fake.os"),
    keccak256(concat([namehash("os"), keccak256(toHex("fake"))])),
  );
});

/** EIP-6551's account address, computed here independently of the registry contract. */
function erc6551Account(implementation: Hex, salt: Hex, tokenContract: Hex, tokenId: bigint): Hex {
  const code = concat([
    "0x3d60ad80600a3d3981f3363d3d373d3d3d363d73",
    implementation,
    "0x5af43d82803e903d91602b57fd5bf3",
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "uint256" }, { type: "address" }, { type: "uint256" }],
      [salt, BigInt(CHAIN_ID), tokenContract, tokenId],
    ),
  ]);
  return getContractAddress({
    opcode: "CREATE2",
    from: ADDRESSES.erc6551Registry,
    salt,
    bytecode: code,
  });
}

Deno.test("chain: the zeroth and .os TBAs are the canonical ERC-6551 accounts kit's chain has", () => {
  // implementation = the entry's account proxy, salt = tokenId = namehash, token = Hypermap
  const zero = namehash("");
  const os = namehash("os");
  assertEquals(
    erc6551Account(ADDRESSES.zerothAccountProxy, zero, ADDRESSES.hypermap, BigInt(zero)),
    ADDRESSES.zerothTba,
  );
  assertEquals(
    erc6551Account(ADDRESSES.osAccountProxy, os, ADDRESSES.hypermap, BigInt(os)),
    ADDRESSES.dotOsTba,
  );
});

// process_lib's hypermap.rs and Hyperdrive's sol.rs declarations, as signatures.
const PROCESS_LIB_HYPERMAP = parseAbi([
  "event Mint(bytes32 indexed parenthash, bytes32 indexed childhash, bytes indexed labelhash, bytes label)",
  "event Fact(bytes32 indexed parenthash, bytes32 indexed facthash, bytes indexed labelhash, bytes label, bytes data)",
  "event Note(bytes32 indexed parenthash, bytes32 indexed notehash, bytes indexed labelhash, bytes label, bytes data)",
  "event Gene(bytes32 indexed entry, address indexed gene)",
  "event Zero(address indexed zeroTba)",
  "event Transfer(address indexed from, address indexed to, uint256 indexed id)",
  "event Approval(address indexed owner, address indexed spender, uint256 indexed id)",
  "event ApprovalForAll(address indexed owner, address indexed operator, bool approved)",
  "function get(bytes32 namehash) view returns (address tba, address owner, bytes data)",
  "function mint(address who, bytes label, bytes initialization, bytes erc721Data, address implementation) returns (address tba)",
  "function gene(address _gene)",
  "function fact(bytes fact, bytes data) returns (bytes32 facthash)",
  "function note(bytes note, bytes data) returns (bytes32 notehash)",
  "function tbaOf(uint256 entry) view returns (address tba)",
  "function balanceOf(address owner) view returns (uint256)",
  "function getApproved(uint256 entry) view returns (address)",
  "function isApprovedForAll(address owner, address operator) view returns (bool)",
  "function ownerOf(uint256 entry) view returns (address)",
  "function setApprovalForAll(address operator, bool approved)",
  "function approve(address spender, uint256 entry)",
  "function safeTransferFrom(address from, address to, uint256 id)",
  "function safeTransferFrom(address from, address to, uint256 id, bytes data)",
  "function transferFrom(address from, address to, uint256 id)",
  "function supportsInterface(bytes4 interfaceId) view returns (bool)",
  // Hyperdrive's sol.rs
  "function mint(address to, bytes label, bytes initialization, address implementation) returns (address tba)",
]);
const HYPERDRIVE_ACCOUNT = parseAbi([
  "function execute(address to, uint256 value, bytes data, uint8 operation) payable returns (bytes returnData)",
  "function token() view returns (uint256, address, uint256)",
]);

/** A function's selector and output types, or an event's topic and indexed flags: what callers and log decoders depend on. */
function shape(item: AbiFunction | AbiEvent): string {
  if (item.type === "event") {
    return `${toEventSelector(item)} ${item.inputs.map((i) => !!i.indexed).join(",")}`;
  }
  return `${toFunctionSelector(item)} ${item.outputs.map((o) => o.type).join(",")}`;
}

function shapes(abi: readonly unknown[]): Set<string> {
  return new Set(
    (abi as (AbiFunction | AbiEvent)[])
      .filter((i) => i.type === "function" || i.type === "event")
      .map(shape),
  );
}

Deno.test("chain: the compiled ABI has every function and event as process_lib and Hyperdrive declare them", () => {
  const committed = (name: string) =>
    JSON.parse(Deno.readTextFileSync(new URL(`${name}.json`, ARTIFACTS_DIR))).abi as unknown[];
  const hypermap = shapes(committed("Hypermap"));
  for (const item of PROCESS_LIB_HYPERMAP) {
    assertEquals(hypermap.has(shape(item)), true, `Hypermap lacks ${item.type} ${item.name}`);
  }
  for (const account of ["HyperAccount", "HyperAccountMinter"]) {
    const have = shapes(committed(account));
    for (const item of HYPERDRIVE_ACCOUNT) {
      assertEquals(have.has(shape(item)), true, `${account} lacks ${item.name}`);
    }
  }
  // the selectors kit's chain calldata uses
  assertEquals(toFunctionSelector("execute(address,uint256,bytes,uint8)"), "0x51945447");
  assertEquals(toFunctionSelector("mint(address,bytes,bytes,address)"), "0x094cefed");
  assertEquals(toFunctionSelector("initialize(address)"), "0xc4d66de8");
  assertEquals(toFunctionSelector("initialize()"), "0x8129fc1c");
  const minter = shapes(committed("HyperAccountMinter"));
  assertEquals(minter.has(shape(PROCESS_LIB_HYPERMAP.at(-1) as AbiFunction)), true);
  assertEquals(shapes(committed("HyperAccount")).has("0x8129fc1c "), true);
});
