// http-server:distro:sys on Deno.serve, as Hyperdrive's hyperdrive/src/http/server.rs.
// Processes bind paths with HttpServerAction requests (actions.ts); an HTTP
// request to a bound path goes to the process and its HttpResponse back to the
// client (forward.ts, kit's RPC in rpc.ts); login and authentication (login.ts,
// auth.ts); WebSocket channels (websocket.ts). This file starts and stops the
// server and hands each message and request to its part.

import {
  HTTP_SERVER_PROCESS_ID,
  type KernelMessage,
  type WrappedSendError,
} from "../../wire/core.ts";
import type { RuntimeModuleContext } from "../../kernel/module.ts";
import { serve } from "../shared/runtime.ts";
import { HttpServerActions } from "./actions.ts";
import { importJwtKey } from "./auth.ts";
import { Bindings } from "./bindings.ts";
import {
  DEFAULT_LIMITS,
  type HttpServerLimits,
  type HttpServerModule,
  type HttpServerOptions,
  type ServerCore,
} from "./config.ts";
import { Forwarder } from "./forward.ts";
import { Login } from "./login.ts";
import { loadArgon2Script, renderLoginPage } from "./login_page.ts";
import { empty, readRequest, type RequestInfo } from "./request.ts";
import { WebSockets } from "./websocket.ts";

export type * from "../../wire/http_server.ts";
export {
  DEFAULT_HTTP_PORT,
  DEFAULT_LIMITS,
  HTTP_SELF_IMPOSED_TIMEOUT,
  HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION,
  type HttpServerLimits,
  type HttpServerModule,
  type HttpServerOptions,
  WS_SELF_IMPOSED_MAX_CONNECTIONS,
} from "./config.ts";
export { formatPathWithProcess, isUnsafePath, normalizePath } from "./request.ts";
export { authCookieName, generateJwt, importJwtKey, secureSubdomain, verifyJwt } from "./auth.ts";
export { type PasswordPrompt, promptPasswordInBrowser } from "./password_page.ts";

export function createHttpServer(options: HttpServerOptions): HttpServerModule {
  return new HttpServer(options);
}

/** The parts, made once start() knows the node. */
interface Parts {
  core: ServerCore;
  actions: HttpServerActions;
  forward: Forwarder;
  ws: WebSockets;
  login: Login;
}

class HttpServer implements HttpServerModule {
  readonly processId = HTTP_SERVER_PROCESS_ID;
  readonly public = false;

  #opts: HttpServerOptions;
  #limits: HttpServerLimits;
  #ctx!: RuntimeModuleContext;
  #parts!: Parts;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #port: number | undefined;
  #loginHtml = "";

  constructor(opts: HttpServerOptions) {
    this.#opts = opts;
    const t = opts.selfImposedTimeoutSeconds;
    // it becomes the u64 expects_response of every forwarded request
    if (t !== undefined && !(Number.isSafeInteger(t) && t >= 0)) {
      throw new RangeError(`selfImposedTimeoutSeconds must be a whole number of seconds: ${t}`);
    }
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
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
    const core: ServerCore = {
      ctx,
      self: { node: ctx.our, process: HTTP_SERVER_PROCESS_ID },
      opts: this.#opts,
      limits: this.#limits,
      jwtKey: await importJwtKey(this.#opts.jwtSecret),
      bindings: new Bindings(),
    };
    const forward = new Forwarder(core);
    const ws = new WebSockets(core);
    this.#parts = {
      core,
      actions: new HttpServerActions(core, ws, forward),
      forward,
      ws,
      login: new Login(core),
    };
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
    this.#parts?.ws.shutdown();
    this.#parts?.forward.shutdown();
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  /** Actions from processes, and processes' answers to forwarded requests. */
  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this.#parts.actions, km);
  }

  handleSendError(err: WrappedSendError): void {
    this.#parts.forward.onSendError(err);
  }

  /**
   * One HTTP request. Not async: a Response known at once goes back as is, and a
   * request waiting on a process returns the one promise it waits on.
   */
  #handle(
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> {
    const ri = readRequest(req, info.remoteAddr, this.#limits.maxHeaderBytes);
    if (ri instanceof Response) return ri;
    this.#ctx.print(2, `http-server: ${req.method} ${ri.originalPath}`);
    if (ri.headers["upgrade"]?.toLowerCase() === "websocket") return this.#upgrade(ri);
    return this.#route(ri);
  }

  async #upgrade(ri: RequestInfo): Promise<Response> {
    const res = await this.#parts.ws.upgrade(ri);
    if (res) return res;
    return await this.#route(ri);
  }

  #route(ri: RequestInfo): Response | Promise<Response> {
    if (ri.originalPath === "/login") {
      const method = ri.req.method;
      if (method === "GET") {
        return new Response(this.#loginHtml, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      if (method === "POST") return this.#parts.login.handle(ri);
    }
    return this.#parts.forward.handle(ri);
  }
}
