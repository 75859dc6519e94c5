// The command line: `hyperdeno <home> [options]`, Hyperdrive's flags (its
// hyperdrive/src/main.rs clap definitions) with hyperdeno's help text, the
// browser password page before boot, then the node with its console (console/),
// stopped gracefully by CTRL+C/D or SIGINT/SIGTERM/SIGHUP/SIGQUIT.

import { parseArgs } from "node:util";
import { errorText } from "./kernel/kernel.ts";
import { isHypermapSafe, parseProcessId, processIdToString } from "./wire/core.ts";
import type { HnsUpdate } from "./wire/net.ts";
import { readPkiFile } from "./net/boot.ts";
import { HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION } from "./modules/http_server/mod.ts";
import { promptPasswordInBrowser } from "./modules/http_server/password_page.ts";
import { loadOrCreateKeyfile, readKeyfile } from "./modules/keyfile/mod.ts";
import {
  bootNode,
  type BootOptions,
  chainRoutingFor,
  type HyperdenoNode,
  storedName,
  VERSION,
} from "./node.ts";
import { ChainIdentityError, REFUSED_EXIT_CODE } from "./chain/identity.ts";
import { createConsole } from "./console/mod.ts";

const HELP = `hyperdeno ${VERSION}: a Hyperware node on Deno

Usage: hyperdeno <home> [options]

Options:
  -p, --port <PORT>               HTTP port [default: first free >= 8080]
      --ws-port <PORT>            networking WebSockets port, 0 = off [default: first free >= 9000]
      --tcp-port <PORT>           networking TCP port, 0 = off [default: first free >= 10000]
  -v, --verbosity <0-255>         terminal verbosity [default: 0]
  -d, --detached                  no line editing; lines read from stdin are still commands
      --password <PASSWORD>       node password (else: set/enter it on a page in the browser)
      --expose-local              serve local-only paths and kit's RPC (loopback clients only)
      --own-workers               a Worker for every process: more memory (a package's
                                  components otherwise share Workers and take turns)
      --rpc <RPC>                 add a WebSockets RPC URL at boot
      --rpc-config <PATH>         add the WebSockets RPC URLs listed in a JSON file at boot
      --fakechain-port <PORT>     a fake node: mint --fake-node-name (<label>.os; ".os" is
                                  added to a name without a dot) on the local Hypermap chain
                                  at localhost:<PORT> with a new networking key, WS only
                                  (password default "secret"), and index that chain
  -l, --logging-off               do not write the terminal's output to <home>/.terminal_logs
                                  (CTRL+L toggles it)
      --max-log-size <BYTES>      all log files together, 0 = no limit [default: 16000000]
      --number-log-files <N>      log files rotated through [default: 4]
      --reveal-ip                 Hyperdrive's switch (always on, unused by its networking):
                                  accepted, no effect
      --soft-ulimit <N>           Hyperdrive's; accepted and reported "not yet supported"
      --max-peers <N>             max open peer connections [default: 32]
      --max-passthroughs <N>      passthroughs served as a router [default: 0]
      --fake-pki <FILE>           JSON list of HnsUpdate records: peers known at boot
      --process-verbosity <JSON>  {"proc:pkg:pub": level}, level: {"U8": n} | "Muted"
                                  (Hyperdrive's form) or n | "muted"
      --fake-node-name <NAME>     node name [default: stored name, else fake.dev]
  -V, --version                   print version
  -h, --help                      print this help
`;

/** Hyperdrive's flags for later issues: accepted (kit passes some), not acted on yet. */
const NOT_YET = ["soft-ulimit"];

/** A bad command line: the CLI prints it with the help and exits 2. */
export class UsageError extends Error {}

function portOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UsageError(`--${name} must be a port number 0-65535, got ${v}`);
  }
  return n;
}

/** A networking port flag: as Hyperdrive, 0 turns that transport off. */
function transportOption(name: string, v: string | undefined): number | false | undefined {
  const port = portOption(name, v);
  return port === 0 ? false : port;
}

function countOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < 0) {
    throw new UsageError(`--${name} must be a whole number, got ${v}`);
  }
  return n;
}

/** One process's level: Hyperdrive's serde forms ({"U8": n}, "Muted") or the short ones. */
function verbosityLevel(pid: string, val: unknown): number | "muted" {
  if (val === "Muted" || val === "m" || val === "mute" || val === "muted") return "muted";
  if (Number.isInteger(val) && (val as number) >= 0) return val as number;
  if (val && typeof val === "object" && !Array.isArray(val)) {
    const entries = Object.entries(val);
    if (entries.length === 1) {
      const [tag, inner] = entries[0];
      // serde reads a u8 here, so 0-255
      if (tag === "U8" && Number.isInteger(inner) && inner >= 0 && inner <= 255) return inner;
      if (tag === "Muted" && inner === null) return "muted";
    }
  }
  throw new Error(
    `bad level for ${pid}: ${JSON.stringify(val)} ` +
      `(expected {"U8": 0-255}, "Muted", a number, or "muted")`,
  );
}

/**
 * `--process-verbosity`: a JSON object from ProcessId to level. Empty text is no overrides,
 * as Hyperdrive's default "".
 */
export function parseProcessVerbosity(text: string): Record<string, number | "muted"> {
  if (text.trim() === "") return {};
  const pv = JSON.parse(text);
  if (!pv || typeof pv !== "object" || Array.isArray(pv)) {
    throw new Error("expected a JSON object from ProcessId to level");
  }
  const out: Record<string, number | "muted"> = {};
  for (const [k, val] of Object.entries(pv)) {
    let pid: string;
    try {
      pid = processIdToString(parseProcessId(k));
    } catch (e) {
      throw new Error(`bad ProcessId ${JSON.stringify(k)}: ${errorText(e)}`);
    }
    out[pid] = verbosityLevel(k, val);
  }
  return out;
}

/** A node to run, as the command line describes it. */
export interface RunConfig {
  /** Run the node. */
  action: "run";
  /** The node's home directory. */
  home: string;
  /** Terminal verbosity, 0-255. */
  verbosity: number;
  /** No password page (the password comes from --password, or there is no keyfile). */
  detached: boolean;
  /** Per-process verbosity overrides, BootOptions' form. */
  processVerbosity: Record<string, number | "muted">;
  /** --fake-node-name. */
  name?: string;
  /** Hyperdrive flags given that hyperdeno does not act on yet. */
  unsupported: string[];
  /** Networking TCP port, false: off (--tcp-port 0). */
  tcpPort?: number | false;
  /** Networking WebSocket port, false: off (--ws-port 0). */
  wsPort?: number | false;
  /** --max-peers. */
  maxPeers?: number;
  /** --max-passthroughs. */
  maxPassthroughs?: number;
  /** --fake-pki file path. */
  fakePki?: string;
  /** HTTP port (0: any free). */
  httpPort?: number;
  /** --password. */
  password?: string;
  /** --expose-local. */
  exposeLocal: boolean;
  /** --own-workers: components do not share Workers. */
  ownWorkers: boolean;
  /** --fakechain-port was given (a kit fake node). */
  fakechain: boolean;
  /** --fakechain-port's value. */
  fakechainPort?: number;
  /** A fake node with --fake-node-name on the local chain: a new networking key this boot. */
  freshKey: boolean;
  /** --rpc. */
  rpc?: string;
  /** --rpc-config file path. */
  rpcConfig?: string;
  /** -l: no <home>/.terminal_logs (CTRL+L turns it on). */
  loggingOff: boolean;
  /** --max-log-size, bytes over all log files (0: no limit). */
  maxLogSize?: number;
  /** --number-log-files. */
  numberLogFiles?: number;
}

/** What the command line asks for: help, the version, or a node to run. */
export type CliConfig = { action: "help" } | { action: "version" } | RunConfig;

/** Parses the command line; throws UsageError on anything Hyperdrive's CLI would refuse. */
export function parseCli(args: string[]): CliConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        port: { type: "string", short: "p" },
        "ws-port": { type: "string" },
        "tcp-port": { type: "string" },
        verbosity: { type: "string", short: "v" },
        detached: { type: "boolean", short: "d" },
        password: { type: "string" },
        "max-peers": { type: "string" },
        "max-passthroughs": { type: "string" },
        "process-verbosity": { type: "string" },
        "fake-node-name": { type: "string" },
        "fake-pki": { type: "string" },
        "expose-local": { type: "boolean" },
        "own-workers": { type: "boolean" },
        "logging-off": { type: "boolean", short: "l" },
        // Hyperdrive's clap: a switch (SetTrue, default true) that its net does not read
        "reveal-ip": { type: "boolean" },
        rpc: { type: "string" },
        "rpc-config": { type: "string" },
        "max-log-size": { type: "string" },
        "number-log-files": { type: "string" },
        "soft-ulimit": { type: "string" },
        "fakechain-port": { type: "string" },
        version: { type: "boolean", short: "V" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(errorText(e));
  }
  const v = parsed.values;
  if (v.help) return { action: "help" };
  if (v.version) return { action: "version" };
  if (parsed.positionals.length !== 1) {
    throw new UsageError("expected exactly one <home> argument");
  }
  const verbosity = v.verbosity === undefined ? 0 : Number(v.verbosity);
  if (!Number.isInteger(verbosity) || verbosity < 0 || verbosity > 255) {
    throw new UsageError(`--verbosity must be an integer 0-255, got ${v.verbosity}`);
  }
  let processVerbosity: Record<string, number | "muted"> = {};
  if (v["process-verbosity"] !== undefined) {
    try {
      processVerbosity = parseProcessVerbosity(v["process-verbosity"]);
    } catch (e) {
      throw new UsageError(`--process-verbosity: ${errorText(e)}`);
    }
  }
  let name = v["fake-node-name"];
  if (name !== undefined && !isHypermapSafe(name)) {
    throw new UsageError(`--fake-node-name ${name}: can only contain a-z, 0-9, \`-\`, \`.\``);
  }
  const fakechain = v["fakechain-port"] !== undefined;
  // a fake node has no TCP (bootNode turns it off); an existing node's ports come from chain
  const tcpPort = transportOption("tcp-port", v["tcp-port"]);
  const wsPort = transportOption("ws-port", v["ws-port"]);
  if (fakechain) {
    // kit's boot-fake-node: a name without a dot is <name>.os
    if (name !== undefined && !name.includes(".")) name = `${name}.os`;
    if (name !== undefined && !/^[a-z0-9-]+\.os$/.test(name)) {
      throw new UsageError(
        `--fake-node-name ${name}: a fake node on the local chain is named <label>.os`,
      );
    }
    if (wsPort === false) {
      throw new UsageError("--ws-port 0: a fake node on the local chain speaks WebSockets only");
    }
  }
  if (tcpPort === false && wsPort === false && !fakechain) {
    throw new UsageError("--tcp-port 0 and --ws-port 0 turn off both networking transports");
  }
  const unsupported = NOT_YET.filter((k) => (v as Record<string, unknown>)[k] !== undefined);
  const numberLogFiles = countOption("number-log-files", v["number-log-files"]);
  if (numberLogFiles === 0) throw new UsageError("--number-log-files must be at least 1");
  return {
    action: "run",
    home: parsed.positionals[0],
    verbosity,
    detached: !!v.detached,
    processVerbosity,
    name,
    unsupported,
    tcpPort,
    wsPort,
    maxPeers: countOption("max-peers", v["max-peers"]),
    maxPassthroughs: countOption("max-passthroughs", v["max-passthroughs"]),
    fakePki: v["fake-pki"],
    httpPort: portOption("port", v.port),
    password: v.password,
    exposeLocal: !!v["expose-local"],
    ownWorkers: !!v["own-workers"],
    fakechain,
    fakechainPort: portOption("fakechain-port", v["fakechain-port"]),
    freshKey: fakechain && name !== undefined,
    rpc: v.rpc,
    rpcConfig: v["rpc-config"],
    loggingOff: !!v["logging-off"],
    maxLogSize: countOption("max-log-size", v["max-log-size"]),
    numberLogFiles,
  };
}

/** Runs the CLI until the node stops; resolves with the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  let cfg;
  try {
    cfg = parseCli(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${HELP}`);
      return 2;
    }
    throw e;
  }
  if (cfg.action === "help") {
    console.log(HELP);
    return 0;
  }
  if (cfg.action === "version") {
    console.log(`hyperdeno ${VERSION}`);
    return 0;
  }
  for (const k of cfg.unsupported) console.error(`--${k}: not yet supported; ignored`);
  let pki: HnsUpdate[] | undefined;
  if (cfg.fakePki !== undefined) {
    try {
      pki = await readPkiFile(cfg.fakePki);
    } catch (e) {
      console.error(`error: --fake-pki: ${errorText(e)}`);
      return 2;
    }
  }
  // listen before booting: a signal during boot still stops the node cleanly
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGINT", () => stop());
  Deno.addSignalListener("SIGTERM", () => stop());
  let httpPort = cfg.httpPort;
  const hasKeyfile = (await readKeyfile(cfg.home).catch(() => undefined)) !== undefined;
  const stored = await storedName(cfg.home);
  // Hyperdrive's fake nodes: the password defaults to "secret", no password page (an existing
  // node's keyfile on the fake chain needs its own password, as in Hyperdrive)
  const password = cfg.password ??
    (cfg.fakechain && (cfg.name !== undefined || stored !== undefined) ? "secret" : undefined);
  // a new home on the fake chain with no name to mint: only an uploaded keyfile can boot it
  const importOnly = cfg.fakechain && cfg.name === undefined && !hasKeyfile && !stored;
  if (importOnly && (password !== undefined || cfg.detached)) {
    console.error(
      "error: --fakechain-port on a new home needs --fake-node-name (the name to mint)",
    );
    return 2;
  }
  const boot: BootOptions = {
    home: cfg.home,
    password,
    exposeLocal: cfg.exposeLocal,
    shareWorkers: !cfg.ownWorkers,
    // a fake node (how kit boots nodes) waits as Hyperdrive's simulation build does
    httpTimeoutSeconds: cfg.name !== undefined || cfg.fakechain
      ? HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION
      : undefined,
    name: cfg.name,
    verbosity: cfg.verbosity,
    processVerbosity: cfg.processVerbosity,
    tcpPort: cfg.tcpPort,
    wsPort: cfg.wsPort,
    maxPeers: cfg.maxPeers,
    maxPassthroughs: cfg.maxPassthroughs,
    pki,
    fakeChain: cfg.fakechain ? { port: cfg.fakechainPort, freshKey: cfg.freshKey } : undefined,
    eth: {
      rpc: cfg.rpc,
      rpcConfig: cfg.rpcConfig,
      simulation: cfg.name !== undefined || cfg.fakechain,
      fakechainPort: cfg.fakechainPort,
    },
    distro: true,
  };
  if (password === undefined) {
    if (cfg.detached && hasKeyfile) {
      console.error("error: --detached needs --password to open this node's keyfile");
      return 2;
    }
    if (!cfg.detached) {
      // as Hyperdrive: the password is set (first boot) or entered in the browser, or an
      // existing node's keyfile is uploaded; an existing node is checked on chain first
      const prompt = await promptPasswordInBrowser({
        home: cfg.home,
        our: cfg.name ?? stored ?? "fake.dev",
        importOnly,
        port: cfg.httpPort === undefined ? 8080 : cfg.httpPort,
        searchPort: cfg.httpPort === undefined,
        verify: (keyfile) => chainRoutingFor({ ...boot, keyfile }, (t) => console.log(t)),
      });
      const what = hasKeyfile
        ? "unlock"
        : importOnly
        ? "import the keyfile of"
        : "set a password for (or import the keyfile of)";
      console.log(`hyperdeno: open ${prompt.url} to ${what} this node`);
      const opened = await Promise.race([prompt.done, stopped.then(() => undefined)]);
      if (!opened) {
        await prompt.close().catch(() => {});
        return 0;
      }
      const { chainRouting, ...keyfile } = opened;
      boot.keyfile = keyfile;
      boot.chainRouting = chainRouting;
      httpPort = prompt.port;
    }
  } else if (hasKeyfile && !cfg.freshKey) {
    // opened and (an existing node's) checked on chain before the console writes its logs:
    // a refused boot leaves the home as it was
    try {
      boot.keyfile = await loadOrCreateKeyfile({ home: cfg.home, password });
      boot.chainRouting = await chainRoutingFor(boot, (t) => console.log(t));
    } catch (e) {
      if (e instanceof ChainIdentityError) {
        // Hyperdrive panics with this (exit code 101)
        console.error(`error: ${e.cliMessage}`);
        return REFUSED_EXIT_CODE;
      }
      console.error(`error: ${errorText(e)}`);
      return 1;
    }
  }
  // the console hears every print from boot on, and the signals
  const con = createConsole({
    home: cfg.home,
    verbosity: cfg.verbosity,
    processVerbosity: cfg.processVerbosity,
    detached: cfg.detached,
    logging: !cfg.loggingOff,
    maxLogSize: cfg.maxLogSize,
    numberLogFiles: cfg.numberLogFiles,
    version: VERSION,
  });
  let node: HyperdenoNode;
  try {
    node = await bootNode({ ...boot, console: con, httpPort });
  } catch (e) {
    await con.close();
    if (e instanceof ChainIdentityError) {
      // Hyperdrive panics with this (exit code 101); nothing in home was written
      console.error(`error: ${e.cliMessage}`);
      return REFUSED_EXIT_CODE;
    }
    console.error(`error: ${errorText(e)}`);
    return 1;
  }
  if (!con.interactive) {
    // for supervisors and scripts reading stdout (an interactive console shows the splash)
    console.log(`hyperdeno ${VERSION}: ${node.our} booted (home ${cfg.home})`);
    console.log(`identity: ${JSON.stringify(node.identity)}`);
    if (node.httpUrl) console.log(`http: ${node.httpUrl}`);
  }
  const why = await con.run(node);
  if (!con.interactive) console.log(`${node.our}: shutting down`);
  await node.shutdown();
  await con.close(why);
  return 0;
}
