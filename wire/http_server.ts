// http-server's message shapes, as serde (externally tagged, JSON) writes
// Hyperdrive's lib/src/http/server_types.rs.

export type WsMessageType = "Text" | "Binary" | "Ping" | "Pong" | "Close";
export type MessageType = "Request" | "Response";

const WS_MESSAGE_TYPES: readonly string[] = ["Text", "Binary", "Ping", "Pong", "Close"];
const MESSAGE_TYPES: readonly string[] = ["Request", "Response"];

export interface IncomingHttpRequest {
  source_socket_addr: string | null;
  method: string;
  url: string;
  bound_path: string;
  headers: Record<string, string>;
  url_params: Record<string, string>;
  query_params: Record<string, string>;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
}

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
  | { kind: "Bind"; path: string; authenticated: boolean; local_only: boolean; cache: boolean }
  | { kind: "SecureBind"; path: string; cache: boolean }
  | { kind: "Unbind"; path: string }
  | { kind: "WebSocketBind"; path: string; authenticated: boolean; extension: boolean }
  | { kind: "WebSocketSecureBind"; path: string; extension: boolean }
  | { kind: "WebSocketUnbind"; path: string }
  | { kind: "WebSocketOpen"; path: string; channel_id: number }
  | { kind: "WebSocketPush"; channel_id: number; message_type: WsMessageType }
  | {
    kind: "WebSocketExtPushOutgoing";
    channel_id: number;
    message_type: WsMessageType;
    desired_reply_type: MessageType;
  }
  | {
    kind: "WebSocketExtPushData";
    id: bigint;
    hyperware_message_type: MessageType;
    blob: Uint8Array;
  }
  | { kind: "WebSocketClose"; channel_id: number };

export type HttpServerError =
  | "MalformedRequest"
  | "NoBlob"
  | "InvalidSourceProcess"
  | "WsPingPongTooLong"
  | "WsChannelNotFound";

export class MalformedAction extends Error {}

function obj(v: unknown): Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new MalformedAction("not an object");
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, k: string): string {
  if (typeof o[k] !== "string") throw new MalformedAction(`${k} must be a string`);
  return o[k] as string;
}

function bool(o: Record<string, unknown>, k: string): boolean {
  if (typeof o[k] !== "boolean") throw new MalformedAction(`${k} must be a bool`);
  return o[k] as boolean;
}

export function u32(v: unknown, what = "channel_id"): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new MalformedAction(`${what} must be a u32`);
  }
  return v;
}

function wsType(v: unknown): WsMessageType {
  if (typeof v !== "string" || !WS_MESSAGE_TYPES.includes(v)) {
    throw new MalformedAction("bad message_type");
  }
  return v as WsMessageType;
}

function msgType(v: unknown): MessageType {
  if (typeof v !== "string" || !MESSAGE_TYPES.includes(v)) {
    throw new MalformedAction("bad MessageType");
  }
  return v as MessageType;
}

function u64(v: unknown): bigint {
  if (typeof v === "bigint" && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new MalformedAction("id must be a u64");
}

function byteArray(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v) && v.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) {
    return Uint8Array.from(v as number[]);
  }
  throw new MalformedAction("blob must be bytes");
}

/** An externally tagged HttpServerAction from an already-decoded JSON/MessagePack value. */
export function actionFromValue(v: unknown): HttpServerAction {
  const top = obj(v);
  const keys = Object.keys(top);
  if (keys.length !== 1) throw new MalformedAction("expected one variant");
  const tag = keys[0];
  const val = top[tag];
  switch (tag) {
    case "Bind": {
      const o = obj(val);
      return {
        kind: tag,
        path: str(o, "path"),
        authenticated: bool(o, "authenticated"),
        local_only: bool(o, "local_only"),
        cache: bool(o, "cache"),
      };
    }
    case "SecureBind": {
      const o = obj(val);
      return { kind: tag, path: str(o, "path"), cache: bool(o, "cache") };
    }
    case "Unbind":
    case "WebSocketUnbind":
      return { kind: tag, path: str(obj(val), "path") };
    case "WebSocketBind": {
      const o = obj(val);
      return {
        kind: tag,
        path: str(o, "path"),
        authenticated: bool(o, "authenticated"),
        extension: bool(o, "extension"),
      };
    }
    case "WebSocketSecureBind": {
      const o = obj(val);
      return { kind: tag, path: str(o, "path"), extension: bool(o, "extension") };
    }
    case "WebSocketOpen": {
      const o = obj(val);
      return { kind: tag, path: str(o, "path"), channel_id: u32(o.channel_id) };
    }
    case "WebSocketPush": {
      const o = obj(val);
      return { kind: tag, channel_id: u32(o.channel_id), message_type: wsType(o.message_type) };
    }
    case "WebSocketExtPushOutgoing": {
      const o = obj(val);
      return {
        kind: tag,
        channel_id: u32(o.channel_id),
        message_type: wsType(o.message_type),
        desired_reply_type: msgType(o.desired_reply_type),
      };
    }
    case "WebSocketExtPushData": {
      // rmp-serde accepts a struct as a map or as an array of its fields
      if (Array.isArray(val)) {
        if (val.length !== 3) throw new MalformedAction("bad WebSocketExtPushData");
        return {
          kind: tag,
          id: u64(val[0]),
          hyperware_message_type: msgType(val[1]),
          blob: byteArray(val[2]),
        };
      }
      const o = obj(val);
      return {
        kind: tag,
        id: u64(o.id),
        hyperware_message_type: msgType(o.hyperware_message_type),
        blob: byteArray(o.blob),
      };
    }
    case "WebSocketClose":
      return { kind: tag, channel_id: u32(val) };
    default:
      throw new MalformedAction(`unknown variant ${tag}`);
  }
}

export function parseAction(body: Uint8Array): HttpServerAction {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new MalformedAction("not JSON");
  }
  return actionFromValue(v);
}

/** The `data` of an RpcMessage POSTed to /rpc:distro:sys/message (Hyperdrive's http/utils.rs). */
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

function optStr(o: Record<string, unknown>, k: string): string | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new MalformedAction(`${k} must be a string or null`);
  return v;
}

export function parseRpcMessage(text: string): RpcMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new MalformedAction("not JSON");
  }
  const o = obj(v);
  const inherit = o.inherit;
  if (inherit !== undefined && inherit !== null && typeof inherit !== "boolean") {
    throw new MalformedAction("inherit must be a bool or null");
  }
  const er = o.expects_response;
  let expects: bigint | null = null;
  if (er !== undefined && er !== null) {
    if (typeof er !== "number" || !Number.isSafeInteger(er) || er < 0) {
      throw new MalformedAction("expects_response must be a u64 or null");
    }
    expects = BigInt(er);
  }
  return {
    node: optStr(o, "node"),
    process: str(o, "process"),
    inherit: (inherit as boolean | undefined) ?? null,
    expects_response: expects,
    body: optStr(o, "body"),
    metadata: optStr(o, "metadata"),
    context: optStr(o, "context"),
    mime: optStr(o, "mime"),
    data: optStr(o, "data"),
  };
}
