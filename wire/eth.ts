// eth:distro:sys's API (Hyperdrive lib/src/eth.rs) as serde JSON.
//
// Requests the module reads (an untagged union, tried in this order):
//   EthAction        {"SubscribeLogs":{"sub_id","chain_id","kind","params"}}
//                    | {"UnsubscribeLogs":u64} | {"Request":{"chain_id","method","params"}}
//   EthConfigAction  {"AddProvider":ProviderConfig} | {"RemoveProvider":[u64,string]}
//                    | "SetPublic" | "SetPrivate" | {"AllowNode":s} | {"UnallowNode":s}
//                    | {"DenyNode":s} | {"UndenyNode":s} | {"SetProviders":[ProviderConfig]}
//                    | "GetProviders" | "GetAccessSettings" | "GetState"
//   EthSubResult     {"Ok":{"id","result"}} | {"Err":{"id","error"}}  (a node provider's push)
//   SubKeepalive     u64                                              (a relaying node's ping)
// Answers: EthResponse "Ok" | {"Response":value} | {"Err":EthError}; EthConfigResponse.
//
// Actions in memory are `{ tag, ...fields }`; what the module writes (answers, pushes,
// the two files in the node home) stays in serde's shape, u64s as bigint. serde_json
// here has no preserve_order, so a pass-through JSON value is written with its object
// keys sorted (`serdeValue`), as Hyperdrive re-serializes one.

import { parseProcessId } from "./core.ts";
import { bool, field, isObject, list, opt, str, struct, u16, u64, variant } from "./fields.ts";
import { decodeUtf8Strict, encodeJsonExact, parseJsonExact } from "./json.ts";
import type { HnsUpdate } from "./net.ts";

export const ETH_PROCESS_ID = parseProcessId("eth:distro:sys");

/** The capability params a process needs for EthConfigAction (issuer: our@eth:distro:sys). */
export const ETH_ROOT_CAP_PARAMS = '{"root":true}';

/** alloy's SubscriptionKind, camelCase. */
export type SubscriptionKind = "newHeads" | "logs" | "newPendingTransactions" | "syncing";
const KINDS: readonly string[] = ["newHeads", "logs", "newPendingTransactions", "syncing"];

export type EthAction =
  | {
    tag: "SubscribeLogs";
    subId: bigint;
    chainId: bigint;
    kind: SubscriptionKind;
    params: unknown;
  }
  | { tag: "UnsubscribeLogs"; subId: bigint }
  | { tag: "Request"; chainId: bigint; method: string; params: unknown };

export type Authorization = { Basic: string } | { Bearer: string } | { Raw: string };

export type NodeOrRpcUrl =
  | { Node: { hns_update: HnsUpdate; use_as_provider: boolean } }
  | { RpcUrl: { url: string; auth?: Authorization } };

export interface ProviderConfig {
  chain_id: bigint;
  trusted: boolean;
  provider: NodeOrRpcUrl;
}

/** What --rpc-config files hold: a list of these. */
export interface RpcUrlConfigInput {
  url: string;
  auth?: Authorization;
}

export interface AccessSettings {
  public: boolean;
  allow: string[];
  deny: string[];
}

export type EthConfigAction =
  | { tag: "AddProvider"; config: ProviderConfig }
  | { tag: "RemoveProvider"; chainId: bigint; provider: string }
  | { tag: "SetPublic" }
  | { tag: "SetPrivate" }
  | { tag: "AllowNode" | "UnallowNode" | "DenyNode" | "UndenyNode"; node: string }
  | { tag: "SetProviders"; configs: ProviderConfig[] }
  | { tag: "GetProviders" }
  | { tag: "GetAccessSettings" }
  | { tag: "GetState" };

export interface EthSub {
  id: bigint;
  result: unknown;
}

export interface EthSubError {
  id: bigint;
  error: string;
}

export type EthSubResult = { Ok: EthSub } | { Err: EthSubError };

export type EthError =
  | { RpcError: unknown }
  | "MalformedRequest"
  | "NoRpcForChain"
  | { SubscriptionClosed: bigint }
  | { InvalidMethod: string }
  | "InvalidParams"
  | "PermissionDenied"
  | "RpcTimeout"
  | "RpcMalformedResponse"
  | "RateLimited";

export type EthResponse = "Ok" | { Response: unknown } | { Err: EthError };

export type EthConfigResponse =
  | "Ok"
  | { Providers: ProviderConfig[] }
  | { AccessSettings: AccessSettings }
  | "PermissionDenied"
  | {
    State: {
      /** address -> sub id -> null (served here) or the provider node's name */
      active_subscriptions: Record<string, Record<string, string | null>>;
      outstanding_requests: bigint[];
    };
  }
  | "ProviderNotFound";

/** Everything eth:distro:sys reads from a request body (Hyperdrive's untagged IncomingReq). */
export type IncomingReq =
  | { tag: "EthAction"; action: EthAction }
  | { tag: "EthConfigAction"; action: EthConfigAction }
  | { tag: "EthSubResult"; result: EthSubResult }
  | { tag: "SubKeepalive"; subId: bigint };

/** An EthError raised while handling a request. */
export class EthFailure extends Error {
  constructor(readonly error: EthError) {
    super(typeof error === "string" ? error : JSON.stringify(serdeValue(error), bigints));
  }
}

function bigints(_k: string, v: unknown) {
  return typeof v === "bigint" ? `${v}` : v;
}

// ---------------------------------------------------------------------------
// Reading

function strings(v: unknown): string[] {
  return list(v, str);
}

/** lib/src/net.rs HnsUpdate: every field required. */
export function parseHnsUpdateStrict(v: unknown): HnsUpdate {
  const o = struct(v, "HnsUpdate");
  const ports = field(o, "ports");
  if (!isObject(ports)) throw new Error("expected a map");
  const out: Record<string, number> = {};
  for (const k of Object.keys(ports).sort()) out[k] = u16(ports[k]);
  return {
    name: str(field(o, "name")),
    public_key: str(field(o, "public_key")),
    ips: strings(field(o, "ips")),
    ports: out,
    routers: strings(field(o, "routers")),
  };
}

export function parseAuthorization(v: unknown): Authorization {
  const [tag, val] = variant(v);
  if (tag === "Basic") return { Basic: str(val) };
  if (tag === "Bearer") return { Bearer: str(val) };
  if (tag === "Raw") return { Raw: str(val) };
  throw new Error(`unknown variant ${tag}`);
}

/** NodeOrRpcUrl: RpcUrl is a bare URL string (older files) or {url, auth?}. */
export function parseNodeOrRpcUrl(v: unknown): NodeOrRpcUrl {
  const [tag, val] = variant(v);
  if (tag === "Node") {
    const o = struct(val, "Node");
    return {
      Node: {
        hns_update: parseHnsUpdateStrict(field(o, "hns_update")),
        use_as_provider: bool(field(o, "use_as_provider")),
      },
    };
  }
  if (tag === "RpcUrl") {
    if (typeof val === "string") return { RpcUrl: { url: val } };
    const o = struct(val, "RpcUrl");
    const auth = opt(o, "auth", parseAuthorization);
    return { RpcUrl: auth ? { url: str(field(o, "url")), auth } : { url: str(field(o, "url")) } };
  }
  throw new Error(`unknown variant ${tag}`);
}

export function parseProviderConfig(v: unknown): ProviderConfig {
  const o = struct(v, "ProviderConfig");
  return {
    chain_id: u64(field(o, "chain_id")),
    trusted: bool(field(o, "trusted")),
    provider: parseNodeOrRpcUrl(field(o, "provider")),
  };
}

/** SavedConfigs: a JSON list of ProviderConfig (the .eth_providers file). */
export function parseSavedConfigs(v: unknown): ProviderConfig[] {
  if (!Array.isArray(v)) throw new Error("expected a sequence");
  return v.map(parseProviderConfig);
}

/** A --rpc-config file's list of {url, auth?}. */
export function parseRpcUrlConfigInputs(v: unknown): RpcUrlConfigInput[] {
  if (!Array.isArray(v)) throw new Error("expected a sequence");
  return v.map((x) => {
    const o = struct(x, "RpcUrlConfigInput");
    const auth = opt(o, "auth", parseAuthorization);
    return auth ? { url: str(field(o, "url")), auth } : { url: str(field(o, "url")) };
  });
}

/** The .eth_access_settings file. */
export function parseAccessSettings(v: unknown): AccessSettings {
  const o = struct(v, "AccessSettings");
  return {
    public: bool(field(o, "public")),
    allow: [...new Set(strings(field(o, "allow")))],
    deny: [...new Set(strings(field(o, "deny")))],
  };
}

function parseKind(v: unknown): SubscriptionKind {
  const [tag, val] = variant(v);
  if (val !== null || !KINDS.includes(tag)) throw new Error(`unknown variant ${tag}`);
  return tag as SubscriptionKind;
}

/** serde_json::Value fields are required (null is a value, absence is not). */
function value(o: Record<string, unknown>, name: string): unknown {
  return field(o, name);
}

function parseEthAction(v: unknown): EthAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "SubscribeLogs": {
      const o = struct(val, tag);
      return {
        tag,
        subId: u64(field(o, "sub_id")),
        chainId: u64(field(o, "chain_id")),
        kind: parseKind(field(o, "kind")),
        params: value(o, "params"),
      };
    }
    case "UnsubscribeLogs":
      return { tag, subId: u64(val) };
    case "Request": {
      const o = struct(val, tag);
      return {
        tag,
        chainId: u64(field(o, "chain_id")),
        method: str(field(o, "method")),
        params: value(o, "params"),
      };
    }
  }
  throw new Error(`unknown variant ${tag}`);
}

function parseEthConfigAction(v: unknown): EthConfigAction {
  const [tag, val] = variant(v);
  switch (tag) {
    case "SetPublic":
    case "SetPrivate":
    case "GetProviders":
    case "GetAccessSettings":
    case "GetState":
      if (val !== null) throw new Error(`${tag} takes no value`);
      return { tag };
    case "AllowNode":
    case "UnallowNode":
    case "DenyNode":
    case "UndenyNode":
      return { tag, node: str(val) };
    case "AddProvider":
      return { tag, config: parseProviderConfig(val) };
    case "RemoveProvider": {
      if (!Array.isArray(val) || val.length !== 2) throw new Error("expected a tuple of 2");
      return { tag, chainId: u64(val[0]), provider: str(val[1]) };
    }
    case "SetProviders":
      return { tag, configs: parseSavedConfigs(val) };
  }
  throw new Error(`unknown variant ${tag}`);
}

export function parseEthSubResult(v: unknown): EthSubResult {
  const [tag, val] = variant(v);
  const o = struct(val, tag);
  if (tag === "Ok") return { Ok: { id: u64(field(o, "id")), result: value(o, "result") } };
  if (tag === "Err") return { Err: { id: u64(field(o, "id")), error: str(field(o, "error")) } };
  throw new Error(`unknown variant ${tag}`);
}

function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Body bytes -> IncomingReq, trying each variant in Hyperdrive's order; throws MalformedRequest. */
export function parseIncomingReq(body: Uint8Array): IncomingReq {
  let v: unknown;
  try {
    v = parseJsonExact(decodeUtf8Strict(body));
  } catch {
    throw new EthFailure("MalformedRequest");
  }
  const action = attempt(() => parseEthAction(v));
  if (action) return { tag: "EthAction", action };
  const config = attempt(() => parseEthConfigAction(v));
  if (config) return { tag: "EthConfigAction", action: config };
  const result = attempt(() => parseEthSubResult(v));
  if (result) return { tag: "EthSubResult", result };
  const subId = attempt(() => u64(v));
  if (subId !== undefined) return { tag: "SubKeepalive", subId };
  throw new EthFailure("MalformedRequest");
}

function parseEthError(v: unknown): EthError {
  const [tag, val] = variant(v);
  switch (tag) {
    case "MalformedRequest":
    case "NoRpcForChain":
    case "InvalidParams":
    case "PermissionDenied":
    case "RpcTimeout":
    case "RpcMalformedResponse":
    case "RateLimited":
      if (val !== null) throw new Error(`${tag} takes no value`);
      return tag;
    case "RpcError":
      return { RpcError: val };
    case "SubscriptionClosed":
      return { SubscriptionClosed: u64(val) };
    case "InvalidMethod":
      return { InvalidMethod: str(val) };
  }
  throw new Error(`unknown variant ${tag}`);
}

/** A node provider's answer as EthResponse; throws when it is not one. */
export function parseEthResponse(body: Uint8Array): EthResponse {
  const [tag, val] = variant(parseJsonExact(decodeUtf8Strict(body)));
  if (tag === "Ok" && val === null) return "Ok";
  if (tag === "Response") return { Response: val };
  if (tag === "Err") return { Err: parseEthError(val) };
  throw new Error(`unknown variant ${tag}`);
}

/** EthConfigResponse from body bytes (tests, tools). */
export function parseEthConfigResponse(body: Uint8Array): EthConfigResponse {
  const [tag, val] = variant(parseJsonExact(decodeUtf8Strict(body)));
  switch (tag) {
    case "Ok":
    case "PermissionDenied":
    case "ProviderNotFound":
      return tag;
    case "Providers":
      return { Providers: parseSavedConfigs(val) };
    case "AccessSettings":
      return { AccessSettings: parseAccessSettings(val) };
    case "State":
      return { State: val as Extract<EthConfigResponse, { State: unknown }>["State"] };
  }
  throw new Error(`unknown variant ${tag}`);
}

// ---------------------------------------------------------------------------
// Writing

/**
 * A JSON value as serde_json::Value writes it: object keys sorted, at every depth. Only what
 * must change is new: an object whose keys are already in order, or an array, is the same
 * object unless something inside it changed. The input is never modified.
 */
export function serdeValue(v: unknown): unknown {
  if (typeof v !== "object" || v === null || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      const sorted = serdeValue(item);
      if (sorted !== item) (out ??= v.slice())[i] = sorted;
    }
    return out ?? v;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  let inOrder = true;
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1] > keys[i]) {
      inOrder = false;
      break;
    }
  }
  if (!inOrder) keys.sort();
  let out: Record<string, unknown> | undefined = inOrder ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const item = o[k];
    const sorted = serdeValue(item);
    if (out === undefined) {
      if (sorted === item) continue;
      // an object in order with a changed member: copy the members before it
      out = {};
      for (let j = 0; j < i; j++) setMember(out, keys[j], o[keys[j]]);
    }
    setMember(out, k, sorted);
  }
  return out ?? o;
}

/** out[k] = v, also for "__proto__" (an own member, as JSON.parse makes it). */
function setMember(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") {
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    out[k] = v;
  }
}

/** The action as Hyperdrive serializes it (what a relay sends, and the request cache's key). */
export function ethActionToJson(a: EthAction): unknown {
  switch (a.tag) {
    case "SubscribeLogs":
      return {
        SubscribeLogs: {
          sub_id: a.subId,
          chain_id: a.chainId,
          kind: a.kind,
          params: serdeValue(a.params),
        },
      };
    case "UnsubscribeLogs":
      return { UnsubscribeLogs: a.subId };
    case "Request":
      return { Request: { chain_id: a.chainId, method: a.method, params: serdeValue(a.params) } };
  }
}

/** ProviderConfig with serde's field order (what GetProviders and .eth_providers hold). */
export function providerConfigToJson(c: ProviderConfig): ProviderConfig {
  const p = c.provider;
  let provider: NodeOrRpcUrl;
  if ("Node" in p) {
    const h = p.Node.hns_update;
    const ports: Record<string, number> = {};
    for (const k of Object.keys(h.ports).sort()) ports[k] = h.ports[k];
    provider = {
      Node: {
        hns_update: {
          name: h.name,
          public_key: h.public_key,
          ips: h.ips,
          ports,
          routers: h.routers,
        },
        use_as_provider: p.Node.use_as_provider,
      },
    };
  } else {
    // auth is skipped when None
    provider = {
      RpcUrl: p.RpcUrl.auth ? { url: p.RpcUrl.url, auth: p.RpcUrl.auth } : { url: p.RpcUrl.url },
    };
  }
  return { chain_id: c.chain_id, trusted: c.trusted, provider };
}

/**
 * Any eth wire value (EthResponse, EthConfigResponse, EthSubResult, EthAction JSON) as body
 * bytes: encodeJsonExact's bytes. A value with no bigint or bytes in it (a provider's answer)
 * is written by JSON.stringify without a replacer, several times faster on a large one.
 */
export function encodeEth(v: unknown): Uint8Array {
  if (needsReplacer(v)) return encodeJsonExact(v);
  const text = JSON.stringify(v);
  return text === undefined ? encodeJsonExact(v) : utf8(text);
}

/** Holds a bigint or bytes, which only encodeJsonExact's replacer writes. */
function needsReplacer(v: unknown): boolean {
  if (typeof v === "bigint") return true;
  if (typeof v !== "object" || v === null) return false;
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsReplacer(v[i])) return true;
    return false;
  }
  for (const k in v) if (needsReplacer((v as Record<string, unknown>)[k])) return true;
  return false;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of `text`: ASCII (a provider's hex) straight into a buffer of its length. */
function utf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  // only all-ASCII text fits in as many bytes as it has UTF-16 units
  if (encoder.encodeInto(text, out).read === text.length) return out;
  return encoder.encode(text);
}

/** The Authorization header value alloy sends for it. */
export function authorizationHeader(a: Authorization): string {
  if ("Basic" in a) return `Basic ${a.Basic}`;
  if ("Bearer" in a) return `Bearer ${a.Bearer}`;
  return a.Raw;
}
