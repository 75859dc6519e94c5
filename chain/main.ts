// deno task chain [--port 8545] [--host 127.0.0.1] [--verbose]
// Starts anvil with the project's Hypermap contracts deployed (kit's `kit chain` equivalent) and
// runs until SIGINT or SIGTERM, then stops anvil.

import { ADDRESSES, CHAIN_ID, OWNER } from "./addresses.ts";
import { anvilBinary } from "./anvil.ts";
import { startChain } from "./mod.ts";

const USAGE = "usage: deno task chain [--port 8545] [--host 127.0.0.1] [--verbose]";

function parse(args: string[]) {
  const out = { port: 8545, host: "127.0.0.1", verbose: false };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const value = () => inline ?? args[++i];
    if (flag === "--port" || flag === "-p") {
      const port = Number(value());
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(USAGE);
      out.port = port;
    } else if (flag === "--host") {
      out.host = value() ?? "";
      if (!out.host) throw new Error(USAGE);
    } else if (flag === "--verbose" || flag === "-v") {
      out.verbose = true;
    } else if (flag === "--help" || flag === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    } else {
      throw new Error(`unknown argument ${args[i]}\n${USAGE}`);
    }
  }
  return out;
}

let opts;
try {
  opts = parse(Deno.args);
} catch (e) {
  console.error((e as Error).message);
  Deno.exit(2);
}

const say = (m: string) => console.log(`[chain] ${m}`);
say(`starting ${anvilBinary()} on ${opts.host}:${opts.port}`);
let chain;
try {
  chain = await startChain({
    port: opts.port,
    host: opts.host,
    log: say,
    anvilOutput: opts.verbose ? (line) => console.log(`[anvil] ${line}`) : undefined,
  });
} catch (e) {
  console.error(`[chain] ${(e as Error).message}`);
  Deno.exit(1);
}

const width = Math.max(...Object.keys(ADDRESSES).map((k) => k.length));
say(`ready: ${chain.url} and ${chain.wsUrl}, chain id ${CHAIN_ID}, owner ${OWNER}`);
for (const [name, address] of Object.entries(ADDRESSES)) {
  console.log(`  ${name.padEnd(width)}  ${address}`);
}
say("Ctrl-C to stop");

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping anvil`);
  await chain.stop();
  say("stopped");
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", () => shutdown("SIGINT"));
Deno.addSignalListener("SIGTERM", () => shutdown("SIGTERM"));

const status = await chain.exited;
if (!stopping) {
  console.error(`[chain] anvil exited on its own (code ${status.code})`);
  Deno.exit(1);
}
