// A node, booted in-process: the runtime modules, the kernel over them, the
// node's keys, and the distro packages. `bootNode` is what the CLI (cli.ts),
// tests and embedders call; what it returns is a narrow handle, not the kernel.

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
import type { HnsUpdate } from "./wire/net.ts";
import type { RuntimeModule } from "./kernel/module.ts";
import { installPackage } from "./kernel/packages.ts";
import { createStateModule } from "./modules/state/mod.ts";
import type { RuntimeConsole } from "./kernel/console_port.ts";
import { createVfsModule } from "./modules/vfs/mod.ts";
import { createKvModule } from "./modules/kv/mod.ts";
import { createSqliteModule } from "./modules/sqlite/mod.ts";
import { createTimerModule } from "./modules/timer/mod.ts";
import { createNetModule } from "./net/mod.ts";
import { loadOrCreateNetworkingKey, NETWORKING_KEY_FILE } from "./net/boot.ts";
import { createHttpServer, type HttpServerModule } from "./modules/http_server/mod.ts";
import { createHttpClient } from "./modules/http_client/mod.ts";
import { createPackagesModule } from "./kernel/packages.ts";
import { createEthModule, type EthModuleOptions } from "./modules/eth/mod.ts";
import {
  ed25519FromPkcs8,
  KEYFILE_NAME,
  KeyfileError,
  type LoadedKeyfile,
  loadOrCreateKeyfile,
  readKeyfile,
} from "./modules/keyfile/mod.ts";
import { answersJsonRpc } from "./chain/anvil.ts";
import { entryTba } from "./chain/deploy.ts";
import { fakeNodeNotes, hasNotes, mintOrResetFakeNode } from "./chain/fakenode.ts";
import { namehash } from "./chain/abi.ts";
import {
  assignRouting,
  type ChainRouting,
  identityProviders,
  ONCHAIN_FILE,
  type PortFlag,
} from "./chain/identity.ts";

/** hyperdeno's version, as `--version` prints it. */
export const VERSION = "0.1.0";

/** Receives a print that passed the verbosity filters: its level and its text. */
export type PrintHandler = (level: number, text: string) => void;

/** Where the node tells hns-indexer which chain to index (its initfiles drive). */
export const HNS_INDEXER_CHAIN_FILE = "vfs/hns-indexer:sys/initfiles/chain.json";

/** How to boot a node. Only `home` is required. */
export interface BootOptions {
  /** Node home directory (created if missing). */
  home: string;
  /** Node name; defaults to the name stored in home, else "fake.dev". */
  name?: string;
  /** Terminal verbosity: prints at or below this level are shown. Default 0. */
  verbosity?: number;
  /**
   * Components of one package share Workers: about a third of the memory each (default).
   * false: every process has a Worker of its own.
   */
  shareWorkers?: boolean;
  /** Per-process verbosity overrides: ProcessId -> level or "muted". */
  processVerbosity?: Record<string, number | "muted">;
  /** Receives every shown print. Default: stdout. */
  onPrint?: PrintHandler;
  /**
   * The runtime console (console/mod.ts): it gets every print unfiltered (it applies the
   * verbosity settings itself, changed live) instead of `onPrint`, and the kernel's port.
   */
  console?: RuntimeConsole;
  /**
   * Runtime modules to run beside the built-in ones (tests, embedders). This is also the
   * override option: a module whose process id matches a built-in module's (e.g. its own
   * "http-server:distro:sys") runs instead of that built-in one.
   *
   * @internal
   */
  modules?: RuntimeModule[];
  /** eth:distro:sys: --rpc, --rpc-config and simulation (fake node) settings. */
  eth?: EthModuleOptions;
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
  /** PKI records (HnsUpdate) known at boot (besides what hns-indexer finds on chain). */
  pki?: HnsUpdate[];
  /**
   * A fake node on a local Hypermap chain (Hyperdrive's simulation mode, how kit boots fake
   * nodes): at boot the node's name, `<label>.os`, is minted on the chain (or its notes
   * rewritten unless they already match) with its networking key and routing: `~ip` 127.0.0.1,
   * `~ws-port` and `~net-key` for a direct node (WebSockets only, as Hyperdrive's fake nodes),
   * `~net-key` and `~routers` with `routers`. The chain becomes eth:distro:sys's provider for
   * chain 31337, and hns-indexer indexes it. No chain there: boot fails with a clear error.
   */
  fakeChain?: {
    /** The chain's port on localhost (--fakechain-port). Default 8545. */
    port?: number;
    /**
     * A new networking key (and keyfile) this boot, as Hyperdrive's simulation build makes at
     * every boot with --fake-node-name. Default false: the node's key is kept.
     */
    freshKey?: boolean;
  };
  /**
   * hns-indexer:sys settings, written to its initfiles at boot: overrides of its timings
   * (`sync_ms`, `pending_ms`, `checkpoint_ms`, `resubscribe_ms`, `logs_range`,
   * `max_logs_range`, `eth_timeout_s`, `cycle_budget_ms`; see packages/hns-indexer). Tests.
   */
  hnsIndexer?: { timing?: Record<string, number> };
  /**
   * Install the distro packages (./packages/*) not yet installed: true for all, or the package
   * folder names to install (tests). CLI: all. Default off.
   */
  distro?: boolean | string[];
  /** HTTP port; 0 = any free; false = no listener. Default: first free at or above 8080. */
  httpPort?: number | false;
  /**
   * Node password. With it, the networking key and JWT secret live in an encrypted keyfile
   * (`<home>/.keys`, Hyperdrive's format), created at first boot and required after. Without
   * it (only when no keyfile exists) the key stays in plain `<home>/.networking-key` and
   * /login is unavailable.
   */
  password?: string;
  /**
   * An already opened keyfile (the CLI's browser password page), instead of `password`. One
   * uploaded on the page (`imported`) makes this an existing node's boot; it is written to
   * `<home>/.keys` once the chain agrees.
   */
  keyfile?: LoadedKeyfile;
  /**
   * Boot as an existing Hypermap node (Hyperdrive's login): the keyfile's `~net-key` must be on
   * chain and the routing comes from chain (see chain/identity.ts); a refusal throws
   * ChainIdentityError before anything in home is written. Default: when the keyfile was
   * uploaded (`keyfile.imported`), or isOnchainHome(home) (unless `keyfile.created`). The chain is eth's: `eth.simulation`
   * (or `fakeChain`) picks the local chain at localhost:<fakechainPort>, else Base through the
   * home's providers, `eth.rpc`/`eth.rpcConfig` and Hyperdrive's fallback URLs.
   */
  existingNode?: boolean;
  /** The routing a boot page already checked on chain for `keyfile` (not asked again). */
  chainRouting?: ChainRouting;
  /** Serve local-only paths and kit's RPC endpoint (loopback clients only), as Hyperdrive's flag. */
  exposeLocal?: boolean;
  /**
   * How long http-server waits for a process's answer: Hyperdrive's 15 s, or 600 s as its
   * simulation build (kit's fake nodes) waits. The CLI uses 600 with --fake-node-name.
   */
  httpTimeoutSeconds?: number;
}

/** Options of `HyperdenoNode.request` and `HyperdenoNode.send`. */
export interface RequestOptions {
  /** How long `request` waits for the response (default 5 s; 0 .. 2147483, else RangeError). */
  timeoutSeconds?: number;
  /** A blob (LazyLoadBlob) sent with the message. */
  blob?: Uint8Array;
  /** The blob's MIME type. */
  mime?: string;
  /** The message's metadata string. */
  metadata?: string;
}

/** The response `HyperdenoNode.request` resolves with. */
export interface NodeResponse {
  /** The responder's address, "node@process:package:publisher". */
  source: string;
  /** The response body. */
  body: Uint8Array;
  /** The response's metadata, if any. */
  metadata?: string;
  /** The blob that came with the response, if any. */
  blob?: { bytes: Uint8Array; mime?: string };
}

/**
 * A booted node, as its embedder sees it. Messages go through `request` and `send`
 * as from the kernel (kernel:distro:sys), so the kernel's own checks still apply.
 */
export interface HyperdenoNode {
  /** This node's name, e.g. "fake.dev". */
  readonly our: string;
  /** The home directory it runs in. */
  readonly home: string;
  /** This node's HnsUpdate record, as the hns-indexer would publish it. */
  readonly identity: HnsUpdate;
  /** Base URL of http-server, e.g. "http://localhost:8080" (undefined with httpPort false). */
  readonly httpUrl: string | undefined;
  /** Installs and starts the package in a kit-layout directory; resolves with its package id. */
  installPackage(dir: string): Promise<string>;
  /**
   * Sends a request to `target` ("node@process:package:publisher"; node "our" is this node)
   * and resolves with its response; rejects with NodeSendError when none can come.
   */
  request(target: string, body: Uint8Array | string, opts?: RequestOptions): Promise<NodeResponse>;
  /** Sends a request that expects no response. */
  send(target: string, body: Uint8Array | string, opts?: RequestOptions): Promise<void>;
  /** Whether the process ("process:package:publisher") has a running instance. */
  isRunning(processId: string): boolean;
  /** Stops every process and module; safe to call more than once. */
  shutdown(): Promise<void>;
}

/** The error `request` rejects with when the message could not be answered. */
export class NodeSendError extends Error {
  /** Creates the error; `kind` says why no response came. */
  constructor(
    /** "offline" (the target could not be reached) or "timeout". */
    readonly kind: SendErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "SendError";
  }
}

const DISTRO_DIR = new URL("./packages/", import.meta.url);
/** request()'s longest timeout: a timer's ceiling, 2^31 - 1 ms. */
const MAX_REQUEST_TIMEOUT_SECONDS = 2_147_483;
const DISTRO_KERNEL = parseProcessId("kernel:distro:sys");

/**
 * Whether `home` belongs to an existing Hypermap node, checked on chain at boot: it was booted
 * that way before (`<home>/.onchain`), or it holds a keyfile hyperdeno did not make (no
 * `.node-name`: a Hyperdrive keyfile or home copied in). Homes hyperdeno made boot as before.
 */
export async function isOnchainHome(home: string): Promise<boolean> {
  if (await exists(`${home}/${ONCHAIN_FILE}`)) return true;
  return (await exists(`${home}/${KEYFILE_NAME}`)) && !(await exists(`${home}/.node-name`));
}

/** The node name stored in `home`, if any (the CLI's password page needs it before boot). */
export async function storedName(home: string): Promise<string | undefined> {
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

/** Boots a node in `opts.home` and resolves once its processes run. */
export async function bootNode(opts: BootOptions): Promise<HyperdenoNode> {
  const home = opts.home;
  let verbosity = opts.verbosity ?? 0;
  const processVerbosity = opts.processVerbosity ?? {};
  const out = opts.onPrint ?? ((_l: number, text: string) => console.log(text));
  const print = opts.console?.print ?? ((level: number, text: string, source: ProcessId) => {
    const override = processVerbosity[processIdToString(source)];
    if (override === "muted") return;
    const limit = override ?? verbosity;
    if (level <= limit) out(level, text);
  });
  // an existing node is checked on chain before anything in home is written
  const existing = await checkExistingNode(opts, (t) => print(0, t, DISTRO_KERNEL));
  await Deno.mkdir(home, { recursive: true });
  if (existing) await adoptExistingNode(home, existing);
  const our = existing?.name ?? loadName(home, opts.name);
  const fake = existing ? undefined : opts.fakeChain;
  const chainUrl = fake ? await checkFakeChain(our, fake, opts) : undefined;
  if (fake?.freshKey) {
    // Hyperdrive's fake boot: a new networking key every time (the chain notes follow it)
    for (const f of [KEYFILE_NAME, NETWORKING_KEY_FILE]) {
      await Deno.remove(`${home}/${f}`).catch(() => {});
    }
  }
  const keys = existing ? keysOf(existing.loaded) : await openKeys(home, our, opts);
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
  // built first: a bad --rpc/--rpc-config refuses the boot before anything listens
  const ethOptions: EthModuleOptions = opts.fakeChain
    ? { ...opts.eth, simulation: true, fakechainPort: opts.fakeChain.port ?? 8545 }
    : opts.eth ?? {};
  const eth = createEthModule(ethOptions);
  const net = createNetModule({
    our,
    networkingKey: key,
    // as Hyperdrive's simulation mode: fake nodes speak WebSockets only
    tcpPort: fake ? false : opts.tcpPort,
    wsPort: opts.wsPort,
    routers: opts.routers,
    // an existing node: where the chain says, listening on every interface (as Hyperdrive)
    ...(existing ? chainNetOptions(existing.routing) : {}),
    maxPassthroughs: opts.maxPassthroughs,
    maxPeers: opts.maxPeers,
    pki: opts.pki,
    wireExtensions: opts.wireExtensions,
  });
  if (chainUrl) {
    try {
      await registerFakeNode(
        chainUrl,
        our,
        net.identity,
        net.publicKey,
        (t) => print(1, t, DISTRO_KERNEL),
      );
    } catch (e) {
      await net.shutdown();
      throw e;
    }
  }
  // only for a node that runs (or may install) hns-indexer: a simulation or its settings
  // given, or the distro; the file would otherwise create that package's vfs directory on
  // every node
  const wantsIndexer = ethOptions.simulation === true || opts.hnsIndexer !== undefined ||
    opts.distro === true ||
    (Array.isArray(opts.distro) && opts.distro.includes("hns-indexer")) ||
    (await exists(`${home}/vfs/hns-indexer:sys`));
  if (wantsIndexer) {
    await writeHnsIndexerSettings(home, ethOptions.simulation === true, opts.hnsIndexer);
  }
  const kernel = new Kernel({
    our,
    home,
    networkingKey: key,
    modules: [
      net,
      createStateModule(),
      createVfsModule(),
      createKvModule(),
      createSqliteModule(),
      createTimerModule(),
      ...(http ? [http] : []),
      createHttpClient(),
      eth,
      // installs and uninstalls for the app store, atomically (kernel/packages.ts)
      createPackagesModule(),
      ...(opts.modules ?? []),
    ],
    print,
    verbosity: opts.console
      ? {
        get: () => opts.console!.verbosity,
        set: (level) => opts.console!.setVerbosity(level),
      }
      : {
        get: () => verbosity,
        set: (level) => void (verbosity = level),
      },
    shareWorkers: opts.shareWorkers,
  });
  opts.console?.attach(kernel.consolePort());
  await kernel.boot();
  let down = false;

  const node: HyperdenoNode = {
    our,
    home,
    identity: net.identity,
    get httpUrl() {
      return (http as HttpServerModule | undefined)?.url;
    },
    installPackage(dir: string): Promise<string> {
      return installPackage(kernel, { our, home, print, shareWorkers: opts.shareWorkers }, dir);
    },
    async request(target, body, o = {}) {
      const timeout = o.timeoutSeconds ?? 5;
      if (
        typeof timeout !== "number" || !(timeout >= 0 && timeout <= MAX_REQUEST_TIMEOUT_SECONDS)
      ) {
        throw new RangeError(
          "request: timeoutSeconds must be a number of seconds from 0 to " +
            `${MAX_REQUEST_TIMEOUT_SECONDS}, got ${timeout}`,
        );
      }
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
          timeout,
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
    isRunning(processId: string): boolean {
      return kernel.isRunning(parseProcessId(processId));
    },
    async shutdown() {
      if (down) return;
      down = true;
      await kernel.shutdown();
    },
  };
  kernel.setShutdownHandler(() => void node.shutdown());
  if (opts.distro) {
    await installDistro(kernel, node, print, Array.isArray(opts.distro) ? opts.distro : undefined);
  }
  return node;
}

/** The fake node's chain answers and has Hypermap; its JSON-RPC URL. */
async function checkFakeChain(
  our: string,
  fake: NonNullable<BootOptions["fakeChain"]>,
  opts: BootOptions,
): Promise<string> {
  if (!/^[a-z0-9-]+\.os$/.test(our)) {
    throw new Error(`a fake node on the local chain is named <label>.os, not ${our}`);
  }
  if (opts.wsPort === false) {
    throw new Error("a fake node on the local chain needs its WebSockets port (it is WS-only)");
  }
  const port = fake.port ?? 8545;
  const url = `http://localhost:${port}`;
  if (!(await answersJsonRpc(url))) {
    throw new Error(
      `no chain answers JSON-RPC at ${url} (--fakechain-port ${port}): ` +
        `start one with \`deno task chain --port ${port}\` (or kit chain)`,
    );
  }
  if (/^0x0{40}$/i.test(await entryTba(url, namehash("os")))) {
    throw new Error(
      `the chain at ${url} has no Hypermap with .os: start it with \`deno task chain\``,
    );
  }
  return url;
}

/** Mints our name on the local chain, or rewrites its notes unless they already match. */
async function registerFakeNode(
  url: string,
  our: string,
  identity: HnsUpdate,
  publicKey: Uint8Array,
  log: (text: string) => void,
): Promise<void> {
  const routing = identity.routers.length > 0
    ? { routers: identity.routers }
    : { ip: identity.ips[0], wsPort: identity.ports.ws };
  const notes = fakeNodeNotes({ netKey: publicKey, ...routing });
  if (await hasNotes(url, our, notes)) {
    log(`${our}: the local chain already holds this node's notes`);
    return;
  }
  const r = await mintOrResetFakeNode({ url, name: our, netKey: publicKey, ...routing });
  log(`${our}: ${r.reset ? "notes rewritten" : "minted"} on the local chain (tx ${r.txHash})`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** hns-indexer's initfile: which chain to index (simulation: the local one) and test timings. */
async function writeHnsIndexerSettings(
  home: string,
  simulation: boolean,
  opts: BootOptions["hnsIndexer"],
): Promise<void> {
  const path = `${home}/${HNS_INDEXER_CHAIN_FILE}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const settings: Record<string, unknown> = { simulation };
  if (opts?.timing) settings.timing = opts.timing;
  await Deno.writeTextFile(path, JSON.stringify(settings));
}

interface NodeKeys {
  networkingKey: Uint8Array;
  jwtSecret: Uint8Array;
  encodedKeyfile?: Uint8Array;
}

function keysOf(loaded: LoadedKeyfile): NodeKeys {
  return {
    networkingKey: ed25519FromPkcs8(loaded.keyfile.networkingKeyPkcs8).seed,
    jwtSecret: loaded.keyfile.jwtSecret,
    encodedKeyfile: loaded.encoded,
  };
}

/** An existing Hypermap node the chain agreed with. */
interface ExistingNode {
  name: string;
  loaded: LoadedKeyfile;
  routing: ChainRouting;
}

/** A port option as Hyperdrive's flag: a number was given (0 = off); undefined/0 = not given. */
function portFlag(p: number | false | undefined): PortFlag {
  if (p === false) return { port: 0, flag: true };
  return p === undefined || p === 0 ? { port: 0, flag: false } : { port: p, flag: true };
}

/**
 * For an existing node's boot (BootOptions.existingNode): its keyfile, opened, and the routing
 * the chain gives it (assign_routing); undefined for a node hyperdeno made. Writes nothing.
 */
async function checkExistingNode(
  opts: BootOptions,
  log: (text: string) => void,
): Promise<ExistingNode | undefined> {
  const home = opts.home;
  const existing = opts.existingNode ??
    (opts.keyfile?.imported ||
      // a keyfile hyperdeno just made (the password page, tests) is a new local node's
      (!opts.keyfile?.created && await isOnchainHome(home)));
  if (!existing) return undefined;
  let loaded = opts.keyfile;
  if (!loaded) {
    if (!(await readKeyfile(home))) {
      throw new Error(`${home} belongs to an existing node but holds no keyfile (${KEYFILE_NAME})`);
    }
    if (opts.password === undefined) {
      throw new Error(`${home} has an encrypted keyfile: boot with its password`);
    }
    loaded = await loadOrCreateKeyfile({ home, password: opts.password });
  }
  const { username, routers } = loaded.keyfile;
  if (opts.name !== undefined && opts.name !== username) {
    throw new KeyfileError(`keyfile belongs to ${username}, not ${opts.name}`);
  }
  if (opts.routers?.length) {
    throw new Error("an existing node's routers come from its keyfile and the chain, not options");
  }
  let routing = opts.chainRouting;
  if (!routing) {
    const simulation = opts.fakeChain !== undefined || opts.eth?.simulation === true;
    const { chainId, providers } = await identityProviders(home, {
      rpc: opts.eth?.rpc,
      rpcConfig: opts.eth?.rpcConfig,
      simulation,
      fakechainPort: opts.fakeChain?.port ?? opts.eth?.fakechainPort,
    });
    log(`${username}: checking the node's ~net-key and routing on chain ${chainId}`);
    routing = await assignRouting({
      name: username,
      publicKey: ed25519FromPkcs8(loaded.keyfile.networkingKeyPkcs8).publicKey,
      keyfileRouters: routers,
      providers,
      ws: portFlag(opts.wsPort),
      tcp: portFlag(opts.tcpPort),
      print: log,
    });
  }
  return { name: username, loaded, routing };
}

/**
 * What bootNode would check on chain for `opts` (with `opts.keyfile` opened): the routing of an
 * existing node the chain agrees with, undefined for a node hyperdeno made; throws
 * ChainIdentityError when the chain disagrees. The CLI's boot page asks this before it lets the
 * node boot (then passes the routing as `chainRouting`). Writes nothing.
 */
export async function chainRoutingFor(
  opts: BootOptions,
  log: (text: string) => void = () => {},
): Promise<ChainRouting | undefined> {
  return (await checkExistingNode(opts, log))?.routing;
}

/** Once the chain agreed: the uploaded keyfile, the name, and the mark for later boots. */
async function adoptExistingNode(home: string, e: ExistingNode): Promise<void> {
  if (e.loaded.imported) {
    const present = await readKeyfile(home);
    if (present && !bytesEqual(present, e.loaded.encoded)) {
      throw new Error(`${home} already holds a keyfile: not replacing it with the uploaded one`);
    }
    if (!present) {
      await Deno.writeFile(`${home}/${KEYFILE_NAME}`, e.loaded.encoded, { mode: 0o600 });
    }
  }
  loadName(home, e.name);
  await Deno.writeTextFile(`${home}/${ONCHAIN_FILE}`, `${e.name}\n`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** net's options for the chain's routing: direct on every interface, or indirect. */
function chainNetOptions(r: ChainRouting) {
  if ("routers" in r) return { routers: r.routers };
  return {
    ip: r.ip,
    listenHostname: r.ip.includes(":") ? "::" : "0.0.0.0",
    tcpPort: r.ports.tcp ?? false as const,
    wsPort: r.ports.ws ?? false as const,
    routers: [],
  };
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
    if (loaded.keyfile.username !== our) {
      throw new KeyfileError(`keyfile belongs to ${loaded.keyfile.username}, not ${our}`);
    }
    return keysOf(loaded);
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
  kernel: Kernel,
  node: HyperdenoNode,
  print: (level: number, text: string, source: ProcessId) => void,
  only?: string[],
) {
  const installed = kernel.processIds();
  const names: string[] = [];
  for await (const e of Deno.readDir(DISTRO_DIR)) {
    if (e.isDirectory && (!only || only.includes(e.name))) names.push(e.name);
  }
  // the homepage first: other packages' processes Add themselves to it at init
  names.sort((a, b) => Number(b === "homepage") - Number(a === "homepage") || a.localeCompare(b));
  for (const name of names) {
    const dir = new URL(`${name}/`, DISTRO_DIR).pathname;
    try {
      const meta = JSON.parse(await Deno.readTextFile(`${dir}metadata.json`));
      const pkg = `${meta.properties.package_name}:${meta.properties.publisher}`;
      if (installed.some((pid) => pid.endsWith(`:${pkg}`))) continue;
      print(0, `installing distro package ${pkg}...`, DISTRO_KERNEL);
      await node.installPackage(dir.replace(/\/$/, ""));
    } catch (err) {
      print(0, `distro package ${name}: ${errorText(err)}`, DISTRO_KERNEL);
    }
  }
}
