// settings:settings:sys, the node's settings, as a TypeScript process module.
//
// Hyperdrive's API (api/settings:sys-v0.wit, serde JSON), from local processes that may
// message us (we are not public); each is answered {"Ok": null | {"PeerId": identity}}
// or {"Err": SettingsError} when it expects a response:
//   {"Hi": {node, content, timeout}}   send `content` to node's net; HiTimeout / HiOffline
//   {"PeerId": "name"}                 the PKI record net has for name (Ok(null): none)
//   {"EthConfig": EthConfigRequest}    AddProvider / RemoveProvider / SetPublic / SetPrivate /
//                                      AllowNode / UnallowNode / DenyNode / UndenyNode, sent
//                                      to eth:distro:sys with eth's root capability
//   "Shutdown"                         the node stops (KernelCommand Shutdown)
//   "Reset"                            hns-indexer's Reset, with its root capability
//   {"KillProcess": "proc:pkg:pub"}    KernelCommand KillProcess
//   {"SetStylesheet": css}             homepage's SetStylesheet, with its capability
// Input Hyperdrive would pass on and fail later (an unknown process, a URL that is not
// one, a node name that cannot be) is refused at once with MalformedRequest.
//
// HTTP, on our secure subdomain (SecureBind, as Hyperdrive serves settings):
//   /            the UI (ui/*), and a WebSocket that gets the state after every change
//   /ask         GET: the state (Hyperdrive's SettingsState fields, plus peers);
//                POST: a request above. 200 with the answer's data (JSON, null when none);
//                an error is 4xx/5xx with {"Err": SettingsError | "ProviderNotFound" |
//                "NotInstalled" | "Unsupported", "message": "<why, for people>"}
//   /verbosity   GET / POST {"level": 0-3}: the terminal's verbosity (needs the runtime's
//                hyperdeno-only SetVerbosity kernel command; 501 until it has one)
//   /default-stylesheet  GET: the homepage package's own hyperware.css
// and, on the node's main origin for the homepage widget (Bind, authenticated):
//   /refresh     GET: fetches the state again; answers the widget's summary JSON
//
// The state is never persisted: it is read from net, eth, the kernel and the homepage's
// drive whenever asked, as Hyperdrive's settings does.

import {
  getBlob,
  our as ourAddress,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
} from "hyperware:process/standard@1.0.0";

// ---------------------------------------------------------------------------
// The standard API's shapes, as this module uses them

interface ProcessId {
  processName: string;
  packageName: string;
  publisherNode: string;
}
interface Address {
  node: string;
  process: ProcessId;
}
interface Capability {
  issuer: Address;
  params: string;
}
interface Blob {
  mime: string | undefined;
  bytes: Uint8Array;
}
interface WitRequest {
  inherit: boolean;
  expectsResponse: bigint | undefined;
  body: Uint8Array;
  metadata: string | undefined;
  capabilities: Capability[];
}
interface WitResponse {
  inherit: boolean;
  body: Uint8Array;
  metadata: string | undefined;
  capabilities: Capability[];
}
type WitMessage =
  | { tag: "request"; val: WitRequest }
  | { tag: "response"; val: [WitResponse, Uint8Array | undefined] };

interface IncomingHttpRequest {
  method: string;
  url: string;
  bound_path: string;
  headers: Record<string, string>;
  query_params: Record<string, string>;
}

// ---------------------------------------------------------------------------
// Wire shapes (serde JSON), as net, eth and the kernel answer them

type Ports = Record<string, number>;
type NodeRouting =
  | { Routers: string[] }
  | { Direct: { ip: string; ports: Ports } }
  | { Both: { ip: string; ports: Ports; routers: string[] } };
interface Identity {
  name: string;
  networking_key: string;
  routing: NodeRouting;
}

interface ProviderConfig {
  chain_id: number;
  trusted: boolean;
  provider: unknown;
}
interface AccessSettings {
  public: boolean;
  allow: string[];
  deny: string[];
}

/** What GET /ask answers: Hyperdrive's SettingsState, plus `peers`. */
interface SettingsState {
  our: string;
  identity: Identity | null;
  diagnostics: string | null;
  peers: Identity[] | null;
  eth_rpc_providers: ProviderConfig[] | null;
  eth_rpc_access_settings: AccessSettings | null;
  process_map: Record<string, unknown> | null;
  stylesheet: string | null;
  // Hypermap records Hyperdrive's settings reads onchain; not read here (yet)
  our_tba: null;
  our_owner: null;
  net_key: null;
  routers: null;
  ip: null;
  ws_port: null;
  tcp_port: null;
}

type SettingsError =
  | "HiTimeout"
  | "HiOffline"
  | "KernelNonresponsive"
  | "MalformedRequest"
  | "StateFetchFailed";

// ---------------------------------------------------------------------------

const enc = new TextEncoder();
const dec = new TextDecoder();
const me: Address = ourAddress();
const OUR_ID = pidString(me.process);
const PKG_DRIVE = "/settings:sys/pkg";
const HOMEPAGE_DRIVE = "/homepage:sys/pkg";

function pidString(p: ProcessId): string {
  return `${p.processName}:${p.packageName}:${p.publisherNode}`;
}

function local(processName: string, packageName: string, publisherNode: string): Address {
  return { node: me.node, process: { processName, packageName, publisherNode } };
}
const KERNEL = local("kernel", "distro", "sys");
const NET = local("net", "distro", "sys");
const ETH = local("eth", "distro", "sys");
const VFS = local("vfs", "distro", "sys");
const HTTP_SERVER = local("http-server", "distro", "sys");
const HOMEPAGE = local("homepage", "homepage", "sys");
const HNS_INDEXER = local("hns-indexer", "hns-indexer", "sys");

function log(verbosity: number, text: string): void {
  printToTerminal(verbosity, `settings: ${text}`);
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  const kind = sendErrorKind(e);
  return kind ? `send error: ${kind}` : String(e);
}

/** "offline" | "timeout" for a send error thrown by send-and-await-response. */
function sendErrorKind(e: unknown): string | undefined {
  return (e as { payload?: { kind?: string } })?.payload?.kind;
}

// ---------------------------------------------------------------------------
// MessagePack, for net:distro:sys (NetAction in, NetResponse out), as rmp-serde writes
// it: enums externally tagged (a unit variant is its name, any other a one-entry map),
// structs as arrays of their fields.

function mpStr(out: number[], s: string): void {
  const b = enc.encode(s);
  if (b.length < 32) out.push(0xa0 | b.length);
  else if (b.length < 0x100) out.push(0xd9, b.length);
  else if (b.length < 0x10000) out.push(0xda, b.length >> 8, b.length & 0xff);
  else {out.push(
      0xdb,
      b.length >>> 24,
      (b.length >> 16) & 0xff,
      (b.length >> 8) & 0xff,
      b.length & 0xff,
    );}
  for (const x of b) out.push(x);
}

type NetAction = "GetPeers" | "GetDiagnostics" | { GetPeer: string };

function encodeNetAction(a: NetAction): Uint8Array {
  const out: number[] = [];
  if (typeof a === "string") {
    mpStr(out, a);
  } else {
    out.push(0x81);
    mpStr(out, "GetPeer");
    mpStr(out, a.GetPeer);
  }
  return new Uint8Array(out);
}

/** A MessagePack value as plain JS: maps become objects with string keys. */
class MpReader {
  #p = 0;
  readonly #v: DataView;
  constructor(readonly b: Uint8Array) {
    this.#v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  #take(n: number): number {
    if (this.#p + n > this.b.length) throw new Error("msgpack: truncated");
    const at = this.#p;
    this.#p += n;
    return at;
  }
  #str(n: number): string {
    const at = this.#take(n);
    return dec.decode(this.b.subarray(at, at + n));
  }
  #arr(n: number): unknown[] {
    const a: unknown[] = [];
    for (let i = 0; i < n; i++) a.push(this.read());
    return a;
  }
  #map(n: number): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.read();
      o[String(k)] = this.read();
    }
    return o;
  }
  read(): unknown {
    const t = this.b[this.#take(1)];
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if ((t & 0xf0) === 0x80) return this.#map(t & 0x0f);
    if ((t & 0xf0) === 0x90) return this.#arr(t & 0x0f);
    if ((t & 0xe0) === 0xa0) return this.#str(t & 0x1f);
    const v = this.#v;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.#bin(v.getUint8(this.#take(1)));
      case 0xc5:
        return this.#bin(v.getUint16(this.#take(2)));
      case 0xc6:
        return this.#bin(v.getUint32(this.#take(4)));
      case 0xca:
        return v.getFloat32(this.#take(4));
      case 0xcb:
        return v.getFloat64(this.#take(8));
      case 0xcc:
        return v.getUint8(this.#take(1));
      case 0xcd:
        return v.getUint16(this.#take(2));
      case 0xce:
        return v.getUint32(this.#take(4));
      case 0xcf:
        return Number(v.getBigUint64(this.#take(8)));
      case 0xd0:
        return v.getInt8(this.#take(1));
      case 0xd1:
        return v.getInt16(this.#take(2));
      case 0xd2:
        return v.getInt32(this.#take(4));
      case 0xd3:
        return Number(v.getBigInt64(this.#take(8)));
      case 0xd9:
        return this.#str(v.getUint8(this.#take(1)));
      case 0xda:
        return this.#str(v.getUint16(this.#take(2)));
      case 0xdb:
        return this.#str(v.getUint32(this.#take(4)));
      case 0xdc:
        return this.#arr(v.getUint16(this.#take(2)));
      case 0xdd:
        return this.#arr(v.getUint32(this.#take(4)));
      case 0xde:
        return this.#map(v.getUint16(this.#take(2)));
      case 0xdf:
        return this.#map(v.getUint32(this.#take(4)));
    }
    throw new Error(`msgpack: unsupported type byte 0x${t.toString(16)}`);
  }
  #bin(n: number): Uint8Array {
    const at = this.#take(n);
    return this.b.slice(at, at + n);
  }
}

/** A struct rmp-serde wrote as an array of fields (or, leniently, a map by name). */
function fields(v: unknown, names: string[], what: string): unknown[] {
  if (Array.isArray(v) && v.length === names.length) return v;
  if (v && typeof v === "object" && !Array.isArray(v)) {
    return names.map((n) => (v as Record<string, unknown>)[n]);
  }
  throw new Error(`net: malformed ${what}`);
}

function variantOf(v: unknown, what: string): [string, unknown] {
  if (typeof v === "string") return [v, null];
  if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1) {
    const tag = Object.keys(v)[0];
    return [tag, (v as Record<string, unknown>)[tag]];
  }
  throw new Error(`net: malformed ${what}`);
}

function asString(v: unknown, what: string): string {
  if (typeof v !== "string") throw new Error(`net: malformed ${what}`);
  return v;
}

function asStrings(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new Error(`net: malformed ${what}`);
  return v.map((s) => asString(s, what));
}

function asPorts(v: unknown): Ports {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("net: malformed ports");
  const out: Ports = {};
  for (const [k, p] of Object.entries(v)) {
    if (typeof p !== "number") throw new Error("net: malformed port");
    out[k] = p;
  }
  return out;
}

function readIdentity(v: unknown): Identity {
  const [name, key, routing] = fields(v, ["name", "networking_key", "routing"], "Identity");
  const [tag, val] = variantOf(routing, "NodeRouting");
  let r: NodeRouting;
  if (tag === "Routers") {
    r = { Routers: asStrings(val, "routers") };
  } else if (tag === "Direct") {
    const [ip, ports] = fields(val, ["ip", "ports"], "Direct");
    r = { Direct: { ip: asString(ip, "ip"), ports: asPorts(ports) } };
  } else if (tag === "Both") {
    const [ip, ports, routers] = fields(val, ["ip", "ports", "routers"], "Both");
    r = {
      Both: {
        ip: asString(ip, "ip"),
        ports: asPorts(ports),
        routers: asStrings(routers, "routers"),
      },
    };
  } else {
    throw new Error(`net: unknown NodeRouting ${tag}`);
  }
  return {
    name: asString(name, "name"),
    networking_key: asString(key, "networking key"),
    routing: r,
  };
}

/** Asks net; the NetResponse's variant and value. */
function askNet(action: NetAction, timeout = 30): [string, unknown] {
  const body = callRaw(NET, encodeNetAction(action), { timeout }).body;
  return variantOf(new MpReader(body).read(), "NetResponse");
}

function getPeer(name: string): Identity | null {
  const [tag, val] = askNet({ GetPeer: name });
  if (tag !== "Peer") throw new Error(`net answered ${tag} to GetPeer`);
  return val === null ? null : readIdentity(val);
}

function getPeers(): Identity[] {
  const [tag, val] = askNet("GetPeers");
  if (tag !== "Peers" || !Array.isArray(val)) throw new Error(`net answered ${tag} to GetPeers`);
  return val.map(readIdentity).sort((a, b) => a.name.localeCompare(b.name));
}

function getDiagnostics(): string {
  const [tag, val] = askNet("GetDiagnostics");
  if (tag !== "Diagnostics") throw new Error(`net answered ${tag} to GetDiagnostics`);
  return asString(val, "diagnostics");
}

// ---------------------------------------------------------------------------
// Requests to other processes

interface CallOptions {
  timeout?: number;
  capabilities?: Capability[];
  blob?: Blob;
}

function callRaw(target: Address, body: Uint8Array, opts: CallOptions = {}) {
  const req: WitRequest = {
    inherit: false,
    expectsResponse: BigInt(opts.timeout ?? 30),
    body,
    metadata: undefined,
    capabilities: opts.capabilities ?? [],
  };
  const [, message] = sendAndAwaitResponse(target, req, opts.blob) as [Address, WitMessage];
  if (message.tag !== "response") throw new Error("expected a response");
  return { body: message.val[0].body, blob: getBlob() as Blob | undefined };
}

/** Sends JSON and awaits; the answer parsed as JSON, and its blob. */
function call(target: Address, body: unknown, opts: CallOptions = {}) {
  const { body: bytes, blob } = callRaw(target, enc.encode(JSON.stringify(body)), opts);
  return { answer: JSON.parse(dec.decode(bytes)) as unknown, blob };
}

/** Sends JSON expecting no response. */
function tell(target: Address, body: unknown, capabilities: Capability[] = [], blob?: Blob): void {
  sendRequest(
    target,
    {
      inherit: false,
      expectsResponse: undefined,
      body: enc.encode(JSON.stringify(body)),
      metadata: undefined,
      capabilities,
    },
    undefined,
    blob,
  );
}

function vfsRead(path: string): Uint8Array | undefined {
  try {
    const { answer, blob } = call(VFS, { path, action: "Read" }, { timeout: 10 });
    if (answer === "Read" && blob) return blob.bytes;
  } catch (e) {
    log(2, `vfs read ${path}: ${errorText(e)}`);
  }
  return undefined;
}

function isOk(answer: unknown): boolean {
  return !!answer && typeof answer === "object" && "Ok" in answer;
}

function bind(action: Record<string, unknown>, content?: { mime: string; bytes: Uint8Array }) {
  try {
    const { answer } = call(HTTP_SERVER, action, { timeout: 10, blob: content });
    if (isOk(answer)) return;
    log(0, `binding failed: ${JSON.stringify(action)}: ${JSON.stringify(answer)}`);
  } catch (e) {
    log(0, `binding failed: ${JSON.stringify(action)}: ${errorText(e)}`);
  }
}

// ---------------------------------------------------------------------------
// The state, read fresh from the runtime

function getProcessMap(): Record<string, unknown> {
  const { answer } = call(KERNEL, { Debug: "ProcessMap" });
  const map = (answer as { Debug?: { ProcessMap?: Record<string, unknown> } })?.Debug?.ProcessMap;
  if (!map || typeof map !== "object") throw new Error("malformed process map from the kernel");
  return map;
}

function ethConfig(action: unknown): unknown {
  return call(ETH, action).answer;
}

function getStylesheet(): string | null {
  // the stylesheet homepage serves: the one SetStylesheet saved, else its package's own
  const bytes = vfsRead(`${HOMEPAGE_DRIVE}/persisted-hyperware.css`) ??
    vfsRead(`${HOMEPAGE_DRIVE}/hyperware.css`);
  return bytes ? dec.decode(bytes) : null;
}

class State {
  current: SettingsState = {
    our: `${me.node}@${OUR_ID}`,
    identity: null,
    diagnostics: null,
    peers: null,
    eth_rpc_providers: null,
    eth_rpc_access_settings: null,
    process_map: null,
    stylesheet: null,
    our_tba: null,
    our_owner: null,
    net_key: null,
    routers: null,
    ip: null,
    ws_port: null,
    tcp_port: null,
  };
  #widget = "";
  readonly #wsChannels = new Set<number>();

  /** Reads everything again (as Hyperdrive's fetch); throws naming what failed. */
  fetch(): SettingsState {
    const s = this.current;
    const step = <T>(what: string, f: () => T): T => {
      try {
        return f();
      } catch (e) {
        throw new Error(`${what}: ${errorText(e)}`);
      }
    };
    s.identity = step("identity from net", () => getPeer(me.node));
    s.diagnostics = step("diagnostics from net", getDiagnostics);
    s.peers = step("peers from net", getPeers);
    s.eth_rpc_providers = step("providers from eth", () => {
      const a = ethConfig("GetProviders") as { Providers?: ProviderConfig[] };
      if (!Array.isArray(a?.Providers)) throw new Error(`eth answered ${JSON.stringify(a)}`);
      return a.Providers;
    });
    s.eth_rpc_access_settings = step("access settings from eth", () => {
      const a = ethConfig("GetAccessSettings") as { AccessSettings?: AccessSettings };
      if (!a?.AccessSettings) throw new Error(`eth answered ${JSON.stringify(a)}`);
      return a.AccessSettings;
    });
    s.process_map = step("processes from the kernel", getProcessMap);
    s.stylesheet = getStylesheet();
    this.updateWidget();
    return s;
  }

  /** Fetches, printing (not throwing) a failure; false if it failed. */
  tryFetch(): boolean {
    try {
      this.fetch();
      return true;
    } catch (e) {
      log(0, `failed to fetch settings: ${errorText(e)}`);
      return false;
    }
  }

  summary() {
    const s = this.current;
    const routing = s.identity?.routing;
    return {
      node: me.node,
      routing: !routing ? null : "Routers" in routing ? "indirect" : "direct",
      routers: routing && "Routers" in routing ? routing.Routers : [],
      ip: routing && "Direct" in routing
        ? routing.Direct.ip
        : routing && "Both" in routing
        ? routing.Both.ip
        : null,
      peers: s.peers?.length ?? 0,
      processes: s.process_map ? Object.keys(s.process_map).length : 0,
      providers: s.eth_rpc_providers?.length ?? 0,
      eth_public: s.eth_rpc_access_settings?.public ?? false,
    };
  }

  /** Adds us to the homepage (again only when the widget changed). */
  updateWidget(force = false): void {
    const widget = makeWidget(this.summary());
    if (!force && widget === this.#widget) return;
    this.#widget = widget;
    tell(HOMEPAGE, { Add: { label: "Settings", icon: ICON, path: "/", widget } });
  }

  wsOpened(id: number) {
    this.#wsChannels.add(id);
  }
  wsClosed(id: number) {
    this.#wsChannels.delete(id);
  }

  /** Pushes the state to every open UI, as Hyperdrive's ws_update. */
  push(): void {
    if (this.#wsChannels.size === 0) return;
    const bytes = enc.encode(JSON.stringify(this.current));
    for (const id of this.#wsChannels) {
      tell(
        HTTP_SERVER,
        { WebSocketPush: { channel_id: id, message_type: "Text" } },
        [],
        { mime: "application/json", bytes },
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Requests (settings:sys-v0.wit)

type EthConfigRequest =
  | { AddProvider: { chain_id: number; node_or_rpc_url: { Node: string } | { RpcUrl: string } } }
  | { RemoveProvider: [number, string] }
  | "SetPublic"
  | "SetPrivate"
  | { AllowNode: string }
  | { UnallowNode: string }
  | { DenyNode: string }
  | { UndenyNode: string };

type SettingsRequest =
  | { Hi: { node: string; content: string; timeout: number } }
  | { PeerId: string }
  | { EthConfig: EthConfigRequest }
  | "Shutdown"
  | "Reset"
  | { KillProcess: string }
  | { SetStylesheet: string };

/** What to do once the current message is answered. */
const afterAnswer: (() => void)[] = [];

/** A request we refuse before acting: MalformedRequest, with the reason for people. */
class Malformed extends Error {}

/** The outcome of a request, richer than the WIT response (HTTP shows it all). */
type Outcome =
  | { ok: unknown }
  | {
    err: SettingsError | "ProviderNotFound" | "NotInstalled";
    message: string;
    /** what the WIT response says when `err` is not a SettingsError (Hyperdrive's answer) */
    wit?: { Ok: null };
  };

const NODE_NAME = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;
const MAX_STYLESHEET = 1 << 20;
const MAX_HI_TIMEOUT = 120;

function checkNode(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0) throw new Malformed(`${what} must be a node name`);
  if (v.length > 253 || !NODE_NAME.test(v)) {
    throw new Malformed(
      `${what} ${JSON.stringify(v)} is not a node name: lowercase letters, digits, "-" and dots`,
    );
  }
  return v;
}

function checkChainId(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new Malformed("chain_id must be a whole number, such as 1 for Ethereum mainnet");
  }
  return v;
}

function checkRpcUrl(v: unknown): string {
  if (typeof v !== "string" || v.trim() === "") throw new Malformed("the RPC URL is empty");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Malformed(`${JSON.stringify(v)} is not a URL (e.g. wss://eth.example.com/ws)`);
  }
  if (!["ws:", "wss:", "http:", "https:"].includes(u.protocol)) {
    throw new Malformed(
      `an RPC URL starts with wss://, ws://, https:// or http://, not ${u.protocol}//`,
    );
  }
  return v;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

function variant(v: unknown, what: string): [string, unknown] {
  if (typeof v === "string") return [v, null];
  if (isObj(v) && Object.keys(v).length === 1) {
    const tag = Object.keys(v)[0];
    return [tag, v[tag]];
  }
  throw new Malformed(`expected a ${what} variant: "Name" or {"Name": value}`);
}

function unit(tag: string, val: unknown): void {
  if (val !== null) throw new Malformed(`${tag} takes no value`);
}

function parseEthConfig(v: unknown): EthConfigRequest {
  const [tag, val] = variant(v, "EthConfig");
  switch (tag) {
    case "SetPublic":
    case "SetPrivate":
      unit(tag, val);
      return tag;
    case "AllowNode":
    case "UnallowNode":
    case "DenyNode":
    case "UndenyNode":
      return { [tag]: checkNode(val, `${tag}'s node`) } as EthConfigRequest;
    case "AddProvider": {
      if (!isObj(val)) throw new Malformed("AddProvider takes {chain_id, node_or_rpc_url}");
      const chain_id = checkChainId(val.chain_id);
      const [kind, target] = variant(val.node_or_rpc_url, "node_or_rpc_url");
      if (kind === "Node") {
        return {
          AddProvider: {
            chain_id,
            node_or_rpc_url: { Node: checkNode(target, "the provider node") },
          },
        };
      }
      if (kind === "RpcUrl") {
        return { AddProvider: { chain_id, node_or_rpc_url: { RpcUrl: checkRpcUrl(target) } } };
      }
      throw new Malformed(`node_or_rpc_url is {"Node": name} or {"RpcUrl": url}, not ${kind}`);
    }
    case "RemoveProvider": {
      if (!Array.isArray(val) || val.length !== 2 || typeof val[1] !== "string" || !val[1]) {
        throw new Malformed('RemoveProvider takes [chain_id, "<RPC URL or node name>"]');
      }
      return { RemoveProvider: [checkChainId(val[0]), val[1]] };
    }
  }
  throw new Malformed(
    `unknown EthConfig ${JSON.stringify(tag)}: expected AddProvider, RemoveProvider, SetPublic, ` +
      "SetPrivate, AllowNode, UnallowNode, DenyNode or UndenyNode",
  );
}

function parseProcessId(v: unknown): string {
  if (typeof v !== "string") throw new Malformed("KillProcess takes a process id string");
  const parts = v.split(":");
  if (parts.length !== 3 || parts.some((p) => p === "")) {
    throw new Malformed(`${JSON.stringify(v)} is not a process id (process:package:publisher)`);
  }
  return v;
}

/** The request as serde_json reads Hyperdrive's `request` variant, or Malformed. */
function parseSettingsRequest(bytes: Uint8Array): SettingsRequest {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(bytes));
  } catch {
    throw new Malformed("body is not JSON");
  }
  const [tag, val] = variant(v, "request");
  switch (tag) {
    case "Shutdown":
    case "Reset":
      unit(tag, val);
      return tag;
    case "PeerId":
      return { PeerId: checkNode(val, "PeerId") };
    case "KillProcess":
      return { KillProcess: parseProcessId(val) };
    case "SetStylesheet":
      if (typeof val !== "string") {
        throw new Malformed("SetStylesheet takes the stylesheet as a string");
      }
      if (enc.encode(val).length > MAX_STYLESHEET) {
        throw new Malformed("the stylesheet is over 1 MiB");
      }
      return { SetStylesheet: val };
    case "EthConfig":
      return { EthConfig: parseEthConfig(val) };
    case "Hi": {
      if (!isObj(val)) throw new Malformed("Hi takes {node, content, timeout}");
      const node = checkNode(val.node, "Hi's node");
      // our own net never answers a hello (Hyperdrive's waits out the timeout)
      if (node === me.node) throw new Malformed(`${node} is this node: say hi to another one`);
      if (typeof val.content !== "string") throw new Malformed("Hi's content must be a string");
      const t = val.timeout;
      if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > MAX_HI_TIMEOUT) {
        throw new Malformed(`Hi's timeout is a whole number of seconds, 1 to ${MAX_HI_TIMEOUT}`);
      }
      return { Hi: { node, content: val.content, timeout: t } };
    }
  }
  throw new Malformed(
    `unknown request ${JSON.stringify(tag)}: expected Hi, PeerId, EthConfig, Shutdown, Reset, ` +
      "KillProcess or SetStylesheet",
  );
}

/** As the WIT's identity: routing is routers or direct (ports as a list of pairs). */
function witIdentity(id: Identity) {
  const r = id.routing;
  const direct = (ip: string, ports: Ports) => ({
    Direct: { ip, ports: Object.entries(ports).map(([k, p]) => [k, p]) },
  });
  return {
    name: id.name,
    networking_key: id.networking_key,
    routing: "Routers" in r
      ? { Routers: r.Routers }
      : "Direct" in r
      ? direct(r.Direct.ip, r.Direct.ports)
      : direct(r.Both.ip, r.Both.ports),
  };
}

function capability(issuer: Address, params: unknown): Capability {
  return { issuer, params: JSON.stringify(params) };
}

/** eth's EthConfigAction for a settings EthConfig request (trusted, as Hyperdrive). */
function ethAction(r: EthConfigRequest): unknown {
  if (typeof r === "string") return r;
  if ("AddProvider" in r) {
    const { chain_id, node_or_rpc_url: p } = r.AddProvider;
    return {
      AddProvider: {
        chain_id,
        trusted: true,
        provider: "Node" in p
          ? {
            // eth needs only the name: it looks the node up itself
            Node: {
              hns_update: { name: p.Node, public_key: "", ips: [], ports: {}, routers: [] },
              use_as_provider: true,
            },
          }
          : { RpcUrl: { url: p.RpcUrl, auth: null } },
      },
    };
  }
  return r;
}

function handleSettingsRequest(state: State, r: SettingsRequest): Outcome {
  if (r === "Shutdown") {
    log(0, "shutting the node down, as asked");
    // after our answer is on its way, so the asker hears it
    afterAnswer.push(() => tell(KERNEL, "Shutdown"));
    return { ok: null };
  }
  if (r === "Reset") {
    let map: Record<string, unknown>;
    try {
      map = getProcessMap();
    } catch (e) {
      return { err: "KernelNonresponsive", message: `the kernel did not answer: ${errorText(e)}` };
    }
    if (!map[pidString(HNS_INDEXER.process)]) {
      return {
        err: "NotInstalled",
        message: "hns-indexer is not installed on this node: there is no HNS state to reset",
        wit: { Ok: null },
      };
    }
    tell(HNS_INDEXER, "Reset", [capability(HNS_INDEXER, { root: true })]);
    return refetched(state);
  }
  if ("Hi" in r) {
    const { node, content, timeout } = r.Hi;
    try {
      callRaw({ node, process: NET.process }, enc.encode(content), { timeout });
    } catch (e) {
      const kind = sendErrorKind(e);
      if (kind === "timeout") {
        return { err: "HiTimeout", message: `${node} did not answer within ${timeout} s` };
      }
      if (kind === "offline") {
        return { err: "HiOffline", message: `${node} is offline or does not exist` };
      }
      throw e;
    }
    return refetched(state);
  }
  if ("PeerId" in r) {
    let peer: Identity | null;
    try {
      peer = getPeer(r.PeerId);
    } catch (e) {
      return { err: "KernelNonresponsive", message: `net did not answer: ${errorText(e)}` };
    }
    return { ok: peer ? { PeerId: witIdentity(peer) } : null };
  }
  if ("EthConfig" in r) {
    let answer: unknown;
    try {
      answer = ethConfig(ethAction(r.EthConfig));
    } catch (e) {
      return { err: "KernelNonresponsive", message: `eth did not answer: ${errorText(e)}` };
    }
    if (answer === "PermissionDenied") {
      return {
        err: "KernelNonresponsive",
        message: "eth refused: settings does not hold eth's root capability",
      };
    }
    if (answer === "ProviderNotFound") {
      const [chain, name] = (r.EthConfig as { RemoveProvider: [number, string] }).RemoveProvider;
      state.tryFetch();
      return {
        err: "ProviderNotFound",
        message: `no provider ${name} for chain ${chain}`,
        wit: { Ok: null },
      };
    }
    if (answer !== "Ok") {
      return { err: "KernelNonresponsive", message: `eth answered ${JSON.stringify(answer)}` };
    }
    return refetched(state);
  }
  if ("KillProcess" in r) {
    const pid = r.KillProcess;
    if (pid === OUR_ID) {
      throw new Malformed("settings cannot stop itself");
    }
    let map: Record<string, unknown>;
    try {
      map = getProcessMap();
    } catch (e) {
      return { err: "KernelNonresponsive", message: `the kernel did not answer: ${errorText(e)}` };
    }
    const entry = map[pid] as { wasm_bytes_handle?: string } | undefined;
    if (!entry) throw new Malformed(`there is no process ${pid} on this node`);
    if (!entry.wasm_bytes_handle) {
      throw new Malformed(`${pid} is part of the runtime and cannot be stopped`);
    }
    try {
      const { answer } = call(KERNEL, { KillProcess: pid });
      if (!isObj(answer) || !("KilledProcess" in answer)) {
        return {
          err: "KernelNonresponsive",
          message: `the kernel answered ${JSON.stringify(answer)}`,
        };
      }
    } catch (e) {
      return { err: "KernelNonresponsive", message: `the kernel did not answer: ${errorText(e)}` };
    }
    log(1, `killed ${pid}`);
    return refetched(state);
  }
  // SetStylesheet: homepage saves and serves it (we hold its SetStylesheet capability)
  tell(HOMEPAGE, { SetStylesheet: r.SetStylesheet }, [capability(HOMEPAGE, "SetStylesheet")]);
  state.current.stylesheet = r.SetStylesheet;
  return { ok: null };
}

function refetched(state: State): Outcome {
  try {
    state.fetch();
  } catch (e) {
    return {
      err: "StateFetchFailed",
      message: `done, but reading the state failed: ${errorText(e)}`,
    };
  }
  return { ok: null };
}

/** The WIT response for an outcome. */
function witResponse(o: Outcome): unknown {
  if ("ok" in o) return { Ok: o.ok };
  return o.wit ?? { Err: o.err };
}

// ---------------------------------------------------------------------------
// Verbosity: a hyperdeno-only kernel command, not in every runtime. Until the kernel
// answers one, /verbosity says so (asked once, with a short timeout).

let verbositySupported: boolean | undefined;
const UNSUPPORTED_VERBOSITY =
  "this runtime does not let apps read or set the terminal's verbosity yet; " +
  "change it in the node's terminal (Ctrl+V)";

function verbosity(set?: number): { level: number } | undefined {
  if (verbositySupported === false) return undefined;
  try {
    const body = set === undefined ? { Debug: "Verbosity" } : { SetVerbosity: set };
    const { answer } = call(KERNEL, body, { timeout: verbositySupported ? 10 : 2 });
    const level = (answer as { Debug?: { Verbosity?: { level?: unknown } } })?.Debug?.Verbosity
      ?.level;
    if (typeof level !== "number") throw new Error(`the kernel answered ${JSON.stringify(answer)}`);
    verbositySupported = true;
    return { level };
  } catch (e) {
    if (verbositySupported === undefined && sendErrorKind(e) === "timeout") {
      verbositySupported = false;
      log(1, "the kernel has no verbosity command; /verbosity answers 501");
      return undefined;
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------
// HTTP

interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

function jsonAnswer(status: number, value: unknown): HttpAnswer {
  return {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
    body: enc.encode(JSON.stringify(value)),
  };
}

function errAnswer(status: number, err: string, message: string): HttpAnswer {
  return jsonAnswer(status, { Err: err, message });
}

const ERR_STATUS: Record<string, number> = {
  MalformedRequest: 400,
  HiTimeout: 504,
  HiOffline: 502,
  KernelNonresponsive: 502,
  StateFetchFailed: 500,
  ProviderNotFound: 404,
  NotInstalled: 404,
};

function respondHttp(a: HttpAnswer): void {
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify({ status: a.status, headers: a.headers ?? {} })),
      metadata: undefined,
      capabilities: [],
    },
    a.body ? { mime: a.headers?.["Content-Type"], bytes: a.body } : undefined,
  );
}

/** Our UI files in the pkg drive, and where each is served (on our subdomain). */
const UI_FILES: { file: string; path: string; mime: string }[] = [
  { file: "ui/index.html", path: "/", mime: "text/html; charset=utf-8" },
  { file: "ui/settings.css", path: "/settings.css", mime: "text/css; charset=utf-8" },
  { file: "ui/settings.js", path: "/settings.js", mime: "application/javascript; charset=utf-8" },
  { file: "ui/icon.svg", path: "/icon.svg", mime: "image/svg+xml" },
];

function bindAll(): void {
  for (const f of UI_FILES) {
    const bytes = vfsRead(`${PKG_DRIVE}/${f.file}`);
    if (!bytes) {
      log(0, `missing ${f.file} in ${PKG_DRIVE}; ${f.path} not served`);
      continue;
    }
    bind({ SecureBind: { path: f.path, cache: true } }, { mime: f.mime, bytes });
  }
  for (const path of ["/ask", "/verbosity", "/default-stylesheet"]) {
    bind({ SecureBind: { path, cache: false } });
  }
  bind({ WebSocketSecureBind: { path: "/", extension: false } });
  // on the main origin, for our homepage widget
  bind({ Bind: { path: "/refresh", authenticated: true, local_only: false, cache: false } });
}

/** The bound path below our prefix: "/ask", "/refresh", ... */
function route(boundPath: string): string {
  const prefix = `/${OUR_ID}`;
  const p = boundPath.startsWith(prefix) ? boundPath.slice(prefix.length) : boundPath;
  return p === "" ? "/" : p;
}

function postedBody(incoming: IncomingHttpRequest): Uint8Array | HttpAnswer {
  const blob = getBlob() as Blob | undefined;
  if (!blob || blob.bytes.length === 0) {
    return errAnswer(
      400,
      "MalformedRequest",
      `POST ${route(incoming.bound_path)} needs a JSON body`,
    );
  }
  return blob.bytes;
}

function handleHttp(state: State, incoming: IncomingHttpRequest): HttpAnswer {
  const path = route(incoming.bound_path);
  const method = incoming.method;
  switch (path) {
    case "/refresh": {
      if (method !== "GET") return errAnswer(405, "MalformedRequest", "/refresh takes GET");
      state.tryFetch();
      return jsonAnswer(200, state.summary());
    }
    case "/ask": {
      if (method === "GET") {
        try {
          return jsonAnswer(200, state.fetch());
        } catch (e) {
          return errAnswer(
            500,
            "StateFetchFailed",
            `could not read the node's state: ${errorText(e)}`,
          );
        }
      }
      if (method !== "POST") return errAnswer(405, "MalformedRequest", "/ask takes GET or POST");
      const body = postedBody(incoming);
      if (!(body instanceof Uint8Array)) return body;
      let req: SettingsRequest;
      try {
        req = parseSettingsRequest(body);
      } catch (e) {
        if (e instanceof Malformed) return errAnswer(400, "MalformedRequest", e.message);
        throw e;
      }
      const o = act(state, req);
      if ("ok" in o) return jsonAnswer(200, o.ok);
      return errAnswer(ERR_STATUS[o.err] ?? 500, o.err, o.message);
    }
    case "/verbosity": {
      let set: number | undefined;
      if (method === "POST") {
        const body = postedBody(incoming);
        if (!(body instanceof Uint8Array)) return body;
        let v: unknown;
        try {
          v = JSON.parse(dec.decode(body));
        } catch {
          return errAnswer(400, "MalformedRequest", "body is not JSON");
        }
        const level = isObj(v) ? v.level : undefined;
        if (typeof level !== "number" || !Number.isInteger(level) || level < 0 || level > 3) {
          return errAnswer(400, "MalformedRequest", 'expected {"level": 0, 1, 2 or 3}');
        }
        set = level;
      } else if (method !== "GET") {
        return errAnswer(405, "MalformedRequest", "/verbosity takes GET or POST");
      }
      try {
        const v = verbosity(set);
        if (!v) return errAnswer(501, "Unsupported", UNSUPPORTED_VERBOSITY);
        return jsonAnswer(200, v);
      } catch (e) {
        return errAnswer(502, "KernelNonresponsive", `the kernel did not answer: ${errorText(e)}`);
      }
    }
    case "/default-stylesheet": {
      if (method !== "GET") return errAnswer(405, "MalformedRequest", "takes GET");
      const css = vfsRead(`${HOMEPAGE_DRIVE}/hyperware.css`);
      if (!css) {
        return errAnswer(404, "NotInstalled", "the homepage package's stylesheet is missing");
      }
      return { status: 200, headers: { "Content-Type": "text/css; charset=utf-8" }, body: css };
    }
  }
  return { status: 404 };
}

/** Does a request; any change is pushed to open UIs. */
function act(state: State, req: SettingsRequest): Outcome {
  let o: Outcome;
  try {
    o = handleSettingsRequest(state, req);
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    o = { err: "MalformedRequest", message: e.message };
  }
  if (typeof req !== "object" || !("PeerId" in req)) state.push();
  return o;
}

function handleFromHttpServer(state: State, req: WitRequest): void {
  let msg: Record<string, unknown>;
  try {
    msg = JSON.parse(dec.decode(req.body));
  } catch {
    return;
  }
  if (isObj(msg.Http)) {
    respondHttp(handleHttp(state, msg.Http as unknown as IncomingHttpRequest));
  } else if (isObj(msg.WebSocketOpen)) {
    const id = msg.WebSocketOpen.channel_id;
    if (typeof id === "number") state.wsOpened(id);
  } else if (typeof msg.WebSocketClose === "number") {
    state.wsClosed(msg.WebSocketClose);
  }
  // WebSocketPush from a UI: we expect none
}

// ---------------------------------------------------------------------------
// The homepage widget: a summary, kept current by its own script through /refresh

const ICON_SVG_PATH = `${PKG_DRIVE}/ui/icon.svg`;
let ICON: string | null = null;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function makeWidget(sum: ReturnType<State["summary"]>): string {
  const where = sum.routing === "indirect"
    ? `via ${sum.routers.length} router${sum.routers.length === 1 ? "" : "s"}`
    : sum.routing === "direct"
    ? `direct · ${sum.ip}`
    : "…";
  const stat = (id: string, n: number, label: string) =>
    `<a class="stat" href="/${OUR_ID}/#${id}" data-section="${id}"><b id="n-${id}">${n}</b><span>${label}</span></a>`;
  return `<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/hyperware.css">
<style>
body{margin:0;padding:18px 20px;background:transparent;font-family:var(--font-family-main);color:var(--hw-text)}
.who{display:flex;align-items:center;gap:10px;min-width:0}
.dot{flex:none;width:9px;height:9px;border-radius:50%;background:#2fbf71;box-shadow:0 0 0 3px color-mix(in srgb,#2fbf71 22%,transparent)}
.name{font-weight:700;font-size:17px;letter-spacing:-.01em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.where{margin:2px 0 0 19px;font-size:13px;color:var(--hw-muted);overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.stats{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;margin:18px 0 0}
.stat{display:flex;flex-direction:column;gap:4px;padding:12px 14px;border-radius:12px;background:var(--hw-surface-2);color:inherit;text-decoration:none;transition:filter .12s}
.stat:hover{filter:brightness(.97)}
.stat b{font-size:22px;letter-spacing:-.02em;line-height:1.1}
.stat span{font-size:12px;color:var(--hw-muted)}
.foot{display:flex;justify-content:space-between;align-items:center;margin-top:18px;font-size:12px;color:var(--hw-muted)}
.foot a{color:var(--hw-accent);font-weight:600;text-decoration:none}
</style></head><body>
<div class="who"><span class="dot" aria-hidden="true"></span><span class="name">${
    escapeHtml(sum.node)
  }</span></div>
<p class="where" id="where">${escapeHtml(where)}</p>
<div class="stats">${stat("network", sum.peers, "peers")}${
    stat("processes", sum.processes, "processes")
  }${stat("ethereum", sum.providers, "providers")}</div>
<div class="foot"><span id="updated">eth RPC ${
    sum.eth_public ? "public" : "private"
  }</span><a href="/${OUR_ID}/" data-section="">Open settings →</a></div>
<script>
(() => {
  // links open settings in the page around us (the homepage handles hw links)
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href]");
    if (!a || window.parent === window) return;
    e.preventDefault();
    window.parent.postMessage({ type: "HW_LINK_CLICKED", url: a.getAttribute("href") }, "*");
  });
  const set = (id, v) => { const el = document.getElementById(id); if (el) el.textContent = v; };
  async function refresh() {
    try {
      const r = await fetch("/${OUR_ID}/refresh", { credentials: "include" });
      if (!r.ok) return;
      const s = await r.json();
      set("n-network", s.peers);
      set("n-processes", s.processes);
      set("n-ethereum", s.providers);
      set("where", s.routing === "indirect"
        ? "via " + s.routers.length + (s.routers.length === 1 ? " router" : " routers")
        : "direct · " + s.ip);
      set("updated", "eth RPC " + (s.eth_public ? "public" : "private"));
    } catch {}
  }
  refresh();
  setInterval(() => document.visibilityState === "visible" && refresh(), 30000);
})();
</script></body></html>`;
}

// ---------------------------------------------------------------------------

function handleRequest(state: State, source: Address, req: WitRequest): void {
  // as Hyperdrive: only our own node's processes
  if (source.node !== me.node) return;
  let r: SettingsRequest;
  let o: Outcome;
  try {
    r = parseSettingsRequest(req.body);
    o = act(state, r);
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    log(1, `refused a request from ${pidString(source.process)}: ${e.message}`);
    o = { err: "MalformedRequest", message: e.message };
  }
  if (req.expectsResponse === undefined) return;
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify(witResponse(o))),
      metadata: undefined,
      capabilities: [],
    },
    undefined,
  );
}

export function init(_our: string): void {
  const svg = vfsRead(ICON_SVG_PATH);
  if (svg) ICON = `data:image/svg+xml;base64,${btoa(String.fromCharCode(...svg))}`;
  const state = new State();
  bindAll();
  if (!state.tryFetch()) state.updateWidget(true);
  log(1, "serving settings");
  for (;;) {
    let source: Address;
    let message: WitMessage;
    try {
      [source, message] = receive() as [Address, WitMessage];
    } catch {
      continue; // a send error for a request we did not await (a push, an Add): nothing to do
    }
    if (message.tag !== "request") continue;
    const req = message.val;
    const fromHttp = source.node === me.node &&
      pidString(source.process) === "http-server:distro:sys";
    try {
      if (fromHttp) handleFromHttpServer(state, req);
      else handleRequest(state, source, req);
      for (const f of afterAnswer.splice(0)) f();
    } catch (e) {
      afterAnswer.length = 0;
      // keep serving: one bad message must not take settings down
      log(0, `error handling a request from ${pidString(source.process)}: ${errorText(e)}`);
      if (req.expectsResponse === undefined) continue;
      try {
        if (fromHttp) respondHttp(errAnswer(500, "KernelNonresponsive", errorText(e)));
        else {
          sendResponse(
            {
              inherit: false,
              body: enc.encode(JSON.stringify({ Err: "KernelNonresponsive" })),
              metadata: undefined,
              capabilities: [],
            },
            undefined,
          );
        }
      } catch { /* the answer itself failed */ }
    }
  }
}
