// Compiles chain/contracts/*.sol with solc from npm (the wasm build) into the artifacts under
// chain/artifacts/: ABI, creation and runtime bytecode, compiler version and settings.

import solc from "solc";

/** The contracts that get an artifact, with the source file each lives in. */
export const CONTRACTS = {
  HypermapProxy: "HypermapProxy.sol",
  Hypermap: "Hypermap.sol",
  AccountProxy: "AccountProxy.sol",
  HyperAccount: "HyperAccount.sol",
  HyperAccountMinter: "HyperAccountMinter.sol",
  ERC6551Registry: "ERC6551Registry.sol",
  Multicall3: "Multicall3.sol",
} as const;

export type ContractName = keyof typeof CONTRACTS;

/**
 * solc settings. No metadata in the bytecode (no CBOR tail), so the runtime code depends on the
 * code only, not on comments or paths.
 */
export const SOLC_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  metadata: { appendCBOR: false },
} as const;

export interface Artifact {
  contractName: string;
  sourceName: string;
  compiler: { version: string; settings: typeof SOLC_SETTINGS };
  abi: unknown[];
  /** creation code */
  bytecode: string;
  /** runtime code: what the deploy puts at the contract's fixed address */
  deployedBytecode: string;
}

export const CONTRACTS_DIR = new URL("./contracts/", import.meta.url);
export const ARTIFACTS_DIR = new URL("./artifacts/", import.meta.url);

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<
    string,
    Record<string, {
      abi: unknown[];
      evm: { bytecode: { object: string }; deployedBytecode: { object: string } };
    }>
  >;
}

/** Compiles every source in chain/contracts/; throws on any error or warning. */
export function compileContracts(): Record<ContractName, Artifact> {
  const sources: Record<string, { content: string }> = {};
  for (const entry of Deno.readDirSync(CONTRACTS_DIR)) {
    if (entry.isFile && entry.name.endsWith(".sol")) {
      sources[entry.name] = { content: Deno.readTextFileSync(new URL(entry.name, CONTRACTS_DIR)) };
    }
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      ...SOLC_SETTINGS,
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    },
  };
  const output: SolcOutput = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = (output.errors ?? []).filter((e) => e.severity !== "info");
  if (problems.length > 0) {
    throw new Error(`solc:\n${problems.map((e) => e.formattedMessage).join("\n")}`);
  }
  const version: string = solc.version();
  const artifacts = {} as Record<ContractName, Artifact>;
  for (const [name, file] of Object.entries(CONTRACTS) as [ContractName, string][]) {
    const out = output.contracts[file]?.[name];
    if (!out) throw new Error(`solc produced no ${name} in ${file}`);
    artifacts[name] = {
      contractName: name,
      sourceName: `chain/contracts/${file}`,
      compiler: { version, settings: SOLC_SETTINGS },
      abi: out.abi,
      bytecode: `0x${out.evm.bytecode.object}`,
      deployedBytecode: `0x${out.evm.deployedBytecode.object}`,
    };
  }
  return artifacts;
}

/** An artifact as it is written to disk. */
export function artifactText(artifact: Artifact): string {
  return JSON.stringify(artifact, null, 2) + "\n";
}
