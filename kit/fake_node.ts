// `deno task fake-node` (kit boot-fake-node): the local chain on --fakechain-port (started if
// none answers there, and stopped with this node), then a hyperdeno node in simulation mode, as
// kit runs Hyperdrive: `<home> --port <p> --verbosity <v> --expose-local [ARGS...] [--rpc ..]
// --password <pw> --fake-node-name <name> --fakechain-port <c>`, attached to this terminal. When
// it exits its home is deleted unless --persist, as kit does.

import { type Parsed, portValue, u8Value, UsageError, userPath, type VerbSpec } from "./args.ts";
import { ensureChain } from "./chain.ts";

const ROOT = new URL("../", import.meta.url).pathname;

export const FAKE_NODE: VerbSpec = {
  name: "fake-node",
  alias: "f",
  about: "Boot a fake node for development (kit boot-fake-node)",
  trailing: "ARGS",
  args: [
    {
      name: "runtime-path",
      long: "runtime-path",
      short: "r",
      value: "PATH",
      help: "Path to a hyperdeno checkout or compiled binary (overrides --version)",
    },
    {
      name: "version",
      long: "version",
      short: "v",
      default: "latest",
      choices: ["latest"],
      help: "Version of the runtime (latest: this checkout)",
    },
    {
      name: "port",
      long: "port",
      short: "p",
      default: "8080",
      help: "The port to run the fake node on",
    },
    {
      name: "home",
      long: "home",
      short: "o",
      default: "/tmp/hyperdrive-fake-node",
      help: "Path to home directory for fake node",
    },
    {
      name: "fake-node-name",
      long: "fake-node-name",
      short: "f",
      value: "NODE_NAME",
      default: "fake.os",
      help: "Name for fake node",
    },
    {
      name: "fakechain-port",
      long: "fakechain-port",
      short: "c",
      default: "8545",
      help: "The port to run the fakechain on (or to connect to)",
    },
    {
      name: "rpc",
      long: "rpc",
      value: "RPC_ENDPOINT",
      help: "Ethereum Base mainnet RPC endpoint (wss://)",
    },
    {
      name: "persist",
      long: "persist",
      flag: true,
      help: "If set, do not delete node home after exit",
    },
    { name: "password", long: "password", default: "secret", help: "Password to login" },
    {
      name: "release",
      long: "release",
      flag: true,
      help: "If set and given --runtime-path, compile release build (nothing to compile: accepted)",
    },
    {
      name: "verbosity",
      long: "verbosity",
      default: "0",
      help: "Verbosity of node: higher is more verbose",
    },
  ],
};

export interface FakeNodeOptions {
  home: string;
  port: number;
  name: string;
  fakechainPort: number;
  password: string;
  verbosity: number;
  rpc?: string;
  /** Extra node arguments (after `--`). */
  args?: string[];
  /** A hyperdeno checkout directory or binary (default: this checkout). */
  runtimePath?: string;
}

/** The node's command line, as kit's run_runtime builds Hyperdrive's. */
export function nodeArgs(o: FakeNodeOptions): string[] {
  let name = o.name;
  if (!name.includes(".")) name = `${name}.os`;
  return [
    o.home,
    "--port",
    String(o.port),
    "--verbosity",
    String(o.verbosity),
    "--expose-local",
    ...(o.args ?? []),
    ...(o.rpc ? ["--rpc", o.rpc] : []),
    "--password",
    o.password,
    "--fake-node-name",
    name,
    "--fakechain-port",
    String(o.fakechainPort),
  ];
}

/**
 * The node permission set's FFI grant (jco-transpile's native addon) also by its real path: with
 * node_modules a symlink (a worktree sharing another checkout's), Deno checks the library's
 * real path, which `node_modules/@oxc-minify/` does not name, and components cannot be
 * transpiled. The same directory, so the same grant.
 */
function ffiFlag(dir: string): string[] {
  const rel = `${dir}/node_modules/@oxc-minify`;
  try {
    const real = Deno.realPathSync(rel);
    return real === rel ? [] : [`--allow-ffi=${rel}/,${real}/`];
  } catch {
    return [];
  }
}

/** The program and arguments that run the node. */
export async function nodeCommand(o: FakeNodeOptions): Promise<[string, string[]]> {
  const deno = Deno.execPath();
  const checkout = (dir: string): [string, string[]] => [
    deno,
    [
      "run",
      "-q",
      "-P=node",
      ...ffiFlag(dir),
      "--config",
      `${dir}/deno.json`,
      `${dir}/main.ts`,
      ...nodeArgs(o),
    ],
  ];
  if (o.runtimePath === undefined) return checkout(ROOT.replace(/\/$/, ""));
  let info;
  try {
    info = await Deno.stat(o.runtimePath);
  } catch {
    throw new Error(`--runtime-path ${o.runtimePath} does not exist.`);
  }
  return info.isDirectory ? checkout(o.runtimePath) : [o.runtimePath, nodeArgs(o)];
}

export async function runFakeNode(args: Parsed): Promise<number> {
  const v = args.values;
  const opts: FakeNodeOptions = {
    home: userPath(v.home as string),
    port: portValue("port", v.port as string),
    name: v["fake-node-name"] as string,
    fakechainPort: portValue("fakechain-port", v["fakechain-port"] as string),
    password: v.password as string,
    verbosity: u8Value("verbosity", v.verbosity as string),
    rpc: v.rpc as string | undefined,
    args: args.rest,
    runtimePath: v["runtime-path"] === undefined
      ? undefined
      : userPath(v["runtime-path"] as string),
  };
  if (!opts.name) throw new UsageError("--fake-node-name must not be empty");
  const say = (m: string) => console.log(`[fake-node] ${m}`);
  const chain = await ensureChain(opts.fakechainPort, say);
  const [program, programArgs] = await nodeCommand(opts);
  say(
    `booting ${
      opts.name.includes(".") ? opts.name : `${opts.name}.os`
    } (home ${opts.home}, http://localhost:${opts.port})`,
  );
  const child = new Deno.Command(program, {
    args: programArgs,
    cwd: ROOT,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the node too (same process group): wait for it to shut down, then clean up
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal === "SIGINT" ? "SIGTERM" : signal);
    } catch { /* already gone */ }
  };
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGINT", forward("SIGINT")],
    ["SIGTERM", forward("SIGTERM")],
    ["SIGHUP", forward("SIGHUP")],
  ];
  for (const [s, l] of listeners) Deno.addSignalListener(s, l);
  const status = await child.status;
  for (const [s, l] of listeners) Deno.removeSignalListener(s, l);
  if (chain) {
    say("stopping the chain this node started");
    await chain.stop();
  }
  if (!v.persist) {
    await Deno.remove(opts.home, { recursive: true }).catch(() => {});
    say(`removed ${opts.home} (--persist keeps it)`);
  }
  return status.code;
}
