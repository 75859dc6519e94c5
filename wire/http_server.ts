// http-server:distro:sys's API (Hyperdrive lib/src/http/server_types.rs).
// HttpServerAction arrives as serde JSON from processes and as MessagePack
// (rmp_serde::to_vec_named) from runtime extensions on a WebSocket; both read
// through the one schema below. What http-server sends (HttpServerRequest, the
// action's Result) is serde JSON; WebSocketExtPushData to an extension is MessagePack.

import { bool, bytes, field, isObject, optStr, optU64, str, u32, u64, variant } from "./fields.ts";
import { parseJsonBody } from "./json.ts";
import {
  expectValue,
  MsgReader,
  MsgWriter,
  readEnumTag,
  readStruct,
  requireFields,
  unitVariant,
} from "../net/msgpack.ts";

export type WsMessageType = "Text" | "Binary" | "Ping" | "Pong" | "Close";
/** Whether an extension's WebSocketPush is a Request or a Response. */
export type MessageType = "Request" | "Response";

const WS_MESSAGE_TYPES: readonly WsMessageType[] = ["Text", "Binary", "Ping", "Pong", "Close"];
const MESSAGE_TYPES: readonly MessageType[] = ["Request", "Response"];
const U32_MAX = 0xffffffff;
export interface IncomingHttpRequest {
  source_socket_addr: string | null;
  method: string;
  url: string;
  bound_path: string;
  headers: Record<string, string>;
  url_params: Record<string, string>;
  query_params: Record<string, string>;
}

/**
 * `{ Http: r }` (HttpServerRequest::Http) as serde JSON, exactly what
 * JSON.stringify writes for it (serde's field order), without walking the
 * wrapper objects: http-server writes one per forwarded request.
 */
export function httpRequestJson(r: IncomingHttpRequest): string {
  const addr = r.source_socket_addr;
  return '{"Http":{"source_socket_addr":' + (addr === null ? "null" : JSON.stringify(addr)) +
    ',"method":' + JSON.stringify(r.method) +
    ',"url":' + JSON.stringify(r.url) +
    ',"bound_path":' + JSON.stringify(r.bound_path) +
    ',"headers":' + JSON.stringify(r.headers) +
    ',"url_params":' + JSON.stringify(r.url_params) +
    ',"query_params":' + JSON.stringify(r.query_params) + "}}";
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
}

/** What http-server sends to processes, as serde JSON writes it. */
export type HttpServerRequest =
  | { Http: IncomingHttpRequest }
  | {
    WebSocketOpen: {
      path: string;
      channel_id: number;
      source_socket_addr: string | null;
      forwarded_for: string | null;
    };
  }
  | { WebSocketPush: { channel_id: number; message_type: WsMessageType } }
  | { WebSocketClose: number };

export type HttpServerAction =
  | { tag: "Bind"; path: string; authenticated: boolean; localOnly: boolean; cache: boolean }
  | { tag: "SecureBind"; path: string; cache: boolean }
  | { tag: "Unbind"; path: string }
  | { tag: "WebSocketBind"; path: string; authenticated: boolean; extension: boolean }
  | { tag: "WebSocketSecureBind"; path: string; extension: boolean }
  | { tag: "WebSocketUnbind"; path: string }
  | { tag: "WebSocketOpen"; path: string; channelId: number }
  | { tag: "WebSocketPush"; channelId: number; messageType: WsMessageType }
  | {
    tag: "WebSocketExtPushOutgoing";
    channelId: number;
    messageType: WsMessageType;
    desiredReplyType: MessageType;
  }
  | { tag: "WebSocketExtPushData"; id: bigint; hyperwareMessageType: MessageType; blob: Uint8Array }
  | { tag: "WebSocketClose"; channelId: number };

export type HttpServerError =
  | "MalformedRequest"
  | "NoBlob"
  | "InvalidSourceProcess"
  | "WsPingPongTooLong"
  | "WsChannelNotFound";

/** The answer to an action: serde's Result<(), HttpServerError>. */
export type HttpServerResult = { Ok: null } | { Err: HttpServerError };

/** An HttpServerError raised while handling an action. */
export class HttpServerFailure extends Error {
  constructor(readonly error: HttpServerError) {
    super(error);
  }
}

/** A fieldless enum's variant name, from `"Name"` (serde JSON's form). */
function unitOf<T extends string>(v: unknown, variants: readonly T[], name: string): T {
  if (typeof v !== "string" || !variants.includes(v as T)) throw new Error(`bad ${name}`);
  return v as T;
}

/** WsMessageType from serde JSON ("Text", "Binary", ...). */
export function wsMessageType(v: unknown): WsMessageType {
  return unitOf(v, WS_MESSAGE_TYPES, "WsMessageType");
}

// ---------------------------------------------------------------------------
// HttpServerAction: one schema, read from serde JSON or MessagePack

type Kind = "string" | "bool" | "u32" | "u64" | "bytes" | "ws" | "msg";
type ActionTag = HttpServerAction["tag"];
type StructTag = Exclude<ActionTag, "WebSocketClose">;

/** Each struct variant's fields in declaration order (WebSocketClose is a newtype u32). */
const FIELDS: Record<StructTag, readonly (readonly [string, Kind])[]> = {
  Bind: [
    ["path", "string"],
    ["authenticated", "bool"],
    ["local_only", "bool"],
    ["cache", "bool"],
  ],
  SecureBind: [["path", "string"], ["cache", "bool"]],
  Unbind: [["path", "string"]],
  WebSocketBind: [["path", "string"], ["authenticated", "bool"], ["extension", "bool"]],
  WebSocketSecureBind: [["path", "string"], ["extension", "bool"]],
  WebSocketUnbind: [["path", "string"]],
  WebSocketOpen: [["path", "string"], ["channel_id", "u32"]],
  WebSocketPush: [["channel_id", "u32"], ["message_type", "ws"]],
  WebSocketExtPushOutgoing: [
    ["channel_id", "u32"],
    ["message_type", "ws"],
    ["desired_reply_type", "msg"],
  ],
  WebSocketExtPushData: [["id", "u64"], ["hyperware_message_type", "msg"], ["blob", "bytes"]],
};
/** Declaration order: rmp-serde may name a variant by its index in it. */
const ACTION_TAGS: readonly ActionTag[] = [
  "Bind",
  "SecureBind",
  "Unbind",
  "WebSocketBind",
  "WebSocketSecureBind",
  "WebSocketUnbind",
  "WebSocketOpen",
  "WebSocketPush",
  "WebSocketExtPushOutgoing",
  "WebSocketExtPushData",
  "WebSocketClose",
];

function fromJson(kind: Kind, v: unknown): unknown {
  switch (kind) {
    case "string":
      return str(v);
    case "bool":
      return bool(v);
    case "u32":
      return u32(v);
    case "u64":
      return u64(v);
    case "bytes":
      return bytes(v);
    case "ws":
      return wsMessageType(v);
    case "msg":
      return unitOf(v, MESSAGE_TYPES, "MessageType");
  }
}

function fromMsgpack(kind: Kind, r: MsgReader): unknown {
  switch (kind) {
    case "string":
      return r.str();
    case "bool":
      return r.bool();
    case "u32":
      return r.uint(U32_MAX);
    case "u64":
      return r.u64();
    case "bytes":
      return r.byteVec();
    case "ws":
      return readUnitEnum(r, "WsMessageType", WS_MESSAGE_TYPES);
    case "msg":
      return readUnitEnum(r, "MessageType", MESSAGE_TYPES);
  }
}

function readUnitEnum(r: MsgReader, name: string, variants: readonly string[]): string {
  const t = readEnumTag(r, name, variants);
  unitVariant(r, t, name);
  return t.variant;
}

/** The typed action from a variant's field values, in FIELDS order (already checked). */
function build(tag: ActionTag, v: unknown[]): HttpServerAction {
  switch (tag) {
    case "Bind":
      return {
        tag,
        path: v[0] as string,
        authenticated: v[1] as boolean,
        localOnly: v[2] as boolean,
        cache: v[3] as boolean,
      };
    case "SecureBind":
      return { tag, path: v[0] as string, cache: v[1] as boolean };
    case "Unbind":
    case "WebSocketUnbind":
      return { tag, path: v[0] as string };
    case "WebSocketBind":
      return {
        tag,
        path: v[0] as string,
        authenticated: v[1] as boolean,
        extension: v[2] as boolean,
      };
    case "WebSocketSecureBind":
      return { tag, path: v[0] as string, extension: v[1] as boolean };
    case "WebSocketOpen":
      return { tag, path: v[0] as string, channelId: v[1] as number };
    case "WebSocketPush":
      return { tag, channelId: v[0] as number, messageType: v[1] as WsMessageType };
    case "WebSocketExtPushOutgoing":
      return {
        tag,
        channelId: v[0] as number,
        messageType: v[1] as WsMessageType,
        desiredReplyType: v[2] as MessageType,
      };
    case "WebSocketExtPushData":
      return {
        tag,
        id: v[0] as bigint,
        hyperwareMessageType: v[1] as MessageType,
        blob: v[2] as Uint8Array,
      };
    case "WebSocketClose":
      return { tag, channelId: v[0] as number };
  }
}

/** A request body (serde JSON) as an HttpServerAction; throws MalformedRequest. */
export function parseHttpServerAction(body: Uint8Array): HttpServerAction {
  try {
    const [tag, val] = variant(parseJsonBody(body));
    if (tag === "WebSocketClose") return build(tag, [u32(val)]);
    if (!Object.hasOwn(FIELDS, tag)) throw new Error(`unknown variant ${tag}`);
    if (!isObject(val)) throw new Error(`${tag} needs fields`);
    const fields = FIELDS[tag as StructTag];
    const values: unknown[] = new Array(fields.length);
    for (let i = 0; i < fields.length; i++) {
      values[i] = fromJson(fields[i][1], field(val, fields[i][0]));
    }
    return build(tag as ActionTag, values);
  } catch {
    throw new HttpServerFailure("MalformedRequest");
  }
}

/**
 * An extension's MessagePack as an HttpServerAction, read as rmp_serde::from_slice
 * reads it (structs as maps or arrays, enum tags as names or indices). Throws a
 * DecodeError or Error when the bytes are not one.
 */
export function readHttpServerAction(bytes: Uint8Array): HttpServerAction {
  const r = new MsgReader(bytes);
  const t = readEnumTag(r, "HttpServerAction", ACTION_TAGS);
  expectValue(t, "HttpServerAction");
  const tag = t.variant as ActionTag;
  if (tag === "WebSocketClose") return build(tag, [r.uint(U32_MAX)]);
  const fields = FIELDS[tag as StructTag];
  const names = fields.map(([name]) => name);
  const values: unknown[] = new Array(fields.length);
  const seen = readStruct(r, tag, names, (i) => {
    values[i] = fromMsgpack(fields[i][1], r);
  });
  requireFields(tag, names, seen);
  return build(tag, values);
}

/**
 * HttpServerAction::WebSocketExtPushData as Hyperdrive sends it to an extension,
 * byte for byte rmp_serde::to_vec_named: maps keyed by field name, the unit
 * variant as its name, the u64 in its smallest form, Vec<u8> as an int array.
 */
export function encodeWebSocketExtPushData(
  id: bigint,
  hyperwareMessageType: MessageType,
  blob: Uint8Array,
): Uint8Array {
  return new MsgWriter(2 * blob.length + 64)
    .mapLen(1).str("WebSocketExtPushData")
    .mapLen(3)
    .str("id").uint(id)
    .str("hyperware_message_type").str(hyperwareMessageType)
    .str("blob").byteVec(blob)
    .finish();
}

// ---------------------------------------------------------------------------
// kit's RPC endpoint

/** The JSON POSTed to /rpc:distro:sys/message (Hyperdrive's http/utils.rs RpcMessage). */
export interface RpcMessage {
  node: string | null;
  process: string;
  inherit: boolean | null;
  expects_response: bigint | null;
  body: string | null;
  metadata: string | null;
  context: string | null;
  mime: string | null;
  data: string | null;
}

/** The POST body as an RpcMessage; throws when it is not one. */
export function parseRpcMessage(body: Uint8Array): RpcMessage {
  const o = parseJsonBody(body);
  if (!isObject(o)) throw new Error("RpcMessage must be an object");
  const inherit = o.inherit;
  return {
    node: optStr(o, "node"),
    process: str(field(o, "process")),
    inherit: inherit === undefined || inherit === null ? null : bool(inherit),
    expects_response: optU64(o, "expects_response") ?? null,
    body: optStr(o, "body"),
    metadata: optStr(o, "metadata"),
    context: optStr(o, "context"),
    mime: optStr(o, "mime"),
    data: optStr(o, "data"),
  };
}
