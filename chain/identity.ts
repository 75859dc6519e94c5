// Booting as an existing Hypermap node, as Hyperdrive's login does (register.rs assign_routing):
// the node's `~net-key` on chain must be its keyfile's key, and its routing comes from chain: a
// direct node's `~ip` and `~ws-port`/`~tcp-port`, an indirect node's routers. Read with one
// Multicall3 `aggregate` of Hypermap `get`s through each RPC provider in turn (the eth module's
// providers for the node's chain, read without writing anything), as Hyperdrive does.

import { decodeFunctionResult, encodeFunctionData, type Hex, hexToBytes, toHex } from "viem";
import { ADDRESSES } from "./addresses.ts";
import { hypermapAbi, multicall3Abi, namehash } from "./abi.ts";
import { connectRpc, type RpcConnection } from "../modules/eth/rpc.ts";
import {
  CHAIN_ID,
  DEFAULT_FAKECHAIN_PORT,
  defaultProviders,
  PROVIDERS_FILE,
  SIMULATION_CHAIN_ID,
} from "../modules/eth/config.ts";
import { addProviderToConfigs } from "../modules/eth/providers.ts";
import {
  type Authorization,
  authorizationHeader,
  parseRpcUrlConfigInputs,
  parseSavedConfigs,
  type ProviderConfig,
} from "../wire/eth.ts";
import { parseJsonExact } from "../wire/json.ts";

/** Hyperdrive's fallback Base RPC URLs (register.rs DEFAULT_RPC_URLS), tried after the node's own. */
export const FALLBACK_RPC_URLS = [
  "wss://base.llamarpc.com",
  "wss://base-rpc.publicnode.com",
  "wss://base.drpc.org",
  "wss://base.gateway.tenderly.co",
] as const;

/** The file that marks a home as an existing Hypermap node's: checked on chain at every boot. */
export const ONCHAIN_FILE = ".onchain";

/**
 * Hyperdrive's words when the chain disagrees with the keyfile (main.rs login_with_password
 * panics with them, exit code 101).
 */
export const MISMATCH_PREFIX = "information used to boot does not match information onchain";
/** The exit code of Hyperdrive's refusal (a Rust panic). */
export const REFUSED_EXIT_CODE = 101;

/** The chain does not back this keyfile: the message is assign_routing's (the boot page shows it). */
export class ChainIdentityError extends Error {
  /**
   * @param unreachable no provider could be reached (Hyperdrive's connect_to_providers panic,
   *   whose text stands alone); otherwise the CLI puts MISMATCH_PREFIX before the message
   */
  constructor(message: string, readonly unreachable = false) {
    super(message);
    this.name = "ChainIdentityError";
  }

  /** What the CLI prints, as Hyperdrive's panic says it. */
  get cliMessage(): string {
    return this.unreachable ? this.message : `${MISMATCH_PREFIX}: ${this.message}`;
  }
}

/** One RPC provider to ask. */
export interface RpcProvider {
  url: string;
  auth?: Authorization;
}

/** Which chain an existing node is checked on: the eth module's boot settings. */
export interface IdentityChainOptions {
  /** --rpc */
  rpc?: string;
  /** --rpc-config */
  rpcConfig?: string;
  /** Hyperdrive's simulation build: the local chain (31337) at localhost:<fakechainPort>. */
  simulation?: boolean;
  /** --fakechain-port (default 8545) */
  fakechainPort?: number;
}

/**
 * The RPC URL providers of the node's chain, in the order eth:distro:sys would use them
 * (`<home>/.eth_providers` or the defaults, `--rpc` and `--rpc-config` first; in simulation
 * `ws://localhost:<fakechain port>` first), then, on Base, Hyperdrive's fallback URLs. Reads
 * only: the eth module saves `--rpc` once the node boots.
 */
export async function identityProviders(
  home: string,
  opts: IdentityChainOptions,
): Promise<{ chainId: bigint; providers: RpcProvider[] }> {
  let configs: ProviderConfig[];
  try {
    configs = parseSavedConfigs(
      parseJsonExact(await Deno.readTextFile(`${home}/${PROVIDERS_FILE}`)),
    );
  } catch {
    configs = defaultProviders();
  }
  const chainId = opts.simulation ? SIMULATION_CHAIN_ID : CHAIN_ID;
  const add = (url: string, auth?: Authorization) =>
    addProviderToConfigs(configs, {
      chain_id: chainId,
      trusted: true,
      provider: { RpcUrl: auth ? { url, auth } : { url } },
    });
  if (opts.rpc !== undefined) add(opts.rpc);
  if (opts.rpcConfig !== undefined) {
    try {
      const entries = parseRpcUrlConfigInputs(
        parseJsonExact(await Deno.readTextFile(opts.rpcConfig)),
      );
      for (const e of entries.reverse()) add(e.url, e.auth);
    } catch { /* the eth module reports it */ }
  }
  if (opts.simulation) add(`ws://localhost:${opts.fakechainPort ?? DEFAULT_FAKECHAIN_PORT}`);
  const providers: RpcProvider[] = [];
  for (const c of configs) {
    if (c.chain_id !== chainId || !("RpcUrl" in c.provider)) continue;
    const { url, auth } = c.provider.RpcUrl;
    if (!providers.some((p) => p.url === url)) providers.push(auth ? { url, auth } : { url });
  }
  if (!opts.simulation) {
    for (const url of FALLBACK_RPC_URLS) {
      if (!providers.some((p) => p.url === url)) providers.push({ url });
    }
  }
  return { chainId, providers };
}

/** Where the chain says the node is: direct at an address, or behind routers. */
export type ChainRouting =
  | { ip: string; ports: { ws?: number; tcp?: number } }
  | { routers: string[] };

/** A port set with a flag (`--ws-port`/`--tcp-port`), which must then be the chain's. */
export interface PortFlag {
  port: number;
  /** the flag was given (Hyperdrive's `ws_flag_used`) */
  flag: boolean;
}

export interface AssignRoutingOptions {
  /** The node's name (the keyfile's username). */
  name: string;
  /** The keyfile's Ed25519 public key (32 bytes). */
  publicKey: Uint8Array;
  /** The keyfile's routers (empty: the keyfile was made for a direct node). */
  keyfileRouters: string[];
  providers: RpcProvider[];
  ws?: PortFlag;
  tcp?: PortFlag;
  /** Per provider: connecting and the call (default 15 s). */
  timeoutMs?: number;
  /** Progress and warnings, as Hyperdrive prints them. */
  print?: (text: string) => void;
}

const NOTES = ["~net-key", "~ws-port", "~tcp-port", "~ip", "~routers"] as const;

type Entry = readonly [tba: Hex, owner: Hex, data: Hex];

function isEmptyEntry([tba, owner, data]: Entry): boolean {
  return /^0x0{40}$/i.test(tba) && /^0x0{40}$/i.test(owner) && data === "0x";
}

function port(data: Hex): number | undefined {
  const b = hexToBytes(data);
  return b.length === 2 ? (b[0] << 8) | b[1] : undefined;
}

/** keygen::bytes_to_ip: 4 bytes IPv4, 16 bytes IPv6 (as Rust's Ipv6Addr prints it). */
function ip(data: Hex): string | undefined {
  const b = hexToBytes(data);
  if (b.length === 4) return b.join(".");
  if (b.length !== 16) return undefined;
  const groups = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  // the longest run of two or more zero groups becomes "::" (RFC 5952, as Rust prints)
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** The five `get`s in one Multicall3 aggregate: what eth_call sends. */
export function routingCallData(name: string): Hex {
  return encodeFunctionData({
    abi: multicall3Abi,
    functionName: "aggregate",
    args: [NOTES.map((n) => ({
      target: ADDRESSES.hypermap,
      callData: encodeFunctionData({
        abi: hypermapAbi,
        functionName: "get",
        args: [namehash(`${n}.${name}`)],
      }),
    }))],
  });
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function ethCall(provider: RpcProvider, data: Hex, timeoutMs: number): Promise<Hex> {
  let conn: RpcConnection | undefined;
  try {
    conn = await connectRpc(
      provider.url,
      provider.auth ? { Authorization: authorizationHeader(provider.auth) } : {},
      { connectTimeoutMs: timeoutMs, reconnectAttempts: 0, reconnectDelayMs: 0, print: () => {} },
    );
    const reply = await conn.request(
      "eth_call",
      [{ to: ADDRESSES.multicall3, data }, "latest"],
      timeoutMs,
    );
    if ("error" in reply) {
      throw new Error(`server returned an error: ${JSON.stringify(reply.error)}`);
    }
    if (typeof reply.result !== "string" || !/^0x[0-9a-fA-F]*$/.test(reply.result)) {
      throw new Error("server returned no hex data");
    }
    return reply.result as Hex;
  } finally {
    conn?.close();
  }
}

/**
 * assign_routing: asks each provider in turn for the node's notes. A provider that fails, or
 * has no `~net-key` for the name (Hyperdrive counts that as stale data), passes to the next; a
 * key that differs from ours ends it at once. Then the routing: `~ip` with `~ws-port` and/or
 * `~tcp-port` make the node direct there (a port flag must then match the chain's); else
 * `~routers` (the keyfile's routers whose namehashes the chain lists) or, with none on chain,
 * the keyfile's routers. Throws ChainIdentityError with the reason.
 */
export async function assignRouting(opts: AssignRoutingOptions): Promise<ChainRouting> {
  const print = opts.print ?? (() => {});
  const ours = toHex(opts.publicKey);
  const data = routingCallData(opts.name);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let lastError: string | undefined;
  let reached = false;
  for (const [i, provider] of opts.providers.entries()) {
    let raw: Hex;
    try {
      raw = await ethCall(provider, data, timeoutMs);
      reached = true;
    } catch (e) {
      print(`Provider ${i} failed to fetch node IP data, trying next provider...`);
      lastError = `Failed to fetch node IP data from hypermap: ${describe(e)}`;
      continue;
    }
    let entries: Entry[];
    try {
      const [, results] = decodeFunctionResult({
        abi: multicall3Abi,
        functionName: "aggregate",
        data: raw,
      });
      entries = results.map((r) =>
        decodeFunctionResult({ abi: hypermapAbi, functionName: "get", data: r }) as Entry
      );
      if (entries.length !== NOTES.length) throw new Error("wrong count");
    } catch {
      print(`Provider ${i} returned invalid multicall data, trying next provider...`);
      lastError = "Failed to decode hypermap multicall data";
      continue;
    }
    const [netKey, wsNote, tcpNote, ipNote, routersNote] = entries;
    if (isEmptyEntry(netKey)) {
      print(`Provider ${i} returned empty netkey entry, trying next provider...`);
      lastError = "Provider returned empty hypermap entry (stale data)";
      continue;
    }
    if (netKey[2].toLowerCase() !== ours) {
      throw new ChainIdentityError(
        `Networking key from PKI (${netKey[2].toLowerCase()}) does not match our saved ` +
          `networking key (${ours})`,
      );
    }
    return routingFrom(opts, {
      ip: ip(ipNote[2]),
      ws: port(wsNote[2]),
      tcp: port(tcpNote[2]),
      routers: routersNote[2],
    }, print);
  }
  if (!reached && opts.providers.length > 0 && lastError?.startsWith("Failed to fetch")) {
    // Hyperdrive's connect_to_providers gives up with this before asking anything
    throw new ChainIdentityError(
      "Error: runtime could not connect to any configured or fallback Base ETH RPC providers\n" +
        "This is necessary in order to verify node identity onchain.\n" +
        "Please make sure you are using a valid WebSockets URL if using the --rpc or " +
        `--rpc-config flag, and you are connected to the internet. (${lastError})`,
      true,
    );
  }
  throw new ChainIdentityError(lastError ?? "No providers available");
}

function routingFrom(
  opts: AssignRoutingOptions,
  chain: { ip?: string; ws?: number; tcp?: number; routers: Hex },
  print: (text: string) => void,
): ChainRouting {
  if (chain.ip !== undefined && (chain.ws !== undefined || chain.tcp !== undefined)) {
    const ports: { ws?: number; tcp?: number } = {};
    for (const [kind, onChain] of [["ws", chain.ws], ["tcp", chain.tcp]] as const) {
      if (onChain === undefined) continue;
      const f = opts[kind];
      if (f?.flag && f.port !== onChain) {
        throw new ChainIdentityError(
          `Binary used --${kind}-port flag to set port to ${f.port}, but node is using port ` +
            `${onChain} onchain.`,
        );
      }
      ports[kind] = onChain;
    }
    if (opts.keyfileRouters.length > 0) {
      print(
        `${opts.name}: the keyfile lists routers, but the chain publishes ~ip and ports: ` +
          "booting as a direct node, where other nodes look for it",
      );
    }
    return { ip: chain.ip, ports };
  }
  const bytes = hexToBytes(chain.routers);
  const onChain = bytes.length > 0 && bytes.length % 32 === 0
    ? Array.from(
      { length: bytes.length / 32 },
      (_, k) => toHex(bytes.subarray(32 * k, 32 * k + 32)),
    )
    : [];
  if (onChain.length > 0) {
    const byHash = new Map(opts.keyfileRouters.map((r) => [namehash(r), r]));
    const named = onChain.flatMap((h) => byHash.get(h) ?? []);
    if (named.length > 0) {
      if (named.length < onChain.length) {
        print(`${opts.name}: ~routers on chain lists routers this keyfile does not name`);
      }
      return { routers: named };
    }
    if (opts.keyfileRouters.length === 0) {
      throw new ChainIdentityError(
        `${opts.name} is an indirect node on chain (~routers), but its keyfile names no routers`,
      );
    }
    print(`${opts.name}: ~routers on chain are not the keyfile's routers; using the keyfile's`);
  }
  if (opts.keyfileRouters.length > 0) return { routers: [...opts.keyfileRouters] };
  throw new ChainIdentityError(
    `${opts.name} has no ~ip with ~ws-port or ~tcp-port on chain, and no routers: ` +
      "net: fatal error: need at least one networking protocol",
  );
}
