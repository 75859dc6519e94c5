// http-client:distro:sys: outgoing HTTP requests and WebSocket client
// connections for processes, with the message shapes of Hyperdrive's
// lib/src/http/client_types.rs and behaviour of hyperdrive/src/http/client.rs.

import {
  type Address,
  HTTP_CLIENT_PROCESS_ID,
  type KernelMessage,
  type LazyLoadBlob,
  processIdToString,
  type Request as KernelRequest,
  responseTo,
  textEncoder,
} from "../../wire/core.ts";
import {
  HTTP_CLIENT_TAG,
  type HttpClientAction,
  type HttpClientError,
  type HttpClientRequest,
  type HttpClientResult,
  type OutgoingHttpRequest,
  parseHttpClientAction,
} from "../../wire/http_client.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { answer, type RequestHandler, serve } from "../shared/runtime.ts";
import { ByteBudget, readStreamBudgeted } from "../shared/budget.ts";

export type * from "../../wire/http_client.ts";

export interface HttpClientOptions {
  /** Largest response body passed back to a process (ExecuteRequestFailed beyond). */
  maxResponseBytes?: number;
  /**
   * Response bodies being read at once, across all requests (ExecuteRequestFailed
   * for the request that would pass it).
   */
  maxResponseBytesInFlight?: number;
  /** Http requests in flight at once, all processes together (ExecuteRequestFailed beyond). */
  maxConcurrentRequests?: number;
  /** Http requests in flight at once from one process (ExecuteRequestFailed beyond). */
  maxConcurrentRequestsPerProcess?: number;
  /**
   * Seconds an Http request that expects no response may run (its answer goes to
   * nobody; without a bound a stalled server would hold its slot for good).
   */
  unawaitedRequestSeconds?: number;
  /** Open WebSocket connections, opening ones included (WsOpenFailed beyond). */
  maxWebSockets?: number;
  /** Seconds to wait for a WebSocket handshake. */
  wsOpenTimeoutSeconds?: number;
}

/** http-client's limits when no option says otherwise. */
export const HTTP_CLIENT_DEFAULTS: Required<HttpClientOptions> = {
  maxResponseBytes: 128 * 1024 * 1024,
  maxResponseBytesInFlight: 256 * 1024 * 1024,
  maxConcurrentRequests: 256,
  maxConcurrentRequestsPerProcess: 64,
  unawaitedRequestSeconds: 300,
  maxWebSockets: 128,
  wsOpenTimeoutSeconds: 30,
};

const VERSIONS = new Set(["HTTP/0.9", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"]);
const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Content-Encodings fetch decodes unless the request asked for identity. */
const FETCH_DECODED = new Set(["gzip", "br"]);

export function createHttpClient(options: HttpClientOptions = {}): RuntimeModule {
  return new HttpClient(options);
}

/** "content-type" -> "Content-Type", as Hyperdrive reports response headers. */
export function toPascalCase(name: string): string {
  return name.split("-").map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join("-");
}

/**
 * Puts HTTP_CLIENT_TAG on outgoing headers: a process's own header of that name
 * goes, and so does the name in a Connection header (a proxy on the way would
 * drop a header listed there).
 */
export function tagOutgoing(headers: Headers): void {
  headers.delete(HTTP_CLIENT_TAG);
  const connection = headers.get("connection");
  if (connection !== null) {
    const kept = connection.split(",").map((t) => t.trim())
      .filter((t) => t !== "" && t.toLowerCase() !== HTTP_CLIENT_TAG);
    if (kept.length > 0) headers.set("connection", kept.join(", "));
    else headers.delete("connection");
  }
  headers.set(HTTP_CLIENT_TAG, "1");
}

interface Connection {
  socket: WebSocket;
  owner: Address;
}

class HttpClient implements RuntimeModule, RequestHandler<HttpClientAction, HttpClientResult> {
  readonly processId = HTTP_CLIENT_PROCESS_ID;
  readonly public = false;
  readonly name = "http-client";
  /**
   * Only this node's processes: another node would make this one fetch for it, from
   * inside its network and with its loopback (Hyperdrive's http-client serves them).
   */
  readonly remote = false;
  self!: Address;

  #ctx!: RuntimeModuleContext;
  readonly #o: Required<HttpClientOptions>;
  /** Keyed by "<process>|<channel_id>": channel ids are per process. */
  #sockets = new Map<string, Connection>();
  /** WebSocket handshakes under way (they count toward maxWebSockets). */
  #opening = 0;
  #inFlight = new Set<AbortController>();
  /** Http requests in flight per requesting process. */
  #perProcess = new Map<string, number>();
  readonly #responseBytes: ByteBudget;

  constructor(opts: HttpClientOptions) {
    this.#o = { ...HTTP_CLIENT_DEFAULTS };
    for (const [k, v] of Object.entries(opts)) {
      if (v !== undefined) (this.#o as Record<string, number>)[k] = v;
    }
    this.#responseBytes = new ByteBudget(this.#o.maxResponseBytesInFlight);
  }

  start(ctx: RuntimeModuleContext): void {
    this.#ctx = ctx;
    this.self = { node: ctx.our, process: HTTP_CLIENT_PROCESS_ID };
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

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  parse(_km: KernelMessage, req: KernelRequest): HttpClientAction {
    return parseHttpClientAction(req.body);
  }

  /**
   * Nothing here holds the mailbox: an Http request and a WebSocket handshake are
   * answered when they settle, while other messages keep flowing. WebSocket
   * actions are answered whether or not a response is expected, as Hyperdrive.
   */
  act(km: KernelMessage, action: HttpClientAction): undefined {
    const target = km.rsvp ?? km.source;
    switch (action.tag) {
      case "Http": {
        const expectsResponse = km.message.tag === "request"
          ? km.message.val.expectsResponse
          : undefined;
        this.#http(
          km.id,
          target,
          processIdToString(km.source.process),
          expectsResponse,
          action.request,
          km.lazyLoadBlob,
        );
        return;
      }
      case "WebSocketOpen":
        this.#wsOpen(target, action).then((r) => this.#answer(km, r));
        return;
      case "WebSocketPush":
        return this.#answer(km, this.#wsPush(target, action, km.lazyLoadBlob));
      case "WebSocketClose":
        return this.#answer(km, this.#wsClose(target, action.channelId));
    }
  }

  #answer(km: KernelMessage, result: HttpClientResult): undefined {
    answer(this.#ctx, this, km, { response: result }, true);
    return undefined;
  }

  /** A body that is no HttpClientAction: MalformedRequest, only if a response is expected. */
  error(_e: unknown, km: KernelMessage): undefined {
    if (km.message.tag === "request" && km.message.val.expectsResponse !== undefined) {
      this.#answer(km, { Err: "MalformedRequest" });
    }
    return undefined;
  }

  encode(r: HttpClientResult): Uint8Array {
    return textEncoder.encode(JSON.stringify(r));
  }

  #respond(id: bigint, target: Address, body: HttpClientResult, blob?: LazyLoadBlob): void {
    this.#ctx.sendToLoop(responseTo(id, this.self, target, this.encode(body), blob));
  }

  async #http(
    id: bigint,
    target: Address,
    requester: string,
    expectsResponse: bigint | undefined,
    req: OutgoingHttpRequest,
    blob: LazyLoadBlob | undefined,
  ): Promise<void> {
    // errors are only reported to a requester that waits for them
    const fail = (err: HttpClientError) => {
      if (expectsResponse !== undefined) this.#respond(id, target, { Err: err });
    };
    const o = this.#o;
    if (this.#inFlight.size >= o.maxConcurrentRequests) {
      this.#ctx.print(
        1,
        `http-client: ${o.maxConcurrentRequests} requests in flight; refusing one`,
      );
      return fail({
        ExecuteRequestFailed: `too many requests in flight (limit ${o.maxConcurrentRequests})`,
      });
    }
    const mine = this.#perProcess.get(requester) ?? 0;
    if (mine >= o.maxConcurrentRequestsPerProcess) {
      return fail({
        ExecuteRequestFailed:
          `too many requests in flight from ${requester} (limit ${o.maxConcurrentRequestsPerProcess})`,
      });
    }
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
    tagOutgoing(headers);
    // Hyperdrive's reqwest offers no encoding and hands bodies over as sent.
    // fetch would offer gzip and br and decode them, so ask for identity unless
    // the process chose an encoding itself.
    if (!headers.has("accept-encoding")) headers.set("accept-encoding", "identity");
    const fetchDecodes = headers.get("accept-encoding")!.trim().toLowerCase() !== "identity";
    const controller = new AbortController();
    const seconds = expectsResponse !== undefined
      ? Number(expectsResponse)
      : o.unawaitedRequestSeconds;
    const ms = Math.min(seconds * 1000, 2 ** 31 - 1);
    const timer = setTimeout(() => controller.abort(new Error("request timed out")), ms);
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
    this.#perProcess.set(requester, mine + 1);
    this.#ctx.print(2, `http-client: ${req.method} request to ${url}`);
    let held = 0;
    try {
      const res = await fetch(request);
      const bytes = await readStreamBudgeted(
        res.body,
        o.maxResponseBytes,
        this.#responseBytes,
        () => new Error(`response body larger than ${o.maxResponseBytes} bytes`),
        () =>
          new Error(
            `response bodies in flight over ${o.maxResponseBytesInFlight} bytes; try again later`,
          ),
      );
      held = bytes.length;
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
      this.#responseBytes.give(held);
      const left = (this.#perProcess.get(requester) ?? 1) - 1;
      if (left > 0) this.#perProcess.set(requester, left);
      else this.#perProcess.delete(requester);
    }
  }

  #key(owner: Address, channelId: number): string {
    return `${owner.node}@${processIdToString(owner.process)}|${channelId}`;
  }

  async #wsOpen(
    owner: Address,
    a: Extract<HttpClientAction, { tag: "WebSocketOpen" }>,
  ): Promise<HttpClientResult> {
    let url: URL;
    try {
      url = new URL(a.url);
    } catch {
      return { Err: { BadUrl: { url: a.url } } };
    }
    // a channel the process opens again replaces its old one: that one does not count
    const key = this.#key(owner, a.channelId);
    const open = this.#sockets.size - (this.#sockets.has(key) ? 1 : 0) + this.#opening;
    if (open >= this.#o.maxWebSockets) {
      this.#ctx.print(1, `http-client: ${this.#o.maxWebSockets} WebSockets open; refusing one`);
      return { Err: { WsOpenFailed: { url: url.toString() } } };
    }
    let socket: WebSocket;
    try {
      const headers = new Headers(a.headers);
      tagOutgoing(headers);
      socket = new WebSocket(url, { headers });
    } catch {
      return { Err: { WsOpenFailed: { url: url.toString() } } };
    }
    socket.binaryType = "arraybuffer";
    this.#opening++;
    const opened = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        try {
          socket.close();
        } catch {
          // not open yet
        }
        resolve(false);
      }, this.#o.wsOpenTimeoutSeconds * 1000);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(true);
      };
      socket.onerror = () => {
        clearTimeout(timer);
        resolve(false);
      };
    });
    this.#opening--;
    if (!opened) {
      this.#ctx.print(1, `http-client: could not open WebSocket to ${url}`);
      return { Err: { WsOpenFailed: { url: url.toString() } } };
    }
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
    const channelId = a.channelId;
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
      source: this.self,
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
    a: Extract<HttpClientAction, { tag: "WebSocketPush" }>,
    blob: LazyLoadBlob | undefined,
  ): HttpClientResult {
    const conn = this.#sockets.get(this.#key(owner, a.channelId));
    if (!conn) return { Err: { WsPushUnknownChannel: { channel_id: a.channelId } } };
    try {
      switch (a.messageType) {
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
  ): HttpClientResult {
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
