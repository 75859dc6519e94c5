// http-client:distro:sys's API (Hyperdrive lib/src/http/client_types.rs), all
// serde JSON: HttpClientAction in; Result<HttpClientResponse, HttpClientError>
// out; HttpClientRequest to a process from the WebSocket connections it opened.

import { field, isObject, optStr, str, stringMap, u32, variant } from "./fields.ts";
import { parseJsonBody } from "./json.ts";
import { type HttpResponse, type WsMessageType, wsMessageType } from "./http_server.ts";

export type { WsMessageType };

/**
 * The header http-client puts on every HTTP request and WebSocket handshake it
 * sends, whatever the process asked (a process's own header of that name, or a
 * Connection header naming it, is dropped first). http-server treats a request
 * carrying it as not from this machine, so a process with the http-client
 * capability cannot reach local-only paths, kit's RPC or extension WebSockets
 * through the node's own server, and removes it before a process sees the request.
 * Not part of Hyperdrive's API; any value counts.
 */
export const HTTP_CLIENT_TAG = "x-hyperdeno-http-client";

/** An outgoing request; its body is the blob, its timeout the request's expects_response. */
export interface OutgoingHttpRequest {
  method: string;
  version: string | null;
  url: string;
  headers: Record<string, string>;
}

export type HttpClientAction =
  | { tag: "Http"; request: OutgoingHttpRequest }
  | { tag: "WebSocketOpen"; url: string; headers: Record<string, string>; channelId: number }
  | { tag: "WebSocketPush"; channelId: number; messageType: WsMessageType }
  | { tag: "WebSocketClose"; channelId: number };

/** What http-client sends a process from a WebSocket it opened. */
export type HttpClientRequest =
  | { WebSocketPush: { channel_id: number; message_type: WsMessageType } }
  | { WebSocketClose: { channel_id: number } };

export type HttpClientResponse = { Http: HttpResponse } | "WebSocketAck";

export type HttpClientError =
  | "MalformedRequest"
  | { BadMethod: { method: string } }
  | { BadUrl: { url: string } }
  | { BadVersion: { version: string } }
  | { BuildRequestFailed: string }
  | { ExecuteRequestFailed: string }
  | { WsOpenFailed: { url: string } }
  | { WsPushUnknownChannel: { channel_id: number } }
  | "WsPushNoBlob"
  | "WsPushBadText"
  | { WsCloseFailed: { channel_id: number } };

export type HttpClientResult = { Ok: HttpClientResponse } | { Err: HttpClientError };

/** A request body (serde JSON) as an HttpClientAction; throws when it is not one. */
export function parseHttpClientAction(body: Uint8Array): HttpClientAction {
  const [tag, val] = variant(parseJsonBody(body));
  if (!isObject(val)) throw new Error(`${tag} needs fields`);
  switch (tag) {
    case "Http":
      return {
        tag,
        request: {
          method: str(field(val, "method")),
          version: optStr(val, "version"),
          url: str(field(val, "url")),
          headers: stringMap(field(val, "headers")),
        },
      };
    case "WebSocketOpen":
      return {
        tag,
        url: str(field(val, "url")),
        headers: stringMap(field(val, "headers")),
        channelId: u32(field(val, "channel_id")),
      };
    case "WebSocketPush":
      return {
        tag,
        channelId: u32(field(val, "channel_id")),
        messageType: wsMessageType(field(val, "message_type")),
      };
    case "WebSocketClose":
      return { tag, channelId: u32(field(val, "channel_id")) };
  }
  throw new Error(`unknown variant ${tag}`);
}
