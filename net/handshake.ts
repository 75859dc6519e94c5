// Noise XX over a Link, with Hyperdrive's HandshakePayload and RoutingRequest
// (hyperdrive/src/net/{tcp,ws}/mod.rs, net/utils.rs):
//   initiator -> [RoutingRequest, if through a router] -> e
//   responder <- e, ee, s, es  + HandshakePayload
//   initiator -> s, se         + HandshakePayload
// Each side signs its fresh Noise static public key with its Ed25519 networking
// key; the other side checks that signature against the key in its PKI.
// A RoutingRequest is signed over (target name ++ router name).
//
// Wire extensions: after the HandshakePayload, in the same encrypted handshake
// message, a hyperdeno node appends one more msgpack value, { "hyperdeno": [names] },
// listing what it can read beyond Hyperdrive's format. rmp_serde::from_slice stops
// after the payload's four fields (rmp-serde 1.1 and 1.3 never look for trailing
// input), so Hyperdrive reads the payload unchanged and never uses an extension;
// each side only uses what the other listed. The one extension: "bin-bytes",
// Vec<u8> written as msgpack bin rather than an array of ints (~1.5x smaller for
// random bytes and a memcpy to encode and decode).

import { ed25519 } from "@noble/curves/ed25519.js";
import {
  decodeRoutingRequest,
  encodeHandshakePayload,
  encodeRoutingRequest,
  MsgReader,
  MsgWriter,
  splitHandshakePayload,
} from "./codec.ts";
import type { Link } from "./link.ts";
import { type CipherState, HandshakeState } from "./noise.ts";
import { type HandshakePayload, type Identity, netKeyFromHex } from "../wire/net.ts";

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

/** Vec<u8> as msgpack bin (see the header). */
export const BIN_BYTES_EXTENSION = "bin-bytes";
const EXTENSIONS_KEY = "hyperdeno";
/** What this build can read beyond Hyperdrive's format. */
export const WIRE_EXTENSIONS: readonly string[] = [BIN_BYTES_EXTENSION];

/** Our side of a connection: node name and Ed25519 networking key seed. */
export interface LocalNode {
  name: string;
  networkingKey: Uint8Array;
  /** Advertise WIRE_EXTENSIONS in our handshake (default true); false = Hyperdrive's bytes only. */
  wireExtensions?: boolean;
}

export interface Session {
  link: Link;
  send: CipherState;
  recv: CipherState;
  /** Wire extensions the peer listed (empty for Hyperdrive). */
  peerExtensions: ReadonlySet<string>;
}

const NO_EXTENSIONS: ReadonlySet<string> = new Set();

function encodeExtensions(names: readonly string[]): Uint8Array {
  const w = new MsgWriter().mapLen(1).str(EXTENSIONS_KEY).arrayLen(names.length);
  for (const n of names) w.str(n);
  return w.finish();
}

/** The extension list after a HandshakePayload; anything unreadable counts as none. */
export function decodeExtensions(rest: Uint8Array): ReadonlySet<string> {
  if (rest.length === 0) return NO_EXTENSIONS;
  try {
    const r = new MsgReader(rest);
    const entries = r.mapLen();
    const names = new Set<string>();
    for (let i = 0; i < entries; i++) {
      const key = r.str();
      if (key !== EXTENSIONS_KEY) {
        r.skip();
        continue;
      }
      const n = r.arrayLen();
      for (let j = 0; j < n; j++) names.add(r.str());
    }
    return names;
  } catch {
    return NO_EXTENSIONS;
  }
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

/** The plaintext of our handshake message: the payload, then our extension list if any. */
export function handshakeMessageBody(p: HandshakePayload, withExtensions: boolean): Uint8Array {
  const payload = encodeHandshakePayload(p);
  if (!withExtensions) return payload;
  const ext = encodeExtensions(WIRE_EXTENSIONS);
  const out = new Uint8Array(payload.length + ext.length);
  out.set(payload);
  out.set(ext, payload.length);
  return out;
}

function payloadFor(local: LocalNode, hs: HandshakeState, proxyRequest: boolean): Uint8Array {
  return handshakeMessageBody({
    protocol_version: PROTOCOL_VERSION,
    name: local.name,
    signature: signWithNetworkingKey(local.networkingKey, hs.localStaticPublicKey),
    proxy_request: proxyRequest,
  }, local.wireExtensions !== false);
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

function readPayload(
  hs: HandshakeState,
  message: Uint8Array,
  local: LocalNode,
): HandshakePayload & { extensions: ReadonlySet<string> } {
  const plaintext = hs.readMessage(message);
  let split;
  try {
    split = splitHandshakePayload(plaintext);
  } catch (e) {
    throw new HandshakeError(`bad handshake payload: ${(e as Error).message}`);
  }
  // a node that does not advertise extensions does not use them either
  const extensions = local.wireExtensions === false ? NO_EXTENSIONS : decodeExtensions(split.rest);
  return { ...split.payload, extensions };
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
  const theirs = readPayload(hs, await link.recvRaw(), local);
  validateHandshake(theirs, hs.remoteStaticPublicKey!, peer);
  // -> s, se
  await link.sendRaw(hs.writeMessage(payloadFor(local, hs, opts.proxyRequest ?? false)));
  const t = hs.intoTransport();
  return { link, send: t.send, recv: t.recv, peerExtensions: theirs.extensions };
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
  const theirs = readPayload(hs, await link.recvRaw(), local);
  const peer = lookup(theirs.name);
  if (!peer) throw new HandshakeError(`unknown HNS name '${theirs.name}'`);
  validateHandshake(theirs, hs.remoteStaticPublicKey!, peer);
  const t = hs.intoTransport();
  return {
    link,
    send: t.send,
    recv: t.recv,
    peerExtensions: theirs.extensions,
    peer,
    proxyRequest: theirs.proxy_request,
  };
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
  const theirs = readPayload(hs, await link.recvRaw(), local);
  validateHandshake(theirs, hs.remoteStaticPublicKey!, peer);
  const t = hs.intoTransport();
  return { link, send: t.send, recv: t.recv, peerExtensions: theirs.extensions };
}
