// Connections to RPC URL providers. HTTP(S) goes through viem's JSON-RPC client; WebSocket
// is a small JSON-RPC client of ours (viem's socket client cannot send auth headers, and
// stops reconnecting after one failed attempt), reconnecting as alloy's pubsub service
// does: in-flight requests fail, subscriptions are re-issued on the new socket under their
// old identity, and only when every attempt failed are they closed.

import { getHttpRpcClient } from "viem/utils";
import { parseJsonExact } from "../../wire/json.ts";
import { encodeJsonExact } from "../../wire/json.ts";

/** A JSON-RPC answer: a result, or the provider's error payload ({code, message, data?}). */
export type RpcReply = { result: unknown } | { error: unknown };

/** The provider could not be reached, or answered something that is not JSON-RPC. */
export class TransportError extends Error {}

export interface SubHandlers {
  /** One eth_subscription notification's `result`. */
  onItem(result: unknown): void;
  /** The subscription ended without being unsubscribed (the reason, as alloy's channel says). */
  onClosed(reason: string): void;
}

export interface RpcSubscription {
  unsubscribe(): void;
}

export interface RpcConnection {
  readonly url: string;
  /** Resolves with the provider's reply; rejects with TransportError. */
  request(method: string, params: unknown, timeoutMs: number): Promise<RpcReply>;
  /** eth_subscribe; rejects with RpcErrorReply (provider refused) or TransportError. */
  subscribe(params: unknown[], handlers: SubHandlers): Promise<RpcSubscription>;
  /** The provider table dropped it: close once no subscription uses it. */
  release(): void;
  /** True once it holds no socket (an http connection never does). */
  readonly done: boolean;
  close(): void;
}

/** The provider answered eth_subscribe with a JSON-RPC error. */
export class RpcErrorReply extends Error {
  constructor(readonly error: unknown) {
    super(`rpc error ${JSON.stringify(error)}`);
  }
}

export interface WsOptions {
  connectTimeoutMs: number;
  reconnectAttempts: number;
  reconnectDelayMs: number;
  print(verbosity: number, text: string): void;
}

function reply(data: unknown): RpcReply {
  if (typeof data === "object" && data !== null && !Array.isArray(data)) {
    const o = data as Record<string, unknown>;
    if (o.error !== undefined && o.error !== null) return { error: o.error };
    if ("result" in o) return { result: o.result };
  }
  throw new TransportError("deserialization error: not a JSON-RPC response");
}

/** Opens a connection for a provider URL: ws(s) connects now, http(s) on first request. */
export async function connectRpc(
  url: string,
  headers: Record<string, string>,
  ws: WsOptions,
): Promise<RpcConnection> {
  const scheme = new URL(url).protocol;
  if (scheme === "ws:" || scheme === "wss:") return await WsRpc.connect(url, headers, ws);
  if (scheme === "http:" || scheme === "https:") return new HttpRpc(url, headers);
  throw new Error(`unsupported RPC URL scheme ${scheme}`);
}

class HttpRpc implements RpcConnection {
  readonly #client;
  constructor(readonly url: string, headers: Record<string, string>) {
    this.#client = getHttpRpcClient(url, {
      fetchOptions: { headers },
      maxResponseBodySize: false,
    });
  }

  async request(method: string, params: unknown, timeoutMs: number): Promise<RpcReply> {
    let data: unknown;
    try {
      data = await this.#client.request({
        body: { method, params: params as never },
        timeout: Math.max(1, timeoutMs),
      });
    } catch (e) {
      throw new TransportError(e instanceof Error ? e.message : String(e));
    }
    return reply(data);
  }

  subscribe(): Promise<RpcSubscription> {
    return Promise.reject(new TransportError("subscriptions need a ws:// or wss:// provider"));
  }

  readonly done = true;

  release(): void {}
  close(): void {}
}

interface Pending {
  resolve(r: RpcReply): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

interface WsSub {
  params: unknown[];
  handlers: SubHandlers;
  serverId?: string;
  ended: boolean;
}

class WsRpc implements RpcConnection {
  #socket: WebSocket;
  #state: "open" | "reconnecting" | "closed" = "open";
  #released = false;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #subs = new Set<WsSub>();
  #byServerId = new Map<string, WsSub>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly opts: WsOptions,
    socket: WebSocket,
  ) {
    this.#socket = socket;
    this.#attach(socket);
  }

  static async connect(
    url: string,
    headers: Record<string, string>,
    opts: WsOptions,
  ): Promise<WsRpc> {
    return new WsRpc(url, headers, opts, await openSocket(url, headers, opts.connectTimeoutMs));
  }

  #attach(socket: WebSocket) {
    socket.onmessage = (ev) => {
      if (socket !== this.#socket) return;
      if (typeof ev.data !== "string") return this.#broken("binary message, expected text");
      let msg: unknown;
      try {
        msg = parseJsonExact(ev.data);
      } catch {
        return this.#broken("failed to deserialize message");
      }
      this.#onMessage(msg);
    };
    socket.onclose = () => {
      if (socket === this.#socket) this.#broken("ws server has gone away");
    };
    socket.onerror = () => {};
  }

  #onMessage(msg: unknown) {
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
      return this.#broken("failed to deserialize message");
    }
    const o = msg as Record<string, unknown>;
    if (o.method === "eth_subscription") {
      const p = o.params as Record<string, unknown> | undefined;
      const sub = typeof p?.subscription === "string"
        ? this.#byServerId.get(p.subscription)
        : undefined;
      if (sub && !sub.ended && p) sub.handlers.onItem(p.result);
      return;
    }
    const id = typeof o.id === "number" ? o.id : typeof o.id === "bigint" ? Number(o.id) : NaN;
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    try {
      pending.resolve(reply(o));
    } catch (e) {
      pending.reject(e as Error);
    }
  }

  /** The socket died or spoke garbage: fail what is in flight, then reconnect for the subscriptions. */
  #broken(why: string) {
    if (this.#state !== "open") return;
    this.opts.print(2, `eth: ${this.url}: ${why}`);
    const old = this.#socket;
    old.onmessage = old.onclose = null;
    try {
      old.close();
    } catch { /* already closed */ }
    this.#failPending(new TransportError(`backend connection task has stopped: ${why}`));
    this.#byServerId.clear();
    for (const s of this.#subs) s.serverId = undefined;
    if (this.#released && this.#subs.size === 0) {
      this.#state = "closed";
      return;
    }
    this.#state = "reconnecting";
    void this.#reconnect();
  }

  async #reconnect() {
    for (let attempt = 0; attempt < this.opts.reconnectAttempts; attempt++) {
      if (attempt > 0) {
        await new Promise<void>((r) =>
          this.#retryTimer = setTimeout(r, this.opts.reconnectDelayMs)
        );
        this.#retryTimer = undefined;
      }
      if (this.#state !== "reconnecting") return;
      let socket: WebSocket;
      try {
        socket = await openSocket(this.url, this.headers, this.opts.connectTimeoutMs);
      } catch {
        continue;
      }
      if (this.#state !== "reconnecting") {
        socket.close();
        return;
      }
      this.#socket = socket;
      this.#attach(socket);
      this.#state = "open";
      this.opts.print(2, `eth: ${this.url}: reconnected, re-subscribing ${this.#subs.size}`);
      for (const s of this.#subs) void this.#resubscribe(s);
      return;
    }
    this.opts.print(2, `eth: ${this.url}: could not reconnect`);
    this.#state = "closed";
    this.#endSubs("channel closed");
  }

  async #resubscribe(s: WsSub) {
    try {
      const r = await this.request("eth_subscribe", s.params, this.opts.connectTimeoutMs);
      if ("error" in r || typeof r.result !== "string") throw new Error("refused");
      if (s.ended) return;
      s.serverId = r.result;
      this.#byServerId.set(r.result, s);
    } catch {
      // the socket broke again (its own reconnect re-issues this) or the provider refused
      if (this.#state !== "open" || s.ended) return;
      this.#end(s, "channel closed");
    }
  }

  #end(s: WsSub, reason: string) {
    if (s.ended) return;
    s.ended = true;
    this.#subs.delete(s);
    if (s.serverId) this.#byServerId.delete(s.serverId);
    s.handlers.onClosed(reason);
    this.#closeIfUnused();
  }

  #endSubs(reason: string) {
    for (const s of [...this.#subs]) this.#end(s, reason);
  }

  #failPending(e: Error) {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.#pending.clear();
  }

  request(method: string, params: unknown, timeoutMs: number): Promise<RpcReply> {
    if (this.#state !== "open") {
      return Promise.reject(new TransportError("backend connection task has stopped"));
    }
    const id = this.#nextId++;
    const text = new TextDecoder().decode(
      encodeJsonExact({ jsonrpc: "2.0", id, method, params }),
    );
    return new Promise<RpcReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TransportError("request timed out"));
      }, Math.max(1, timeoutMs));
      this.#pending.set(id, { resolve, reject, timer });
      try {
        this.#socket.send(text);
      } catch (e) {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new TransportError(e instanceof Error ? e.message : String(e)));
      }
    });
  }

  async subscribe(params: unknown[], handlers: SubHandlers): Promise<RpcSubscription> {
    const r = await this.request("eth_subscribe", params, this.opts.connectTimeoutMs);
    if ("error" in r) throw new RpcErrorReply(r.error);
    if (typeof r.result !== "string") throw new TransportError("eth_subscribe: no subscription id");
    const s: WsSub = { params, handlers, serverId: r.result, ended: false };
    this.#subs.add(s);
    this.#byServerId.set(r.result, s);
    return {
      unsubscribe: () => {
        if (s.ended) return;
        s.ended = true;
        this.#subs.delete(s);
        if (s.serverId) {
          this.#byServerId.delete(s.serverId);
          if (this.#state === "open") {
            this.request("eth_unsubscribe", [s.serverId], 10_000).catch(() => {});
          }
        }
        this.#closeIfUnused();
      },
    };
  }

  get done(): boolean {
    return this.#state === "closed";
  }

  #closeIfUnused() {
    if (this.#released && this.#subs.size === 0) this.close();
  }

  release(): void {
    this.#released = true;
    // let a last eth_unsubscribe go out first
    if (this.#subs.size === 0) queueMicrotask(() => this.#closeIfUnused());
  }

  close(): void {
    if (this.#state === "closed" && this.#pending.size === 0) return;
    this.#state = "closed";
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    const s = this.#socket;
    s.onmessage = s.onclose = null;
    try {
      s.close();
    } catch { /* already closed */ }
    this.#failPending(new TransportError("connection closed"));
    for (const sub of this.#subs) sub.ended = true;
    this.#subs.clear();
    this.#byServerId.clear();
  }
}

/** A WebSocket open within `timeoutMs` (alloy's WsConnect with its auth header). */
function openSocket(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    let socket: WebSocket;
    try {
      // Deno's WebSocket takes request headers (alloy sends Authorization the same way)
      socket = new WebSocket(url, { headers } as unknown as string[]);
    } catch (e) {
      return reject(e);
    }
    const timer = setTimeout(() => {
      socket.onopen = socket.onerror = socket.onclose = null;
      socket.close();
      reject(new TransportError("connect timed out"));
    }, timeoutMs);
    socket.onopen = () => {
      clearTimeout(timer);
      socket.onopen = socket.onerror = socket.onclose = null;
      resolve(socket);
    };
    socket.onerror = socket.onclose = () => {
      clearTimeout(timer);
      socket.onopen = socket.onerror = socket.onclose = null;
      reject(new TransportError(`could not connect to ${url}`));
    };
  });
}
