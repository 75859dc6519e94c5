// HttpServerAction requests from processes, on the runtime module template
// (modules/shared/runtime.ts): bind and unbind HTTP and WebSocket paths, push
// to and close WebSocket channels. As Hyperdrive's http-server: Ok goes to rsvp
// (else source) when a response is expected; an error always goes to the source.

import {
  type Address,
  checkProcessId,
  type KernelMessage,
  processIdToString,
  type Request,
  responseTo,
  textEncoder,
} from "../../wire/core.ts";
import {
  type HttpServerAction,
  type HttpServerError,
  HttpServerFailure,
  type HttpServerResult,
  parseHttpServerAction,
} from "../../wire/http_server.ts";
import type { Answer, RequestHandler } from "../shared/runtime.ts";
import { secureSubdomain } from "./auth.ts";
import type { Bindings } from "./bindings.ts";
import type { ServerCore } from "./config.ts";
import type { Forwarder } from "./forward.ts";
import { formatPathWithProcess, isUnsafePath } from "./request.ts";
import type { WebSockets } from "./websocket.ts";

const OK: Answer<HttpServerResult> = { response: { Ok: null } };

function fail(error: HttpServerError): never {
  throw new HttpServerFailure(error);
}

export class HttpServerActions implements RequestHandler<HttpServerAction, HttpServerResult> {
  readonly name = "http-server";
  /**
   * Other nodes' messages are not dropped here: a Response to a forwarded RPC can
   * come from another node. Their requests are answered InvalidSourceProcess (check).
   */
  readonly remote = true;
  readonly self: Address;
  readonly #core: ServerCore;
  readonly #bindings: Bindings;
  readonly #ws: WebSockets;
  readonly #forward: Forwarder;

  constructor(core: ServerCore, ws: WebSockets, forward: Forwarder) {
    this.self = core.self;
    this.#core = core;
    this.#bindings = core.bindings;
    this.#ws = ws;
    this.#forward = forward;
  }

  /** Processes' answers to forwarded HTTP and RPC requests (the hot path). */
  onResponse(km: KernelMessage): void {
    this.#forward.onResponse(km);
  }

  parse(_km: KernelMessage, req: Request): HttpServerAction {
    return parseHttpServerAction(req.body);
  }

  /**
   * Binding is for local processes with a well-formed name, within their own
   * prefix, up to maxBoundPathLength (an unbound path keeps its route, so Unbind
   * too). Nothing here is for other nodes: their requests are InvalidSourceProcess.
   */
  check(km: KernelMessage, action: HttpServerAction): void {
    const source = km.source;
    if (source.node !== this.#core.ctx.our) fail("InvalidSourceProcess");
    switch (action.tag) {
      case "Bind":
      case "SecureBind":
      case "WebSocketBind":
      case "WebSocketSecureBind": {
        try {
          checkProcessId(source.process);
        } catch {
          fail("InvalidSourceProcess");
        }
        const path = formatPathWithProcess(source.process, action.path);
        if (path.length > this.#core.limits.maxBoundPathLength) fail("MalformedRequest");
        // a dot segment would point outside the process's own prefix
        if (isUnsafePath(path)) fail("MalformedRequest");
        return;
      }
      case "Unbind":
      case "WebSocketUnbind": {
        const path = formatPathWithProcess(source.process, action.path);
        if (path.length > this.#core.limits.maxBoundPathLength) fail("MalformedRequest");
        return;
      }
    }
  }

  act(km: KernelMessage, action: HttpServerAction): Answer<HttpServerResult> | undefined {
    const source = km.source;
    const paths = this.#bindings;
    switch (action.tag) {
      case "Bind":
      case "SecureBind": {
        const path = formatPathWithProcess(source.process, action.path);
        const secure = action.tag === "SecureBind";
        const subdomain = secure ? secureSubdomain(source.process) : undefined;
        // added before the NoBlob check, as Hyperdrive does
        if (subdomain) paths.secureSubdomains.add(subdomain);
        if (action.cache && !km.lazyLoadBlob) fail("NoBlob");
        this.#core.ctx.print(
          3,
          `http-server: binding ${path} for ${processIdToString(source.process)}`,
        );
        paths.paths.add(path, {
          app: source.process,
          path,
          secureSubdomain: subdomain,
          authenticated: action.tag === "SecureBind" || action.authenticated,
          localOnly: action.tag === "Bind" && action.localOnly,
          staticContent: action.cache ? km.lazyLoadBlob : undefined,
        });
        return OK;
      }
      case "WebSocketBind":
      case "WebSocketSecureBind": {
        const path = formatPathWithProcess(source.process, action.path);
        const secure = action.tag === "WebSocketSecureBind";
        const subdomain = secure ? secureSubdomain(source.process) : undefined;
        if (subdomain) paths.secureSubdomains.add(subdomain);
        paths.wsPaths.add(path, {
          app: source.process,
          secureSubdomain: subdomain,
          authenticated: action.tag === "WebSocketSecureBind" || action.authenticated,
          extension: action.extension,
        });
        return OK;
      }
      case "Unbind": {
        const path = formatPathWithProcess(source.process, action.path);
        paths.paths.add(path, { path, authenticated: false, localOnly: false });
        return OK;
      }
      case "WebSocketUnbind":
        paths.wsPaths.add(formatPathWithProcess(source.process, action.path), {
          authenticated: false,
          extension: false,
        });
        return OK;
      case "WebSocketOpen":
      case "WebSocketExtPushData":
        // only ever sent by http-server, never to it
        return fail("MalformedRequest");
      case "WebSocketPush":
        return this.#result(this.#ws.push(km, action.channelId, action.messageType));
      case "WebSocketExtPushOutgoing": {
        const err = this.#ws.push(
          km,
          action.channelId,
          action.messageType,
          action.desiredReplyType,
        );
        if (err !== null) fail(err);
        // no Ok: the extension's WebSocketExtPushData, with this request's id, is the answer
        return undefined;
      }
      case "WebSocketClose":
        return this.#result(this.#ws.closeFromProcess(source, action.channelId));
    }
  }

  #result(err: ReturnType<WebSockets["push"]>): Answer<HttpServerResult> {
    if (err !== null) fail(err);
    return OK;
  }

  /** Errors go to the source, expected or not, never to rsvp (Hyperdrive's send_action_response). */
  error(e: unknown, km: KernelMessage): undefined {
    let error: HttpServerError = "MalformedRequest";
    if (e instanceof HttpServerFailure) error = e.error;
    else this.#core.ctx.print(1, `http-server: ${e instanceof Error ? e.message : e}`);
    if (error === "MalformedRequest") {
      this.#core.ctx.print(1, `http-server: malformed request from ${km.source.node}`);
    }
    this.#core.ctx.sendToLoop(
      responseTo(km.id, this.self, km.source, this.encode({ Err: error })),
    );
    return undefined;
  }

  encode(r: HttpServerResult): Uint8Array {
    // Ok is every push's answer: no JSON.stringify for it
    return textEncoder.encode("Ok" in r ? '{"Ok":null}' : JSON.stringify(r));
  }
}
