// net:distro:sys's API and the records net exchanges (Hyperdrive lib/src/net.rs,
// hyperdrive/src/net/types.rs). NetAction, what net is asked, is a `{ tag }` union;
// net/codec.ts reads and writes it as rmp-serde does. NetResponse (as the other
// modules' responses) and the records stay in serde's shape (snake_case fields,
// externally tagged enums as `"Unit"` or `{ Variant: value }`), the shape their JSON
// forms take, so an HnsUpdate read from a --fake-pki file is used as is. Byte vectors
// are Uint8Array; Address stays the kernel's structured Address.

import type { Address, NodeId } from "./core.ts";

/** An HNS record, as the hns-indexer publishes it (lib/src/net.rs HnsUpdate). */
export interface HnsUpdate {
  /** the node's name, e.g. "alice.os" */
  name: string;
  /** hex Ed25519 networking public key, usually "0x"-prefixed */
  public_key: string;
  /** empty for an indirect node */
  ips: string[];
  /** protocol ("tcp" | "ws") -> port; a BTreeMap, so encoded in key order */
  ports: Record<string, number>;
  /** the routers of an indirect node; empty for a direct node */
  routers: string[];
}

export type NodeRouting =
  | { Routers: NodeId[] }
  | { Direct: { ip: string; ports: Record<string, number> } }
  | { Both: { ip: string; ports: Record<string, number>; routers: NodeId[] } };

export interface Identity {
  name: NodeId;
  networking_key: string;
  routing: NodeRouting;
}

/** A request to net:distro:sys, in NetAction's variant order (the msgpack variant index). */
export type NetAction =
  /** From a router of ours: `from` waits in a passthrough for us to connect back. */
  | { tag: "ConnectionRequest"; from: NodeId }
  | { tag: "HnsUpdate"; update: HnsUpdate }
  | { tag: "HnsBatchUpdate"; updates: HnsUpdate[] }
  | { tag: "GetPeers" }
  | { tag: "GetPeer"; name: string }
  | { tag: "GetDiagnostics" }
  /** Sign the address of the asker ++ the request's blob with our networking key. */
  | { tag: "Sign" }
  /** Check `signature` over the address `from` ++ the request's blob. */
  | { tag: "Verify"; from: Address; signature: Uint8Array };

/** net's answer to a NetAction; the answer to Sign carries the signature as its blob. */
export type NetResponse =
  | { Accepted: NodeId }
  | { Rejected: NodeId }
  | { Peers: Identity[] }
  | { Peer: Identity | null }
  | { Diagnostics: string }
  | "Signed"
  | { Verified: boolean };

/** Carried in the second and third Noise XX messages. */
export interface HandshakePayload {
  protocol_version: number;
  name: NodeId;
  /** Ed25519 signature, by the sender's networking key, of its Noise static public key */
  signature: Uint8Array;
  /** true asks the receiver to route for us (sent by indirect nodes to their routers) */
  proxy_request: boolean;
}

/** Sent raw, before the handshake, to a router to reach `target` through it. */
export interface RoutingRequest {
  protocol_version: number;
  source: NodeId;
  /** Ed25519 signature of (target name ++ router name) */
  signature: Uint8Array;
  target: NodeId;
}

export const TCP_PROTOCOL = "tcp";
export const WS_PROTOCOL = "ws";

/** As Hyperdrive's ingest_log: no ips means routed through `routers`. */
export function identityFromHnsUpdate(u: HnsUpdate): Identity {
  return {
    name: u.name,
    networking_key: u.public_key,
    routing: u.ips.length === 0
      ? { Routers: [...u.routers] }
      : { Direct: { ip: u.ips[0], ports: { ...u.ports } } },
  };
}

export function identityIp(id: Identity): string | undefined {
  const r = id.routing;
  if ("Direct" in r) return r.Direct.ip;
  if ("Both" in r) return r.Both.ip;
  return undefined;
}

/** The port for `protocol` if the identity is direct and it is nonzero. */
export function identityPort(id: Identity, protocol: string): number | undefined {
  const r = id.routing;
  const ports = "Direct" in r ? r.Direct.ports : "Both" in r ? r.Both.ports : undefined;
  const port = ports?.[protocol];
  return port ? port : undefined;
}

export function identityRouters(id: Identity): NodeId[] | undefined {
  const r = id.routing;
  if ("Routers" in r) return r.Routers;
  if ("Both" in r) return r.Both.routers;
  return undefined;
}

export function isDirect(id: Identity): boolean {
  return "Direct" in id.routing;
}

/** A hex networking key ("0x" optional, either case) as bytes; throws when it is not hex. */
export function parseNetKey(s: string): Uint8Array {
  try {
    return Uint8Array.fromHex(s.startsWith("0x") ? s.slice(2) : s);
  } catch {
    throw new Error(
      `networking key ${JSON.stringify(s)} is not hex: an even number of 0-9, a-f, A-F digits`,
    );
  }
}

/**
 * As Hyperdrive's net_key_string_to_hex: a key that is not hex is empty bytes, which no
 * signature verifies against (a bad PKI record fails its handshakes; net keeps running).
 */
export function netKeyFromHex(s: string): Uint8Array {
  try {
    return parseNetKey(s);
  } catch {
    return new Uint8Array(0);
  }
}

/** "0x" and lowercase hex, as the hns-indexer writes public_key. */
export function netKeyToHex(key: Uint8Array): string {
  return "0x" + key.toHex();
}
