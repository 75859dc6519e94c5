// http-client:distro:sys: outgoing HTTP requests and WebSocket client
// connections for processes, with the message shapes of Hyperdrive's
// lib/src/http/client_types.rs and behaviour of hyperdrive/src/http/client.rs.

import {
  type Address,
  HTTP_CLIENT_PROCESS_ID,
  type KernelMessage,
  type LazyLoadBlob,
  processIdToString,
  responseTo,
  textDecoder,
  textEncoder,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { readStreamLimited } from "../shared/bytes.ts";

export type WsMessageType = "Text" | "Binary" | "Ping" | "Pong" | "Close";

export interface OutgoingHttpRequest {
  method: string;
  version: string | null;
  url: string;
  headers: Record<string, string>;
}

export type HttpClientAction =
  | { Http: OutgoingHttpRequest }
  | { WebSocketOpen: { url: string; headers: Record<string, string>; channel_id: number } }
  | { WebSocketPush: { channel_id: number; message_type: WsMessageType } }
  | { WebSocketClose: { channel_id: number } };

export type HttpClientRequest =
  | { WebSocketPush: { channel_id: number; message_type: WsMessageType } }
  | { WebSocketClose: { channel_id: number } };

export type HttpClientResponse =
  | { Http: { status: number; headers: Record<string, string> } }
  | "WebSocketAck";

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

export interface HttpClientOptions {
  /** Largest response body passed back to a process (ExecuteRequestFailed beyond). */
  maxResponseBytes?: number;
  /** Seconds to wait for a WebSocket handshake. */
  wsOpenTimeoutSeconds?: number;
}

const VERSIONS = new Set(["HTTP/0.9", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"]);
const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const WS_TYPES = new Set(["Text", "Binary", "Ping", "Pong", "Close"]);
/** Content-Encodings fetch decodes unless the request asked for identity. */
const FETCH_DECODED = new Set(["gzip", "br"]);

export function createHttpClient(options: HttpClientOptions = {}): RuntimeModule {
  return new HttpClient(options);
}

/** "content-type" -> "Content-Type", as Hyperdrive reports response headers. */
export function toPascalCase(name: string): string {
  return name.split("-").map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join("-");
}

class Malformed extends Error {}

function obj(v: unknown): Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Malformed();
  return v as Record<string, unknown>;
}

function u32(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new Malformed();
  }
  return v;
}

function stringMap(v: unknown): Record<string, string> {
  const o = obj(v);
  for (const x of Object.values(o)) if (typeof x !== "string") throw new Malformed();
  return o as Record<string, string>;
}

function parseAction(body: Uint8Array): HttpClientAction {
  let v: unknown;
  try {
    v = JSON.parse(textDecoder.decode(body));
  } catch {
    throw new Malformed();
  }
  const top = obj(v);
  const keys = Object.keys(top);
  if (keys.length !== 1) throw new Malformed();
  const o = obj(top[keys[0]]);
  switch (keys[0]) {
    case "Http": {
      if (typeof o.method !== "string" || typeof o.url !== "string") throw new Malformed();
      if (!(o.version == null || typeof o.version === "string")) throw new Malformed();
      return {
        Http: {
          method: o.method,
          version: (o.version as string | undefined) ?? null,
          url: o.url,
          headers: stringMap(o.headers),
        },
      };
    }
    case "WebSocketOpen":
      if (typeof o.url !== "string") throw new Malformed();
      return {
        WebSocketOpen: { url: o.url, headers: stringMap(o.headers), channel_id: u32(o.channel_id) },
      };
    case "WebSocketPush":
      if (typeof o.message_type !== "string" || !WS_TYPES.has(o.message_type)) {
        throw new Malformed();
      }
      return {
        WebSocketPush: {
          channel_id: u32(o.channel_id),
          message_type: o.message_type as WsMessageType,
        },
      };
    case "WebSocketClose":
      return { WebSocketClose: { channel_id: u32(o.channel_id) } };
    default:
      throw new Malformed();
  }
}

function readLimited(res: Response, limit: number): Promise<Uint8Array> {
  return readStreamLimited(
    res.body,
    limit,
    () => new Error(`response body larger than ${limit} bytes`),
  );
}

interface Connection {
  socket: WebSocket;
  owner: Address;
}

class HttpClient implements RuntimeModule {
  readonly processId = HTTP_CLIENT_PROCESS_ID;
  readonly public = false;

  #ctx!: RuntimeModuleContext;
  #self!: Address;
  #maxResponseBytes: number;
  #wsOpenTimeout: number;
  /** Keyed by "<process>|<channel_id>": channel ids are per process. */
  #sockets = new Map<string, Connection>();
  #inFlight = new Set<AbortController>();

  constructor(opts: HttpClientOptions) {
    this.#maxResponseBytes = opts.maxResponseBytes ?? 128 * 1024 * 1024;
    this.#wsOpenTimeout = opts.wsOpenTimeoutSeconds ?? 30;
  }

  start(ctx: RuntimeModuleContext): void {
    this.#ctx = ctx;
    this.#self = { node: ctx.our, process: HTTP_CLIENT_PROCESS_ID };
  }

  shutdown(): void {
    for (const c of this.#inFlight) c.abort();
    this.#inFlight.clear();
    for (const [key, conn] of this.#sockets) {
      this.#sockets.delete(key);
      try {
        conn.socket.close();
      } catch {
        // already closing
      }
    }
  }

  handleMessage(km: KernelMessage): void {
    if (km.message.tag !== "request") return;
    const { body, expectsResponse } = km.message.val;
    const target = km.rsvp ?? km.source;
    let action: HttpClientAction;
    try {
      action = parseAction(body);
    } catch {
      if (expectsResponse !== undefined) this.#respond(km.id, target, { Err: "MalformedRequest" });
      return;
    }
    if ("Http" in action) {
      // answered when the request completes; other messages keep flowing meanwhile
      this.#http(km.id, target, expectsResponse, action.Http, km.lazyLoadBlob);
      return;
    }
    if ("WebSocketOpen" in action) {
      // the handshake can take a while: answer when it settles
      this.#wsOpen(target, action.WebSocketOpen).then((r) => this.#respond(km.id, target, r));
      return;
    }
    let result: { Ok: HttpClientResponse } | { Err: HttpClientError };
    if ("WebSocketPush" in action) {
      result = this.#wsPush(target, action.WebSocketPush, km.lazyLoadBlob);
    } else {
      result = this.#wsClose(target, action.WebSocketClose.channel_id);
    }
    this.#respond(km.id, target, result);
  }

  #respond(id: bigint, target: Address, body: unknown, blob?: LazyLoadBlob): void {
    this.#ctx.sendToLoop(
      responseTo(id, this.#self, target, textEncoder.encode(JSON.stringify(body)), blob),
    );
  }

  async #http(
    id: bigint,
    target: Address,
    expectsResponse: bigint | undefined,
    req: OutgoingHttpRequest,
    blob: LazyLoadBlob | undefined,
  ): Promise<void> {
    // errors are only reported to a requester that waits for them
    const fail = (err: HttpClientError) => {
      if (expectsResponse !== undefined) this.#respond(id, target, { Err: err });
    };
    if (!METHOD_TOKEN.test(req.method)) return fail({ BadMethod: { method: req.method } });
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return fail({ BadUrl: { url: req.url } });
    }
    if (req.version !== null && !VERSIONS.has(req.version)) {
      return fail({ BadVersion: { version: req.version } });
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      try {
        headers.set(k, v);
      } catch {
        // invalid names/values are skipped, as Hyperdrive does
      }
    }
    // process_lib attaches a blob to every request, an empty one to a GET; fetch
    // refuses any body on GET/HEAD, so an empty one is left off
    const noBody = /^(GET|HEAD)$/i.test(req.method);
    if (noBody && blob && blob.bytes.length > 0) {
      return fail({ BuildRequestFailed: `a ${req.method} request body cannot be sent` });
    }
    // Hyperdrive's reqwest offers no encoding and hands bodies over as sent.
    // fetch would offer gzip and br and decode them, so ask for identity unless
    // the process chose an encoding itself.
    if (!headers.has("accept-encoding")) headers.set("accept-encoding", "identity");
    const fetchDecodes = headers.get("accept-encoding")!.trim().toLowerCase() !== "identity";
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (expectsResponse !== undefined) {
      const ms = Math.min(Number(expectsResponse) * 1000, 2 ** 31 - 1);
      timer = setTimeout(() => controller.abort(new Error("request timed out")), ms);
    }
    let request: Request;
    try {
      request = new Request(url, {
        method: req.method,
        headers,
        body: blob && !noBody ? (blob.bytes as Uint8Array<ArrayBuffer>) : undefined,
        signal: controller.signal,
      });
    } catch (e) {
      clearTimeout(timer);
      return fail({ BuildRequestFailed: (e as Error).message });
    }
    this.#inFlight.add(controller);
    this.#ctx.print(2, `http-client: ${req.method} request to ${url}`);
    try {
      const res = await fetch(request);
      const bytes = await readLimited(res, this.#maxResponseBytes);
      const resHeaders: Record<string, string> = {};
      // a body fetch decoded no longer has the encoding or length its headers state
      const decoded = fetchDecodes &&
        FETCH_DECODED.has(res.headers.get("content-encoding")?.trim().toLowerCase() ?? "");
      for (const [k, v] of res.headers) {
        if (decoded && (k === "content-encoding" || k === "content-length")) continue;
        resHeaders[toPascalCase(k)] = v;
      }
      this.#respond(
        id,
        target,
        { Ok: { Http: { status: res.status, headers: resHeaders } } },
        { mime: undefined, bytes },
      );
    } catch (e) {
      const reason = controller.signal.aborted ? controller.signal.reason : e;
      fail({ ExecuteRequestFailed: String((reason as Error)?.message ?? reason) });
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  #key(owner: Address, channelId: number): string {
    return `${owner.node}@${processIdToString(owner.process)}|${channelId}`;
  }

  async #wsOpen(
    owner: Address,
    a: { url: string; headers: Record<string, string>; channel_id: number },
  ): Promise<{ Ok: HttpClientResponse } | { Err: HttpClientError }> {
    let url: URL;
    try {
      url = new URL(a.url);
    } catch {
      return { Err: { BadUrl: { url: a.url } } };
    }
    let socket: WebSocket;
    try {
      socket = new WebSocket(url, { headers: a.headers });
    } catch {
      return { Err: { WsOpenFailed: { url: url.toString() } } };
    }
    socket.binaryType = "arraybuffer";
    const opened = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        try {
          socket.close();
        } catch {
          // not open yet
        }
        resolve(false);
      }, this.#wsOpenTimeout * 1000);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(true);
      };
      socket.onerror = () => {
        clearTimeout(timer);
        resolve(false);
      };
    });
    if (!opened) {
      this.#ctx.print(1, `http-client: could not open WebSocket to ${url}`);
      return { Err: { WsOpenFailed: { url: url.toString() } } };
    }
    const key = this.#key(owner, a.channel_id);
    const previous = this.#sockets.get(key);
    if (previous) {
      this.#sockets.delete(key);
      try {
        previous.socket.close();
      } catch {
        // already closing
      }
    }
    const conn: Connection = { socket, owner };
    this.#sockets.set(key, conn);
    const channelId = a.channel_id;
    socket.onmessage = (ev: MessageEvent) => {
      if (this.#sockets.get(key) !== conn) return;
      const text = typeof ev.data === "string";
      this.#toProcess(
        owner,
        { WebSocketPush: { channel_id: channelId, message_type: text ? "Text" : "Binary" } },
        {
          mime: text ? "text/plain" : "application/octet-stream",
          bytes: text ? textEncoder.encode(ev.data) : new Uint8Array(ev.data as ArrayBuffer),
        },
      );
    };
    socket.onerror = () => {};
    socket.onclose = () => {
      // a close the process asked for removed the entry already: no notice then
      if (this.#sockets.get(key) !== conn) return;
      this.#sockets.delete(key);
      this.#toProcess(owner, { WebSocketClose: { channel_id: channelId } });
    };
    return { Ok: "WebSocketAck" };
  }

  #toProcess(owner: Address, body: HttpClientRequest, blob?: LazyLoadBlob): void {
    this.#ctx.sendToLoop({
      id: this.#ctx.newMessageId(),
      source: this.#self,
      target: owner,
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: undefined,
          body: textEncoder.encode(JSON.stringify(body)),
          metadata: undefined,
          capabilities: [],
        },
      },
      lazyLoadBlob: blob,
    });
  }

  #wsPush(
    owner: Address,
    a: { channel_id: number; message_type: WsMessageType },
    blob: LazyLoadBlob | undefined,
  ): { Ok: HttpClientResponse } | { Err: HttpClientError } {
    const conn = this.#sockets.get(this.#key(owner, a.channel_id));
    if (!conn) return { Err: { WsPushUnknownChannel: { channel_id: a.channel_id } } };
    try {
      switch (a.message_type) {
        case "Text": {
          if (!blob) return { Err: "WsPushNoBlob" };
          let text: string;
          try {
            text = new TextDecoder("utf-8", { fatal: true }).decode(blob.bytes);
          } catch {
            return { Err: "WsPushBadText" };
          }
          conn.socket.send(text);
          break;
        }
        case "Binary":
          if (!blob) return { Err: "WsPushNoBlob" };
          conn.socket.send(blob.bytes as Uint8Array<ArrayBuffer>);
          break;
        case "Close":
          conn.socket.close();
          break;
        default:
          // Ping/Pong: the WebSocket API sends no control frames; Deno keeps the link alive itself
          break;
      }
    } catch {
      // like Hyperdrive, a failed send is not reported; the close notice follows
    }
    return { Ok: "WebSocketAck" };
  }

  #wsClose(
    owner: Address,
    channelId: number,
  ): { Ok: HttpClientResponse } | { Err: HttpClientError } {
    const key = this.#key(owner, channelId);
    const conn = this.#sockets.get(key);
    if (!conn) return { Err: { WsCloseFailed: { channel_id: channelId } } };
    this.#sockets.delete(key);
    try {
      conn.socket.close();
    } catch {
      // already closing
    }
    return { Ok: "WebSocketAck" };
  }
}
