// MessagePack exactly as rmp-serde's defaults (rmp_serde::to_vec) write it, for
// KernelMessage and the net types. The rules that decide every byte:
// - structs are arrays of their fields in declaration order;
// - enums are externally tagged: a unit variant is its name as a string, any
//   other variant is a one-entry map { name: value } (struct variants' value is
//   an array of fields, tuple variants' an array);
// - Option: None is nil, Some(v) is v;
// - integers take the smallest encoding (positive fixint, then u8/u16/u32/u64);
// - Vec<u8> without serde_bytes is a sequence, so an ARRAY of small ints
//   (bytes >= 0x80 take two bytes: cc xx) -- never msgpack bin;
// - tuples are arrays; BTreeMap is a map in key order;
// - strings use fixstr / str8 / str16 / str32 by length;
// - Address and ProcessId serialize as their display strings.
// Decoding follows rmp-serde's deserializer, which is more lenient: structs may
// also come as maps keyed by field name, enum tags may be variant indices,
// integers may use any width, bytes may come as bin, trailing input is ignored.
// One deliberate exception on the write side: `binBytes` writes Vec<u8> as
// msgpack bin, for peers that said in their handshake they read it (see
// handshake.ts, "wire extensions"); Hyperdrive peers never get it.

import {
  type Address,
  addressToString,
  type KernelMessage,
  type LazyLoadBlob,
  type Message,
  parseAddress,
  type Request,
  type Response,
  type SignedCapability,
} from "../wire/core.ts";
import type {
  HandshakePayload,
  HnsUpdate,
  Identity,
  NetAction,
  NetResponse,
  NodeRouting,
  RoutingRequest,
} from "../wire/net.ts";
import {
  DecodeError,
  encoder,
  expectValue,
  MsgReader,
  MsgWriter,
  optional,
  readEnumTag,
  readStruct,
  requireFields,
  unitVariant,
} from "./msgpack.ts";

import { takeBuffer } from "./buffers.ts";

export { DecodeError, MsgReader, MsgWriter };
function readAddress(r: MsgReader): Address {
  const s = r.str();
  try {
    return parseAddress(s);
  } catch (e) {
    throw new DecodeError(`bad address ${JSON.stringify(s)}: ${(e as Error).message}`);
  }
}

function readStringVec(r: MsgReader): string[] {
  const n = r.arrayLen();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.str());
  return out;
}

function readPorts(r: MsgReader): Record<string, number> {
  const n = r.mapLen();
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = r.str();
    out[k] = r.uint(0xffff);
  }
  return out;
}

function writeStringVec(w: MsgWriter, v: readonly string[]): void {
  w.arrayLen(v.length);
  for (const s of v) w.str(s);
}

/** BTreeMap<String, u16>: keys in byte order. */
function writePorts(w: MsgWriter, ports: Record<string, number>): void {
  const keys = Object.keys(ports).sort(compareUtf8);
  w.mapLen(keys.length);
  for (const k of keys) w.str(k).uint(ports[k]);
}

function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

// ---------------------------------------------------------------------------
// KernelMessage (lib/src/kernel.rs, lib/src/core.rs)

const KM_FIELDS = ["id", "source", "target", "rsvp", "message", "lazy_load_blob"] as const;
const REQUEST_FIELDS = [
  "inherit",
  "expects_response",
  "body",
  "metadata",
  "capabilities",
] as const;
const RESPONSE_FIELDS = ["inherit", "body", "metadata", "capabilities"] as const;
const BLOB_FIELDS = ["mime", "bytes"] as const;
const CAP_FIELDS = ["issuer", "params"] as const;
const MESSAGE_VARIANTS = ["Request", "Response"] as const;

function writeCapabilities(w: MsgWriter, caps: readonly SignedCapability[]): void {
  // Vec<(Capability, Vec<u8>)>
  w.arrayLen(caps.length);
  for (const c of caps) {
    w.arrayLen(2);
    w.arrayLen(2).str(addressToString(c.issuer)).str(c.params);
    w.byteVec(c.signature ?? new Uint8Array(0));
  }
}

function readCapabilities(r: MsgReader): SignedCapability[] {
  const n = r.arrayLen();
  const out: SignedCapability[] = [];
  for (let i = 0; i < n; i++) {
    if (r.arrayLen() !== 2) throw new DecodeError("capability entry must be a 2-tuple");
    let issuer: Address | undefined;
    let params: string | undefined;
    const seen = readStruct(r, "Capability", CAP_FIELDS, (f) => {
      if (f === 0) issuer = readAddress(r);
      else params = r.str();
    });
    requireFields("Capability", CAP_FIELDS, seen);
    const signature = r.byteVec();
    out.push({ issuer: issuer!, params: params!, signature });
  }
  return out;
}

function writeMessage(w: MsgWriter, m: Message): void {
  w.mapLen(1);
  if (m.tag === "request") {
    const q = m.val;
    w.str("Request").arrayLen(5).bool(q.inherit);
    if (q.expectsResponse === undefined) w.nil();
    else w.uint(q.expectsResponse);
    w.byteVec(q.body);
    if (q.metadata === undefined) w.nil();
    else w.str(q.metadata);
    writeCapabilities(w, q.capabilities);
  } else {
    const [s, context] = m.val;
    // newtype variant holding a tuple (Response, Option<Context>)
    w.str("Response").arrayLen(2).arrayLen(4).bool(s.inherit).byteVec(s.body);
    if (s.metadata === undefined) w.nil();
    else w.str(s.metadata);
    writeCapabilities(w, s.capabilities);
    if (context === undefined) w.nil();
    else w.byteVec(context);
  }
}

function readRequest(r: MsgReader): Request {
  const q: Partial<Request> = {};
  const seen = readStruct(r, "Request", REQUEST_FIELDS, (f) => {
    if (f === 0) q.inherit = r.bool();
    else if (f === 1) q.expectsResponse = optional(r, () => r.u64());
    else if (f === 2) q.body = r.byteVec();
    else if (f === 3) q.metadata = optional(r, () => r.str());
    else q.capabilities = readCapabilities(r);
  });
  for (const i of [0, 2, 4]) {
    if (!seen[i]) throw new DecodeError(`Request: missing field ${REQUEST_FIELDS[i]}`);
  }
  return {
    inherit: q.inherit!,
    expectsResponse: q.expectsResponse,
    body: q.body!,
    metadata: q.metadata,
    capabilities: q.capabilities!,
  };
}

function readResponse(r: MsgReader): Response {
  const s: Partial<Response> = {};
  const seen = readStruct(r, "Response", RESPONSE_FIELDS, (f) => {
    if (f === 0) s.inherit = r.bool();
    else if (f === 1) s.body = r.byteVec();
    else if (f === 2) s.metadata = optional(r, () => r.str());
    else s.capabilities = readCapabilities(r);
  });
  for (const i of [0, 1, 3]) {
    if (!seen[i]) throw new DecodeError(`Response: missing field ${RESPONSE_FIELDS[i]}`);
  }
  return {
    inherit: s.inherit!,
    body: s.body!,
    metadata: s.metadata,
    capabilities: s.capabilities!,
  };
}

function readMessage(r: MsgReader): Message {
  const tag = readEnumTag(r, "Message", MESSAGE_VARIANTS);
  expectValue(tag, "Message");
  if (tag.variant === "Request") return { tag: "request", val: readRequest(r) };
  if (r.arrayLen() !== 2) throw new DecodeError("Message::Response must be a 2-tuple");
  const response = readResponse(r);
  const context = optional(r, () => r.byteVec());
  return { tag: "response", val: [response, context] };
}

/**
 * `detach`: when the bytes would be written as bin, write only the bin header and
 * return the bytes, which then follow the encoded message (the blob is the last
 * field of a KernelMessage, its bytes the last field of the blob).
 */
function writeBlob(
  w: MsgWriter,
  b: LazyLoadBlob | undefined,
  detach = false,
): Uint8Array | undefined {
  if (b === undefined) {
    w.nil();
    return undefined;
  }
  w.arrayLen(2);
  if (b.mime === undefined) w.nil();
  else w.str(b.mime);
  if (detach && w.binBytes) {
    w.binHeader(b.bytes.length);
    return b.bytes;
  }
  w.byteVec(b.bytes);
  return undefined;
}

function readBlob(r: MsgReader): LazyLoadBlob {
  let mime: string | undefined;
  let bytes: Uint8Array | undefined;
  const seen = readStruct(r, "LazyLoadBlob", BLOB_FIELDS, (f) => {
    if (f === 0) mime = optional(r, () => r.str());
    else bytes = r.byteVec();
  });
  if (!seen[1]) throw new DecodeError("LazyLoadBlob: missing field bytes");
  return { mime, bytes: bytes! };
}

/** Worst-case encoded size, so large blobs are written without regrowing. */
function kernelMessageSizeHint(km: KernelMessage, binBytes: boolean, detachBlob = false): number {
  const body = km.message.tag === "request" ? km.message.val.body : km.message.val[0].body;
  const ctx = km.message.tag === "response" ? km.message.val[1]?.length ?? 0 : 0;
  const blob = detachBlob && binBytes ? 0 : km.lazyLoadBlob?.bytes.length ?? 0;
  const bytes = body.length + ctx + blob;
  // capabilities and addresses are small; the ensure() in every write covers the rest
  return 512 + (binBytes ? bytes : 2 * bytes);
}

/** Reused by encodeKernelMessage's `scratch` mode; at most SCRATCH_MAX bytes are kept. */
let scratch: Uint8Array | undefined;
const SCRATCH_MAX = 24 * 1024 * 1024;

/**
 * rmp_serde::to_vec(&KernelMessage); `reserve` leading bytes are left for a frame
 * prefix. `binBytes` (only for peers that read it) writes every Vec<u8> as bin.
 * `scratch`: the result is a view of a buffer reused by the next scratch call,
 * for callers that consume it at once (sparing a fresh multi-MB allocation, and
 * its page faults, per large message).
 */
export function encodeKernelMessage(
  km: KernelMessage,
  reserve = 0,
  opts: { binBytes?: boolean; scratch?: boolean } = {},
): Uint8Array {
  const binBytes = opts.binBytes ?? false;
  const hint = kernelMessageSizeHint(km, binBytes) + reserve;
  const w = new MsgWriter(hint, reserve, opts.scratch ? scratch : undefined);
  writeKernelMessage(w, km, binBytes, false);
  if (opts.scratch && w.buffer.length <= SCRATCH_MAX) scratch = w.buffer;
  return w.finish();
}

function writeKernelMessage(
  w: MsgWriter,
  km: KernelMessage,
  binBytes: boolean,
  detachBlob: boolean,
): Uint8Array | undefined {
  w.binBytes = binBytes;
  w.arrayLen(6).uint(km.id).str(addressToString(km.source)).str(addressToString(km.target));
  if (km.rsvp === undefined) w.nil();
  else w.str(addressToString(km.rsvp));
  writeMessage(w, km.message);
  return writeBlob(w, km.lazyLoadBlob, detachBlob);
}

/** A serialized KernelMessage as `head` then `tail` (the blob's bytes, not copied). */
export interface EncodedParts {
  head: Uint8Array;
  tail: Uint8Array | undefined;
}

/**
 * Like encodeKernelMessage, but when the blob goes out as bin its bytes are not
 * copied: they are returned as `tail`, to be sent right after `head`. The head
 * is written into a buffer from takeBuffer; give it back with returnBuffer once
 * it has been sent.
 */
export function encodeKernelMessageParts(
  km: KernelMessage,
  reserve: number,
  binBytes: boolean,
): EncodedParts {
  const hint = kernelMessageSizeHint(km, binBytes, true) + reserve;
  const w = new MsgWriter(hint, reserve, takeBuffer(hint));
  const tail = writeKernelMessage(w, km, binBytes, true);
  return { head: w.finish(), tail };
}

/**
 * rmp_serde::from_slice::<KernelMessage>. `opts.viewBins`: large bin fields may be
 * views of `bytes` (saves a copy of a blob); `opts.viewed` then tells whether one was.
 */
export function decodeKernelMessage(
  bytes: Uint8Array,
  opts?: { viewBins?: boolean; viewed?: boolean },
): KernelMessage {
  const r = new MsgReader(bytes);
  if (opts) {
    r.viewBins = opts.viewBins ?? false;
    opts.viewed = false;
  }
  const km: Partial<KernelMessage> = {};
  const seen = readStruct(r, "KernelMessage", KM_FIELDS, (f) => {
    if (f === 0) km.id = r.u64();
    else if (f === 1) km.source = readAddress(r);
    else if (f === 2) km.target = readAddress(r);
    else if (f === 3) km.rsvp = optional(r, () => readAddress(r));
    else if (f === 4) km.message = readMessage(r);
    else km.lazyLoadBlob = optional(r, () => readBlob(r));
  });
  for (const i of [0, 1, 2, 4]) {
    if (!seen[i]) throw new DecodeError(`KernelMessage: missing field ${KM_FIELDS[i]}`);
  }
  const out: KernelMessage = {
    id: km.id!,
    source: km.source!,
    target: km.target!,
    message: km.message!,
  };
  if (km.rsvp !== undefined) out.rsvp = km.rsvp;
  if (km.lazyLoadBlob !== undefined) out.lazyLoadBlob = km.lazyLoadBlob;
  if (opts) opts.viewed = r.viewed;
  return out;
}

// ---------------------------------------------------------------------------
// Net types (lib/src/net.rs, lib/src/kernel.rs, hyperdrive/src/net/types.rs)

const HNS_FIELDS = ["name", "public_key", "ips", "ports", "routers"] as const;
const IDENTITY_FIELDS = ["name", "networking_key", "routing"] as const;
const ROUTING_VARIANTS = ["Routers", "Direct", "Both"] as const;
const DIRECT_FIELDS = ["ip", "ports"] as const;
const BOTH_FIELDS = ["ip", "ports", "routers"] as const;
const NET_ACTION_VARIANTS = [
  "ConnectionRequest",
  "HnsUpdate",
  "HnsBatchUpdate",
  "GetPeers",
  "GetPeer",
  "GetDiagnostics",
  "Sign",
  "Verify",
] as const satisfies readonly NetAction["tag"][];
const VERIFY_FIELDS = ["from", "signature"] as const;
const NET_RESPONSE_VARIANTS = [
  "Accepted",
  "Rejected",
  "Peers",
  "Peer",
  "Diagnostics",
  "Signed",
  "Verified",
] as const;
const HANDSHAKE_FIELDS = ["protocol_version", "name", "signature", "proxy_request"] as const;
const ROUTING_REQUEST_FIELDS = ["protocol_version", "source", "signature", "target"] as const;

export function writeHnsUpdate(w: MsgWriter, u: HnsUpdate): void {
  w.arrayLen(5).str(u.name).str(u.public_key);
  writeStringVec(w, u.ips);
  writePorts(w, u.ports);
  writeStringVec(w, u.routers);
}

export function readHnsUpdate(r: MsgReader): HnsUpdate {
  const u: Partial<HnsUpdate> = {};
  const seen = readStruct(r, "HnsUpdate", HNS_FIELDS, (f) => {
    if (f === 0) u.name = r.str();
    else if (f === 1) u.public_key = r.str();
    else if (f === 2) u.ips = readStringVec(r);
    else if (f === 3) u.ports = readPorts(r);
    else u.routers = readStringVec(r);
  });
  requireFields("HnsUpdate", HNS_FIELDS, seen);
  return u as HnsUpdate;
}

export function writeIdentity(w: MsgWriter, id: Identity): void {
  w.arrayLen(3).str(id.name).str(id.networking_key);
  const r = id.routing;
  w.mapLen(1);
  if ("Routers" in r) {
    w.str("Routers");
    writeStringVec(w, r.Routers);
  } else if ("Direct" in r) {
    w.str("Direct").arrayLen(2).str(r.Direct.ip);
    writePorts(w, r.Direct.ports);
  } else {
    w.str("Both").arrayLen(3).str(r.Both.ip);
    writePorts(w, r.Both.ports);
    writeStringVec(w, r.Both.routers);
  }
}

function readNodeRouting(r: MsgReader): NodeRouting {
  const tag = readEnumTag(r, "NodeRouting", ROUTING_VARIANTS);
  expectValue(tag, "NodeRouting");
  if (tag.variant === "Routers") return { Routers: readStringVec(r) };
  if (tag.variant === "Direct") {
    let ip = "";
    let ports: Record<string, number> = {};
    const seen = readStruct(r, "NodeRouting::Direct", DIRECT_FIELDS, (f) => {
      if (f === 0) ip = r.str();
      else ports = readPorts(r);
    });
    requireFields("NodeRouting::Direct", DIRECT_FIELDS, seen);
    return { Direct: { ip, ports } };
  }
  let ip = "";
  let ports: Record<string, number> = {};
  let routers: string[] = [];
  const seen = readStruct(r, "NodeRouting::Both", BOTH_FIELDS, (f) => {
    if (f === 0) ip = r.str();
    else if (f === 1) ports = readPorts(r);
    else routers = readStringVec(r);
  });
  requireFields("NodeRouting::Both", BOTH_FIELDS, seen);
  return { Both: { ip, ports, routers } };
}

export function readIdentity(r: MsgReader): Identity {
  const id: Partial<Identity> = {};
  const seen = readStruct(r, "Identity", IDENTITY_FIELDS, (f) => {
    if (f === 0) id.name = r.str();
    else if (f === 1) id.networking_key = r.str();
    else id.routing = readNodeRouting(r);
  });
  requireFields("Identity", IDENTITY_FIELDS, seen);
  return id as Identity;
}

export function encodeNetAction(a: NetAction): Uint8Array {
  const w = new MsgWriter();
  switch (a.tag) {
    case "GetPeers":
    case "GetDiagnostics":
    case "Sign":
      return w.str(a.tag).finish();
    case "ConnectionRequest":
      w.mapLen(1).str(a.tag).str(a.from);
      break;
    case "HnsUpdate":
      writeHnsUpdate(w.mapLen(1).str(a.tag), a.update);
      break;
    case "HnsBatchUpdate":
      w.mapLen(1).str(a.tag).arrayLen(a.updates.length);
      for (const u of a.updates) writeHnsUpdate(w, u);
      break;
    case "GetPeer":
      w.mapLen(1).str(a.tag).str(a.name);
      break;
    case "Verify":
      // struct variant: its fields as an array
      w.mapLen(1).str(a.tag).arrayLen(2).str(addressToString(a.from)).byteVec(a.signature);
  }
  return w.finish();
}

/** Body bytes -> NetAction, as rmp_serde::from_slice reads one; throws DecodeError. */
export function decodeNetAction(bytes: Uint8Array): NetAction {
  const r = new MsgReader(bytes);
  const enumTag = readEnumTag(r, "NetAction", NET_ACTION_VARIANTS);
  const tag = enumTag.variant;
  switch (tag) {
    case "GetPeers":
    case "GetDiagnostics":
    case "Sign":
      unitVariant(r, enumTag, "NetAction");
      return { tag };
  }
  expectValue(enumTag, "NetAction");
  switch (tag) {
    case "ConnectionRequest":
      return { tag, from: r.str() };
    case "HnsUpdate":
      return { tag, update: readHnsUpdate(r) };
    case "HnsBatchUpdate": {
      const n = r.arrayLen();
      const updates: HnsUpdate[] = [];
      for (let i = 0; i < n; i++) updates.push(readHnsUpdate(r));
      return { tag, updates };
    }
    case "GetPeer":
      return { tag, name: r.str() };
    case "Verify": {
      let from: Address | undefined;
      let signature: Uint8Array | undefined;
      const seen = readStruct(r, "NetAction::Verify", VERIFY_FIELDS, (f) => {
        if (f === 0) from = readAddress(r);
        else signature = r.byteVec();
      });
      requireFields("NetAction::Verify", VERIFY_FIELDS, seen);
      return { tag, from: from!, signature: signature! };
    }
  }
}

export function encodeNetResponse(v: NetResponse): Uint8Array {
  const w = new MsgWriter();
  if (typeof v === "string") return w.str(v).finish();
  w.mapLen(1);
  if ("Accepted" in v) w.str("Accepted").str(v.Accepted);
  else if ("Rejected" in v) w.str("Rejected").str(v.Rejected);
  else if ("Peers" in v) {
    w.str("Peers").arrayLen(v.Peers.length);
    for (const id of v.Peers) writeIdentity(w, id);
  } else if ("Peer" in v) {
    w.str("Peer");
    if (v.Peer === null) w.nil();
    else writeIdentity(w, v.Peer);
  } else if ("Diagnostics" in v) w.str("Diagnostics").str(v.Diagnostics);
  else w.str("Verified").bool(v.Verified);
  return w.finish();
}

export function decodeNetResponse(bytes: Uint8Array): NetResponse {
  const r = new MsgReader(bytes);
  const tag = readEnumTag(r, "NetResponse", NET_RESPONSE_VARIANTS);
  if (tag.variant === "Signed") {
    unitVariant(r, tag, "NetResponse");
    return "Signed";
  }
  expectValue(tag, "NetResponse");
  switch (tag.variant) {
    case "Accepted":
      return { Accepted: r.str() };
    case "Rejected":
      return { Rejected: r.str() };
    case "Peers": {
      const n = r.arrayLen();
      const list: Identity[] = [];
      for (let i = 0; i < n; i++) list.push(readIdentity(r));
      return { Peers: list };
    }
    case "Peer":
      return { Peer: optional(r, () => readIdentity(r)) ?? null };
    case "Diagnostics":
      return { Diagnostics: r.str() };
    default:
      return { Verified: r.bool() };
  }
}

export function encodeHandshakePayload(p: HandshakePayload): Uint8Array {
  return new MsgWriter().arrayLen(4).uint(p.protocol_version).str(p.name).byteVec(p.signature)
    .bool(p.proxy_request).finish();
}

export function decodeHandshakePayload(bytes: Uint8Array): HandshakePayload {
  return splitHandshakePayload(bytes).payload;
}

/**
 * The HandshakePayload at the front of `bytes` and whatever follows it (which
 * rmp_serde::from_slice, and so Hyperdrive, ignores).
 */
export function splitHandshakePayload(
  bytes: Uint8Array,
): { payload: HandshakePayload; rest: Uint8Array } {
  const r = new MsgReader(bytes);
  const p: Partial<HandshakePayload> = {};
  const seen = readStruct(r, "HandshakePayload", HANDSHAKE_FIELDS, (f) => {
    if (f === 0) p.protocol_version = r.uint(0xff);
    else if (f === 1) p.name = r.str();
    else if (f === 2) p.signature = r.byteVec();
    else p.proxy_request = r.bool();
  });
  requireFields("HandshakePayload", HANDSHAKE_FIELDS, seen);
  return { payload: p as HandshakePayload, rest: bytes.subarray(r.pos) };
}

export function encodeRoutingRequest(q: RoutingRequest): Uint8Array {
  return new MsgWriter().arrayLen(4).uint(q.protocol_version).str(q.source).byteVec(q.signature)
    .str(q.target).finish();
}

export function decodeRoutingRequest(bytes: Uint8Array): RoutingRequest {
  const r = new MsgReader(bytes);
  const q: Partial<RoutingRequest> = {};
  const seen = readStruct(r, "RoutingRequest", ROUTING_REQUEST_FIELDS, (f) => {
    if (f === 0) q.protocol_version = r.uint(0xff);
    else if (f === 1) q.source = r.str();
    else if (f === 2) q.signature = r.byteVec();
    else q.target = r.str();
  });
  requireFields("RoutingRequest", ROUTING_REQUEST_FIELDS, seen);
  return q as RoutingRequest;
}

export function encodeHnsUpdate(u: HnsUpdate): Uint8Array {
  const w = new MsgWriter();
  writeHnsUpdate(w, u);
  return w.finish();
}

export function decodeHnsUpdate(bytes: Uint8Array): HnsUpdate {
  return readHnsUpdate(new MsgReader(bytes));
}

export function encodeIdentity(id: Identity): Uint8Array {
  const w = new MsgWriter();
  writeIdentity(w, id);
  return w.finish();
}

export function decodeIdentity(bytes: Uint8Array): Identity {
  return readIdentity(new MsgReader(bytes));
}
