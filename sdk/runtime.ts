// The process side of an app: what `app.main` runs. Loads state, adds the
// homepage tile, binds endpoints, runs init, then serves messages one at a time
// as a Rust hyperapp's loop does:
//
//   from http-server:distro:sys   Http -> HTTP methods; WebSocketOpen/Push/Close -> ws
//   from this node                local and remote methods
//   from other nodes              remote methods only
//
// and saves state after each handled message as the save option says.

import {
  type Address,
  addressString,
  dec,
  enc,
  parseAddress,
  processString,
  request,
  response,
  std,
  type WitRequest,
  type WitSendError,
} from "./std.ts";
import type { HyperApp, SaveOption } from "./app.ts";
import { decodeCall, type HttpMethod, Malformed, type MethodDef, sendErrorBody } from "./wire.ts";
import type { ResultType } from "./types.ts";

/** The live app, handed to every handler: state, who is calling, and helpers. */
export interface Context<S> {
  /** The app's state: change it in place or assign a new one. */
  state: S;
  /** This process: "node@process:package:publisher". */
  readonly our: string;
  /** This node's name. */
  readonly node: string;
  /** Who sent the message being handled ("node@process:package:publisher"). */
  readonly source: string;
  /** How the current call came: "init", "local", "remote", "http" or "ws". */
  readonly via: "init" | "local" | "remote" | "http" | "ws";
  /** The HTTP request being handled (HTTP methods only). */
  readonly http?: HttpInfo;
  /** Sets the HTTP answer's status (default 200). */
  setStatus(status: number): void;
  /** Adds a header to the HTTP answer. */
  setHeader(name: string, value: string): void;
  /** Sends a WebSocket message to an open channel. */
  push(channel: number, data: string | Uint8Array, type?: "Text" | "Binary"): void;
  /** Open WebSocket channels (on `path`, or all). */
  channels(path?: string): number[];
  /** Prints to the node's terminal at `verbosity` (default 0). */
  print(text: string, verbosity?: number): void;
  /** Saves state now, whatever the save option. */
  save(): void;
}

export interface HttpInfo {
  method: string;
  /** The path under the app's prefix, e.g. "/api" for /<process-id>/api. */
  path: string;
  url: string;
  boundPath: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

interface IncomingHttpRequest {
  method: string;
  url: string;
  bound_path: string;
  headers: Record<string, string>;
  query_params: Record<string, string>;
}

const HTTP_SERVER = "http-server:distro:sys";
const SAVE_TIMER = enc.encode("hyperdeno-sdk:save-timer");

class Runtime<S> implements Context<S> {
  state: S;
  readonly our: string;
  readonly node: string;
  source = "";
  via: Context<S>["via"] = "init";
  http?: HttpInfo;
  private status = 200;
  private headers: Record<string, string> = {};
  /** open WebSocket channels -> their bound path */
  private readonly open = new Map<number, string>();
  private readonly me: Address;
  private lastSaved?: string;
  private messages = 0;

  constructor(readonly app: HyperApp<S>) {
    this.me = std.our();
    this.our = addressString(this.me);
    this.node = this.me.node;
    this.state = this.load();
  }

  private local(process: string): Address {
    const [processName, packageName, publisherNode] = process.split(":");
    return { node: this.node, process: { processName, packageName, publisherNode } };
  }

  print(text: string, verbosity = 0): void {
    std.printToTerminal(verbosity, `${this.me.process.processName}: ${text}`);
  }

  setStatus(status: number): void {
    this.status = status;
  }

  setHeader(name: string, value: string): void {
    this.headers[name] = value;
  }

  channels(path?: string): number[] {
    return [...this.open].filter(([, p]) => path === undefined || p === path).map(([c]) => c);
  }

  push(channel: number, data: string | Uint8Array, type: "Text" | "Binary" = "Text"): void {
    this.pushAs(channel, typeof data === "string" ? enc.encode(data) : data, type);
  }

  private pushAs(channel: number, bytes: Uint8Array, type: string): void {
    std.sendRequest(
      this.local(HTTP_SERVER),
      request({ WebSocketPush: { channel_id: channel, message_type: type } }),
      undefined,
      { mime: undefined, bytes },
    );
  }

  // -------------------------------------------------------------------------
  // State

  private load(): S {
    const fresh = this.app.config.state();
    const bytes = std.getState();
    if (!bytes) return fresh;
    const text = dec.decode(bytes);
    let saved: unknown;
    try {
      saved = JSON.parse(text);
    } catch (e) {
      // as hyperapp: refuse to start rather than overwrite state we cannot read
      throw new Error(`saved state is not JSON (${(e as Error).message}); not starting`);
    }
    this.lastSaved = text;
    // fields added to the state since it was saved get their fresh values
    if (isObject(fresh) && isObject(saved)) return { ...fresh, ...saved } as S;
    return saved as S;
  }

  save(): void {
    const text = JSON.stringify(this.state);
    std.setState(enc.encode(text));
    this.lastSaved = text;
  }

  private saveIfChanged(): void {
    if (JSON.stringify(this.state) !== this.lastSaved) this.save();
  }

  /** After each handled message, as the save option says. */
  private afterMessage(): void {
    const opt: SaveOption = this.app.config.save ?? "EveryMessage";
    if (opt === "EveryMessage") return this.save();
    if (opt === "OnDiff") return this.saveIfChanged();
    if (typeof opt === "object" && "EveryNMessage" in opt) {
      if (++this.messages >= opt.EveryNMessage) {
        this.messages = 0;
        this.save();
      }
    }
    // Never; EveryNSeconds saves on its timer
  }

  private armSaveTimer(): void {
    const opt = this.app.config.save;
    if (typeof opt !== "object" || !("EveryNSeconds" in opt)) return;
    const ms = Math.max(1, opt.EveryNSeconds) * 1000;
    std.sendRequest(
      this.local("timer:distro:sys"),
      request({ SetTimer: ms }, ms / 1000 + 1),
      SAVE_TIMER,
      undefined,
    );
  }

  // -------------------------------------------------------------------------
  // Start

  start(): void {
    const cfg = this.app.config;
    if (cfg.homepage !== false) {
      const tile = cfg.homepage ?? {};
      std.sendRequest(
        this.local("homepage:homepage:sys"),
        request({
          Add: {
            label: tile.label ?? cfg.name,
            icon: tile.icon ?? null,
            path: tile.path !== undefined ? tile.path : cfg.ui ? "/" : null,
            widget: tile.widget ?? null,
          },
        }),
        undefined,
        undefined,
      );
    }
    // HTTP methods' own paths are bound too (else a UI at "/" would answer them)
    const endpoints = [...cfg.endpoints ?? []];
    const firstHttp = endpoints.find((e) => "http" in e);
    for (const m of this.app.methods) {
      const path = m.http?.path;
      if (path && !endpoints.some((e) => "http" in e && e.http === path)) {
        endpoints.push({ ...firstHttp, http: path });
      }
    }
    for (const e of endpoints) {
      if ("http" in e) {
        this.bind(
          e.secureSubdomain ? { SecureBind: { path: e.http, cache: false } } : {
            Bind: {
              path: e.http,
              authenticated: e.authenticated ?? true,
              local_only: !!e.localOnly,
              cache: false,
            },
          },
        );
      } else {
        this.bind({
          WebSocketBind: { path: e.ws, authenticated: e.authenticated ?? true, extension: false },
        });
      }
    }
    if (cfg.ui) this.serveUi(cfg.ui.dir ?? "ui", cfg.ui.authenticated ?? true);
    this.armSaveTimer();
    if (this.app.initHandler) {
      this.via = "init";
      this.source = this.our;
      this.app.initHandler(this);
    }
  }

  private ask(process: string, body: unknown, blob?: Uint8Array, mime?: string) {
    const [, msg] = std.sendAndAwaitResponse(
      this.local(process),
      request(body, 10),
      blob ? { mime, bytes: blob } : undefined,
    );
    if (msg.tag !== "response") throw new Error(`${process} did not answer`);
    return { answer: JSON.parse(dec.decode(msg.val[0].body)), blob: std.getBlob() };
  }

  private bind(action: Record<string, unknown>, content?: Uint8Array, mime?: string): void {
    const { answer } = this.ask(HTTP_SERVER, action, content, mime);
    if (!answer || typeof answer !== "object" || !("Ok" in answer)) {
      throw new Error(`binding ${JSON.stringify(action)} failed: ${JSON.stringify(answer)}`);
    }
  }

  /** Binds every file under the package's pkg/<dir> as cached content; index.html at "/". */
  private serveUi(dir: string, authenticated: boolean): void {
    const p = this.me.process;
    const root = `/${p.packageName}:${p.publisherNode}/pkg/${dir.replace(/^\/|\/$/g, "")}`;
    const files: string[] = [];
    const walk = (path: string) => {
      const { answer } = this.ask("vfs:distro:sys", { path, action: "ReadDir" });
      if (!answer?.ReadDir) throw new Error(`cannot list ${path}: ${JSON.stringify(answer)}`);
      for (const e of answer.ReadDir as { path: string; file_type: string }[]) {
        const full = e.path.startsWith("/") ? e.path : `/${e.path}`;
        if (e.file_type === "Directory") walk(full);
        else if (e.file_type === "File") files.push(full);
      }
    };
    walk(root);
    for (const file of files) {
      const { answer, blob } = this.ask("vfs:distro:sys", { path: file, action: "Read" });
      if (answer !== "Read" || !blob) throw new Error(`cannot read ${file}`);
      const rel = file.slice(root.length);
      const mime = MIME[rel.slice(rel.lastIndexOf(".") + 1)] ?? "application/octet-stream";
      const paths = rel === "/index.html" ? ["/", rel] : [rel];
      for (const path of paths) {
        this.bind(
          { Bind: { path, authenticated, local_only: false, cache: true } },
          blob.bytes,
          mime,
        );
      }
    }
  }

  // -------------------------------------------------------------------------
  // Serving

  serve(): never {
    for (;;) {
      let source: Address;
      let message;
      try {
        [source, message] = std.receive();
      } catch (e) {
        const [err, context] = (e as { payload?: [WitSendError, Uint8Array?] }).payload ?? [];
        if (context && sameBytes(context, SAVE_TIMER)) this.armSaveTimer();
        else if (err) {
          this.print(`a message to ${addressString(err.target)} failed: ${err.kind}`, 2);
        }
        continue;
      }
      if (message.tag === "response") {
        const context = message.val[1];
        if (context && sameBytes(context, SAVE_TIMER)) {
          this.saveIfChanged();
          this.armSaveTimer();
        }
        continue;
      }
      this.handleRequest(source, message.val);
    }
  }

  private handleRequest(source: Address, req: WitRequest): void {
    this.source = addressString(source);
    this.http = undefined;
    const fromHere = source.node === this.node;
    let body: unknown;
    try {
      body = JSON.parse(dec.decode(req.body));
    } catch {
      body = undefined;
    }
    if (fromHere && processString(source.process) === HTTP_SERVER && isServerRequest(body)) {
      if ("Http" in body) this.handleHttp(body.Http as IncomingHttpRequest);
      else this.handleWs(body);
      return;
    }
    this.via = fromHere ? "local" : "remote";
    const served = this.app.methods.filter((m) => m.remote || (fromHere && m.local));
    let call;
    try {
      if (body === undefined) throw new Malformed("body is not JSON");
      call = decodeCall(this.app.methods, body);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      this.print(`refused a request from ${this.source}: ${e.message}`, 1);
      return this.answerSendError(source, req);
    }
    if (!served.includes(call.def)) {
      this.print(`refused ${call.def.variant} from ${this.source}: not a ${this.via} method`, 1);
      return this.answerSendError(source, req);
    }
    let result: unknown;
    try {
      result = this.invoke(call.def, call.args);
    } catch (e) {
      this.print(`${call.def.name} failed: ${errorText(e)}`, 0);
      this.afterMessage();
      if (returnsStringErr(call.def)) return this.answer(req, { Err: errorText(e) });
      return this.answerSendError(source, req);
    }
    this.afterMessage();
    this.answer(req, result);
  }

  private invoke(def: MethodDef, args: Record<string, unknown>): unknown {
    const result = def.handler!(this, args);
    if (result instanceof Promise) {
      throw new Error("handlers run synchronously (calls block): do not return a Promise");
    }
    return result === undefined ? null : result;
  }

  private answer(req: WitRequest, value: unknown): void {
    if (req.expectsResponse === undefined) return;
    std.sendResponse(response(enc.encode(JSON.stringify(value))), undefined);
  }

  /** hyperapp's answer to a call it will not serve (wire.ts's sendErrorBody). */
  private answerSendError(source: Address, req: WitRequest): void {
    this.answer(
      req,
      sendErrorBody({
        source: addressString(source),
        expectsResponse: req.expectsResponse,
        body: req.body,
        metadata: req.metadata,
        capabilities: req.capabilities.map((c) => ({
          issuer: addressString(c.issuer),
          params: c.params,
        })),
      }),
    );
  }

  // -------------------------------------------------------------------------
  // HTTP, as hyperapp routes it

  private handleHttp(incoming: IncomingHttpRequest): void {
    this.via = "http";
    this.status = 200;
    this.headers = {};
    const path = pathUnderPrefix(incoming.url);
    this.http = {
      method: incoming.method,
      path,
      url: incoming.url,
      boundPath: incoming.bound_path,
      query: incoming.query_params ?? {},
      headers: incoming.headers ?? {},
    };
    const method = incoming.method.toUpperCase() as HttpMethod;
    const blob = std.getBlob();
    const httpMethods = this.app.methods.filter((m) => m.http);
    let def: MethodDef | undefined;
    let args: Record<string, unknown> = {};
    if (blob && blob.bytes.length > 0) {
      // a body: routed by its variant, whatever the path and method
      let body: unknown;
      try {
        body = JSON.parse(dec.decode(blob.bytes));
      } catch (e) {
        return this.httpAnswer(400, `request body is not JSON: ${(e as Error).message}`);
      }
      try {
        ({ def, args } = decodeCall(this.app.methods, body));
      } catch (e) {
        if (!(e instanceof Malformed)) throw e;
        return this.httpAnswer(400, `not a call of this app's HTTP methods: ${e.message}`);
      }
      if (!def.http) {
        return this.httpAnswer(
          400,
          JSON.stringify({ error: `${def.variant} is not an HTTP method` }),
        );
      }
    } else {
      // no body: methods without arguments, by path (exact ones first) and method
      const exact = httpMethods.flatMap((m) => m.http!.path ? [m.http!.path] : []);
      const candidates = httpMethods.filter((m) => m.args.length === 0)
        .sort((a, b) => Number(a.http!.path === undefined) - Number(b.http!.path === undefined));
      def = candidates.find((m) =>
        (m.http!.path !== undefined ? m.http!.path === path : !exact.includes(path)) &&
        m.http!.methods.includes(method)
      );
      if (!def) return this.httpAnswer(404, `no handler for ${incoming.method} ${path}`);
    }
    let result: unknown;
    try {
      result = this.invoke(def, args);
    } catch (e) {
      this.print(`${def.name} failed: ${errorText(e)}`, 0);
      this.afterMessage();
      if (returnsStringErr(def)) return this.httpJson({ Err: errorText(e) });
      return this.httpAnswer(500, `${def.name} failed: ${errorText(e)}`);
    }
    this.afterMessage();
    this.httpJson(result);
  }

  private httpJson(value: unknown): void {
    this.sendHttp(
      this.status,
      { "Content-Type": "application/json", ...this.headers },
      enc.encode(JSON.stringify(value)),
    );
  }

  private httpAnswer(status: number, text: string): void {
    this.sendHttp(status, { "Content-Type": "text/plain; charset=utf-8" }, enc.encode(text));
  }

  private sendHttp(status: number, headers: Record<string, string>, bytes: Uint8Array): void {
    std.sendResponse(response(enc.encode(JSON.stringify({ status, headers }))), {
      mime: headers["Content-Type"],
      bytes,
    });
  }

  // -------------------------------------------------------------------------
  // WebSockets

  private handleWs(body: Record<string, unknown>): void {
    this.via = "ws";
    const ws = this.app.wsHandlers;
    if ("WebSocketOpen" in body) {
      const o = body.WebSocketOpen as { path: string; channel_id: number };
      this.open.set(o.channel_id, o.path);
      ws.open?.(this, o.channel_id, o.path);
    } else if ("WebSocketClose" in body) {
      const channel = body.WebSocketClose as number;
      const path = this.open.get(channel) ?? "";
      this.open.delete(channel);
      ws.close?.(this, channel, path);
    } else if ("WebSocketPush" in body) {
      const p = body.WebSocketPush as { channel_id: number; message_type: string };
      if (p.message_type === "Pong" || p.message_type === "Close") return;
      const data = std.getBlob()?.bytes ?? new Uint8Array();
      if (p.message_type === "Ping") return this.pushAs(p.channel_id, data, "Pong");
      if (!ws.message) return;
      try {
        ws.message(this, {
          channel: p.channel_id,
          path: this.open.get(p.channel_id) ?? "",
          type: p.message_type === "Binary" ? "Binary" : "Text",
          data,
          text: dec.decode(data),
        });
      } catch (e) {
        this.print(`ws handler failed: ${errorText(e)}`, 0);
      }
      this.afterMessage();
    }
  }
}

const MIME: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "application/javascript; charset=utf-8",
  mjs: "application/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
  wasm: "application/wasm",
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isServerRequest(v: unknown): v is Record<string, unknown> {
  if (!isObject(v) || Object.keys(v).length !== 1) return false;
  const k = Object.keys(v)[0];
  return k === "Http" || k === "WebSocketOpen" || k === "WebSocketPush" || k === "WebSocketClose";
}

/** process_lib's IncomingHttpRequest::path(): the URL path without its first segment. */
function pathUnderPrefix(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.split("?")[0];
  }
  const segments = path.split("/").slice(2);
  return "/" + segments.join("/");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether a thrown error can be answered as the method's Err: result<_, string>. */
function returnsStringErr(def: MethodDef): boolean {
  return def.returns?.kind === "result" &&
    (def.returns as ResultType<unknown, unknown>).err.kind === "string";
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The process entry behind `app.main`. */
export function run<S>(app: HyperApp<S>, _our: string): void {
  const rt = new Runtime(app);
  rt.start();
  rt.serve();
}

export { parseAddress };
