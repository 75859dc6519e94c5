// hns-indexer:hns-indexer:sys: the node's view of the Hyperware name system (HNS) on chain.
//
// It indexes Hypermap's `Mint` and `Note` logs (the HNS notes ~net-key, ~ip, ~ws-port, ~tcp-port,
// ~routers), builds each name's HnsUpdate, and tells net:distro:sys (NetAction::HnsUpdate /
// HnsBatchUpdate as MessagePack, as rmp-serde writes them) once a node has a key and either an
// ip with a port or routers. Requests (API: ../api/hns-indexer:sys-v0.wit, serde JSON):
// NamehashToName, NodeInfo, GetState, Reset.
//
// How it keeps up:
// - history and catch-up: eth_getLogs for both filters over explicit block ranges from the last
//   fully indexed block, merged in chain order; the range halves when a provider refuses it and
//   grows again while results are sparse. A sync cycle runs at start, then every `sync_ms`, and
//   at once when something was probably missed; it is the source of truth.
// - live: two log subscriptions (sub ids 1 mints, 2 notes) apply new logs at once; a log a
//   cycle later fetches again is skipped, so nothing is applied twice, and a note a subscription
//   delivered before its mint is picked up by the next cycle, in order.
// - gaps: each synced head's block hash is kept; a hash that changed (reorg, or a local chain
//   restarted from scratch) rewinds to the newest kept block that still matches, else re-indexes
//   from the first block. Logs the provider marks `removed` rewind to before their block.
// - checkpoints: names, nodes, the last fully indexed block, kept hashes and unresolved ~routers
//   go to set-state (JSON) at most every `checkpoint_ms`; after a restart the logs past the
//   checkpoint are fetched again, so no update is lost.
//
// Chain settings: Base (8453), Hypermap from block 27,270,411, bootstrap names from
// initfiles/cache_sources or Hyperdrive's four; a node in simulation (a fake node: the
// runtime writes initfiles/chain.json) indexes chain 31337 from block 0 with fake.os.
//
// This file is a self-contained process module: only the standard API is imported.

import {
  clearState,
  getState,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
  setState,
} from "hyperware:process/standard@1.0.0";
import { keccak256 } from "./lib/keccak.ts";

export { keccak256 };

// ---------------------------------------------------------------------------
// the process API's shapes (hyperware:process/standard@1.0.0 as JS sees it)

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
interface Req {
  inherit: boolean;
  expectsResponse?: bigint;
  body: Uint8Array;
  metadata?: string;
  capabilities: Capability[];
}
interface Res {
  inherit: boolean;
  body: Uint8Array;
  metadata?: string;
  capabilities: Capability[];
}
type Message = { tag: "request"; val: Req } | { tag: "response"; val: [Res, Uint8Array?] };

// ---------------------------------------------------------------------------
// constants (process_lib's hypermap.rs, Hyperdrive's hns-indexer)

/** Hypermap's address on Base, and at the same address on the local chain. */
export const HYPERMAP_ADDRESS = "0x000000000044C6B8Cb4d8f0F889a3E47664EAeda";
export const MAINNET = {
  chainId: 8453,
  /** Hypermap's first block on Base, minus one */
  firstBlock: 27_270_411,
  bootstrap: ["us-cacher-1.hypr", "eu-cacher-1.hypr", "nick.hypr", "nick1udwig.os"],
};
export const SIMULATION = { chainId: 31337, firstBlock: 0, bootstrap: ["fake.os"] };
/** The notes the indexer follows (its notes filter's topic3). */
export const HNS_NOTES = ["~ws-port", "~tcp-port", "~net-key", "~routers", "~ip"];
const MINT_SUB = 1;
const NOTE_SUB = 2;
/** Subscribe retries: 5 s, doubling up to 60 s (process_lib's subscribe_loop). */
const RESUBSCRIBE_MAX_MS = 60_000;
/** Block hashes kept for reorg checks. */
const KEPT_HASHES = 64;
/** A chunk with fewer logs than this lets the next one cover twice the blocks. */
const SPARSE_LOGS = 2_000;
const STATE_VERSION = 1;

/** Tunables; the runtime may override them in initfiles/chain.json's "timing". */
export interface Timing {
  /** between sync cycles */
  sync_ms: number;
  /** how soon a cycle runs after a note arrived before its name (Hyperdrive's DELAY_MS) */
  pending_ms: number;
  /** the shortest time between two checkpoints (Hyperdrive's CHECKPOINT_MS) */
  checkpoint_ms: number;
  /** first subscribe retry delay */
  resubscribe_ms: number;
  /** eth_getLogs block range to start with, and the most it grows to */
  logs_range: number;
  max_logs_range: number;
  /** eth request timeout, seconds */
  eth_timeout_s: number;
  /** how long one cycle may work before it lets queued requests in (it then continues) */
  cycle_budget_ms: number;
}

export const DEFAULT_TIMING: Timing = {
  sync_ms: 30_000,
  pending_ms: 2_000,
  checkpoint_ms: 5 * 60 * 1000,
  resubscribe_ms: 5_000,
  logs_range: 10_000,
  max_logs_range: 100_000,
  eth_timeout_s: 30,
  cycle_budget_ms: 1_000,
};
/** A local chain is cheap to ask: cycles every 2 s. */
export const SIMULATION_TIMING: Partial<Timing> = { sync_ms: 2_000 };

export interface Config {
  simulation: boolean;
  chainId: number;
  firstBlock: number;
  contract: string;
  bootstrap: string[];
  timing: Timing;
}

/** The chain settings from initfiles/chain.json (null: none) and initfiles/cache_sources. */
export function makeConfig(file: unknown, cacheSources?: unknown): Config {
  const f = (file && typeof file === "object" ? file : {}) as Record<string, unknown>;
  const simulation = f.simulation === true;
  const base = simulation ? SIMULATION : MAINNET;
  const num = (v: unknown, d: number) =>
    typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : d;
  const strings = (v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string")
      ? v as string[]
      : undefined;
  const timing: Timing = { ...DEFAULT_TIMING, ...(simulation ? SIMULATION_TIMING : {}) };
  const t = (f.timing && typeof f.timing === "object" ? f.timing : {}) as Record<string, unknown>;
  for (const k of Object.keys(DEFAULT_TIMING) as (keyof Timing)[]) timing[k] = num(t[k], timing[k]);
  timing.logs_range = Math.max(1, timing.logs_range);
  timing.max_logs_range = Math.max(timing.logs_range, timing.max_logs_range);
  return {
    simulation,
    chainId: num(f.chain_id, base.chainId),
    firstBlock: num(f.first_block, base.firstBlock),
    contract: typeof f.contract === "string" ? f.contract : HYPERMAP_ADDRESS,
    bootstrap: strings(f.bootstrap) ?? strings(cacheSources) ?? base.bootstrap,
    timing,
  };
}

// ---------------------------------------------------------------------------
// bytes, hex, keccak-256, namehash

const enc = new TextEncoder();
const dec = new TextDecoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  NIBBLE["0123456789abcdef".charCodeAt(i)] = i;
  NIBBLE["0123456789ABCDEF".charCodeAt(i)] = i;
}

export function fromHex(hex: string): Uint8Array {
  const start = hex.startsWith("0x") || hex.startsWith("0X") ? 2 : 0;
  const n = hex.length - start;
  if (n % 2 !== 0) throw new Error(`not hex: ${hex.slice(0, 80)}`);
  const out = new Uint8Array(n / 2);
  for (let i = 0, j = start; i < out.length; i++, j += 2) {
    const hi = NIBBLE[hex.charCodeAt(j)] ?? -1;
    const lo = NIBBLE[hex.charCodeAt(j + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw new Error(`not hex: ${hex.slice(0, 80)}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Hypermap's namehash as "0x" + lowercase hex (process_lib's hypermap::namehash). */
export function namehash(name: string): string {
  let node: Uint8Array = new Uint8Array(32);
  for (const label of name.split(".").reverse()) {
    const joined = new Uint8Array(64);
    joined.set(node, 0);
    joined.set(keccak256(label), 32);
    node = keccak256(joined);
  }
  return `0x${toHex(node)}`;
}

const hashHex = (s: string) => `0x${toHex(keccak256(s))}`;
export const MINT_TOPIC = hashHex("Mint(bytes32,bytes32,bytes,bytes)");
export const NOTE_TOPIC = hashHex("Note(bytes32,bytes32,bytes,bytes,bytes)");
export const HNS_NOTE_TOPICS = HNS_NOTES.map(hashHex);
const GET_SELECTOR = hashHex("get(bytes32)").slice(0, 10);

/** process_lib's hypermap::valid_name: one label, a-z 0-9 '-'. */
export function validName(name: string): boolean {
  return /^[a-z0-9-]+$/.test(name);
}

/** process_lib's hypermap::valid_note: '~' and then a-z 0-9 '-'. */
export function validNote(note: string): boolean {
  return /^~[a-z0-9-]+$/.test(note);
}

// ---------------------------------------------------------------------------
// ABI: the `bytes` fields of Mint/Note log data, Hypermap.get's return

/**
 * Decodes `count` dynamic `bytes` values of an ABI-encoded tuple given as hex (the last `count`
 * of its `headWords` head words are their offsets), reading only the words it needs.
 */
export function abiBytes(data: string, count: number, headWords = count): Uint8Array[] {
  const base = data.startsWith("0x") ? 2 : 0;
  const words = (data.length - base) / 64;
  const word = (at: number) => {
    // at: a word index; a length or offset must fit in 48 bits
    if (at + 1 > words) throw new Error("ABI data too short");
    const w = data.slice(base + 64 * at, base + 64 * at + 64);
    if (!/^0{52}[0-9a-fA-F]{12}$/.test(w)) throw new Error("ABI word too large");
    return parseInt(w.slice(52), 16);
  };
  const out: Uint8Array[] = [];
  for (let i = headWords - count; i < headWords; i++) {
    const offset = word(i);
    if (offset % 32 !== 0) throw new Error("ABI offset not word-aligned");
    const len = word(offset / 32);
    const start = base + 2 * (offset + 32);
    if (start + 2 * len > data.length) throw new Error("ABI bytes out of range");
    out.push(fromHex(data.slice(start, start + 2 * len)));
  }
  return out;
}

/** Hyperdrive's bytes_to_ip: 4 bytes IPv4, 16 bytes IPv6 (as Rust's Display writes it). */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new Error("Invalid byte length for IP address");
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  // the longest run (first of equals) of two or more zero groups becomes "::"
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Hyperdrive's bytes_to_port: 2 bytes, big-endian. */
export function bytesToPort(b: Uint8Array): number {
  if (b.length !== 2) throw new Error("Invalid byte length for port");
  return (b[0] << 8) | b[1];
}

// ---------------------------------------------------------------------------
// MessagePack: NetAction::HnsUpdate / HnsBatchUpdate as rmp-serde writes them
// (enum: a one-entry map; struct: an array of its fields; BTreeMap: a map in key order)

export interface HnsUpdate {
  name: string;
  public_key: string;
  ips: string[];
  ports: Record<string, number>;
  routers: string[];
}

class Pack {
  #buf = new Uint8Array(256);
  #len = 0;
  #room(n: number) {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
  #byte(b: number) {
    this.#room(1);
    this.#buf[this.#len++] = b;
  }
  #be(v: number, bytes: number) {
    this.#room(bytes);
    for (let i = bytes - 1; i >= 0; i--) this.#buf[this.#len++] = Math.floor(v / 256 ** i) & 0xff;
  }
  #head(n: number, fix: number, fixMax: number, c16: number, c32: number) {
    if (n <= fixMax) this.#byte(fix | n);
    else if (n <= 0xffff) (this.#byte(c16), this.#be(n, 2));
    else (this.#byte(c32), this.#be(n, 4));
    return this;
  }
  map(n: number) {
    return this.#head(n, 0x80, 15, 0xde, 0xdf);
  }
  array(n: number) {
    return this.#head(n, 0x90, 15, 0xdc, 0xdd);
  }
  str(s: string) {
    const b = enc.encode(s);
    if (b.length < 32) this.#byte(0xa0 | b.length);
    else if (b.length <= 0xff) (this.#byte(0xd9), this.#be(b.length, 1));
    else if (b.length <= 0xffff) (this.#byte(0xda), this.#be(b.length, 2));
    else (this.#byte(0xdb), this.#be(b.length, 4));
    this.#room(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }
  uint(v: number) {
    if (v < 0x80) this.#byte(v);
    else if (v <= 0xff) (this.#byte(0xcc), this.#be(v, 1));
    else if (v <= 0xffff) (this.#byte(0xcd), this.#be(v, 2));
    else (this.#byte(0xce), this.#be(v, 4));
    return this;
  }
  update(u: HnsUpdate) {
    this.array(5).str(u.name).str(u.public_key).array(u.ips.length);
    for (const ip of u.ips) this.str(ip);
    const ports = Object.keys(u.ports).sort();
    this.map(ports.length);
    for (const p of ports) this.str(p).uint(u.ports[p]);
    this.array(u.routers.length);
    for (const r of u.routers) this.str(r);
    return this;
  }
  bytes() {
    return this.#buf.slice(0, this.#len);
  }
}

/** NetAction::HnsUpdate(u) (one) or HnsBatchUpdate(us), rmp-serde's bytes. */
export function encodeNetAction(updates: HnsUpdate[], batch = updates.length !== 1): Uint8Array {
  const p = new Pack().map(1);
  if (!batch) return p.str("HnsUpdate").update(updates[0]).bytes();
  p.str("HnsBatchUpdate").array(updates.length);
  for (const u of updates) p.update(u);
  return p.bytes();
}

// ---------------------------------------------------------------------------
// the index

/** An eth log as JSON-RPC gives it. */
export interface EthLog {
  address?: string;
  topics: string[];
  data: string;
  blockNumber?: string | null;
  blockHash?: string | null;
  transactionHash?: string | null;
  logIndex?: string | null;
  removed?: boolean;
}

/** A failed eth request: `rpc` the provider refused it, `unavailable` no answer or no provider. */
export class EthCallError extends Error {
  constructor(readonly kind: "rpc" | "unavailable", message: string) {
    super(message);
  }
}

/** What the index asks of the chain (blocking calls through eth:distro:sys). */
export interface ChainIo {
  blockNumber(): number;
  /** the hash of block `n`, or null if the chain has no such block */
  blockHash(n: number): string | null;
  getLogs(filter: Record<string, unknown>): EthLog[];
  /** eth_call to the contract; returns the result bytes */
  call(data: string, timeoutS: number): Uint8Array;
  now(): number;
}

export interface IndexOut {
  /** updates for net (complete nodes only, or a fetched node) */
  net(updates: HnsUpdate[], batch: boolean): void;
  print(level: number, text: string): void;
}

interface Position {
  block: number;
  index: number;
}

const blockOf = (log: EthLog) => (log.blockNumber ? parseInt(log.blockNumber, 16) : undefined);
const indexOf = (log: EthLog) => (log.logIndex ? parseInt(log.logIndex, 16) : 0);
const logKey = (log: EthLog) => `${log.blockHash ?? blockOf(log)}:${indexOf(log)}`;
const before = (a: Position, b: Position) =>
  a.block < b.block || (a.block === b.block && a.index < b.index);

/** What set-state holds (JSON). */
export interface Saved {
  version: number;
  chain_id: number;
  contract: string;
  names: [string, string][];
  nodes: HnsUpdate[];
  last_block: number;
  hashes: [number, string][];
  pending_routers: [string, string[]][];
}

export function isComplete(n: HnsUpdate): boolean {
  return n.public_key !== "" &&
    ((n.ips.length > 0 && Object.keys(n.ports).length > 0) || n.routers.length > 0);
}

export class Index {
  names = new Map<string, string>();
  nodes = new Map<string, HnsUpdate>();
  /** every log up to here is applied */
  lastBlock: number;
  /** synced heads and their hashes, oldest first */
  hashes: [number, string][] = [];
  /** ~routers notes naming routers not minted yet: node name -> router hashes */
  pendingRouters = new Map<string, string[]>();
  /** logs a subscription applied past lastBlock: key -> block */
  #seen = new Map<string, number>();
  /** where each note a subscription applied past lastBlock came from: "parent|note" -> position */
  #ahead = new Map<string, Position>();
  #dirty = new Set<string>();
  #range: number;
  changedSinceSave = false;

  constructor(readonly cfg: Config, readonly io: ChainIo, readonly out: IndexOut) {
    this.lastBlock = cfg.firstBlock;
    this.#range = cfg.timing.logs_range;
    this.#seedNames();
  }

  /** Hyperdrive's simulation build knows these top-level zones without their mints. */
  #seedNames() {
    if (!this.cfg.simulation) return;
    this.names.set(namehash("os"), "os");
    this.names.set(namehash("dev"), "dev");
  }

  reset() {
    this.names.clear();
    this.nodes.clear();
    this.pendingRouters.clear();
    this.hashes = [];
    this.#seen.clear();
    this.#ahead.clear();
    this.#dirty.clear();
    this.lastBlock = this.cfg.firstBlock;
    this.#range = this.cfg.timing.logs_range;
    this.#seedNames();
    this.changedSinceSave = true;
  }

  save(): Saved {
    return {
      version: STATE_VERSION,
      chain_id: this.cfg.chainId,
      contract: this.cfg.contract.toLowerCase(),
      names: [...this.names],
      nodes: [...this.nodes.values()],
      last_block: this.lastBlock,
      hashes: this.hashes,
      pending_routers: [...this.pendingRouters],
    };
  }

  /** Restores a checkpoint; false if it is for another chain or unreadable. */
  load(s: Saved): boolean {
    if (
      !s || s.version !== STATE_VERSION || s.chain_id !== this.cfg.chainId ||
      s.contract !== this.cfg.contract.toLowerCase() || !Array.isArray(s.names) ||
      !Array.isArray(s.nodes) || !Number.isSafeInteger(s.last_block)
    ) return false;
    this.names = new Map(s.names);
    this.nodes = new Map(s.nodes.map((n) => [n.name, n]));
    this.lastBlock = s.last_block;
    this.hashes = Array.isArray(s.hashes) ? s.hashes : [];
    this.pendingRouters = new Map(Array.isArray(s.pending_routers) ? s.pending_routers : []);
    this.#seedNames();
    return true;
  }

  // -- logs

  /** A log from a subscription: applied now unless a cycle has it already. */
  onSubscriptionLog(log: EthLog): "applied" | "old" | "deferred" | "removed" {
    const block = blockOf(log);
    if (block === undefined) return "old"; // a pending log: its mined copy comes later
    if (log.removed) {
      // a reorg took it out: index that part of the chain again
      this.#seen.delete(logKey(log));
      if (block <= this.lastBlock) this.#rewindTo(block - 1, "a log was removed by a reorg");
      return "removed";
    }
    if (block <= this.lastBlock || this.#seen.has(logKey(log))) return "old";
    if (!this.#apply(log, true)) return "deferred";
    this.#seen.set(logKey(log), block);
    return "applied";
  }

  /** Applies one log; false when it is a note whose name is not known yet. */
  #apply(log: EthLog, live: boolean): boolean {
    try {
      if (log.topics[0] === MINT_TOPIC) this.#mint(log);
      else if (log.topics[0] === NOTE_TOPIC) return this.#note(log, live);
    } catch (e) {
      this.out.print(2, `hns-indexer: skipping log: ${(e as Error).message}`);
    }
    return true;
  }

  #mint(log: EthLog) {
    const parent = log.topics[1]?.toLowerCase();
    const child = log.topics[2]?.toLowerCase();
    if (!parent || !child) throw new Error("Mint without its hashes");
    const [labelBytes] = abiBytes(log.data, 1);
    const label = strictUtf8.decode(labelBytes);
    if (!validName(label)) throw new Error(`invalid name: ${label}`);
    const parentName = this.names.get(parent);
    const name = parentName !== undefined ? `${label}.${parentName}` : label;
    this.names.set(child, name);
    this.nodes.set(name, { name, public_key: "", ips: [], ports: {}, routers: [] });
    this.changedSinceSave = true;
    // routers that were waiting for this name
    for (const [node, hashes] of this.pendingRouters) {
      if (hashes.includes(child)) this.#setRouters(node, hashes);
    }
  }

  #note(log: EthLog, live: boolean): boolean {
    const parent = log.topics[1]?.toLowerCase();
    if (!parent) throw new Error("Note without its parent hash");
    const [labelBytes, data] = abiBytes(log.data, 2);
    const note = strictUtf8.decode(labelBytes);
    if (!validNote(note)) throw new Error(`invalid note: ${note}`);
    const name = this.names.get(parent);
    if (name === undefined) {
      if (live) return false;
      throw new Error(`note ${note} under an unknown name (${parent})`);
    }
    const pos = { block: blockOf(log) ?? 0, index: indexOf(log) };
    const key = `${parent}|${note}`;
    const newer = this.#ahead.get(key);
    if (newer && before(pos, newer)) return true; // a later value is applied already
    if (live) this.#ahead.set(key, pos);
    this.#setNote(name, note, data);
    return true;
  }

  #setNote(name: string, note: string, data: Uint8Array) {
    const node = this.nodes.get(name);
    switch (note) {
      case "~ws-port":
      case "~tcp-port": {
        const port = bytesToPort(data);
        if (!node) return;
        node.ports[note === "~ws-port" ? "ws" : "tcp"] = port;
        node.routers = [];
        this.pendingRouters.delete(name);
        break;
      }
      case "~net-key":
        if (data.length !== 32) throw new Error("invalid net-key length");
        if (!node) return;
        node.public_key = toHex(data);
        break;
      case "~routers": {
        if (data.length % 32 !== 0) {
          this.out.print(1, `hns-indexer: invalid ~routers length ${data.length} for ${name}`);
        }
        const hashes = data.length % 32 !== 0 ? [] : Array.from(
          { length: data.length / 32 },
          (_, i) => `0x${toHex(data.subarray(32 * i, 32 * i + 32))}`,
        );
        if (!node) return;
        this.#setRouters(name, hashes);
        return;
      }
      case "~ip": {
        const ip = bytesToIp(data);
        if (!node) return;
        node.ips = [ip];
        node.routers = [];
        this.pendingRouters.delete(name);
        break;
      }
      default:
        return;
    }
    this.changedSinceSave = true;
    this.#dirty.add(name);
  }

  /** ~routers: applied once every router's name is known (until then it waits). */
  #setRouters(name: string, hashes: string[]) {
    const node = this.nodes.get(name);
    if (!node) return;
    const routers = hashes.map((h) => this.names.get(h));
    if (routers.some((r) => r === undefined)) {
      this.pendingRouters.set(name, hashes);
      this.out.print(2, `hns-indexer: ${name}'s routers are not all known yet`);
      this.changedSinceSave = true;
      return;
    }
    this.pendingRouters.delete(name);
    node.routers = routers as string[];
    node.ports = {};
    node.ips = [];
    this.changedSinceSave = true;
    this.#dirty.add(name);
  }

  /** Sends net every changed node that has what networking needs. */
  flush(batch = false) {
    if (this.#dirty.size === 0) return;
    const ready: HnsUpdate[] = [];
    for (const name of this.#dirty) {
      const n = this.nodes.get(name);
      if (n && isComplete(n)) {
        ready.push({ ...n, ips: [...n.ips], ports: { ...n.ports }, routers: [...n.routers] });
      }
    }
    this.#dirty.clear();
    if (ready.length > 0) this.out.net(ready, batch || ready.length > 1);
  }

  // -- sync

  /**
   * Indexes up to the chain's head, or until `deadline` (then false: call again).
   * Throws EthCallError when the chain cannot be reached.
   */
  sync(deadline: number): boolean {
    this.#checkReorg();
    const head = this.io.blockNumber();
    if (head < this.lastBlock) this.#rewindTo(head, `the chain is now at block ${head}`);
    if (head < this.lastBlock) this.#checkReorg();
    const t = this.cfg.timing;
    while (this.lastBlock < head) {
      if (this.io.now() > deadline) return false;
      const from = this.lastBlock + 1;
      const to = Math.min(head, this.lastBlock + this.#range);
      let logs: EthLog[];
      try {
        logs = [...this.io.getLogs(mintsFilter(this.cfg, from, to))];
        logs.push(...this.io.getLogs(notesFilter(this.cfg, from, to)));
      } catch (e) {
        if (!(e instanceof EthCallError) || this.#range === 1) throw e;
        // most likely too many blocks or results for the provider
        this.#range = Math.max(1, Math.floor(this.#range / 2));
        this.out.print(
          2,
          `hns-indexer: eth_getLogs ${from}-${to} failed; range now ${this.#range}`,
        );
        continue;
      }
      const order = logs.map((log) => ({ log, block: blockOf(log) ?? 0, index: indexOf(log) }));
      order.sort((a, b) => a.block - b.block || a.index - b.index);
      for (const { log } of order) {
        if (log.removed || this.#seen.has(logKey(log))) continue;
        this.#apply(log, false);
      }
      this.lastBlock = to;
      this.changedSinceSave = true;
      for (const [k, b] of this.#seen) if (b <= to) this.#seen.delete(k);
      for (const [k, p] of this.#ahead) if (p.block <= to) this.#ahead.delete(k);
      if (logs.length < SPARSE_LOGS) this.#range = Math.min(t.max_logs_range, this.#range * 2);
      this.flush(true);
    }
    const last = this.hashes.at(-1);
    if (!last || last[0] !== this.lastBlock) {
      const hash = this.io.blockHash(this.lastBlock);
      if (hash) {
        this.hashes.push([this.lastBlock, hash]);
        if (this.hashes.length > KEPT_HASHES) this.hashes.shift();
      }
    }
    return true;
  }

  /** The newest kept hash must still be the chain's; else go back to one that is. */
  #checkReorg() {
    const last = this.hashes.at(-1);
    if (!last || this.io.blockHash(last[0]) === last[1]) return;
    this.hashes.pop();
    while (this.hashes.length > 0) {
      const [n, h] = this.hashes.at(-1)!;
      if (this.io.blockHash(n) === h) {
        this.#rewindTo(n, `block ${last[0]} changed (reorg)`);
        return;
      }
      this.hashes.pop();
    }
    this.out.print(
      0,
      `hns-indexer: the chain changed below every block we kept (block ${
        last[0]
      } is gone or different): indexing again from block ${this.cfg.firstBlock}`,
    );
    this.reset();
  }

  #rewindTo(block: number, why: string) {
    const to = Math.max(this.cfg.firstBlock, block);
    if (to >= this.lastBlock) return;
    this.out.print(1, `hns-indexer: ${why}: indexing again from block ${to + 1}`);
    this.lastBlock = to;
    while (this.hashes.length > 0 && this.hashes.at(-1)![0] > to) this.hashes.pop();
    this.changedSinceSave = true;
  }

  // -- lookups

  /** Hyperdrive's fetch_node: the name's notes read with Hypermap.get. */
  fetchNode(name: string, timeoutS: number): HnsUpdate | null {
    const get = (path: string) => {
      const ret = this.io.call(`${GET_SELECTOR}${namehash(path).slice(2)}`, timeoutS);
      const [data] = abiBytes(toHex(ret), 1, 3);
      return data.length > 0 ? data : undefined;
    };
    try {
      get(name);
    } catch {
      return null;
    }
    const maybe = <T>(f: () => T): T | undefined => {
      try {
        return f();
      } catch {
        return undefined;
      }
    };
    const key = maybe(() => get(`~net-key.${name}`));
    if (!key) return null;
    const ip = maybe(() => {
      const b = get(`~ip.${name}`);
      return b && bytesToIp(b);
    });
    const tcp = maybe(() => {
      const b = get(`~tcp-port.${name}`);
      return b && bytesToPort(b);
    });
    const ws = maybe(() => {
      const b = get(`~ws-port.${name}`);
      return b && bytesToPort(b);
    });
    const routers = maybe(() => {
      const b = get(`~routers.${name}`);
      if (!b || b.length % 32 !== 0) return [];
      const names = Array.from(
        { length: b.length / 32 },
        (_, i) => this.names.get(`0x${toHex(b.subarray(32 * i, 32 * i + 32))}`),
      );
      return names.some((n) => n === undefined) ? [] : names as string[];
    }) ?? [];
    const ports: Record<string, number> = {};
    if (tcp !== undefined) ports.tcp = tcp;
    if (ws !== undefined) ports.ws = ws;
    return { name, public_key: toHex(key), ips: ip ? [ip] : [], ports, routers };
  }
}

function baseFilter(cfg: Config, from: number, to: number) {
  return {
    address: cfg.contract.toLowerCase(),
    fromBlock: `0x${from.toString(16)}`,
    toBlock: `0x${to.toString(16)}`,
  };
}

/** Every Mint (sub id 1). */
export function mintsFilter(cfg: Config, from?: number, to?: number): Record<string, unknown> {
  const f: Record<string, unknown> = from === undefined
    ? { address: cfg.contract.toLowerCase() }
    : baseFilter(cfg, from, to!);
  f.topics = [MINT_TOPIC];
  return f;
}

/** Every Note with one of the HNS labels (sub id 2). */
export function notesFilter(cfg: Config, from?: number, to?: number): Record<string, unknown> {
  const f: Record<string, unknown> = from === undefined
    ? { address: cfg.contract.toLowerCase() }
    : baseFilter(cfg, from, to!);
  f.topics = [NOTE_TOPIC, null, null, HNS_NOTE_TOPICS];
  return f;
}

// ---------------------------------------------------------------------------
// the process

const ETH: Address = {
  node: "our",
  process: { processName: "eth", packageName: "distro", publisherNode: "sys" },
};
const NET = { ...ETH, process: { ...ETH.process, processName: "net" } };
const TIMER = { ...ETH, process: { ...ETH.process, processName: "timer" } };
const VFS = { ...ETH, process: { ...ETH.process, processName: "vfs" } };

const request = (body: Uint8Array, timeoutS?: number, caps: Capability[] = []): Req => ({
  inherit: false,
  expectsResponse: timeoutS === undefined ? undefined : BigInt(Math.max(1, Math.ceil(timeoutS))),
  body,
  metadata: undefined,
  capabilities: caps,
});

const json = (v: unknown) => enc.encode(JSON.stringify(v));

function errText(e: unknown): string {
  if (e instanceof Error) return e.message;
  const p = (e as { payload?: { kind?: string } })?.payload;
  return p?.kind ? `send error: ${p.kind}` : String(e);
}

/** One blocking call to another process; its parsed JSON answer. */
function ask(target: Address, body: unknown, timeoutS: number): unknown {
  let message: Message;
  try {
    [, message] = sendAndAwaitResponse(target, request(json(body), timeoutS), undefined) as [
      Address,
      Message,
    ];
  } catch (e) {
    throw new EthCallError("unavailable", errText(e));
  }
  if (message.tag !== "response") throw new EthCallError("unavailable", "not a response");
  return JSON.parse(dec.decode(message.val[0].body));
}

class EthIo implements ChainIo {
  constructor(readonly cfg: Config) {}
  #request(method: string, params: unknown, timeoutS = this.cfg.timing.eth_timeout_s): unknown {
    const v = ask(ETH, { Request: { chain_id: this.cfg.chainId, method, params } }, timeoutS) as
      | Record<string, unknown>
      | string;
    if (v && typeof v === "object" && "Response" in v) return v.Response;
    if (v && typeof v === "object" && "Err" in v) {
      const err = v.Err as unknown;
      const rpc = typeof err === "object" && err !== null && "RpcError" in err;
      throw new EthCallError(rpc ? "rpc" : "unavailable", `${method}: ${JSON.stringify(err)}`);
    }
    throw new EthCallError("unavailable", `${method}: unexpected answer ${JSON.stringify(v)}`);
  }
  blockNumber(): number {
    const v = this.#request("eth_blockNumber", []);
    if (typeof v !== "string") throw new EthCallError("unavailable", "eth_blockNumber: no number");
    return parseInt(v, 16);
  }
  blockHash(n: number): string | null {
    const v = this.#request("eth_getBlockByNumber", [`0x${n.toString(16)}`, false]) as
      | { hash?: string }
      | null;
    return v && typeof v.hash === "string" ? v.hash.toLowerCase() : null;
  }
  getLogs(filter: Record<string, unknown>): EthLog[] {
    const v = this.#request("eth_getLogs", [filter]);
    if (!Array.isArray(v)) throw new EthCallError("unavailable", "eth_getLogs: not a list");
    return v as EthLog[];
  }
  call(data: string, timeoutS: number): Uint8Array {
    const v = this.#request(
      "eth_call",
      [{ to: this.cfg.contract.toLowerCase(), input: data }, "latest"],
      timeoutS,
    );
    if (typeof v !== "string") throw new EthCallError("unavailable", "eth_call: no bytes");
    return fromHex(v);
  }
  now(): number {
    return Date.now();
  }
}

function readInitFile(name: string): string | undefined {
  try {
    const v = ask(VFS, { path: `/hns-indexer:sys/initfiles/${name}`, action: "ReadToString" }, 5);
    if (v && typeof v === "object" && "ReadToString" in v) {
      return (v as { ReadToString: string }).ReadToString;
    }
  } catch { /* no such file */ }
  return undefined;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    printToTerminal(1, "hns-indexer: an initfile is not JSON; ignored");
    return undefined;
  }
}

interface WitHnsUpdate {
  name: string;
  public_key: string;
  ips: string[];
  ports: [string, number][];
  routers: string[];
}

const toWit = (u: HnsUpdate): WitHnsUpdate => ({
  name: u.name,
  public_key: u.public_key,
  ips: u.ips,
  ports: Object.keys(u.ports).sort().map((k) => [k, u.ports[k]]),
  routers: u.routers,
});

type IndexerRequest =
  | { tag: "NamehashToName"; hash: string; block: number }
  | { tag: "NodeInfo"; name: string; block: number }
  | { tag: "GetState"; block: number }
  | { tag: "Reset" };

/** IndexerRequest as serde reads it; undefined if the body is not one. */
export function parseIndexerRequest(body: Uint8Array): IndexerRequest | undefined {
  let v: unknown;
  try {
    v = JSON.parse(strictUtf8.decode(body));
  } catch {
    return undefined;
  }
  if (v === "Reset") return { tag: "Reset" };
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const entries = Object.entries(v);
  if (entries.length !== 1) return undefined;
  const [tag, val] = entries[0] as [string, Record<string, unknown>];
  if (!val || typeof val !== "object") return undefined;
  const block = val.block;
  if (typeof block !== "number" || !Number.isSafeInteger(block) || block < 0) return undefined;
  if (tag === "NamehashToName" && typeof val.hash === "string") {
    return { tag, hash: val.hash, block };
  }
  if (tag === "NodeInfo" && typeof val.name === "string") return { tag, name: val.name, block };
  if (tag === "GetState") return { tag, block };
  return undefined;
}

class Indexer {
  readonly index: Index;
  #cycleToken = 0;
  #nextCycleAt = Infinity;
  #lastSave = 0;
  #subscribed = new Map<number, boolean>();
  #resubDelay = new Map<number, number>();

  constructor(readonly our: Address, readonly cfg: Config) {
    this.index = new Index(cfg, new EthIo(cfg), {
      net: (updates, batch) => {
        sendRequest(NET, request(encodeNetAction(updates, batch)), undefined, undefined);
      },
      print: (level, text) => printToTerminal(level, text),
    });
  }

  start() {
    const raw = getState();
    if (raw) {
      let saved: Saved | undefined;
      try {
        saved = JSON.parse(dec.decode(raw));
      } catch { /* unreadable */ }
      if (!saved || !this.index.load(saved)) {
        printToTerminal(1, "hns-indexer: saved state unusable; indexing from the first block");
      }
    }
    // what we knew before goes to net at once
    const known = [...this.index.nodes.values()].filter(isComplete);
    if (known.length > 0) this.index.out.net(known, true);
    this.#subscribe(MINT_SUB);
    this.#subscribe(NOTE_SUB);
    for (const name of this.cfg.bootstrap) {
      if (this.index.nodes.has(name)) continue;
      const found = this.#lookup(name, 5);
      if (found?.routers.length) {
        printToTerminal(
          1,
          `bootstrap node ${name} is indirect; recommend using direct bootstrap nodes`,
        );
      }
    }
    printToTerminal(2, `hns-indexer: syncing from block ${this.index.lastBlock}`);
    this.#cycle();
  }

  // -- subscriptions (answers come to the main loop, by context)

  #subscribe(id: number) {
    const filter = id === MINT_SUB ? mintsFilter(this.cfg) : notesFilter(this.cfg);
    const body = json({
      SubscribeLogs: { sub_id: id, chain_id: this.cfg.chainId, kind: "logs", params: filter },
    });
    this.#subscribed.set(id, false);
    sendRequest(ETH, request(body, 60), enc.encode(`sub:${id}`), undefined);
  }

  #subscribeLater(id: number) {
    const delay = this.#resubDelay.get(id) ?? this.cfg.timing.resubscribe_ms;
    this.#resubDelay.set(id, Math.min(delay * 2, RESUBSCRIBE_MAX_MS));
    this.#timer(delay, `resub:${id}`);
  }

  #onSubscribed(id: number, answer: unknown) {
    if (answer === "Ok") {
      this.#subscribed.set(id, true);
      this.#resubDelay.delete(id);
      printToTerminal(2, `hns-indexer: subscribed (sub_id ${id})`);
      // logs may have come while we were not subscribed
      this.#cycleSoon(0);
      return;
    }
    printToTerminal(2, `hns-indexer: subscribe ${id} failed: ${JSON.stringify(answer)}`);
    this.#subscribeLater(id);
  }

  #onEthPush(body: Uint8Array) {
    let v: { Ok?: { id: number; result: unknown }; Err?: { id: number; error: string } };
    try {
      v = JSON.parse(dec.decode(body));
    } catch {
      printToTerminal(1, "hns-indexer: unreadable message from eth:distro:sys");
      return;
    }
    if (v?.Ok) {
      const r = v.Ok.result as EthLog;
      if (!r || !Array.isArray(r.topics) || typeof r.data !== "string") return;
      const what = this.index.onSubscriptionLog(r);
      if (what === "deferred") this.#cycleSoon(this.cfg.timing.pending_ms);
      if (what === "removed") this.#cycleSoon(0);
      this.index.flush();
    } else if (v?.Err) {
      printToTerminal(1, `hns-indexer: subscription error (${v.Err.error}); resubscribing`);
      const id = Number(v.Err.id);
      if (id === MINT_SUB || id === NOTE_SUB) this.#subscribe(id);
      this.#cycleSoon(0);
    }
  }

  // -- sync cycles, driven by timers

  #timer(ms: number, context: string) {
    const body = json({ SetTimer: Math.max(0, Math.round(ms)) });
    sendRequest(TIMER, request(body, Math.floor(ms / 1000) + 1), enc.encode(context), undefined);
  }

  /** A cycle within `ms` (an earlier one already planned stands). */
  #cycleSoon(ms: number) {
    const at = Date.now() + ms;
    if (at >= this.#nextCycleAt) return;
    this.#nextCycleAt = at;
    this.#timer(ms, `cycle:${++this.#cycleToken}`);
  }

  #cycle() {
    this.#nextCycleAt = Infinity;
    const t = this.cfg.timing;
    let done = false;
    try {
      done = this.index.sync(Date.now() + t.cycle_budget_ms);
    } catch (e) {
      printToTerminal(2, `hns-indexer: sync failed (${errText(e)}); retrying`);
      this.#cycleSoon(Math.min(t.sync_ms, t.resubscribe_ms));
      return;
    }
    this.#checkpoint();
    this.#cycleSoon(done ? t.sync_ms : 0);
  }

  /** Saves the index: the first time it changed in this run, then at most every checkpoint_ms. */
  #checkpoint() {
    const now = Date.now();
    if (!this.index.changedSinceSave) return;
    if (this.#lastSave !== 0 && now - this.#lastSave < this.cfg.timing.checkpoint_ms) return;
    setState(json(this.index.save()));
    this.index.changedSinceSave = false;
    this.#lastSave = now;
  }

  /** Until we have indexed `block` (or `deadline` passes): sync and wait. */
  #syncUntil(block: number, deadline: number) {
    while (this.index.lastBlock < block && Date.now() < deadline) {
      try {
        this.index.sync(deadline);
      } catch (e) {
        printToTerminal(2, `hns-indexer: sync failed (${errText(e)})`);
      }
      if (this.index.lastBlock >= block || Date.now() + 250 >= deadline) break;
      try {
        ask(TIMER, { SetTimer: 200 }, 2);
      } catch { /* woken early */ }
    }
  }

  // -- requests

  #lookup(name: string, timeoutS: number): HnsUpdate | null {
    const known = this.index.nodes.get(name);
    if (known) return known;
    const found = this.index.fetchNode(name, Math.max(1, timeoutS - 1));
    if (!found) return null;
    this.index.nodes.set(name, found);
    this.index.names.set(namehash(name), name);
    this.index.changedSinceSave = true;
    this.index.out.net([found], false);
    return found;
  }

  #isRoot(source: Address, caps: Capability[]): boolean {
    if (
      source.process.packageName !== this.our.process.packageName ||
      source.process.publisherNode !== this.our.process.publisherNode
    ) return false;
    return caps.some((c) => {
      if (c.issuer.node !== this.our.node) return false;
      const p = c.issuer.process;
      const q = this.our.process;
      if (
        p.processName !== q.processName || p.packageName !== q.packageName ||
        p.publisherNode !== q.publisherNode
      ) return false;
      try {
        const v = JSON.parse(c.params);
        return v && typeof v === "object" && Object.keys(v).length === 1 && v.root === true;
      } catch {
        return false;
      }
    });
  }

  #onRequest(source: Address, req: Req) {
    const r = parseIndexerRequest(req.body);
    if (!r) {
      printToTerminal(1, `hns-indexer: not an IndexerRequest from ${source.node}; ignored`);
      return;
    }
    const expects = req.expectsResponse === undefined ? undefined : Number(req.expectsResponse);
    if (expects !== undefined && "block" in r && r.block > this.index.lastBlock) {
      this.#syncUntil(r.block, Date.now() + Math.max(500, (expects - 1) * 1000));
    }
    let answer: unknown;
    switch (r.tag) {
      case "NamehashToName":
        answer = { Name: this.index.names.get(r.hash.toLowerCase()) ?? null };
        break;
      case "NodeInfo": {
        const found = this.#lookup(r.name, expects ?? 5);
        answer = { NodeInfo: found ? toWit(found) : null };
        break;
      }
      case "GetState":
        answer = {
          GetState: {
            chain_id: this.cfg.chainId,
            contract_address: Array.from(fromHex(this.cfg.contract)),
            names: [...this.index.names],
            nodes: [...this.index.nodes].map(([k, v]) => [k, toWit(v)]),
            last_block: this.index.lastBlock,
          },
        };
        break;
      case "Reset":
        if (!this.#isRoot(source, req.capabilities)) {
          answer = { Reset: { Err: "NoRootCap" } };
          break;
        }
        printToTerminal(0, "hns-indexer: resetting state; indexing again from the first block");
        clearState();
        this.index.reset();
        this.#lastSave = 0;
        this.#cycleSoon(0);
        answer = { Reset: "Success" };
        break;
    }
    this.index.flush();
    if (expects !== undefined) {
      sendResponse(
        { inherit: false, body: json(answer), metadata: undefined, capabilities: [] },
        undefined,
      );
    }
  }

  // -- the loop

  run() {
    for (;;) {
      let source: Address;
      let message: Message;
      try {
        [source, message] = receive() as [Address, Message];
      } catch (e) {
        // a send error: [SendError, context]
        const ctx = (e as { payload?: [unknown, Uint8Array | undefined] }).payload?.[1];
        this.#onContext(ctx ? dec.decode(ctx) : "", { SendError: errText(e) });
        continue;
      }
      if (source.node !== this.our.node) {
        printToTerminal(1, `hns-indexer: rejecting a message from ${source.node}`);
        continue;
      }
      const from = source.process;
      const isEth = from.processName === "eth" && from.packageName === "distro" &&
        from.publisherNode === "sys";
      if (message.tag === "response") {
        const ctx = message.val[1] ? dec.decode(message.val[1]) : "";
        let body: unknown = null;
        try {
          body = message.val[0].body.length ? JSON.parse(dec.decode(message.val[0].body)) : null;
        } catch { /* not JSON */ }
        this.#onContext(ctx, body);
      } else if (isEth) {
        this.#onEthPush(message.val.body);
      } else {
        this.#onRequest(source, message.val);
      }
    }
  }

  #onContext(ctx: string, body: unknown) {
    const [kind, arg] = ctx.split(":");
    if (kind === "sub") return this.#onSubscribed(Number(arg), body);
    if (kind === "resub") return this.#subscribe(Number(arg));
    if (kind === "cycle") {
      if (Number(arg) === this.#cycleToken) this.#cycle();
      else if (this.#nextCycleAt !== Infinity && Date.now() >= this.#nextCycleAt) this.#cycle();
    }
  }
}

function addressFrom(s: string): Address {
  const [node, rest] = s.split("@");
  const [processName, packageName, publisherNode] = rest.split(":");
  return { node, process: { processName, packageName, publisherNode } };
}

export function init(our: string): void {
  const ourAddress = addressFrom(our);
  const cfg = makeConfig(
    parseJson(readInitFile("chain.json")),
    parseJson(readInitFile("cache_sources")),
  );
  printToTerminal(
    2,
    `hns-indexer: chain ${cfg.chainId}, Hypermap ${cfg.contract}, from block ${cfg.firstBlock}`,
  );
  const indexer = new Indexer(ourAddress, cfg);
  indexer.start();
  indexer.run();
}
