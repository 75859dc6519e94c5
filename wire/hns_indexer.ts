// hns-indexer:sys's API (packages/hns-indexer/api/hns-indexer:sys-v0.wit, Hyperdrive's
// hns-indexer) as serde JSON: IndexerRequest and IndexerResponse, externally tagged, records
// with snake_case fields, u64s as JSON numbers.

import type { HnsUpdate } from "./net.ts";

/** The indexer's address. */
export const HNS_INDEXER_PROCESS = "hns-indexer:hns-indexer:sys";

/** net's HnsUpdate with the ports map as (protocol, port) pairs. */
export interface WitHnsUpdate {
  name: string;
  public_key: string;
  ips: string[];
  ports: [string, number][];
  routers: string[];
}

export interface WitState {
  chain_id: number;
  /** the contract's 20 bytes */
  contract_address: number[];
  /** [namehash, name] */
  names: [string, string][];
  /** [name, record] */
  nodes: [string, WitHnsUpdate][];
  last_block: number;
}

export type IndexerRequest =
  | { NamehashToName: { hash: string; block: number } }
  | { NodeInfo: { name: string; block: number } }
  | { GetState: { block: number } }
  | "Reset";

export type ResetResult = "Success" | { Err: "NoRootCap" | { DbError: string } };

export type IndexerResponse =
  | { Name: string | null }
  | { NodeInfo: WitHnsUpdate | null }
  | { GetState: WitState }
  | { Reset: ResetResult };

export function encodeIndexerRequest(r: IndexerRequest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r));
}

function isWitHnsUpdate(v: unknown): v is WitHnsUpdate {
  const o = v as WitHnsUpdate;
  return !!o && typeof o === "object" && typeof o.name === "string" &&
    typeof o.public_key === "string" && Array.isArray(o.ips) &&
    o.ips.every((s) => typeof s === "string") && Array.isArray(o.ports) &&
    o.ports.every((p) =>
      Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && Number.isInteger(p[1])
    ) && Array.isArray(o.routers) && o.routers.every((s) => typeof s === "string");
}

/** Parses an IndexerResponse body; throws on anything else. */
export function parseIndexerResponse(body: Uint8Array): IndexerResponse {
  const v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  if (!v || typeof v !== "object" || Array.isArray(v) || Object.keys(v).length !== 1) {
    throw new Error(`not an IndexerResponse: ${JSON.stringify(v)}`);
  }
  const [[tag, val]] = Object.entries(v);
  if (tag === "Name" && (val === null || typeof val === "string")) return { Name: val };
  if (tag === "NodeInfo" && (val === null || isWitHnsUpdate(val))) return { NodeInfo: val };
  if (tag === "GetState") {
    const s = val as WitState;
    if (
      s && Number.isInteger(s.chain_id) && Array.isArray(s.contract_address) &&
      Array.isArray(s.names) && Array.isArray(s.nodes) && Number.isInteger(s.last_block) &&
      s.nodes.every(([n, u]) => typeof n === "string" && isWitHnsUpdate(u))
    ) return { GetState: s };
  }
  if (tag === "Reset") {
    if (val === "Success") return { Reset: val };
    const e = (val as { Err?: unknown })?.Err;
    if (e === "NoRootCap") return { Reset: { Err: e } };
    const db = (e as { DbError?: unknown })?.DbError;
    if (typeof db === "string") return { Reset: { Err: { DbError: db } } };
  }
  throw new Error(`not an IndexerResponse: ${JSON.stringify(v)}`);
}

/** A WitHnsUpdate as net's HnsUpdate. */
export function witToHnsUpdate(u: WitHnsUpdate): HnsUpdate {
  return {
    name: u.name,
    public_key: u.public_key,
    ips: [...u.ips],
    ports: Object.fromEntries(u.ports),
    routers: [...u.routers],
  };
}
