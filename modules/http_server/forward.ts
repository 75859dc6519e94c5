// HTTP requests to bound paths: each goes to the bound process as
// HttpServerRequest::Http (body in the blob) and waits for the process's
// HttpResponse (body in the blob), or for kit's RPC, for the named process's
// answer. Cached bindings are served without asking anyone. This is the hot
// path: one pending entry per request, one timer for all deadlines.

import {
  type Address,
  type KernelMessage,
  type ProcessId,
  processIdEquals,
  textDecoder,
  textEncoder,
  type WrappedSendError,
} from "../../wire/core.ts";
import {
  httpRequestJson,
  type HttpResponse,
  type IncomingHttpRequest,
} from "../../wire/http_server.ts";
import type { RuntimeModuleContext } from "../../kernel/module.ts";
import { type Bindings, type BoundPath, RPC_PROCESS_ID } from "./bindings.ts";
import { HTTP_SELF_IMPOSED_TIMEOUT, type HttpServerLimits, type ServerCore } from "./config.ts";
import { refuseHttp } from "./login.ts";
import {
  BodiesOverBudget,
  BodyTooLarge,
  empty,
  firstSegment,
  json,
  notFromThisMachine,
  readBodyBudgeted,
  type RequestInfo,
  socketAddrString,
} from "./request.ts";
import { ByteBudget } from "../shared/budget.ts";
import { type RouteMatch, RouteTooExpensive } from "./router.ts";
import { rpcAnswer, rpcRequest } from "./rpc.ts";

interface Pending {
  resolve: (r: Response) => void;
  /** Bytes of the server's body budget this request holds until it is answered. */
  held: number;
  /** performance.now() after which the client gets 408 */
  deadline: number;
  rpc: boolean;
  /** Only the process asked may answer. */
  target: Address;
}

/** How often waiting requests are checked for their deadline (one timer for all). */
const DEADLINE_TICK_MS = 100;

/**
 * The blob of a bodiless request: one shared empty array instead of a new
 * one per request (typed arrays cost ~0.3 us each to allocate here). Empty,
 * so nothing can write to it; the message is copied on its way to a process.
 */
const NO_BODY = new Uint8Array(0);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

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

/** What a process's HttpResponse body says, ready for a Response. */
interface Head {
  status: number;
  /** The headers as a record Response takes directly (plainHeaders), else undefined. */
  plain: Record<string, string> | undefined;
  /** The parsed headers, for the Headers path when `plain` is undefined. */
  given: unknown;
}

function headOf(r: HttpResponse): Head {
  let status = r.status;
  if (!Number.isInteger(status) || status < 200 || status > 599) status = 500;
  return { status, plain: plainHeaders(r.headers), given: r.headers };
}

function toHttpResponse(head: Head, body: Uint8Array | undefined): Response {
  const status = head.status;
  const bytes = NULL_BODY_STATUSES.has(status) ? null : (body ?? new Uint8Array(0));
  if (head.plain) {
    return new Response(bytes as Uint8Array<ArrayBuffer> | null, { status, headers: head.plain });
  }
  // warp sends a byte body as application/octet-stream unless the process says otherwise
  const headers = new Headers({ "content-type": "application/octet-stream" });
  const given = head.given;
  if (given && typeof given === "object") {
    for (const [k, v] of Object.entries(given)) {
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

/**
 * The last few HttpResponse bodies seen, byte for byte, with what they said: a
 * process answers most requests with the same status and headers, and comparing
 * ~60 bytes costs a small part of decoding and parsing them again. Only plain
 * heads are kept (their record is never written after it is made).
 */
class HeadCache {
  static readonly SIZE = 8;
  /** Longer bodies are parsed every time. */
  static readonly MAX_BYTES = 512;
  #keys: Uint8Array[] = [];
  #heads: Head[] = [];
  #next = 0;

  get(bytes: Uint8Array): Head | undefined {
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      if (sameBytes(keys[i], bytes)) return this.#heads[i];
    }
    return undefined;
  }

  put(bytes: Uint8Array, head: Head): void {
    if (!head.plain || bytes.length > HeadCache.MAX_BYTES) return;
    const at = this.#next;
    this.#keys[at] = bytes.slice();
    this.#heads[at] = head;
    this.#next = (at + 1) % HeadCache.SIZE;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Forwarder {
  readonly #core: ServerCore;
  readonly #ctx: RuntimeModuleContext;
  readonly #self: Address;
  readonly #limits: HttpServerLimits;
  readonly #bindings: Bindings;
  readonly #timeout: number;
  /** #timeout as the u64 expects_response. */
  readonly #timeoutBig: bigint;
  #pending = new Map<bigint, Pending>();
  readonly #heads = new HeadCache();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** Request bodies being read or waiting on a process (maxBufferedBodyBytes). */
  readonly #bodies: ByteBudget;

  constructor(core: ServerCore) {
    this.#core = core;
    this.#ctx = core.ctx;
    this.#self = core.self;
    this.#limits = core.limits;
    this.#bindings = core.bindings;
    this.#timeout = core.opts.selfImposedTimeoutSeconds ?? HTTP_SELF_IMPOSED_TIMEOUT;
    this.#timeoutBig = BigInt(this.#timeout);
    this.#bodies = new ByteBudget(core.limits.maxBufferedBodyBytes);
  }

  /**
   * An HTTP request (not /login, not a WebSocket upgrade) to whatever is bound
   * there. Synchronous until something has to wait (a login check, a body, the
   * process): the common bodiless GET costs no promise but the one it waits on.
   */
  handle(ri: RequestInfo): Response | Promise<Response> {
    const { req, originalPath } = ri;
    const paths = this.#bindings.paths;
    let route;
    try {
      route = paths.recognize(originalPath) ?? paths.recognize(firstSegment(originalPath));
    } catch (e) {
      if (e instanceof RouteTooExpensive) return json("path too long to route", 414);
      throw e;
    }
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
    if (route.value.authenticated) return this.#afterLogin(ri, route);
    return this.#pass(ri, route);
  }

  /** An authenticated binding: the login check first, then as any other. */
  async #afterLogin(ri: RequestInfo, route: RouteMatch<BoundPath>): Promise<Response> {
    const refused = await refuseHttp(this.#core, ri, route.value, route.value.app!);
    if (refused) return refused;
    return await this.#pass(ri, route);
  }

  /** Past routing and login: local-only, cache, the in-flight limit, then the body. */
  #pass(ri: RequestInfo, route: RouteMatch<BoundPath>): Response | Promise<Response> {
    const req = ri.req;
    const bound = route.value;
    if (bound.localOnly && notFromThisMachine(ri, this.#core.opts.exposeLocal)) return empty(403);

    if (req.method === "GET" && bound.staticContent) {
      return new Response(bound.staticContent.bytes as Uint8Array<ArrayBuffer>, {
        status: 200,
        headers: { "content-type": bound.staticContent.mime ?? "text/plain" },
      });
    }

    if (this.#pending.size >= this.#limits.maxPendingRequests) {
      return json("too many requests in flight", 503);
    }

    // a GET/HEAD without a declared body needs no stream read
    if (
      (req.method === "GET" || req.method === "HEAD") &&
      ri.headers["content-length"] === undefined &&
      ri.headers["transfer-encoding"] === undefined
    ) {
      return this.#send(ri, route, NO_BODY);
    }
    return this.#readThenSend(ri, route);
  }

  async #readThenSend(ri: RequestInfo, route: RouteMatch<BoundPath>): Promise<Response> {
    let body: Uint8Array;
    try {
      body = await readBodyBudgeted(ri.req, this.#limits.maxBodyBytes, this.#bodies);
    } catch (e) {
      if (e instanceof BodyTooLarge) return json("request body too large", 413);
      if (e instanceof BodiesOverBudget) {
        this.#ctx.print(1, "http-server: request bodies in flight at their limit; refusing one");
        return json("too many request bytes in flight", 503, { "retry-after": "1" });
      }
      return json("could not read request body", 400);
    }
    return await this.#send(ri, route, body);
  }

  /** The request to its process (or kit's RPC); the body's bytes are held until it is answered. */
  #send(
    ri: RequestInfo,
    route: RouteMatch<BoundPath>,
    body: Uint8Array,
  ): Response | Promise<Response> {
    const held = body.length;
    const bound = route.value;
    const app = bound.app!;

    const timeoutHeader = ri.headers["x-hyperware-http-server-timeout"];
    const parsedTimeout = timeoutHeader !== undefined && /^\d+$/.test(timeoutHeader)
      ? Number(timeoutHeader)
      : NaN;
    const timeout = Number.isFinite(parsedTimeout) ? parsedTimeout : this.#timeout;

    const id = this.#ctx.newMessageId();
    if (processIdEquals(app, RPC_PROCESS_ID)) {
      const km = rpcRequest(this.#ctx, this.#self, id, body);
      if (!km || (km.message.tag === "request" && km.message.val.expectsResponse === undefined)) {
        this.#bodies.give(held);
        if (!km) return empty(400);
        this.#ctx.sendToLoop(km);
        return empty(200);
      }
      return this.#awaitProcess(km, timeout, true, held);
    }
    const query: Record<string, string> = {};
    if (ri.rawQuery !== "") {
      for (const [k, v] of new URLSearchParams(ri.rawQuery)) query[k] = v;
    }
    const incoming: IncomingHttpRequest = {
      source_socket_addr: socketAddrString(ri.remote),
      method: ri.req.method,
      url: `http://${ri.hostname}${ri.originalPath}`,
      bound_path: bound.path,
      headers: ri.headers,
      url_params: route.params,
      query_params: query,
    };
    return this.#awaitProcess(
      this.#toProcess(
        id,
        app,
        incoming,
        timeout === this.#timeout ? this.#timeoutBig : BigInt(timeout),
        body,
      ),
      timeout,
      false,
      held,
    );
  }

  #toProcess(
    id: bigint,
    app: ProcessId,
    incoming: IncomingHttpRequest,
    expectsResponse: bigint,
    body: Uint8Array,
  ): KernelMessage {
    return {
      id,
      source: this.#self,
      target: { node: this.#ctx.our, process: app },
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse,
          body: textEncoder.encode(httpRequestJson(incoming)),
          metadata: undefined,
          capabilities: [],
        },
      },
      lazyLoadBlob: { mime: undefined, bytes: body },
    };
  }

  /** Send `km` and wait for its response; a disconnected client's slot ends at the timeout. */
  #awaitProcess(
    km: KernelMessage,
    timeoutSeconds: number,
    rpc: boolean,
    held: number,
  ): Promise<Response> {
    return new Promise<Response>((resolve) => {
      const deadline = performance.now() + timeoutSeconds * 1000;
      this.#pending.set(km.id, { resolve, held, deadline, rpc, target: km.target });
      this.#startSweeper();
      this.#ctx.sendToLoop(km);
    });
  }

  /** A waiting request ends: its slot and body bytes are given back, its client answered. */
  #finish(id: bigint, p: Pending, response: Response): void {
    this.#pending.delete(id);
    if (p.held !== 0) this.#bodies.give(p.held);
    p.resolve(response);
  }

  /** A process's Response: the HTTP answer to the request it was asked (only by whom was asked). */
  onResponse(km: KernelMessage): void {
    const p = this.#pending.get(km.id);
    if (!p || km.message.tag !== "response") return;
    if (km.source.node !== p.target.node || !processIdEquals(km.source.process, p.target.process)) {
      this.#ctx.print(
        1,
        `http-server: ignoring a response from ${km.source.node} that was not asked`,
      );
      return;
    }
    const [response] = km.message.val;
    if (p.rpc) {
      this.#finish(km.id, p, rpcAnswer(km, response.body));
      return;
    }
    const said = response.body;
    let head = this.#heads.get(said);
    if (!head) {
      let parsed: HttpResponse;
      try {
        parsed = JSON.parse(textDecoder.decode(said));
        if (!parsed || typeof parsed.status !== "number") throw new Error("no status");
      } catch {
        this.#finish(km.id, p, empty(500));
        return;
      }
      head = headOf(parsed);
      this.#heads.put(said, head);
    }
    this.#finish(km.id, p, toHttpResponse(head, km.lazyLoadBlob?.bytes));
  }

  /** A process that never answered (408), or a target that is not running (503). */
  onSendError(err: WrappedSendError): void {
    const p = this.#pending.get(err.id);
    if (!p) return;
    this.#finish(err.id, p, empty(err.error.kind === "timeout" ? 408 : 503));
  }

  shutdown(): void {
    for (const [id, p] of this.#pending) this.#finish(id, p, empty(503));
    this.#stopSweeper();
  }

  // One interval for all waiting requests instead of a timer each; it runs
  // only while something waits, so an idle server holds no timers.
  #startSweeper(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const [id, p] of this.#pending) {
        if (p.deadline <= now) this.#finish(id, p, empty(408));
      }
      if (this.#pending.size === 0) this.#stopSweeper();
    }, DEADLINE_TICK_MS);
  }

  #stopSweeper(): void {
    if (this.#sweeper === undefined) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
