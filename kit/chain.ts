// `deno task chain`: kit chain (anvil with the project's Hypermap contracts, chain/), and the
// chain a fake node needs: kit's start_chain uses an anvil already answering on the port
// (deploying Hypermap there if it is missing) or starts one.

import type { Chain } from "../chain/mod.ts";
import { type Parsed, portValue, type VerbSpec } from "./args.ts";

export const CHAIN: VerbSpec = {
  name: "chain",
  alias: "c",
  about: "Start a local chain for development",
  args: [
    { name: "port", long: "port", short: "p", default: "8545", help: "Port to run the chain on" },
    { name: "host", long: "host", default: "127.0.0.1", help: "Address anvil binds to" },
    {
      name: "verbose",
      long: "verbose",
      short: "v",
      flag: true,
      help: "If set, output stdout and stderr",
    },
    {
      name: "tracing",
      long: "tracing",
      short: "t",
      flag: true,
      help: "If set, enable tracing/steps-tracing",
    },
  ],
};

/**
 * kit's start_chain: the chain on localhost:<port>, started if nothing answers there (and then
 * returned: the caller stops it), else used as it is with Hypermap deployed onto it if needed.
 */
export async function ensureChain(
  port: number,
  log: (line: string) => void,
  opts: { verbose?: boolean; tracing?: boolean; host?: string } = {},
): Promise<Chain | undefined> {
  // the chain's code loads when a chain is wanted, not with every kit verb
  const { answersJsonRpc } = await import("../chain/anvil.ts");
  const { deployHypermap, startChain } = await import("../chain/mod.ts");
  log(`Checking for Anvil on port ${port}...`);
  if (await answersJsonRpc(`http://localhost:${port}`)) {
    const d = await deployHypermap(`http://localhost:${port}`, { log });
    log(`Anvil is ready on port ${port}${d.alreadyDeployed ? "" : " (Hypermap deployed)"}.`);
    return undefined;
  }
  log(`Starting Anvil on port ${port}...`);
  const t0 = performance.now();
  const chain = await startChain({
    port,
    host: opts.host,
    log,
    anvilOutput: opts.verbose ? (line) => console.log(`[anvil] ${line}`) : undefined,
    args: opts.tracing ? ["--tracing"] : [],
  });
  log(`Anvil is ready on port ${port} (${((performance.now() - t0) / 1000).toFixed(1)} s).`);
  return chain;
}

export async function runChain(args: Parsed): Promise<number> {
  const v = args.values;
  const port = portValue("port", v.port as string);
  const say = (m: string) => console.log(`[chain] ${m}`);
  const { answersJsonRpc } = await import("../chain/anvil.ts");
  const { ADDRESSES, CHAIN_ID, OWNER } = await import("../chain/addresses.ts");
  if (await answersJsonRpc(`http://localhost:${port}`)) {
    console.error(`[chain] Port ${port} is already in use by another anvil process`);
    return 1;
  }
  const chain = await ensureChain(port, say, {
    verbose: v.verbose as boolean,
    tracing: v.tracing as boolean,
    host: v.host as string,
  });
  if (!chain) return 1;
  const width = Math.max(...Object.keys(ADDRESSES).map((k) => k.length));
  say(`ready: ${chain.url} and ${chain.wsUrl}, chain id ${CHAIN_ID}, owner ${OWNER}`);
  for (const [name, address] of Object.entries(ADDRESSES)) {
    console.log(`  ${name.padEnd(width)}  ${address}`);
  }
  say("Ctrl-C to stop");
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    say("stopping anvil");
    void chain.stop();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const status = await chain.exited;
  await chain.stop();
  if (!stopping) {
    console.error(`[chain] anvil exited on its own (code ${status.code})`);
    return 1;
  }
  say("stopped");
  return 0;
}
