// chain:app-store:sys, app listings on Hypermap, as a TypeScript process module.
//
// Hyperdrive's API (api/app-store:sys-v2.wit, interface `chain`, serde JSON), from this
// node's processes: GetApp(package_id) -> {"GetApp": OnchainApp | null}, "GetApps",
// "GetOurApps", StartAutoUpdate / StopAutoUpdate (-> "AutoUpdateStarted" /
// "AutoUpdateStopped", or {"Err": "NoPackage"}), "Reset" -> "ResetOk".
//
// A listing is a Hypermap entry `<package>.<publisher>` with a `~metadata-uri` note (a URL
// of the package's metadata.json) and a `~metadata-hash` note (keccak-256 of those bytes,
// "0x..."). As Hyperdrive's chain process: Note logs whose label is ~metadata-uri are
// indexed; for each, ~metadata-hash is read with Hypermap's `get`, the metadata fetched
// with http-client and kept only if it hashes to that; an empty ~metadata-uri unlists. A
// listing that changes while its auto-update is on sends downloads AutoUpdate.
//
// How: eth_getLogs over block ranges from the last indexed block (halving a range the
// provider refuses), every `poll_ms` (a poll is cheap on a local chain; Hyperdrive also
// subscribes). A note's parent entry is named through hns-indexer's NamehashToName, else
// from the entry's Mint log. Listings persist in set-state with the last indexed block.
// Chain: Base (8453) from Hypermap's first block; a fake node (hns-indexer's initfile says
// simulation) indexes the local chain 31337 from block 0; /app-store:sys/initfiles/chain.json
// ({chain_id, first_block, poll_ms}) overrides both.
//
// A process module: the standard API and the package's own lib/ are all it imports.

import {
  getBlob,
  getState,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
  setState,
} from "hyperware:process/standard@1.0.0";
import {
  type Address,
  type Blob,
  dec,
  enc,
  errorText,
  isObj,
  local,
  me,
  type WitMessage,
  type WitRequest,
} from "./lib/process.ts";
import { fromHex, keccak256, toHex } from "./lib/hash.ts";

// ---------------------------------------------------------------------------

const ETH = local("eth", "distro", "sys");
const VFS = local("vfs", "distro", "sys");
const TIMER = local("timer", "distro", "sys");
const HTTP_CLIENT = local("http-client", "distro", "sys");
const HNS = local("hns-indexer", "hns-indexer", "sys");
const DOWNLOADS = local("downloads", "app-store", "sys");

export const HYPERMAP = "0x000000000044c6b8cb4d8f0f889a3e47664eaeda";
const MAINNET = { chainId: 8453, firstBlock: 27_270_411, pollMs: 30_000 };
const SIMULATION = { chainId: 31337, firstBlock: 0, pollMs: 2_000 };
const STATE_VERSION = 1;
const ETH_TIMEOUT_S = 30;
/** blocks asked for at once; halved when the provider refuses, grown back when sparse */
const RANGE_START = 100_000;
const RANGE_MIN = 500;

function log(verbosity: number, text: string): void {
  printToTerminal(verbosity, `chain: ${text}`);
}

// ---------------------------------------------------------------------------
// bytes, hex, keccak-256, namehash, ABI

const hashHex = (s: string | Uint8Array) => `0x${toHex(keccak256(s))}`;

export function namehash(name: string): string {
  let node: Uint8Array = new Uint8Array(32);
  if (name === "") return `0x${toHex(node)}`;
  for (const label of name.split(".").reverse()) {
    const joined = new Uint8Array(64);
    joined.set(node, 0);
    joined.set(keccak256(label), 32);
    node = keccak256(joined);
  }
  return `0x${toHex(node)}`;
}

export const NOTE_TOPIC = hashHex("Note(bytes32,bytes32,bytes,bytes,bytes)");
export const MINT_TOPIC = hashHex("Mint(bytes32,bytes32,bytes,bytes)");
export const METADATA_URI_TOPIC = hashHex("~metadata-uri");
const GET_SELECTOR = hashHex("get(bytes32)").slice(0, 10);
const ZERO32 = `0x${"0".repeat(64)}`;

/** The `i`th dynamic `bytes` of ABI-encoded data (a head of offsets, then length + bytes). */
export function abiBytes(data: Uint8Array, i: number): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const word = (at: number) => {
    if (at + 32 > data.length) throw new Error("ABI data too short");
    if (
      view.getUint32(at) !== 0 || view.getUint32(at + 4) !== 0 || view.getUint32(at + 8) !== 0 ||
      view.getUint32(at + 12) !== 0 || view.getUint32(at + 16) !== 0 ||
      view.getUint32(at + 20) !== 0
    ) {
      throw new Error("ABI offset too large");
    }
    return view.getUint32(at + 24) * 2 ** 32 + view.getUint32(at + 28);
  };
  const off = word(i * 32);
  const len = word(off);
  if (off + 32 + len > data.length) throw new Error("ABI bytes run past the data");
  return data.slice(off + 32, off + 32 + len);
}

interface EthLog {
  topics: string[];
  data: string;
  blockNumber: string | null;
  logIndex?: string | null;
  removed?: boolean;
}

// ---------------------------------------------------------------------------
// Requests to other processes

function request(body: unknown, timeout?: number): WitRequest {
  return {
    inherit: false,
    expectsResponse: timeout === undefined ? undefined : BigInt(timeout),
    body: enc.encode(JSON.stringify(body)),
    metadata: undefined,
    capabilities: [],
  };
}

function call(target: Address, body: unknown, timeout = 30): { answer: unknown; blob?: Blob } {
  const [, message] = sendAndAwaitResponse(target, request(body, timeout), undefined) as [
    Address,
    WitMessage,
  ];
  if (message.tag !== "response") throw new Error("expected a response");
  return {
    answer: JSON.parse(dec.decode(message.val[0].body)),
    blob: getBlob() as Blob | undefined,
  };
}

function tell(target: Address, body: unknown): void {
  sendRequest(target, request(body), undefined, undefined);
}

class EthError extends Error {
  constructor(readonly rpc: boolean, message: string) {
    super(message);
  }
}

// ---------------------------------------------------------------------------
// Listings

export interface Metadata {
  name: string | null;
  description: string | null;
  image: string | null;
  external_url: string | null;
  animation_url: string | null;
  properties: {
    package_name: string;
    publisher: string;
    current_version: string;
    mirrors: string[];
    code_hashes: [string, string][];
    license: string | null;
    screenshots: string[] | null;
    wit_version: number | null;
    dependencies: string[] | null;
  };
}

interface Listing {
  tba: string;
  metadata_uri: string;
  metadata_hash: string;
  metadata: Metadata | null;
  auto_update: boolean;
  block: number;
}

interface Saved {
  version: number;
  chain_id: number;
  last_block: number;
  listings: Record<string, Listing>;
  published: string[];
  names: Record<string, string>;
}

/** metadata.json as serde reads Erc721Metadata (code_hashes: a map or pairs); throws why not. */
export function readMetadata(v: unknown): Metadata {
  if (!isObj(v) || !isObj(v.properties)) throw new Error("metadata: expected {.., properties}");
  const p = v.properties;
  const optStr = (o: Record<string, unknown>, k: string) => {
    if (o[k] == null) return null;
    if (typeof o[k] !== "string") throw new Error(`metadata: ${k} must be a string`);
    return o[k] as string;
  };
  const str = (k: string) => {
    if (typeof p[k] !== "string") throw new Error(`metadata: properties.${k} must be a string`);
    return p[k] as string;
  };
  const strs = (k: string, optional: boolean) => {
    const x = p[k];
    if (x == null && optional) return null;
    if (!Array.isArray(x) || !x.every((s) => typeof s === "string")) {
      throw new Error(`metadata: properties.${k} must be a list of strings`);
    }
    return x as string[];
  };
  let hashes: [string, string][];
  if (isObj(p.code_hashes)) {
    hashes = Object.entries(p.code_hashes).map(([k, h]) => {
      if (typeof h !== "string") throw new Error("metadata: code_hashes values must be strings");
      return [k, h];
    });
  } else if (Array.isArray(p.code_hashes)) {
    hashes = p.code_hashes.map((h) => {
      if (!Array.isArray(h) || typeof h[0] !== "string" || typeof h[1] !== "string") {
        throw new Error("metadata: code_hashes must be [version, hash] pairs");
      }
      return [h[0], h[1]] as [string, string];
    });
  } else throw new Error("metadata: properties.code_hashes is missing");
  const wit = p.wit_version ?? null;
  if (wit !== null && !(typeof wit === "number" && Number.isInteger(wit) && wit >= 0)) {
    throw new Error("metadata: properties.wit_version must be a u32");
  }
  return {
    name: optStr(v, "name"),
    description: optStr(v, "description"),
    image: optStr(v, "image"),
    external_url: optStr(v, "external_url"),
    animation_url: optStr(v, "animation_url"),
    properties: {
      package_name: str("package_name"),
      publisher: str("publisher"),
      current_version: str("current_version"),
      mirrors: strs("mirrors", true) ?? [],
      code_hashes: hashes,
      license: optStr(p, "license"),
      screenshots: strs("screenshots", true),
      wit_version: wit as number | null,
      dependencies: strs("dependencies", true),
    },
  };
}

class Chain {
  readonly chainId: number;
  readonly firstBlock: number;
  readonly pollMs: number;
  s: Saved;
  range = RANGE_START;

  constructor(cfg: { chainId: number; firstBlock: number; pollMs: number }) {
    this.chainId = cfg.chainId;
    this.firstBlock = cfg.firstBlock;
    this.pollMs = cfg.pollMs;
    this.s = this.load();
  }

  fresh(): Saved {
    return {
      version: STATE_VERSION,
      chain_id: this.chainId,
      last_block: this.firstBlock,
      listings: {},
      published: [],
      names: {},
    };
  }

  load(): Saved {
    try {
      const b = getState();
      if (b) {
        const v = JSON.parse(dec.decode(b));
        if (v?.version === STATE_VERSION && v.chain_id === this.chainId && isObj(v.listings)) {
          return v as Saved;
        }
      }
    } catch (e) {
      log(0, `ignoring unreadable saved state: ${errorText(e)}`);
    }
    return this.fresh();
  }

  save(): void {
    setState(enc.encode(JSON.stringify(this.s)));
  }

  eth(method: string, params: unknown): unknown {
    let v: unknown;
    try {
      v = call(ETH, { Request: { chain_id: this.chainId, method, params } }, ETH_TIMEOUT_S).answer;
    } catch (e) {
      throw new EthError(false, `${method}: ${errorText(e)}`);
    }
    if (isObj(v) && "Response" in v) return v.Response;
    if (isObj(v) && "Err" in v) {
      const rpc = isObj(v.Err) && "RpcError" in v.Err;
      throw new EthError(rpc, `${method}: ${JSON.stringify(v.Err)}`);
    }
    throw new EthError(false, `${method}: unexpected answer ${JSON.stringify(v)}`);
  }

  /** Hypermap's get(namehash(name)): the entry's TBA and its data (null when empty). */
  get(name: string, block?: number): { tba: string; data: Uint8Array | null } {
    const input = GET_SELECTOR + namehash(name).slice(2);
    const at = block === undefined ? "latest" : `0x${block.toString(16)}`;
    const out = this.eth("eth_call", [{ to: HYPERMAP, input }, at]);
    if (typeof out !== "string") throw new EthError(false, "eth_call: no bytes");
    const bytes = fromHex(out);
    if (bytes.length < 96) throw new EthError(false, "eth_call: short answer");
    const tba = `0x${toHex(bytes.slice(12, 32))}`;
    const data = abiBytes(bytes, 2);
    return { tba, data: data.length === 0 ? null : data };
  }

  /** The name of an entry by its namehash: hns-indexer, else its Mint log, recursively. */
  nameOf(hash: string, depth = 0): string | undefined {
    const h = hash.toLowerCase();
    if (this.s.names[h]) return this.s.names[h];
    try {
      const { answer } = call(HNS, { NamehashToName: { hash: h, block: 0 } }, 5);
      if (isObj(answer) && typeof answer.Name === "string") {
        this.s.names[h] = answer.Name;
        return answer.Name;
      }
    } catch { /* no hns-indexer: read the chain */ }
    if (depth > 8) return undefined;
    const logs = this.eth("eth_getLogs", [{
      address: HYPERMAP,
      fromBlock: "0x0",
      toBlock: "latest",
      topics: [MINT_TOPIC, null, h],
    }]);
    if (!Array.isArray(logs) || logs.length === 0) return undefined;
    const mint = logs[0] as EthLog;
    const label = dec.decode(abiBytes(fromHex(mint.data), 0));
    const parent = mint.topics[1].toLowerCase();
    const name = parent === ZERO32 ? label : (() => {
      const p = this.nameOf(parent, depth + 1);
      return p === undefined ? undefined : `${label}.${p}`;
    })();
    if (name !== undefined) this.s.names[h] = name;
    return name;
  }

  /** Fetches a listing's metadata and checks it hashes to `hash`; throws why not. */
  fetchMetadata(uri: string, hash: string): Metadata {
    if (!/^https?:\/\//.test(uri)) {
      throw new Error(`metadata URI ${JSON.stringify(uri)} is not http(s)`);
    }
    const { answer, blob } = call(
      HTTP_CLIENT,
      { Http: { method: "GET", version: null, url: uri, headers: {} } },
      30,
    );
    if (!isObj(answer) || !isObj(answer.Ok) || !isObj(answer.Ok.Http)) {
      throw new Error(`fetching ${uri}: ${JSON.stringify(answer)}`);
    }
    if (answer.Ok.Http.status !== 200 || !blob) {
      throw new Error(`fetching ${uri}: status ${answer.Ok.Http.status}`);
    }
    const actual = hashHex(blob.bytes);
    if (actual !== hash.toLowerCase()) {
      throw new Error(`metadata hash mismatch for ${uri}: ${actual} != ${hash}`);
    }
    return readMetadata(JSON.parse(dec.decode(blob.bytes)));
  }

  /** One ~metadata-uri note (Hyperdrive's handle_eth_log). */
  onNote(l: EthLog): void {
    const block = l.blockNumber ? parseInt(l.blockNumber, 16) : NaN;
    if (!Number.isFinite(block)) throw new Error("log missing block number");
    const data = fromHex(l.data);
    const label = dec.decode(abiBytes(data, 0));
    if (label !== "~metadata-uri") return;
    const uri = dec.decode(abiBytes(data, 1));
    const parent = this.nameOf(l.topics[1]);
    if (!parent) throw new Error(`no name for entry ${l.topics[1]}`);
    const dot = parent.indexOf(".");
    const pkg = dot > 0 ? parent.slice(0, dot) : "";
    const publisher = dot > 0 ? parent.slice(dot + 1) : "";
    if (!pkg || !publisher) throw new Error(`invalid publisher name: ${parent}`);
    const id = `${pkg}:${publisher}`;
    // read as of the note's block: "latest" may be an answer eth cached a moment before the
    // publisher's update (a new hash and uri in one transaction), and a later block may
    // already hold the next update
    const hashNote = this.get(`~metadata-hash.${parent}`, block);
    if (hashNote.data === null) {
      if (uri === "") {
        delete this.s.listings[id];
        this.s.published = this.s.published.filter((p) => p !== id);
        log(1, `${id} unlisted`);
        return;
      }
      throw new Error(`metadata hash not found: ${id}, ${uri}`);
    }
    const metadataHash = dec.decode(hashNote.data);
    if (publisher === me.node && !this.s.published.includes(id)) this.s.published.push(id);
    let metadata: Metadata | null = null;
    try {
      metadata = this.fetchMetadata(uri, metadataHash);
    } catch (e) {
      log(0, `error fetching metadata for ${id}: ${errorText(e)}`);
    }
    const old = this.s.listings[id];
    const listing: Listing = {
      tba: hashNote.tba,
      metadata_uri: uri,
      metadata_hash: metadataHash,
      metadata: metadata ?? old?.metadata ?? null,
      auto_update: old?.auto_update ?? false,
      block,
    };
    this.s.listings[id] = listing;
    log(1, `listed ${id} (${metadata ? metadata.properties.current_version : "no metadata"})`);
    if (listing.auto_update && metadata) {
      log(0, `kicking off auto-update for ${id}`);
      tell(DOWNLOADS, { AutoUpdate: { package_id: pkgJson(id), metadata } });
    }
  }

  /** Indexes new blocks: ~metadata-uri notes from the last indexed block to the head. */
  sync(): void {
    let head: number;
    try {
      const h = this.eth("eth_blockNumber", []);
      head = typeof h === "string" ? parseInt(h, 16) : NaN;
      if (!Number.isFinite(head)) throw new Error("no block number");
    } catch (e) {
      log(1, `no chain ${this.chainId} yet: ${errorText(e)}`);
      return;
    }
    const started = Date.now();
    while (this.s.last_block <= head && Date.now() - started < 5_000) {
      const from = this.s.last_block;
      const to = Math.min(head, from + this.range - 1);
      let logs: EthLog[];
      try {
        const v = this.eth("eth_getLogs", [{
          address: HYPERMAP,
          fromBlock: `0x${from.toString(16)}`,
          toBlock: `0x${to.toString(16)}`,
          topics: [NOTE_TOPIC, null, null, METADATA_URI_TOPIC],
        }]);
        if (!Array.isArray(v)) throw new Error("eth_getLogs: not a list");
        logs = v as EthLog[];
      } catch (e) {
        if (this.range > RANGE_MIN) {
          this.range = Math.max(RANGE_MIN, Math.floor(this.range / 2));
          continue;
        }
        log(1, `eth_getLogs ${from}-${to}: ${errorText(e)}`);
        return;
      }
      for (const l of logs) {
        if (l.removed) continue;
        try {
          this.onNote(l);
        } catch (e) {
          log(1, `error ingesting log: ${errorText(e)}`);
        }
      }
      this.s.last_block = to + 1;
      if (logs.length < 100 && this.range < RANGE_START) this.range *= 2;
      this.save();
    }
  }

  app(id: string) {
    const l = this.s.listings[id];
    if (!l) return null;
    return {
      package_id: pkgJson(id),
      tba: l.tba,
      metadata_uri: l.metadata_uri,
      metadata_hash: l.metadata_hash,
      metadata: l.metadata,
      auto_update: l.auto_update,
      // hyperdeno does not index TokenRegistry bindings
      binding_power: "0",
    };
  }
}

function pkgJson(id: string) {
  const i = id.indexOf(":");
  return { package_name: id.slice(0, i), publisher_node: id.slice(i + 1) };
}

function readPackageId(v: unknown): string | undefined {
  if (!isObj(v) || typeof v.package_name !== "string" || typeof v.publisher_node !== "string") {
    return undefined;
  }
  return `${v.package_name}:${v.publisher_node}`;
}

function config(): { chainId: number; firstBlock: number; pollMs: number } {
  // Read, not ReadToString: that reads from the vfs's shared cursor of an open file, so it
  // would leave hns-indexer's own read of its initfile at the end (as in Hyperdrive's vfs)
  const read = (path: string) => {
    try {
      const { answer, blob } = call(VFS, { path, action: "Read" }, 5);
      if (answer === "Read" && blob) return JSON.parse(dec.decode(blob.bytes));
    } catch { /* none */ }
    return undefined;
  };
  const hns = read("/hns-indexer:sys/initfiles/chain.json");
  const base = hns?.simulation === true ? SIMULATION : MAINNET;
  const own = read("/app-store:sys/initfiles/chain.json") ?? {};
  const n = (
    v: unknown,
    d: number,
  ) => (Number.isInteger(v) && (v as number) >= 0 ? v as number : d);
  return {
    chainId: n(own.chain_id, base.chainId),
    firstBlock: n(own.first_block, base.firstBlock),
    pollMs: Math.max(200, n(own.poll_ms, base.pollMs)),
  };
}

// ---------------------------------------------------------------------------

function answer(req: WitRequest, value: unknown): void {
  if (req.expectsResponse === undefined) return;
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify(value)),
      metadata: undefined,
      capabilities: [],
    },
    undefined,
  );
}

function handleRequest(c: Chain, source: Address, req: WitRequest): void {
  if (source.node !== me.node) return;
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(req.body));
  } catch {
    return;
  }
  if (v === "GetApps") {
    return answer(req, { GetApps: Object.keys(c.s.listings).sort().map((id) => c.app(id)) });
  }
  if (v === "GetOurApps") {
    return answer(req, {
      GetOurApps: c.s.published.filter((id) => c.s.listings[id]).map((id) => c.app(id)),
    });
  }
  if (v === "Reset") {
    answer(req, "ResetOk");
    log(0, "re-indexing state!");
    c.s = c.fresh();
    c.save();
    return;
  }
  if (!isObj(v)) return answer(req, { Err: "NoPackage" });
  const [tag, val] = Object.entries(v)[0] ?? ["", null];
  const id = readPackageId(val);
  if (!id) return answer(req, { Err: "NoPackage" });
  switch (tag) {
    case "GetApp":
      return answer(req, { GetApp: c.app(id) });
    case "StartAutoUpdate":
    case "StopAutoUpdate": {
      const l = c.s.listings[id];
      if (!l) return answer(req, { Err: "NoPackage" });
      l.auto_update = tag === "StartAutoUpdate";
      c.save();
      return answer(req, tag === "StartAutoUpdate" ? "AutoUpdateStarted" : "AutoUpdateStopped");
    }
  }
  answer(req, { Err: "NoPackage" });
}

let polling = false;
function schedule(c: Chain): void {
  if (polling) return;
  polling = true;
  sendRequest(
    TIMER,
    request({ SetTimer: c.pollMs }, Math.ceil(c.pollMs / 1000) + 5),
    enc.encode("poll"),
    undefined,
  );
}

export function init(_our: string): void {
  const c = new Chain(config());
  log(1, `indexing app listings on chain ${c.chainId} from block ${c.s.last_block}`);
  c.sync();
  schedule(c);
  for (;;) {
    let source: Address;
    let message: WitMessage;
    try {
      [source, message] = receive() as [Address, WitMessage];
    } catch {
      // the timer's answer failed: poll again
      polling = false;
      schedule(c);
      continue;
    }
    try {
      if (message.tag === "response") {
        polling = false;
        c.sync();
        schedule(c);
      } else handleRequest(c, source, message.val);
    } catch (e) {
      log(0, `error handling a message: ${errorText(e)}`);
    }
  }
}
