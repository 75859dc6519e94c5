// Hyperware's core wire types (Hyperdrive lib/src/core.rs): ids, addresses,
// messages, capabilities, shared by the kernel, the process host, runtime modules and net.
//
// In-memory shapes follow the WIT records as jco lifts them (camelCase fields,
// `{ tag, val }` variants, `undefined` for none, bigint for u64), so a message
// crosses the worker boundary without conversion. JSON bodies (KernelCommand,
// module actions) use Hyperdrive's serde shapes; see `*ToJson` helpers.

/** A node's name, e.g. "alice.os". */
export type NodeId = string;
export type Context = Uint8Array;
export type Json = string;

/** A process's id, "process:package:publisher" as a string. */
export interface ProcessId {
  /** the process's name within its package */
  processName: string;
  /** the package's name */
  packageName: string;
  /** the node that publishes the package */
  publisherNode: NodeId;
}

export interface PackageId {
  packageName: string;
  publisherNode: NodeId;
}

export interface Address {
  node: NodeId;
  process: ProcessId;
}

export interface LazyLoadBlob {
  mime?: string;
  bytes: Uint8Array;
}

export interface Capability {
  issuer: Address;
  params: Json;
}

/** A capability as the kernel carries it: with the issuing node's signature. */
export interface SignedCapability extends Capability {
  signature?: Uint8Array;
}

export interface Request {
  inherit: boolean;
  expectsResponse?: bigint;
  body: Uint8Array;
  metadata?: Json;
  capabilities: SignedCapability[];
}

export interface Response {
  inherit: boolean;
  body: Uint8Array;
  metadata?: Json;
  capabilities: SignedCapability[];
}

export type Message =
  | { tag: "request"; val: Request }
  | { tag: "response"; val: [Response, Context | undefined] };

export type OnExit =
  | { tag: "none" }
  | { tag: "restart" }
  | { tag: "requests"; val: [Address, Request, LazyLoadBlob | undefined][] };

/** Why a message got no response: the target was unreachable, or it did not answer in time. */
export type SendErrorKind = "offline" | "timeout";

export interface SendError {
  kind: SendErrorKind;
  target: Address;
  message: Message;
  lazyLoadBlob?: LazyLoadBlob;
}

export interface KernelMessage {
  id: bigint;
  source: Address;
  target: Address;
  rsvp?: Address;
  message: Message;
  lazyLoadBlob?: LazyLoadBlob;
}

/** A send error routed back to the process that sent `id`. */
export interface WrappedSendError {
  id: bigint;
  source: Address;
  error: SendError;
}

// ---------------------------------------------------------------------------
// Parsing and display, with Hyperdrive's rules and error names.

export type AddressParseErrorKind =
  | "TooManyAts"
  | "TooManyColons"
  | "MissingNodeId"
  | "MissingField"
  | "ProcessNameNotHypermapSafe"
  | "PackageNameNotHypermapSafe"
  | "NodeNotHypermapSafe"
  | "PublisherNodeNotHypermapSafe";

const PARSE_MESSAGES: Record<AddressParseErrorKind, (v: string) => string> = {
  TooManyAts: () => "Too many `@` chars: only one allowed",
  TooManyColons: () => "Too many colons in ProcessId string",
  MissingNodeId: () => "Node ID missing",
  MissingField: () => "Missing field in ProcessId string",
  ProcessNameNotHypermapSafe: (v) => `Process name (${v}) can only contain a-z, 0-9, \`-\``,
  PackageNameNotHypermapSafe: (v) => `Package name (${v}) can only contain a-z, 0-9, \`-\``,
  NodeNotHypermapSafe: (v) => `Node (${v}) can only contain a-z, 0-9, \`-\`, \`.\``,
  PublisherNodeNotHypermapSafe: (v) =>
    `Publisher node (${v}) can only contain a-z, 0-9, \`-\`, \`.\``,
};

export class AddressParseError extends Error {
  constructor(readonly kind: AddressParseErrorKind, value = "") {
    super(PARSE_MESSAGES[kind](value));
    this.name = "AddressParseError";
  }
}

const HYPERMAP_SAFE = /^[a-z0-9\-.]+$/;
const HYPERMAP_SAFE_NO_DOTS = /^[a-z0-9\-]+$/;

export function isHypermapSafe(s: string): boolean {
  return HYPERMAP_SAFE.test(s);
}

export function isHypermapSafeNoDots(s: string): boolean {
  return HYPERMAP_SAFE_NO_DOTS.test(s);
}

function splitProcessSegments(input: string): [string, string, string] {
  const segments = input.split(":");
  if (segments.length < 3) throw new AddressParseError("MissingField");
  if (segments.length > 3) throw new AddressParseError("TooManyColons");
  if (segments.some((s) => s.length === 0)) throw new AddressParseError("MissingField");
  return segments as [string, string, string];
}

/** Parses "process:package:publisher" (structure only, as Hyperdrive's FromStr). */
export function parseProcessId(input: string): ProcessId {
  const [processName, packageName, publisherNode] = splitProcessSegments(input);
  return { processName, packageName, publisherNode };
}

/** Parses "package:publisher". */
export function parsePackageId(input: string): PackageId {
  const segments = input.split(":");
  if (segments.length < 2) throw new AddressParseError("MissingField");
  if (segments.length > 2) throw new AddressParseError("TooManyColons");
  if (segments.some((s) => s.length === 0)) throw new AddressParseError("MissingField");
  return { packageName: segments[0], publisherNode: segments[1] };
}

/** Parses "node@process:package:publisher". */
export function parseAddress(input: string): Address {
  const parts = input.split("@");
  if (parts.length < 2) throw new AddressParseError("MissingNodeId");
  if (parts.length > 2) throw new AddressParseError("TooManyAts");
  if (parts[0].length === 0) throw new AddressParseError("MissingNodeId");
  return { node: parts[0], process: parseProcessId(parts[1]) };
}

/** Hypermap-safety check of every part, as Hyperdrive's `check()`. */
export function checkProcessId(p: ProcessId): ProcessId {
  if (!isHypermapSafeNoDots(p.processName)) {
    throw new AddressParseError("ProcessNameNotHypermapSafe", p.processName);
  }
  if (!isHypermapSafeNoDots(p.packageName)) {
    throw new AddressParseError("PackageNameNotHypermapSafe", p.packageName);
  }
  if (!isHypermapSafe(p.publisherNode)) {
    throw new AddressParseError("PublisherNodeNotHypermapSafe", p.publisherNode);
  }
  return p;
}

export function checkAddress(a: Address): Address {
  if (!isHypermapSafe(a.node)) throw new AddressParseError("NodeNotHypermapSafe", a.node);
  checkProcessId(a.process);
  return a;
}

export function processIdToString(p: ProcessId): string {
  return `${p.processName}:${p.packageName}:${p.publisherNode}`;
}

export function packageIdToString(p: PackageId): string {
  return `${p.packageName}:${p.publisherNode}`;
}

export function addressToString(a: Address): string {
  return `${a.node}@${processIdToString(a.process)}`;
}

export function packageIdOf(p: ProcessId): PackageId {
  return { packageName: p.packageName, publisherNode: p.publisherNode };
}

export function processIdEquals(a: ProcessId, b: ProcessId): boolean {
  return a.processName === b.processName && a.packageName === b.packageName &&
    a.publisherNode === b.publisherNode;
}

export function addressEquals(a: Address, b: Address): boolean {
  return a.node === b.node && processIdEquals(a.process, b.process);
}

export const KERNEL_PROCESS_ID = parseProcessId("kernel:distro:sys");
export const NET_PROCESS_ID = parseProcessId("net:distro:sys");
export const STATE_PROCESS_ID = parseProcessId("state:distro:sys");
export const VFS_PROCESS_ID = parseProcessId("vfs:distro:sys");
export const KV_PROCESS_ID = parseProcessId("kv:distro:sys");
export const SQLITE_PROCESS_ID = parseProcessId("sqlite:distro:sys");
export const TIMER_PROCESS_ID = parseProcessId("timer:distro:sys");
export const HTTP_SERVER_PROCESS_ID = parseProcessId("http-server:distro:sys");
export const HTTP_CLIENT_PROCESS_ID = parseProcessId("http-client:distro:sys");
export const TERMINAL_PROCESS_ID = parseProcessId("terminal:terminal:sys");

// ---------------------------------------------------------------------------
// Capabilities. Equality compares params as parsed JSON, like Hyperdrive.

/** Canonical JSON (sorted object keys) so equal params give equal keys. */
export function canonicalJson(params: string): string {
  let value: unknown;
  try {
    value = JSON.parse(params);
  } catch {
    value = null; // serde_json's unwrap_or_default() -> Value::Null
  }
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      out[k] = sortKeys((v as Record<string, unknown>)[k]);
    }
    return out;
  }
  return v;
}

/** A string key identifying a capability up to JSON-equality of its params. */
export function capabilityKey(cap: Capability): string {
  return `${addressToString(cap.issuer)}|${canonicalJson(cap.params)}`;
}

export function messagingCap(issuer: Address): Capability {
  return { issuer, params: '"messaging"' };
}

export function networkingCap(our: NodeId): Capability {
  return { issuer: { node: our, process: KERNEL_PROCESS_ID }, params: '"network"' };
}

export function rootCap(our: NodeId): Capability {
  return { issuer: { node: our, process: KERNEL_PROCESS_ID }, params: '"root"' };
}

// ---------------------------------------------------------------------------
// JSON (serde) shapes used in message bodies.

export type OnExitJson =
  | "None"
  | "Restart"
  | { Requests: [string, RequestJson, LazyLoadBlobJson | null][] };

export interface RequestJson {
  inherit: boolean;
  expects_response: number | null;
  body: number[];
  metadata: string | null;
  capabilities: [CapabilityJson, number[]][];
}

export interface CapabilityJson {
  issuer: string;
  params: string;
}

export interface LazyLoadBlobJson {
  mime: string | null;
  bytes: number[];
}

export function capabilityToJson(c: Capability): CapabilityJson {
  return { issuer: addressToString(c.issuer), params: c.params };
}

export function requestToJson(r: Request): RequestJson {
  return {
    inherit: r.inherit,
    expects_response: r.expectsResponse === undefined ? null : Number(r.expectsResponse),
    body: Array.from(r.body),
    metadata: r.metadata ?? null,
    capabilities: r.capabilities.map((c) => [
      capabilityToJson(c),
      Array.from(c.signature ?? []),
    ]),
  };
}

export function onExitToJson(o: OnExit): OnExitJson {
  switch (o.tag) {
    case "none":
      return "None";
    case "restart":
      return "Restart";
    case "requests":
      return {
        Requests: o.val.map(([a, r, b]) => [
          addressToString(a),
          requestToJson(r),
          b ? { mime: b.mime ?? null, bytes: Array.from(b.bytes) } : null,
        ]),
      };
  }
}

/** Random u64, as Hyperdrive's rand::random::<u64>(). */
export function randomU64(): bigint {
  const a = new BigUint64Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

export const textEncoder = new TextEncoder();
export const textDecoder = new TextDecoder();

/** Build a response KernelMessage answering `km`. */
export function makeResponse(
  km: KernelMessage,
  source: Address,
  body: Uint8Array,
  blob?: LazyLoadBlob,
): KernelMessage {
  return responseTo(km.id, source, km.rsvp ?? km.source, body, blob);
}

/** A plain response (no inherit, metadata or capabilities) answering request `id`. */
export function responseTo(
  id: bigint,
  source: Address,
  target: Address,
  body: Uint8Array,
  blob?: LazyLoadBlob,
): KernelMessage {
  return {
    id,
    source,
    target,
    message: {
      tag: "response",
      val: [{ inherit: false, body, metadata: undefined, capabilities: [] }, undefined],
    },
    lazyLoadBlob: blob,
  };
}
