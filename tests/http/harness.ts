// A small stand-in for the kernel: it routes KernelMessages between runtime
// modules under test and in-test "processes" (handlers keyed by ProcessId),
// so http-server and http-client run against real sockets before bootNode.

import {
  type Address,
  type KernelMessage,
  type LazyLoadBlob,
  parseProcessId,
  processIdToString,
  randomU64,
  textDecoder,
  textEncoder,
  type WrappedSendError,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";

export type ProcessHandler = (km: KernelMessage, k: MiniKernel) => void;

export class MiniKernel implements RuntimeModuleContext {
  readonly home = "/tmp";
  readonly delivered: KernelMessage[] = [];
  #modules = new Map<string, RuntimeModule>();
  #procs = new Map<string, ProcessHandler>();
  #awaiting = new Map<bigint, (km: KernelMessage) => void>();

  constructor(readonly our: string) {}

  addModule(m: RuntimeModule): this {
    this.#modules.set(processIdToString(m.processId), m);
    return this;
  }

  /** Register an in-test process, e.g. "app:pkg:pub". */
  process(id: string, handler: ProcessHandler): Address {
    this.#procs.set(id, handler);
    return this.addr(id);
  }

  addr(id: string, node = this.our): Address {
    return { node, process: parseProcessId(id) };
  }

  async start(): Promise<void> {
    for (const m of this.#modules.values()) await m.start(this);
  }

  async stop(): Promise<void> {
    for (const m of this.#modules.values()) await m.shutdown?.();
    for (const [id] of this.#awaiting) this.#awaiting.delete(id);
  }

  // RuntimeModuleContext
  sendToLoop(km: KernelMessage): void {
    queueMicrotask(() => this.#deliver(km));
  }
  sendErrorToLoop(err: WrappedSendError): void {
    const m = this.#modules.get(processIdToString(err.source.process));
    m?.handleSendError?.(err);
  }
  print(_verbosity: number, text: string): void {
    if (Deno.env.get("HTTP_TEST_VERBOSE")) console.log(text);
  }
  hasCapability(): boolean {
    return true;
  }
  grantCapabilities(): void {}
  dropCapabilities(): void {}
  newMessageId(): bigint {
    return randomU64();
  }

  #deliver(km: KernelMessage): void {
    this.delivered.push(km);
    const target = processIdToString(km.target.process);
    if (km.message.tag === "response" && this.#procs.has(target)) {
      const waiter = this.#awaiting.get(km.id);
      if (waiter) {
        this.#awaiting.delete(km.id);
        waiter(km);
        return;
      }
    }
    const m = this.#modules.get(target);
    if (m) {
      m.handleMessage(km);
      return;
    }
    this.#procs.get(target)?.(km, this);
  }

  /**
   * Send a request from an in-test process. With `expectsResponse` the promise
   * gives the response (or rejects after `waitMs`); without, it resolves at once.
   */
  request(
    from: Address,
    to: Address,
    body: unknown,
    opts: { blob?: LazyLoadBlob; expectsResponse?: number; waitMs?: number; id?: bigint } = {},
  ): Promise<KernelMessage | undefined> {
    const id = opts.id ?? randomU64();
    const bytes = body instanceof Uint8Array ? body : textEncoder.encode(JSON.stringify(body));
    const km: KernelMessage = {
      id,
      source: from,
      target: to,
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: opts.expectsResponse === undefined
            ? undefined
            : BigInt(opts.expectsResponse),
          body: bytes,
          metadata: undefined,
          capabilities: [],
        },
      },
      lazyLoadBlob: opts.blob,
    };
    if (opts.expectsResponse === undefined) {
      this.sendToLoop(km);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#awaiting.delete(id);
        reject(new Error(`no response to ${JSON.stringify(body)}`));
      }, opts.waitMs ?? 3000);
      this.#awaiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.sendToLoop(km);
    });
  }

  /** Answer `km` from the process it was sent to. */
  respond(km: KernelMessage, body: unknown, blob?: LazyLoadBlob): void {
    const bytes = body instanceof Uint8Array ? body : textEncoder.encode(JSON.stringify(body));
    this.sendToLoop({
      id: km.id,
      source: km.target,
      target: km.rsvp ?? km.source,
      message: {
        tag: "response",
        val: [{ inherit: false, body: bytes, metadata: undefined, capabilities: [] }, undefined],
      },
      lazyLoadBlob: blob,
    });
  }
}

export function bodyJson(km: KernelMessage | undefined): unknown {
  if (!km) throw new Error("no message");
  const body = km.message.tag === "request" ? km.message.val.body : km.message.val[0].body;
  return JSON.parse(textDecoder.decode(body));
}

/** Resolves with the next message a handler pushes, with a deadline. */
export class Inbox<T> {
  #items: T[] = [];
  #waiters: ((v: T) => void)[] = [];
  push(v: T): void {
    const w = this.#waiters.shift();
    if (w) w(v);
    else this.#items.push(v);
  }
  next(ms = 3000): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error("inbox: nothing arrived"));
      }, ms);
      const w = (v: T) => {
        clearTimeout(timer);
        resolve(v);
      };
      this.#waiters.push(w);
    });
  }
  get size(): number {
    return this.#items.length;
  }
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
  text: string;
}

/** One HTTP/1.1 request over a fresh TCP connection, with full control of path and Host. */
export async function rawRequest(
  port: number,
  opts: {
    method?: string;
    path: string;
    host?: string;
    headers?: Record<string, string>;
    body?: Uint8Array | string;
    hostname?: string;
  },
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: opts.hostname ?? "127.0.0.1", port });
  try {
    const body = typeof opts.body === "string" ? textEncoder.encode(opts.body) : opts.body;
    let head = `${opts.method ?? "GET"} ${opts.path} HTTP/1.1\r\nHost: ${
      opts.host ?? `127.0.0.1:${port}`
    }\r\nConnection: close\r\n`;
    for (const [k, v] of Object.entries(opts.headers ?? {})) head += `${k}: ${v}\r\n`;
    if (body) head += `Content-Length: ${body.length}\r\n`;
    head += "\r\n";
    await conn.write(textEncoder.encode(head));
    if (body) {
      let off = 0;
      while (off < body.length) off += await conn.write(body.subarray(off));
    }
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    return parseRaw(all);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by peer
    }
  }
}

function parseRaw(all: Uint8Array): RawResponse {
  let split = -1;
  for (let i = 0; i + 3 < all.length; i++) {
    if (all[i] === 13 && all[i + 1] === 10 && all[i + 2] === 13 && all[i + 3] === 10) {
      split = i;
      break;
    }
  }
  if (split < 0) throw new Error("raw: no header terminator");
  const lines = textDecoder.decode(all.subarray(0, split)).split("\r\n");
  const status = Number(lines[0].split(" ")[1]);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  let body = all.subarray(split + 4);
  if (headers.get("transfer-encoding")?.includes("chunked")) {
    const out: number[] = [];
    let p = 0;
    while (p < body.length) {
      let e = p;
      while (!(body[e] === 13 && body[e + 1] === 10)) e++;
      const size = parseInt(textDecoder.decode(body.subarray(p, e)), 16);
      if (!size) break;
      out.push(...body.subarray(e + 2, e + 2 + size));
      p = e + 2 + size + 2;
    }
    body = Uint8Array.from(out);
  }
  return { status, headers, body, text: textDecoder.decode(body) };
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
