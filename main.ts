// hyperdeno: a Hyperware node on Deno. `bootNode` is the programmatic API;
// running this file is the CLI (`hyperdeno <home> [options]`).

import { parseArgs } from "node:util";
import { errorText, Kernel, SendErrorException } from "./kernel/kernel.ts";
import {
  isHypermapSafe,
  type KernelMessage,
  type LazyLoadBlob,
  parseAddress,
  parseProcessId,
  type ProcessId,
  processIdToString,
  type SendErrorKind,
  textEncoder,
} from "./wire/core.ts";
import type { RuntimeModule } from "./kernel/module.ts";
import { createStateModule } from "./modules/state/mod.ts";
import { createTerminalModule } from "./modules/terminal/mod.ts";
import { installPackage } from "./kernel/packages.ts";
export type { ManifestEntry } from "./kernel/packages.ts";
import { createVfsModule } from "./modules/vfs/mod.ts";
import { createKvModule } from "./modules/kv/mod.ts";
import { createSqliteModule } from "./modules/sqlite/mod.ts";
import { createTimerModule } from "./modules/timer/mod.ts";
import { createNetModule, type HnsUpdate } from "./net/mod.ts";
import { loadOrCreateNetworkingKey, NETWORKING_KEY_FILE, readPkiFile } from "./net/boot.ts";
import {
  createHttpServer,
  HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION,
  type HttpServerModule,
} from "./modules/http_server/mod.ts";
import { createHttpClient } from "./modules/http_client/mod.ts";
import {
  ed25519FromPkcs8,
  type LoadedKeyfile,
  loadOrCreateKeyfile,
  readKeyfile,
} from "./modules/keyfile/mod.ts";
import { promptPasswordInBrowser } from "./modules/http_server/password_page.ts";

export type { HnsUpdate };

export const VERSION = "0.1.0";

export type PrintHandler = (level: number, text: string) => void;

export interface BootOptions {
  /** Node home directory (created if missing). */
  home: string;
  /** Node name; defaults to the name stored in home, else "fake.dev". */
  name?: string;
  /** Terminal verbosity: prints at or below this level are shown. Default 0. */
  verbosity?: number;
  /** Per-process verbosity overrides: ProcessId -> level or "muted". */
  processVerbosity?: Record<string, number | "muted">;
  /** Receives every shown print. Default: stdout. */
  onPrint?: PrintHandler;
  /** Extra runtime modules to run (tests, embedders). */
  modules?: RuntimeModule[];
  /** Networking TCP port; 0 = any free; false = none. Default: first free >= 10000. */
  tcpPort?: number | false;
  /** Networking WebSocket port; 0 = any free; false = none. Default: first free >= 9000. */
  wsPort?: number | false;
  /** Non-empty: this node is indirect, reached through these routers. */
  routers?: string[];
  /** Passthroughs this node serves as a router (default 0: not a router). */
  maxPassthroughs?: number;
  /** Open peer connections kept (default 32). */
  maxPeers?: number;
  /**
   * Offer hyperdeno's wire extensions in handshakes (default true; Hyperdrive
   * peers ignore the offer). false: Hyperdrive's exact bytes with every peer.
   */
  wireExtensions?: boolean;
  /** PKI records (HnsUpdate) known at boot, until chain indexing exists. */
  pki?: HnsUpdate[];
  /** Install the distro packages (./packages/*) not yet installed. CLI: on. Default off. */
  distro?: boolean;
  /** HTTP port; 0 = any free; false = no listener. Default: first free at or above 8080. */
  httpPort?: number | false;
  /**
   * Node password. With it, the networking key and JWT secret live in an encrypted keyfile
   * (`<home>/.keys`, Hyperdrive's format), created at first boot and required after. Without
   * it (only when no keyfile exists) the key stays in plain `<home>/.networking-key` and
   * /login is unavailable.
   */
  password?: string;
  /** An already opened keyfile (the CLI's browser password page), instead of `password`. */
  keyfile?: LoadedKeyfile;
  /** Serve local-only paths and kit's RPC endpoint (loopback clients only), as Hyperdrive's flag. */
  exposeLocal?: boolean;
  /**
   * How long http-server waits for a process's answer: Hyperdrive's 15 s, or 600 s as its
   * simulation build (kit's fake nodes) waits. The CLI uses 600 with --fake-node-name.
   */
  httpTimeoutSeconds?: number;
}

const DISTRO_DIR = new URL("./packages/", import.meta.url);

export interface RequestOptions {
  timeoutSeconds?: number;
  blob?: Uint8Array;
  mime?: string;
  metadata?: string;
}

export interface NodeResponse {
  source: string;
  body: Uint8Array;
  metadata?: string;
  blob?: { bytes: Uint8Array; mime?: string };
}

export interface HyperdenoNode {
  readonly our: string;
  readonly home: string;
  readonly kernel: Kernel;
  /** This node's HnsUpdate record, as the hns-indexer would publish it. */
  readonly identity: HnsUpdate;
  /** Base URL of http-server, e.g. "http://localhost:8080" (undefined with httpPort false). */
  readonly httpUrl: string | undefined;
  installPackage(dir: string): Promise<string>;
  request(target: string, body: Uint8Array | string, opts?: RequestOptions): Promise<NodeResponse>;
  send(target: string, body: Uint8Array | string, opts?: RequestOptions): Promise<void>;
  shutdown(): Promise<void>;
}

/** The error `request` rejects with when the message could not be answered. */
export class NodeSendError extends Error {
  constructor(readonly kind: SendErrorKind, message: string) {
    super(message);
    this.name = "SendError";
  }
}

async function storedName(home: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(`${home}/.node-name`)).trim() || undefined;
  } catch {
    return undefined;
  }
}

function loadName(home: string, requested?: string): string {
  const path = `${home}/.node-name`;
  let stored: string | undefined;
  try {
    stored = Deno.readTextFileSync(path).trim();
  } catch { /* first boot */ }
  const name = requested ?? stored ?? "fake.dev";
  if (!isHypermapSafe(name)) {
    throw new Error(`node name ${name} can only contain a-z, 0-9, \`-\`, \`.\``);
  }
  if (stored !== name) Deno.writeTextFileSync(path, name);
  return name;
}

function toBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === "string" ? textEncoder.encode(body) : body;
}

function resolveTarget(our: string, target: string) {
  const a = parseAddress(target);
  return { node: a.node === "our" ? our : a.node, process: a.process };
}

export async function bootNode(opts: BootOptions): Promise<HyperdenoNode> {
  const home = opts.home;
  await Deno.mkdir(home, { recursive: true });
  const our = loadName(home, opts.name);
  const verbosity = opts.verbosity ?? 0;
  const processVerbosity = opts.processVerbosity ?? {};
  const out = opts.onPrint ?? ((_l: number, text: string) => console.log(text));
  const print = (level: number, text: string, source: ProcessId) => {
    const override = processVerbosity[processIdToString(source)];
    if (override === "muted") return;
    const limit = override ?? verbosity;
    if (level <= limit) out(level, text);
  };
  const keys = await openKeys(home, our, opts);
  const key = keys.networkingKey;
  const http =
    opts.modules?.find((m) => processIdToString(m.processId) === "http-server:distro:sys")
      ? undefined
      : createHttpServer({
        port: opts.httpPort ?? 8080,
        searchPort: opts.httpPort === undefined,
        jwtSecret: keys.jwtSecret,
        encodedKeyfile: keys.encodedKeyfile,
        exposeLocal: opts.exposeLocal,
        selfImposedTimeoutSeconds: opts.httpTimeoutSeconds,
      });
  const net = createNetModule({
    our,
    networkingKey: key,
    tcpPort: opts.tcpPort,
    wsPort: opts.wsPort,
    routers: opts.routers,
    maxPassthroughs: opts.maxPassthroughs,
    maxPeers: opts.maxPeers,
    pki: opts.pki,
    wireExtensions: opts.wireExtensions,
  });
  const kernel = new Kernel({
    our,
    home,
    networkingKey: key,
    modules: [
      net,
      createStateModule(),
      createTerminalModule(),
      createVfsModule(),
      createKvModule(),
      createSqliteModule(),
      createTimerModule(),
      ...(http ? [http] : []),
      createHttpClient(),
      ...(opts.modules ?? []),
    ],
    print,
  });
  await kernel.boot();
  let down = false;

  const node: HyperdenoNode = {
    our,
    home,
    kernel,
    identity: net.identity,
    get httpUrl() {
      return (http as HttpServerModule | undefined)?.url;
    },
    installPackage(dir: string): Promise<string> {
      return installPackage(kernel, { our, home, print }, dir);
    },
    async request(target, body, o = {}) {
      const t = resolveTarget(our, target);
      try {
        const km: KernelMessage = await kernel.request(
          t,
          {
            inherit: false,
            body: toBytes(body),
            metadata: o.metadata,
            capabilities: [],
          },
          o.blob ? { bytes: o.blob, mime: o.mime } as LazyLoadBlob : undefined,
          o.timeoutSeconds ?? 5,
        );
        if (km.message.tag !== "response") throw new Error("expected a response");
        const [res] = km.message.val;
        return {
          source: `${km.source.node}@${processIdToString(km.source.process)}`,
          body: res.body,
          metadata: res.metadata,
          blob: km.lazyLoadBlob
            ? { bytes: km.lazyLoadBlob.bytes, mime: km.lazyLoadBlob.mime }
            : undefined,
        };
      } catch (e) {
        if (e instanceof SendErrorException) throw new NodeSendError(e.kind, e.message);
        if ((e as { kind?: SendErrorKind }).kind) {
          throw new NodeSendError((e as { kind: SendErrorKind }).kind, errorText(e));
        }
        throw e;
      }
    },
    send(target, body, o = {}) {
      const t = resolveTarget(our, target);
      kernel.send(
        t,
        { inherit: false, body: toBytes(body), metadata: o.metadata, capabilities: [] },
        o.blob ? { bytes: o.blob, mime: o.mime } : undefined,
      );
      return Promise.resolve();
    },
    async shutdown() {
      if (down) return;
      down = true;
      await kernel.shutdown();
    },
  };
  kernel.setShutdownHandler(() => void node.shutdown());
  if (opts.distro) await installDistro(node, print);
  return node;
}

interface NodeKeys {
  networkingKey: Uint8Array;
  jwtSecret: Uint8Array;
  encodedKeyfile?: Uint8Array;
}

/** The node's keys: from the encrypted keyfile when there is a password, else plain. */
async function openKeys(home: string, our: string, opts: BootOptions): Promise<NodeKeys> {
  let loaded = opts.keyfile;
  if (!loaded && opts.password !== undefined) {
    // first boot with a password after running without one: keep the node's identity
    let legacySeed: Uint8Array | undefined;
    if (!(await readKeyfile(home))) {
      try {
        legacySeed = await Deno.readFile(`${home}/${NETWORKING_KEY_FILE}`);
      } catch { /* none */ }
    }
    loaded = await loadOrCreateKeyfile({
      home,
      our,
      password: opts.password,
      networkingKeySeed: legacySeed?.length === 32 ? legacySeed : undefined,
    });
  }
  if (loaded) {
    return {
      networkingKey: ed25519FromPkcs8(loaded.keyfile.networkingKeyPkcs8).seed,
      jwtSecret: loaded.keyfile.jwtSecret,
      encodedKeyfile: loaded.encoded,
    };
  }
  if (await readKeyfile(home)) {
    throw new Error(`${home} has an encrypted keyfile: boot with its password`);
  }
  return {
    networkingKey: await loadOrCreateNetworkingKey(home),
    // no keyfile, so no login: a per-boot secret keeps stray cookies useless
    jwtSecret: crypto.getRandomValues(new Uint8Array(32)),
  };
}

/** Installs each distro package whose processes are not in the process map yet. */
async function installDistro(
  node: HyperdenoNode,
  print: (level: number, text: string, source: ProcessId) => void,
) {
  const installed = new Set(node.kernel.processIds());
  for await (const e of Deno.readDir(DISTRO_DIR)) {
    if (!e.isDirectory) continue;
    const dir = new URL(`${e.name}/`, DISTRO_DIR).pathname;
    try {
      const meta = JSON.parse(await Deno.readTextFile(`${dir}metadata.json`));
      const pkg = `${meta.properties.package_name}:${meta.properties.publisher}`;
      if ([...installed].some((pid) => pid.endsWith(`:${pkg}`))) continue;
      print(0, `installing distro package ${pkg}...`, parseProcessId("kernel:distro:sys"));
      await node.installPackage(dir.replace(/\/$/, ""));
    } catch (err) {
      print(0, `distro package ${e.name}: ${errorText(err)}`, parseProcessId("kernel:distro:sys"));
    }
  }
}

// ---------------------------------------------------------------------------
// CLI

const HELP = `hyperdeno ${VERSION}: a Hyperware node on Deno

Usage: hyperdeno <home> [options]

Options:
  -p, --port <PORT>               HTTP port [default: first free >= 8080]
      --ws-port <PORT>            networking WebSockets port [default: first free >= 9000]
      --tcp-port <PORT>           networking TCP port [default: first free >= 10000]
  -v, --verbosity <0-3>           terminal verbosity [default: 0]
  -d, --detached                  run without terminal input
      --password <PASSWORD>       node password (else: set/enter it on a page in the browser)
      --expose-local              serve local-only paths and kit's RPC (loopback clients only)
  -l, --logging-off, --reveal-ip, --rpc, --rpc-config, --max-log-size, --number-log-files,
      --soft-ulimit, --fakechain-port
                                  Hyperdrive's; accepted and reported "not yet supported"
      --max-peers <N>             max open peer connections [default: 32]
      --max-passthroughs <N>      passthroughs served as a router [default: 0]
      --fake-pki <FILE>           JSON list of HnsUpdate records: peers known at boot
      --process-verbosity <JSON>  {"proc:pkg:pub": level | "muted"}
      --fake-node-name <NAME>     node name [default: stored name, else fake.dev]
      --version                   print version
  -h, --help                      print this help
`;

const NOT_YET = [
  "logging-off",
  "reveal-ip",
  "rpc",
  "rpc-config",
  "max-log-size",
  "number-log-files",
  "soft-ulimit",
  "fakechain-port",
];

function portOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UsageError(`--${name} must be a port number 0-65535, got ${v}`);
  }
  return n;
}

function countOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new UsageError(`--${name} must be a whole number, got ${v}`);
  }
  return n;
}

export class UsageError extends Error {}

export function parseCli(args: string[]) {
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
        // Hyperdrive's flags for later issues: accepted (kit passes some), not acted on yet
        "logging-off": { type: "boolean", short: "l" },
        "reveal-ip": { type: "string" },
        rpc: { type: "string" },
        "rpc-config": { type: "string" },
        "max-log-size": { type: "string" },
        "number-log-files": { type: "string" },
        "soft-ulimit": { type: "string" },
        "fakechain-port": { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(errorText(e));
  }
  const v = parsed.values;
  if (v.help || v.version) return { help: !!v.help, version: !!v.version } as const;
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
      const pv = JSON.parse(v["process-verbosity"]);
      if (!pv || typeof pv !== "object" || Array.isArray(pv)) throw new Error("not an object");
      for (const [k, val] of Object.entries(pv)) {
        parseProcessId(k);
        const muted = val === "m" || val === "mute" || val === "muted";
        if (!muted && !(Number.isInteger(val) && (val as number) >= 0)) {
          throw new Error(`bad level for ${k}: ${JSON.stringify(val)}`);
        }
      }
      processVerbosity = Object.fromEntries(
        Object.entries(pv).map(([k, val]) => [
          processIdToString(parseProcessId(k)),
          typeof val === "number" ? val : "muted",
        ]),
      );
    } catch (e) {
      throw new UsageError(`--process-verbosity: ${errorText(e)}`);
    }
  }
  const name = v["fake-node-name"];
  if (name !== undefined && !isHypermapSafe(name)) {
    throw new UsageError(`--fake-node-name ${name}: can only contain a-z, 0-9, \`-\`, \`.\``);
  }
  const unsupported = NOT_YET.filter((k) => (v as Record<string, unknown>)[k] !== undefined);
  return {
    help: false,
    version: false,
    home: parsed.positionals[0],
    verbosity,
    detached: !!v.detached,
    processVerbosity,
    name,
    unsupported,
    tcpPort: portOption("tcp-port", v["tcp-port"]),
    wsPort: portOption("ws-port", v["ws-port"]),
    maxPeers: countOption("max-peers", v["max-peers"]),
    maxPassthroughs: countOption("max-passthroughs", v["max-passthroughs"]),
    fakePki: v["fake-pki"],
    httpPort: portOption("port", v.port),
    password: v.password,
    exposeLocal: !!v["expose-local"],
    fakechain: v["fakechain-port"] !== undefined,
  } as const;
}

async function cli(args: string[]): Promise<number> {
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
  if (cfg.help) {
    console.log(HELP);
    return 0;
  }
  if (cfg.version || cfg.home === undefined) {
    console.log(`hyperdeno ${VERSION}`);
    return 0;
  }
  for (const k of cfg.unsupported ?? []) console.error(`--${k}: not yet supported; ignored`);
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
  let keyfile: LoadedKeyfile | undefined;
  let httpPort = cfg.httpPort;
  if (cfg.password === undefined) {
    const hasKeyfile = (await readKeyfile(cfg.home).catch(() => undefined)) !== undefined;
    if (cfg.detached && hasKeyfile) {
      console.error("error: --detached needs --password to open this node's keyfile");
      return 2;
    }
    if (!cfg.detached) {
      // as Hyperdrive: the password is set (first boot) or entered in the browser
      const prompt = await promptPasswordInBrowser({
        home: cfg.home,
        our: cfg.name ?? (await storedName(cfg.home)) ?? "fake.dev",
        port: cfg.httpPort === undefined ? 8080 : cfg.httpPort,
        searchPort: cfg.httpPort === undefined,
      });
      console.log(
        `hyperdeno: open ${prompt.url} to ${
          hasKeyfile ? "unlock" : "set a password for"
        } this node`,
      );
      keyfile = await Promise.race([prompt.done, stopped.then(() => undefined)]);
      if (!keyfile) {
        await prompt.close().catch(() => {});
        return 0;
      }
      httpPort = prompt.port;
    }
  }
  let node: HyperdenoNode;
  try {
    node = await bootNode({
      home: cfg.home,
      httpPort,
      password: cfg.password,
      keyfile,
      exposeLocal: cfg.exposeLocal,
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
      distro: true,
    });
  } catch (e) {
    console.error(`error: ${errorText(e)}`);
    return 1;
  }
  console.log(`hyperdeno ${VERSION}: ${node.our} booted (home ${cfg.home})`);
  console.log(`identity: ${JSON.stringify(node.identity)}`);
  if (node.httpUrl) console.log(`http: ${node.httpUrl}`);
  await stopped;
  console.log(`${node.our}: shutting down`);
  await node.shutdown();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await cli(Deno.args));
}
