// Noise XX over a Link, with Hyperdrive's HandshakePayload and RoutingRequest
// (hyperdrive/src/net/{tcp,ws}/mod.rs, net/utils.rs):
//   initiator -> [RoutingRequest, if through a router] -> e
//   responder <- e, ee, s, es  + HandshakePayload
//   initiator -> s, se         + HandshakePayload
// Each side signs its fresh Noise static public key with its Ed25519 networking
// key; the other side checks that signature against the key in its PKI.
// A RoutingRequest is signed over (target name ++ router name).

import { ed25519 } from "@noble/curves/ed25519.js";
import {
  decodeHandshakePayload,
  decodeRoutingRequest,
  encodeHandshakePayload,
  encodeRoutingRequest,
} from "./codec.ts";
import type { Link } from "./link.ts";
import { type CipherState, HandshakeState } from "./noise.ts";
import { type HandshakePayload, type Identity, netKeyFromHex } from "./types.ts";

export const PROTOCOL_VERSION = 1;
/** A Noise `e` message with an empty payload: what a first frame is unless it is a RoutingRequest. */
export const NOISE_E_LEN = 32;

const encoder = new TextEncoder();

export class HandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HandshakeError";
  }
}

/** Our side of a connection: node name and Ed25519 networking key seed. */
export interface LocalNode {
  name: string;
  networkingKey: Uint8Array;
}

export interface Session {
  link: Link;
  send: CipherState;
  recv: CipherState;
}

export function networkingPublicKey(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

export function signWithNetworkingKey(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, seed);
}

/** Strict RFC 8032 verification, as ring's ED25519 (no ZIP-215 leniency). */
export function verifyNetworkingSignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

function payloadFor(local: LocalNode, hs: HandshakeState, proxyRequest: boolean): Uint8Array {
  return encodeHandshakePayload({
    protocol_version: PROTOCOL_VERSION,
    name: local.name,
    signature: signWithNetworkingKey(local.networkingKey, hs.localStaticPublicKey),
    proxy_request: proxyRequest,
  });
}

/** As Hyperdrive's validate_handshake: version 1 and a good signature of their static key. */
export function validateHandshake(
  payload: HandshakePayload,
  remoteStatic: Uint8Array,
  identity: Identity,
): void {
  if (payload.protocol_version !== PROTOCOL_VERSION) {
    throw new HandshakeError("handshake protocol version mismatch");
  }
  const key = netKeyFromHex(identity.networking_key);
  if (!verifyNetworkingSignature(key, remoteStatic, payload.signature)) {
    throw new HandshakeError(`handshake signature from ${identity.name} does not verify`);
  }
}

export function buildRoutingRequest(local: LocalNode, target: string, router: string): Uint8Array {
  return encodeRoutingRequest({
    protocol_version: PROTOCOL_VERSION,
    source: local.name,
    signature: signWithNetworkingKey(local.networkingKey, encoder.encode(target + router)),
    target,
  });
}

/**
 * As Hyperdrive's validate_routing_request, run by a router on a first frame that
 * is not a Noise `e`: returns the requesting and target identities.
 */
export function validateRoutingRequest(
  ourName: string,
  frame: Uint8Array,
  lookup: (name: string) => Identity | undefined,
): { from: Identity; target: Identity } {
  let request;
  try {
    request = decodeRoutingRequest(frame);
  } catch (e) {
    throw new HandshakeError(`bad routing request: ${(e as Error).message}`);
  }
  const from = lookup(request.source);
  if (!from) throw new HandshakeError(`unknown HNS name '${request.source}'`);
  const message = encoder.encode(request.target + ourName);
  if (!verifyNetworkingSignature(netKeyFromHex(from.networking_key), message, request.signature)) {
    throw new HandshakeError("routing request signature does not verify");
  }
  const target = lookup(request.target);
  if (!target) throw new HandshakeError(`unknown HNS name '${request.target}'`);
  if (request.target === request.source) throw new HandshakeError("can't route to self");
  return { from, target };
}

function readPayload(hs: HandshakeState, message: Uint8Array): HandshakePayload {
  const plaintext = hs.readMessage(message);
  try {
    return decodeHandshakePayload(plaintext);
  } catch (e) {
    throw new HandshakeError(`bad handshake payload: ${(e as Error).message}`);
  }
}

/**
 * Connect as initiator to `peer` (directly, or through `router` when given) and
 * run the handshake. `proxyRequest` asks the peer to route for us.
 */
export async function initiateHandshake(
  link: Link,
  local: LocalNode,
  peer: Identity,
  opts: { proxyRequest?: boolean; router?: string } = {},
): Promise<Session> {
  if (opts.router !== undefined) {
    await link.sendRaw(buildRoutingRequest(local, peer.name, opts.router));
  }
  const hs = new HandshakeState({ initiator: true });
  // -> e
  await link.sendRaw(hs.writeMessage());
  // <- e, ee, s, es
  const theirs = readPayload(hs, await link.recvRaw());
  validateHandshake(theirs, hs.remoteStaticPublicKey!, peer);
  // -> s, se
  await link.sendRaw(hs.writeMessage(payloadFor(local, hs, opts.proxyRequest ?? false)));
  const t = hs.intoTransport();
  return { link, send: t.send, recv: t.recv };
}

/**
 * Answer an incoming handshake whose first frame (`e`) is `first`; the initiator
 * names itself in its payload and must be in the PKI.
 */
export async function respondHandshake(
  link: Link,
  local: LocalNode,
  first: Uint8Array,
  lookup: (name: string) => Identity | undefined,
): Promise<Session & { peer: Identity; proxyRequest: boolean }> {
  const hs = new HandshakeState({ initiator: false });
  // <- e
  hs.readMessage(first);
  // -> e, ee, s, es
  await link.sendRaw(hs.writeMessage(payloadFor(local, hs, false)));
  // <- s, se
  const theirs = readPayload(hs, await link.recvRaw());
  const peer = lookup(theirs.name);
  if (!peer) throw new HandshakeError(`unknown HNS name '${theirs.name}'`);
  validateHandshake(theirs, hs.remoteStaticPublicKey!, peer);
  const t = hs.intoTransport();
  return { link, send: t.send, recv: t.recv, peer, proxyRequest: theirs.proxy_request };
}

/**
 * An indirect node answering a ConnectionRequest: connect to the router, ask it
 * (RoutingRequest) for the passthrough `peer` is waiting on, then act as responder.
 */
export async function respondViaRouter(
  link: Link,
  local: LocalNode,
  peer: Identity,
  router: string,
): Promise<Session> {
  await link.sendRaw(buildRoutingRequest(local, peer.name, router));
  const hs = new HandshakeState({ initiator: false });
  // <- e
  hs.readMessage(await link.recvRaw());
  // -> e, ee, s, es
  await link.sendRaw(hs.writeMessage(payloadFor(local, hs, false)));
  // <- s, se
  const theirs = readPayload(hs, await link.recvRaw());
  validateHandshake(theirs, hs.remoteStaticPublicKey!, peer);
  const t = hs.intoTransport();
  return { link, send: t.send, recv: t.recv };
}
