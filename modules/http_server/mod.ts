// http-server:distro:sys on Deno.serve. Processes bind paths with
// HttpServerAction requests; an HTTP request to a bound path goes to the
// process as HttpServerRequest::Http (body in the blob) and the process's
// HttpResponse (body in the blob) goes back to the client. WebSocket channels,
// login, and kit's RPC endpoint as Hyperdrive's hyperdrive/src/http/server.rs.

import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import {
  type Address,
  checkProcessId,
  HTTP_SERVER_PROCESS_ID,
  type KernelMessage,
  type LazyLoadBlob,
  parseProcessId,
  type ProcessId,
  processIdEquals,
  processIdToString,
  responseTo,
  textDecoder,
  textEncoder,
  type WrappedSendError,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { decodeKeyfile } from "../keyfile/mod.ts";
import {
  authTokenValid,
  generateJwt,
  importJwtKey,
  secureSubdomain as secureSubdomainOf,
} from "./auth.ts";
import { loadArgon2Script, renderLoginPage } from "./login_page.ts";
import { PathRouter } from "./router.ts";
import {
  actionFromValue,
  type HttpResponse,
  type HttpServerAction,
  type HttpServerError,
  type HttpServerRequest,
  type IncomingHttpRequest,
  MalformedAction,
  type MessageType,
  parseAction,
  parseRpcMessage,
  type WsMessageType,
} from "../../wire/http_server.ts";
import { readStreamLimited } from "../shared/bytes.ts";

export type * from "../../wire/http_server.ts";
export { authCookieName, generateJwt, importJwtKey, secureSubdomain, verifyJwt } from "./auth.ts";
export { type PasswordPrompt, promptPasswordInBrowser } from "./password_page.ts";

export const DEFAULT_HTTP_PORT = 8080;
/** Seconds to wait for a process's HttpResponse, unless X-Hyperware-Http-Server-Timeout says. */
export const HTTP_SELF_IMPOSED_TIMEOUT = 15;
/**
 * The same wait in Hyperdrive's simulation-mode build: the fake nodes kit boots.
 * kit run-tests waits on tester's Run over RPC for as long as the tests take.
 */
export const HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION = 600;
export const WS_SELF_IMPOSED_MAX_CONNECTIONS = 128;
const RPC_PATH = "/rpc:distro:sys/message";
const RPC_PROCESS_ID = parseProcessId("rpc:distro:sys");
const HOMEPAGE = "homepage:homepage:sys";
const LOGIN_BODY_LIMIT = 16 * 1024;
const REVERSE_PROXY_HEADERS = [
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
];

export interface HttpServerLimits {
  /** Largest request body accepted (413 beyond). */
  maxBodyBytes: number;
  /** Largest total size of request header names and values (431 beyond). */
  maxHeaderBytes: number;
  /** A WebSocket client that leaves more than this unread is closed (1008). */
  wsMaxBufferedBytes: number;
  /** Requests waiting on processes at once (503 beyond). */
  maxPendingRequests: number;
  /** Concurrent /login attempts (each costs a PBKDF2 run; 429 beyond). */
  maxConcurrentLogins: number;
  /** Open WebSockets (Hyperdrive's WS_SELF_IMPOSED_MAX_CONNECTIONS; 503 beyond). */
  maxWebSockets: number;
  /** An upgraded WebSocket that has not opened within this many ms gives its slot back. */
  wsHandshakeTimeoutMs: number;
}

export const DEFAULT_LIMITS: HttpServerLimits = {
  maxBodyBytes: 64 * 1024 * 1024,
  maxHeaderBytes: 64 * 1024,
  wsMaxBufferedBytes: 16 * 1024 * 1024,
  maxPendingRequests: 4096,
  maxConcurrentLogins: 4,
  maxWebSockets: WS_SELF_IMPOSED_MAX_CONNECTIONS,
  wsHandshakeTimeoutMs: 10_000,
};

export interface HttpServerOptions {
  /** Port to serve on; 0 picks a free one; false serves no HTTP (the module still answers actions). */
  port: number | false;
  /** If `port` is taken, try the next ones (up to 8999, or port+1000), as Hyperdrive's default port. */
  searchPort?: boolean;
  /** Interface to listen on; default "0.0.0.0" as Hyperdrive. */
  hostname?: string;
  /** The keyfile's JWT secret: signs and checks login cookies. */
  jwtSecret: Uint8Array;
  /** The encrypted keyfile as on disk; POST /login decrypts it with the password hash. */
  encodedKeyfile?: Uint8Array;
  /** Serve local-only paths and RPC to loopback clients (Hyperdrive's --expose-local). Default false. */
  exposeLocal?: boolean;
  /**
   * Seconds to wait for a process's answer when the client sends no
   * X-Hyperware-Http-Server-Timeout: HTTP_SELF_IMPOSED_TIMEOUT (default), or
   * HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION to behave as a fake node.
   */
  selfImposedTimeoutSeconds?: number;
  limits?: Partial<HttpServerLimits>;
}

export interface HttpServerModule extends RuntimeModule {
  /** The port being served, once started (undefined with port false). */
  readonly port: number | undefined;
  /** Base URL for local clients, e.g. "http://localhost:8080", once started. */
  readonly url: string | undefined;
}

interface BoundPath {
  app?: ProcessId;
  path: string;
  secureSubdomain?: string;
  authenticated: boolean;
  localOnly: boolean;
  staticContent?: LazyLoadBlob;
}

interface BoundWsPath {
  app?: ProcessId;
  secureSubdomain?: string;
  authenticated: boolean;
  extension: boolean;
}

interface Pending {
  resolve: (r: Response) => void;
  /** performance.now() after which the client gets 408 */
  deadline: number;
  rpc: boolean;
  /** Only the process asked may answer. */
  target: Address;
}

/** How often waiting requests are checked for their deadline (one timer for all). */
const DEADLINE_TICK_MS = 100;

interface Channel {
  owner: Address;
  socket: WebSocket;
  extension: boolean;
  open: boolean;
}

interface RequestInfo {
  req: Request;
  remote: Deno.NetAddr | undefined;
  rawPath: string;
  rawQuery: string;
  originalPath: string;
  host: string;
  hostname: string;
  headers: Record<string, string>;
}

export function createHttpServer(options: HttpServerOptions): HttpServerModule {
  return new HttpServer(options);
}

/** Hyperdrive's normalize_path: drop one trailing '/'. */
export function normalizePath(path: string): string {
  return path.endsWith("/") ? path.slice(0, -1) : path;
}

/** Every bound path starts with the binder's ProcessId (homepage binds at the root). */
export function formatPathWithProcess(process: ProcessId, path: string): string {
  const p = processIdToString(process);
  if (p === HOMEPAGE) return normalizePath(path);
  return path.startsWith("/") ? `/${p}${normalizePath(path)}` : `/${p}/${normalizePath(path)}`;
}

/** Dot segments, encoded slashes or backslashes, NULs, or bad escapes: a path that could escape. */
export function isUnsafePath(path: string): boolean {
  // fast path: no escapes, no backslash, no dot segment
  if (!/[%\\\0]|\/\.\.?(\/|$)|^\.\.?(\/|$)/.test(path)) return false;
  for (const seg of path.split("/")) {
    let d: string;
    try {
      d = decodeURIComponent(seg);
    } catch {
      return true;
    }
    if (d === "." || d === ".." || d.includes("/") || d.includes("\\") || d.includes("\0")) {
      return true;
    }
  }
  return false;
}

const HOST_CHARS = /^[A-Za-z0-9.\-:[\]_]*$/;

function hostnameOf(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(":");
  return colon < 0 ? host : host.slice(0, colon);
}

function isLoopback(addr: Deno.NetAddr | undefined): boolean {
  if (!addr) return false;
  const h = addr.hostname;
  return h.startsWith("127.") || h === "::1" || h.startsWith("::ffff:127.");
}

function socketAddrString(addr: Deno.NetAddr | undefined): string | null {
  if (!addr) return null;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

function isBehindReverseProxy(headers: Record<string, string>): boolean {
  return REVERSE_PROXY_HEADERS.some((h) => h in headers);
}

function forwardedIp(headers: Record<string, string>): string | null {
  const xff = headers["x-forwarded-for"];
  if (xff !== undefined) {
    const first = xff.split(",")[0].trim();
    if (first) return first;
  }
  for (const h of ["x-real-ip", "cf-connecting-ip"]) {
    const v = headers[h]?.trim();
    if (v) return v;
  }
  return null;
}

/**
 * The blob of a bodiless request: one shared empty array instead of a new
 * one per request (typed arrays cost ~0.3 us each to allocate here). Empty,
 * so nothing can write to it; the message is copied on its way to a process.
 */
const NO_BODY = new Uint8Array(0);

/** `path.split("/")[1] ?? ""` without the array. */
function firstSegment(path: string): string {
  const start = path.indexOf("/");
  if (start < 0) return "";
  const end = path.indexOf("/", start + 1);
  return end < 0 ? path.slice(start + 1) : path.slice(start + 1, end);
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// no surrounding whitespace, no control characters but tab, Latin-1 only:
// a value Headers.set would store unchanged
const HEADER_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;

/**
 * A process's response headers as a record Response can take directly, when
 * every entry is one Headers.set would store unchanged (valid name, clean
 * value): building a Headers object and setting each costs ~3x more. The
 * result equals that path's; anything unusual returns undefined for it.
 */
function plainHeaders(given: unknown): Record<string, string> | undefined {
  const out: Record<string, string> = { "content-type": "application/octet-stream" };
  if (!given || typeof given !== "object") return out;
  if (Array.isArray(given)) return undefined;
  for (const k in given) {
    if (!Object.hasOwn(given, k)) continue;
    const v = (given as Record<string, unknown>)[k];
    if (typeof v !== "string") continue;
    if (!HEADER_NAME.test(k) || !HEADER_VALUE.test(v)) return undefined;
    const name = k.toLowerCase();
    if (name === "__proto__") return undefined;
    out[name] = v;
  }
  return out;
}

function json(value: unknown, status: number, extra?: HeadersInit): Response {
  const headers = new Headers(extra);
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(value), { status, headers });
}

function empty(status: number): Response {
  return new Response(null, { status });
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function unbase64(s: string): Uint8Array | undefined {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

class BodyTooLarge extends Error {}

async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw new BodyTooLarge();
  return await readStreamLimited(req.body, limit, () => new BodyTooLarge());
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const WS_ACTION_TAGS = new Set([
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
]);

class HttpServer implements HttpServerModule {
  readonly processId = HTTP_SERVER_PROCESS_ID;
  readonly public = false;

  #opts: HttpServerOptions;
  #limits: HttpServerLimits;
  #ctx!: RuntimeModuleContext;
  #self!: Address;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #port: number | undefined;
  #jwtKey!: CryptoKey;
  #loginHtml = "";
  #loginsInFlight = 0;
  #paths = new PathRouter<BoundPath>();
  #wsPaths = new PathRouter<BoundWsPath>();
  #secureSubdomains = new Set<string>();
  #pending = new Map<bigint, Pending>();
  #channels = new Map<number, Channel>();
  #closing = false;

  constructor(opts: HttpServerOptions) {
    this.#opts = opts;
    const t = opts.selfImposedTimeoutSeconds;
    // it becomes the u64 expects_response of every forwarded request
    if (t !== undefined && !(Number.isSafeInteger(t) && t >= 0)) {
      throw new RangeError(`selfImposedTimeoutSeconds must be a whole number of seconds: ${t}`);
    }
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#paths.add(RPC_PATH, {
      app: RPC_PROCESS_ID,
      path: RPC_PATH,
      authenticated: false,
      localOnly: true,
    });
  }

  get port(): number | undefined {
    return this.#port;
  }

  get url(): string | undefined {
    if (this.#port === undefined) return undefined;
    const h = this.#opts.hostname ?? "0.0.0.0";
    const host = h === "0.0.0.0" || h === "::" ? "localhost" : h.includes(":") ? `[${h}]` : h;
    return `http://${host}:${this.#port}`;
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#ctx = ctx;
    this.#self = { node: ctx.our, process: HTTP_SERVER_PROCESS_ID };
    this.#jwtKey = await importJwtKey(this.#opts.jwtSecret);
    if (this.#opts.port === false) return;
    this.#loginHtml = renderLoginPage(ctx.our, await loadArgon2Script());
    this.#listen(this.#opts.port);
  }

  #listen(first: number): void {
    const hostname = this.#opts.hostname ?? "0.0.0.0";
    const last = !this.#opts.searchPort || first === 0
      ? first
      : first < 8999
      ? 8999
      : Math.min(first + 1000, 65535);
    for (let port = first; port <= last; port++) {
      try {
        this.#server = Deno.serve({
          port,
          hostname,
          onListen: () => {},
          onError: (e) => {
            this.#ctx.print(1, `http-server: handler error: ${e}`);
            return empty(500);
          },
        }, (req, info) => this.#handle(req, info));
        this.#port = this.#server.addr.port;
        this.#ctx.print(1, `http-server: serving on ${this.url}`);
        return;
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse) || port === last) throw e;
      }
    }
  }

  async shutdown(): Promise<void> {
    this.#closing = true;
    for (const [id, p] of this.#pending) {
      p.resolve(empty(503));
      this.#pending.delete(id);
    }
    this.#stopSweeper();
    for (const [id, ch] of this.#channels) {
      this.#channels.delete(id);
      try {
        ch.socket.close(1001, "node shutting down");
      } catch {
        // already closing
      }
    }
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  // -------------------------------------------------------------------------
  // Messages from the kernel

  handleMessage(km: KernelMessage): void {
    if (km.message.tag === "response") this.#onResponse(km);
    else this.#onRequest(km);
  }

  handleSendError(err: WrappedSendError): void {
    const p = this.#pending.get(err.id);
    if (!p) return;
    this.#pending.delete(err.id);
    // a process that never answered, or a target that is not running
    p.resolve(empty(err.error.kind === "timeout" ? 408 : 503));
  }

  #onResponse(km: KernelMessage): void {
    const p = this.#pending.get(km.id);
    if (!p || km.message.tag !== "response") return;
    if (km.source.node !== p.target.node || !processIdEquals(km.source.process, p.target.process)) {
      this.#ctx.print(
        1,
        `http-server: ignoring a response from ${km.source.node} that was not asked`,
      );
      return;
    }
    this.#pending.delete(km.id);
    const [response] = km.message.val;
    if (p.rpc) {
      // kit reads `body` as bytes and `lazy_load_blob.bytes` as base64 text bytes
      const blob = km.lazyLoadBlob
        ? {
          mime: km.lazyLoadBlob.mime ?? null,
          bytes: Array.from(textEncoder.encode(base64(km.lazyLoadBlob.bytes))),
        }
        : null;
      p.resolve(
        new Response(JSON.stringify({ body: Array.from(response.body), lazy_load_blob: blob }), {
          status: 200,
          headers: { "content-type": "text/html" },
        }),
      );
      return;
    }
    let parsed: HttpResponse;
    try {
      parsed = JSON.parse(textDecoder.decode(response.body));
      if (!parsed || typeof parsed.status !== "number") throw new Error("no status");
    } catch {
      p.resolve(empty(500));
      return;
    }
    p.resolve(this.#toHttpResponse(parsed, km.lazyLoadBlob?.bytes));
  }

  #toHttpResponse(r: HttpResponse, body: Uint8Array | undefined): Response {
    let status = r.status;
    if (!Number.isInteger(status) || status < 200 || status > 599) status = 500;
    const bytes = NULL_BODY_STATUSES.has(status) ? null : (body ?? new Uint8Array(0));
    const plain = plainHeaders(r.headers);
    if (plain) {
      return new Response(bytes as Uint8Array<ArrayBuffer> | null, { status, headers: plain });
    }
    // warp sends a byte body as application/octet-stream unless the process says otherwise
    const headers = new Headers({ "content-type": "application/octet-stream" });
    if (r.headers && typeof r.headers === "object") {
      for (const [k, v] of Object.entries(r.headers)) {
        if (typeof v !== "string") continue;
        try {
          headers.set(k, v);
        } catch {
          // invalid header names/values are skipped, as Hyperdrive does
        }
      }
    }
    return new Response(bytes as Uint8Array<ArrayBuffer> | null, { status, headers });
  }

  #reply(id: bigint, target: Address, result: HttpServerError | null): void {
    const body = result === null ? '{"Ok":null}' : JSON.stringify({ Err: result });
    this.#ctx.sendToLoop(responseTo(id, this.#self, target, textEncoder.encode(body)));
  }

  #onRequest(km: KernelMessage): void {
    if (km.message.tag !== "request") return;
    const req = km.message.val;
    let action: HttpServerAction;
    try {
      action = parseAction(req.body);
    } catch {
      this.#ctx.print(1, `http-server: malformed request from ${km.source.node}`);
      this.#reply(km.id, km.source, "MalformedRequest");
      return;
    }
    const error = this.#act(km, action);
    if (error === "no-ack") return;
    if (error !== null) {
      this.#reply(km.id, km.source, error);
      return;
    }
    if (km.rsvp !== undefined || req.expectsResponse !== undefined) {
      this.#reply(km.id, km.rsvp ?? km.source, null);
    }
  }

  /** Performs an action; an error to report, null for Ok, or "no-ack" (the ext will answer). */
  #act(km: KernelMessage, action: HttpServerAction): HttpServerError | null | "no-ack" {
    const source = km.source;
    switch (action.kind) {
      case "Bind":
      case "SecureBind": {
        const path = this.#bindablePath(source, action.path);
        if (typeof path !== "string") return path.error;
        const secure = action.kind === "SecureBind";
        const subdomain = secure ? secureSubdomainOf(source.process) : undefined;
        if (subdomain) this.#secureSubdomains.add(subdomain);
        if (action.cache && !km.lazyLoadBlob) return "NoBlob";
        this.#ctx.print(3, `http-server: binding ${path} for ${processIdToString(source.process)}`);
        this.#paths.add(path, {
          app: source.process,
          path,
          secureSubdomain: subdomain,
          authenticated: secure ? true : (action as { authenticated: boolean }).authenticated,
          localOnly: secure ? false : (action as { local_only: boolean }).local_only,
          staticContent: action.cache ? km.lazyLoadBlob : undefined,
        });
        return null;
      }
      case "WebSocketBind":
      case "WebSocketSecureBind": {
        const path = this.#bindablePath(source, action.path);
        if (typeof path !== "string") return path.error;
        const secure = action.kind === "WebSocketSecureBind";
        const subdomain = secure ? secureSubdomainOf(source.process) : undefined;
        if (subdomain) this.#secureSubdomains.add(subdomain);
        this.#wsPaths.add(path, {
          app: source.process,
          secureSubdomain: subdomain,
          authenticated: secure ? true : (action as { authenticated: boolean }).authenticated,
          extension: action.extension,
        });
        return null;
      }
      case "Unbind":
      case "WebSocketUnbind": {
        if (source.node !== this.#ctx.our) return "InvalidSourceProcess";
        const path = formatPathWithProcess(source.process, action.path);
        if (action.kind === "Unbind") {
          this.#paths.add(path, { path, authenticated: false, localOnly: false });
        } else {
          this.#wsPaths.add(path, { authenticated: false, extension: false });
        }
        return null;
      }
      case "WebSocketOpen":
      case "WebSocketExtPushData":
        // only ever sent by http-server, never to it
        return "MalformedRequest";
      case "WebSocketPush":
        return this.#push(km, action.channel_id, action.message_type);
      case "WebSocketExtPushOutgoing": {
        const err = this.#push(
          km,
          action.channel_id,
          action.message_type,
          action.desired_reply_type,
        );
        return err ?? "no-ack";
      }
      case "WebSocketClose":
        return this.#closeFromProcess(source, action.channel_id);
    }
  }

  /** The full path a local, well-named process may bind, or the error to give it. */
  #bindablePath(source: Address, path: string): string | { error: HttpServerError } {
    if (source.node !== this.#ctx.our) return { error: "InvalidSourceProcess" };
    try {
      checkProcessId(source.process);
    } catch {
      return { error: "InvalidSourceProcess" };
    }
    const full = formatPathWithProcess(source.process, path);
    // a dot segment would point outside the process's own prefix
    if (isUnsafePath(full)) return { error: "MalformedRequest" };
    return full;
  }

  #ownedChannel(source: Address, channelId: number): Channel | undefined {
    const ch = this.#channels.get(channelId);
    if (
      !ch || ch.owner.node !== source.node || !processIdEquals(ch.owner.process, source.process)
    ) {
      return undefined;
    }
    return ch;
  }

  #push(
    km: KernelMessage,
    channelId: number,
    type: WsMessageType,
    ext?: MessageType,
  ): HttpServerError | null {
    const blob = km.lazyLoadBlob;
    if (!blob) return "NoBlob";
    let bytes = blob.bytes;
    if (ext !== undefined) {
      if (type !== "Binary") return "NoBlob";
      bytes = msgpackEncode(
        {
          WebSocketExtPushData: {
            id: km.id,
            hyperware_message_type: ext,
            blob: Array.from(bytes),
          },
        },
        { useBigInt64: true },
      );
    }
    if (type === "Close") return this.#closeFromProcess(km.source, channelId);
    if ((type === "Ping" || type === "Pong") && bytes.length > 125) return "WsPingPongTooLong";
    const ch = this.#ownedChannel(km.source, channelId);
    if (!ch || !ch.open || ch.socket.readyState !== WebSocket.OPEN) return "WsChannelNotFound";
    if (ch.socket.bufferedAmount > this.#limits.wsMaxBufferedBytes) {
      // the client stopped reading: drop it rather than buffer without bound
      this.#dropChannel(channelId, ch, 1008, "client not reading");
      return "WsChannelNotFound";
    }
    // Deno answers pings itself and cannot send custom ping/pong frames
    if (type === "Ping" || type === "Pong") return null;
    try {
      if (type === "Text") ch.socket.send(textDecoder.decode(bytes));
      else ch.socket.send(bytes as Uint8Array<ArrayBuffer>);
    } catch {
      return "WsChannelNotFound";
    }
    return null;
  }

  #closeFromProcess(source: Address, channelId: number): HttpServerError | null {
    const ch = this.#channels.get(channelId);
    if (!ch) return null;
    if (!this.#ownedChannel(source, channelId)) return "WsChannelNotFound";
    this.#channels.delete(channelId);
    try {
      ch.socket.close();
    } catch {
      // already closing
    }
    // the owner hears WebSocketClose when the socket's close completes
    ch.open = false;
    this.#notifyClose(channelId, ch);
    return null;
  }

  #dropChannel(channelId: number, ch: Channel, code: number, reason: string): void {
    this.#channels.delete(channelId);
    ch.open = false;
    try {
      ch.socket.close(code, reason);
    } catch {
      // already closing
    }
    this.#notifyClose(channelId, ch);
  }

  #notified = new WeakSet<Channel>();

  #notifyClose(channelId: number, ch: Channel): void {
    if (this.#notified.has(ch) || this.#closing) return;
    this.#notified.add(ch);
    this.#sendToProcess(ch.owner.process, { WebSocketClose: channelId });
  }

  #sendToProcess(
    process: ProcessId,
    body: HttpServerRequest,
    blob?: LazyLoadBlob,
    expectsResponse?: bigint,
  ): bigint {
    const id = this.#ctx.newMessageId();
    this.#ctx.sendToLoop({
      id,
      source: this.#self,
      target: { node: this.#ctx.our, process },
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse,
          body: textEncoder.encode(JSON.stringify(body)),
          metadata: undefined,
          capabilities: [],
        },
      },
      lazyLoadBlob: blob,
    });
    return id;
  }

  // -------------------------------------------------------------------------
  // HTTP

  async #handle(req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Promise<Response> {
    let headerBytes = 0;
    const headers: Record<string, string> = {};
    // forEach visits the same sorted, combined pairs as for-of, without an
    // iterator result per header (~6x cheaper in Deno)
    req.headers.forEach((v, k) => {
      headerBytes += k.length + v.length;
      headers[k] = v;
    });
    if (headerBytes > this.#limits.maxHeaderBytes) {
      return json("request headers too large", 431);
    }
    const host = req.headers.get("host") ?? "localhost";
    if (!HOST_CHARS.test(host)) return json("invalid Host header", 400);
    // Deno builds req.url as scheme://host + request-target, unnormalized
    const afterScheme = req.url.indexOf("://") + 3;
    const slash = req.url.indexOf("/", afterScheme);
    const target = slash < 0 ? "/" : req.url.slice(slash);
    const hashAt = target.indexOf("#");
    const noFragment = hashAt < 0 ? target : target.slice(0, hashAt);
    const q = noFragment.indexOf("?");
    const rawPath = q < 0 ? noFragment : noFragment.slice(0, q);
    const rawQuery = q < 0 ? "" : noFragment.slice(q + 1);
    if (isUnsafePath(rawPath)) return json("invalid path", 400);
    const ri: RequestInfo = {
      req,
      remote: info.remoteAddr,
      rawPath,
      rawQuery,
      originalPath: normalizePath(rawPath),
      host,
      hostname: hostnameOf(host),
      headers,
    };
    this.#ctx.print(2, `http-server: ${req.method} ${ri.originalPath}`);

    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const res = await this.#handleWs(ri);
      if (res) return res;
    }
    if (ri.originalPath === "/login") {
      if (req.method === "GET") {
        return new Response(this.#loginHtml, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      if (req.method === "POST") return await this.#login(ri);
    }
    return await this.#handleHttp(ri);
  }

  #isLocalhost(ri: RequestInfo): boolean {
    return ri.host.includes("localhost");
  }

  #needLogin(ri: RequestInfo): Response {
    const accept = ri.req.headers.get("accept") ?? "";
    if (ri.req.method === "GET" && accept.includes("text/html")) {
      const back = ri.rawPath + (ri.rawQuery ? `?${ri.rawQuery}` : "");
      return new Response(null, {
        status: 302,
        headers: { location: `/login?redirect=${encodeURIComponent(back)}` },
      });
    }
    return json("authentication required: log in at /login", 401);
  }

  async #handleHttp(ri: RequestInfo): Promise<Response> {
    const { req, originalPath } = ri;
    const route = this.#paths.recognize(originalPath) ??
      this.#paths.recognize(firstSegment(originalPath));
    if (!route || !route.value.app) {
      if (req.method === "GET" && originalPath === "/our") {
        return new Response(this.#ctx.our, { headers: { "content-type": "text/html" } });
      }
      if (req.method === "GET" && originalPath === "/our.js") {
        return new Response(`window.our = {}; window.our.node = '${this.#ctx.our}';`, {
          headers: { "content-type": "application/javascript" },
        });
      }
      return empty(404);
    }
    const bound = route.value;
    const app = bound.app!;
    const cookie = ri.headers["cookie"] ?? "";

    if (bound.authenticated) {
      const requestSubdomain = ri.hostname.split(".")[0];
      if (bound.secureSubdomain !== undefined) {
        if (!requestSubdomain) {
          return new Response("attempted to access secure subdomain without host", {
            status: 401,
          });
        }
        if (requestSubdomain !== bound.secureSubdomain) {
          const proto = ri.headers["x-forwarded-proto"] ?? "http";
          const query = ri.rawQuery ? `?${ri.rawQuery}` : "";
          return new Response(null, {
            status: 307,
            headers: {
              location: `${proto}://${bound.secureSubdomain}.${ri.host}${originalPath}${query}`,
            },
          });
        }
        if (bound.secureSubdomain !== secureSubdomainOf(app)) {
          return new Response("secure subdomain can only serve its associated package", {
            status: 403,
          });
        }
        const scope = this.#isLocalhost(ri) ? processIdToString(app) : undefined;
        if (!(await authTokenValid(this.#jwtKey, this.#ctx.our, scope, cookie))) {
          return this.#needLogin(ri);
        }
      } else {
        if (
          requestSubdomain && this.#secureSubdomains.has(requestSubdomain) &&
          requestSubdomain !== secureSubdomainOf(app)
        ) {
          return new Response("secure subdomain can only serve its associated package", {
            status: 403,
          });
        }
        if (!(await authTokenValid(this.#jwtKey, this.#ctx.our, undefined, cookie))) {
          return this.#needLogin(ri);
        }
      }
    }

    if (
      bound.localOnly &&
      (!isLoopback(ri.remote) || isBehindReverseProxy(ri.headers) || !this.#opts.exposeLocal)
    ) {
      return empty(403);
    }

    if (req.method === "GET" && bound.staticContent) {
      return new Response(bound.staticContent.bytes as Uint8Array<ArrayBuffer>, {
        status: 200,
        headers: { "content-type": bound.staticContent.mime ?? "text/plain" },
      });
    }

    if (this.#pending.size >= this.#limits.maxPendingRequests) {
      return json("too many requests in flight", 503);
    }

    let body: Uint8Array;
    try {
      // a GET/HEAD without a declared body needs no stream read
      body = (req.method === "GET" || req.method === "HEAD") &&
          ri.headers["content-length"] === undefined &&
          ri.headers["transfer-encoding"] === undefined
        ? NO_BODY
        : await readBody(req, this.#limits.maxBodyBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) return json("request body too large", 413);
      return json("could not read request body", 400);
    }

    const timeoutHeader = ri.headers["x-hyperware-http-server-timeout"];
    const parsedTimeout = timeoutHeader !== undefined && /^\d+$/.test(timeoutHeader)
      ? Number(timeoutHeader)
      : NaN;
    const timeout = Number.isFinite(parsedTimeout)
      ? parsedTimeout
      : this.#opts.selfImposedTimeoutSeconds ?? HTTP_SELF_IMPOSED_TIMEOUT;

    const id = this.#ctx.newMessageId();
    let km: KernelMessage;
    let rpc = false;
    if (processIdEquals(app, RPC_PROCESS_ID)) {
      const built = this.#rpcMessage(id, body);
      if (built instanceof Response) return built;
      km = built;
      rpc = true;
      if (km.message.tag === "request" && km.message.val.expectsResponse === undefined) {
        this.#ctx.sendToLoop(km);
        return empty(200);
      }
    } else {
      const query: Record<string, string> = {};
      if (ri.rawQuery !== "") {
        for (const [k, v] of new URLSearchParams(ri.rawQuery)) query[k] = v;
      }
      const incoming: IncomingHttpRequest = {
        source_socket_addr: socketAddrString(ri.remote),
        method: req.method,
        url: `http://${ri.hostname}${originalPath}`,
        bound_path: bound.path,
        headers: ri.headers,
        url_params: route.params,
        query_params: query,
      };
      km = {
        id,
        source: this.#self,
        target: { node: this.#ctx.our, process: app },
        message: {
          tag: "request",
          val: {
            inherit: false,
            expectsResponse: BigInt(timeout),
            body: textEncoder.encode(
              JSON.stringify({ Http: incoming } satisfies HttpServerRequest),
            ),
            metadata: undefined,
            capabilities: [],
          },
        },
        lazyLoadBlob: { mime: undefined, bytes: body },
      };
    }
    return await this.#awaitProcess(km, timeout, rpc);
  }

  /** Send `km` and wait for its response; a disconnected client's slot ends at the timeout. */
  #awaitProcess(km: KernelMessage, timeoutSeconds: number, rpc: boolean): Promise<Response> {
    return new Promise<Response>((resolve) => {
      const deadline = performance.now() + timeoutSeconds * 1000;
      this.#pending.set(km.id, { resolve, deadline, rpc, target: km.target });
      this.#startSweeper();
      this.#ctx.sendToLoop(km);
    });
  }

  #sweeper: ReturnType<typeof setInterval> | undefined;

  // One interval for all waiting requests instead of a timer each; it runs
  // only while something waits, so an idle server holds no timers.
  #startSweeper(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const [id, p] of this.#pending) {
        if (p.deadline <= now) {
          this.#pending.delete(id);
          p.resolve(empty(408));
        }
      }
      if (this.#pending.size === 0) this.#stopSweeper();
    }, DEADLINE_TICK_MS);
  }

  #stopSweeper(): void {
    if (this.#sweeper === undefined) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** kit's RPC: a JSON RpcMessage becomes a request from http-server to the named process. */
  #rpcMessage(id: bigint, body: Uint8Array): KernelMessage | Response {
    let rpc;
    let target: ProcessId;
    try {
      rpc = parseRpcMessage(textDecoder.decode(body));
      target = parseProcessId(rpc.process);
    } catch {
      return empty(400);
    }
    this.#ctx.print(2, `http-server: passing on RPC message to ${rpc.process}`);
    const bytes = rpc.data === null ? undefined : unbase64(rpc.data);
    const expects = rpc.expects_response ?? undefined;
    return {
      id,
      source: this.#self,
      target: { node: rpc.node ?? this.#ctx.our, process: target },
      rsvp: expects === undefined ? undefined : this.#self,
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: expects,
          body: rpc.body === null ? new Uint8Array(0) : textEncoder.encode(rpc.body),
          metadata: rpc.metadata ?? undefined,
          capabilities: [],
        },
      },
      lazyLoadBlob: bytes ? { mime: rpc.mime ?? undefined, bytes } : undefined,
    };
  }

  // -------------------------------------------------------------------------
  // Login

  async #login(ri: RequestInfo): Promise<Response> {
    const keyfile = this.#opts.encodedKeyfile;
    if (!keyfile) return json("login unavailable: this node has no keyfile", 503);
    let info: { password_hash: string; subdomain: string | null };
    try {
      const body = await readBody(ri.req, LOGIN_BODY_LIMIT);
      const v = JSON.parse(textDecoder.decode(body));
      if (
        !v || typeof v.password_hash !== "string" ||
        !(v.subdomain == null || typeof v.subdomain === "string")
      ) {
        throw new Error("bad shape");
      }
      info = { password_hash: v.password_hash, subdomain: v.subdomain ?? null };
    } catch (e) {
      if (e instanceof BodyTooLarge) return json("login body too large", 413);
      return json("Failed to parse login info", 400);
    }
    const redirect = new URLSearchParams(ri.rawQuery).get("redirect");
    if (
      redirect !== null &&
      (!redirect.startsWith("/") || redirect.startsWith("//") || redirect.startsWith("/\\"))
    ) {
      return json("redirect must be a path on this node", 400);
    }
    if (this.#loginsInFlight >= this.#limits.maxConcurrentLogins) {
      return json("too many login attempts in progress", 429);
    }
    this.#loginsInFlight++;
    let jwtSecret: Uint8Array;
    try {
      jwtSecret = (await decodeKeyfile(keyfile, info.password_hash)).jwtSecret;
    } catch (e) {
      return json(`Failed to decode keyfile: ${(e as Error).message}`, 500);
    } finally {
      this.#loginsInFlight--;
    }
    const localhost = this.#isLocalhost(ri);
    const token = await generateJwt(
      await importJwtKey(jwtSecret),
      this.#ctx.our,
      localhost ? info.subdomain : null,
    );
    const subdomain = (info.subdomain ?? "").replace(/[^A-Za-z0-9\-:.]/g, "");
    const cookie = subdomain === ""
      ? `hyperware-auth_${this.#ctx.our}=${token}; domain=.${ri.hostname};`
      : `hyperware-auth_${this.#ctx.our}@${subdomain}=${token};`;
    const headers = new Headers({
      "set-cookie": cookie,
      "HttpOnly": "true",
      "Secure": "true",
      "SameSite": "Strict",
    });
    if (redirect !== null) {
      const proto = ri.headers["x-forwarded-proto"] ?? "http";
      headers.set("location", `${proto}://${ri.host}${redirect}`);
      return new Response(null, { status: 303, headers });
    }
    return json(base64(keyfile), 200, headers);
  }

  // -------------------------------------------------------------------------
  // WebSockets

  /** A response for a WebSocket upgrade, or undefined if no WebSocket is bound there. */
  async #handleWs(ri: RequestInfo): Promise<Response | undefined> {
    const route = this.#wsPaths.recognize(ri.originalPath);
    if (!route || !route.value.app) return undefined;
    const bound = route.value;
    const app = bound.app!;
    if (this.#channels.size >= this.#limits.maxWebSockets) {
      this.#ctx.print(0, `http-server: too many open websockets; rejecting`);
      return json("too many open websockets", 503);
    }
    if (bound.authenticated) {
      const cookie = ri.headers["cookie"];
      if (!cookie) return json("authentication required", 401);
      if (bound.secureSubdomain !== undefined) {
        const requestSubdomain = ri.hostname.split(".")[0];
        const scope = this.#isLocalhost(ri) ? processIdToString(app) : undefined;
        if (
          requestSubdomain !== bound.secureSubdomain ||
          bound.secureSubdomain !== secureSubdomainOf(app) ||
          !(await authTokenValid(this.#jwtKey, this.#ctx.our, scope, cookie))
        ) {
          return json("authentication required", 401);
        }
      } else if (!(await authTokenValid(this.#jwtKey, this.#ctx.our, undefined, cookie))) {
        return json("authentication required", 401);
      }
    }
    if (
      bound.extension &&
      (!isLoopback(ri.remote) || isBehindReverseProxy(ri.headers) || !this.#opts.exposeLocal)
    ) {
      return json("extensions connect from this machine only", 403);
    }
    const appStr = processIdToString(app);
    const trimmed = ri.originalPath.replace(/^\/+/, "");
    const rest = trimmed.startsWith(appStr) ? trimmed.slice(appStr.length) : "";
    const path = `/${rest.replace(/^\/+/, "")}`;

    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(ri.req);
    } catch {
      return json("bad WebSocket upgrade", 400);
    }
    const { socket, response } = upgraded;
    socket.binaryType = "arraybuffer";
    let channelId: number;
    do {
      channelId = crypto.getRandomValues(new Uint32Array(1))[0];
    } while (this.#channels.has(channelId));
    const ch: Channel = {
      owner: { node: this.#ctx.our, process: app },
      socket,
      extension: bound.extension,
      open: false,
    };
    // reserve the id now so the connection count holds during the handshake
    this.#channels.set(channelId, ch);
    const sourceAddr = socketAddrString(ri.remote);
    const fwd = forwardedIp(ri.headers);
    // a handshake that never completes must not hold a slot for good
    const handshake = setTimeout(() => {
      if (ch.open || this.#channels.get(channelId) !== ch) return;
      this.#channels.delete(channelId);
      try {
        socket.close();
      } catch {
        // not open
      }
    }, this.#limits.wsHandshakeTimeoutMs);
    socket.onopen = () => {
      clearTimeout(handshake);
      if (this.#channels.get(channelId) !== ch) return;
      ch.open = true;
      this.#sendToProcess(app, {
        WebSocketOpen: {
          path,
          channel_id: channelId,
          source_socket_addr: sourceAddr,
          forwarded_for: fwd,
        },
      });
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (this.#channels.get(channelId) !== ch) return;
      const text = typeof ev.data === "string";
      const bytes = text ? textEncoder.encode(ev.data) : new Uint8Array(ev.data as ArrayBuffer);
      this.#fromClient(ch, channelId, text ? "Text" : "Binary", bytes);
    };
    socket.onclose = () => {
      clearTimeout(handshake);
      const wasOpen = ch.open;
      if (this.#channels.get(channelId) === ch) this.#channels.delete(channelId);
      ch.open = false;
      if (wasOpen || this.#notified.has(ch)) this.#notifyClose(channelId, ch);
    };
    socket.onerror = () => {};
    return response;
  }

  #fromClient(ch: Channel, channelId: number, type: WsMessageType, bytes: Uint8Array): void {
    const app = ch.owner.process;
    const push: HttpServerRequest = {
      WebSocketPush: { channel_id: channelId, message_type: type },
    };
    if (!ch.extension) {
      this.#sendToProcess(app, push, { mime: undefined, bytes });
      return;
    }
    // an extension speaks MessagePack'd WebSocketExtPushData; anything else is a plain push
    let decoded: unknown;
    try {
      decoded = msgpackDecode(bytes, { useBigInt64: true });
    } catch {
      this.#sendToProcess(app, push, { mime: undefined, bytes });
      return;
    }
    const tag = decoded && typeof decoded === "object" && !Array.isArray(decoded) &&
        !(decoded instanceof Uint8Array) && Object.keys(decoded).length === 1
      ? Object.keys(decoded)[0]
      : undefined;
    if (tag === undefined || !WS_ACTION_TAGS.has(tag)) {
      this.#sendToProcess(app, push, { mime: undefined, bytes });
      return;
    }
    let action: HttpServerAction;
    try {
      action = actionFromValue(decoded);
    } catch (e) {
      if (!(e instanceof MalformedAction)) throw e;
      this.#sendToProcess(app, push, { mime: undefined, bytes });
      return;
    }
    if (action.kind !== "WebSocketExtPushData") {
      this.#ctx.print(1, `http-server: unexpected ${action.kind} from extension on ${channelId}`);
      return;
    }
    const body = textEncoder.encode(JSON.stringify(push));
    const blob = { mime: undefined, bytes: action.blob };
    const target = { node: this.#ctx.our, process: app };
    if (action.hyperware_message_type === "Request") {
      this.#ctx.sendToLoop({
        id: action.id,
        source: this.#self,
        target,
        message: {
          tag: "request",
          val: {
            inherit: false,
            expectsResponse: undefined,
            body,
            metadata: undefined,
            capabilities: [],
          },
        },
        lazyLoadBlob: blob,
      });
    } else {
      this.#ctx.sendToLoop(responseTo(action.id, this.#self, target, body, blob));
    }
  }
}
