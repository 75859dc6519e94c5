// The provider table: per chain, RPC URL providers then node providers, each in priority
// order, with Hyperdrive's bookkeeping of what failed (offline providers, methods that
// answered an RPC error) and the SavedConfigs <-> table conversions.

import type { HnsUpdate } from "../../wire/net.ts";
import { type Authorization, type ProviderConfig, providerConfigToJson } from "../../wire/eth.ts";
import type { RpcConnection } from "./rpc.ts";

const U64_MAX = (1n << 64n) - 1n;

/** A block number as eth_getLogs params carry it; tags count as their extremes. */
function blockNumber(v: unknown): bigint | undefined {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v === "bigint") return v >= 0n && v <= U64_MAX ? v : undefined;
  if (typeof v !== "string") return undefined;
  try {
    if (v.startsWith("0x")) {
      const n = BigInt(v);
      return n <= U64_MAX ? n : undefined;
    }
    if (v === "latest" || v === "pending") return U64_MAX;
    if (v === "earliest") return 0n;
    if (!/^\d+$/.test(v)) return undefined;
    const n = BigInt(v);
    return n <= U64_MAX ? n : undefined;
  } catch {
    return undefined;
  }
}

/** toBlock - fromBlock (saturating) of eth_getLogs params `[{fromBlock, toBlock, ...}]`. */
export function logsBlockRange(params: unknown): bigint | undefined {
  if (!Array.isArray(params)) return undefined;
  const f = params[0];
  if (typeof f !== "object" || f === null || Array.isArray(f)) return undefined;
  const o = f as Record<string, unknown>;
  const from = blockNumber(o.fromBlock);
  const to = blockNumber(o.toBlock);
  if (from === undefined || to === undefined) return undefined;
  return to > from ? to - from : 0n;
}

/**
 * What a provider failed at: methods that answered an RPC error (skipped until a retry
 * succeeds), eth_sendRawTransaction (skipped for an hour), eth_getLogs block ranges at or
 * above the smallest one that failed.
 */
export class MethodFailures {
  readonly methods = new Set<string>();
  sendRawTxFailedAt: number | undefined;
  logsRange: bigint | undefined;

  shouldSkip(method: string, params: unknown, now: number, sendRawTxBlockMs: number): boolean {
    if (
      method === "eth_sendRawTransaction" && this.sendRawTxFailedAt !== undefined &&
      now - this.sendRawTxFailedAt < sendRawTxBlockMs
    ) return true;
    if (method === "eth_getLogs" && this.logsRange !== undefined) {
      const range = logsBlockRange(params);
      if (range !== undefined && range >= this.logsRange) return true;
    }
    return this.methods.has(method);
  }

  markFailed(method: string, params: unknown, now: number): void {
    if (method === "eth_sendRawTransaction") {
      this.sendRawTxFailedAt = now;
    } else if (method === "eth_getLogs") {
      const range = logsBlockRange(params);
      if (range !== undefined) {
        this.logsRange = this.logsRange === undefined || range < this.logsRange
          ? range
          : this.logsRange;
      }
    } else {
      this.methods.add(method);
    }
  }

  clear(method: string): void {
    if (method === "eth_sendRawTransaction") this.sendRawTxFailedAt = undefined;
    else if (method === "eth_getLogs") this.logsRange = undefined;
    else this.methods.delete(method);
  }
}

export interface UrlProvider {
  readonly url: string;
  readonly auth?: Authorization;
  readonly trusted: boolean;
  /** The live connection (Hyperdrive's `pubsub`), made on first use. */
  conn?: RpcConnection;
  connecting?: Promise<RpcConnection>;
  /** false after a transport failure, until a health check gets an answer */
  online: boolean;
  /** a health check is running for it */
  checking?: boolean;
  readonly failures: MethodFailures;
}

export interface NodeProvider {
  readonly hnsUpdate: HnsUpdate;
  readonly trusted: boolean;
  /** false after a relay failed or answered nonsense, until a health check gets an answer */
  usable: boolean;
  online: boolean;
  /** a health check is running for it */
  checking?: boolean;
  readonly failures: MethodFailures;
}

export interface ActiveProviders {
  urls: UrlProvider[];
  nodes: NodeProvider[];
}

export class ProviderTable {
  readonly chains = new Map<bigint, ActiveProviders>();

  /** The table for a SavedConfigs list: earlier entries take priority. */
  static from(configs: ProviderConfig[]): ProviderTable {
    const t = new ProviderTable();
    // chains in the order the list first names them; within one, the list's order
    for (const c of configs) {
      if (!t.chains.has(c.chain_id)) t.chains.set(c.chain_id, { urls: [], nodes: [] });
    }
    for (const c of [...configs].reverse()) t.add(c);
    return t;
  }

  get(chainId: bigint): ActiveProviders | undefined {
    return this.chains.get(chainId);
  }

  /**
   * Puts a provider first for its chain, replacing one with the same URL or node name
   * (a node provider starts usable whatever `use_as_provider` says, as Hyperdrive).
   * Returns the replaced URL provider's connection, for the caller to release.
   */
  add(c: ProviderConfig): RpcConnection | undefined {
    let aps = this.chains.get(c.chain_id);
    if (!aps) this.chains.set(c.chain_id, aps = { urls: [], nodes: [] });
    const p = c.provider;
    if ("RpcUrl" in p) {
      const old = aps.urls.find((u) => u.url === p.RpcUrl.url);
      aps.urls = aps.urls.filter((u) => u !== old);
      aps.urls.unshift({
        url: p.RpcUrl.url,
        auth: p.RpcUrl.auth,
        trusted: c.trusted,
        online: true,
        failures: new MethodFailures(),
      });
      return old?.conn;
    }
    const name = p.Node.hns_update.name;
    aps.nodes = aps.nodes.filter((n) => n.hnsUpdate.name !== name);
    aps.nodes.unshift({
      hnsUpdate: p.Node.hns_update,
      trusted: c.trusted,
      usable: true,
      online: true,
      failures: new MethodFailures(),
    });
    return undefined;
  }

  /** Removes the URL provider or node provider named `name` from a chain; false if none was. */
  remove(chainId: bigint, name: string, release: (c: RpcConnection) => void): boolean {
    const aps = this.chains.get(chainId);
    if (!aps) return false;
    const before = aps.urls.length + aps.nodes.length;
    for (const u of aps.urls) if (u.url === name && u.conn) release(u.conn);
    aps.urls = aps.urls.filter((u) => u.url !== name);
    aps.nodes = aps.nodes.filter((n) => n.hnsUpdate.name !== name);
    return aps.urls.length + aps.nodes.length < before;
  }

  /** Every connection, for release when the table is replaced or the module stops. */
  connections(): RpcConnection[] {
    const out: RpcConnection[] = [];
    for (const aps of this.chains.values()) {
      for (const u of aps.urls) if (u.conn) out.push(u.conn);
    }
    return out;
  }

  /** SavedConfigs: per chain, URL providers then node providers. */
  toSavedConfigs(): ProviderConfig[] {
    const out: ProviderConfig[] = [];
    for (const [chain_id, aps] of this.chains) {
      for (const u of aps.urls) {
        out.push(providerConfigToJson({
          chain_id,
          trusted: u.trusted,
          provider: { RpcUrl: u.auth ? { url: u.url, auth: u.auth } : { url: u.url } },
        }));
      }
      for (const n of aps.nodes) {
        out.push(providerConfigToJson({
          chain_id,
          trusted: n.trusted,
          provider: { Node: { hns_update: n.hnsUpdate, use_as_provider: n.usable } },
        }));
      }
    }
    return out;
  }
}

/**
 * main.rs's add_provider_to_config: put a provider first in a SavedConfigs list, dropping
 * any with the same URL (or node name).
 */
export function addProviderToConfigs(configs: ProviderConfig[], c: ProviderConfig): void {
  const p = c.provider;
  for (let i = configs.length - 1; i >= 0; i--) {
    const q = configs[i].provider;
    const same = "RpcUrl" in p
      ? "RpcUrl" in q && q.RpcUrl.url === p.RpcUrl.url
      : "Node" in q && q.Node.hns_update.name === p.Node.hns_update.name;
    if (same) configs.splice(i, 1);
  }
  configs.unshift(c);
}
