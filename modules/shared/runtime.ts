// What every runtime module shares: the request template (serve), answers, error texts.

import {
  type Address,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  makeResponse,
  processIdEquals,
  processIdToString,
  type Request,
} from "../../wire/core.ts";
import type { RuntimeModuleContext } from "../../kernel/module.ts";

/** kernel:distro:sys acts with root authority (node.request): capability checks skip it. */
export function isKernel(a: Address): boolean {
  return processIdEquals(a.process, KERNEL_PROCESS_ID);
}

/**
 * The mailbox lane of a message: its source process. The storage modules order
 * requests per process, as Hyperdrive's per-process queues do; processes run concurrently.
 */
export function laneBySourceProcess(km: KernelMessage): string {
  return processIdToString(km.source.process);
}

/**
 * What a request's handling answers: the module's response value and an optional
 * blob (application/octet-stream unless `mime` says otherwise).
 */
export interface Answer<R> {
  response: R;
  blob?: Uint8Array;
  mime?: string;
}

/**
 * The runtime module template. A module's `handleMessage(km)` is `serve(ctx, this, km)`
 * over one of these; a request goes, in this order:
 *   source node rule -> parse (one typed action union, wire/<module>.ts) ->
 *   capability check -> act -> one answer (or the module's one error shape).
 * Answers go to `rsvp`, else to the source when it expects a response (Hyperdrive's rule).
 */
export interface RequestHandler<A, R> {
  /** Printed before this module's messages, e.g. "kv". */
  readonly name: string;
  /** The module's own address: the source of its answers. */
  readonly self: Address;
  /**
   * Whether other nodes may send it requests (README's table of remote APIs). When
   * false, a remote request is printed at verbosity 1 and dropped, as Hyperdrive's
   * storage modules do.
   */
  readonly remote: boolean;
  /**
   * Echo the request's metadata on answers: true on every answer, "ok" on successful
   * answers only (Hyperdrive's storage modules: their errors carry no metadata).
   */
  readonly echoMetadata?: boolean | "ok";
  /** Answer errors even to a request that expects no response (Hyperdrive's kv). */
  readonly answerErrorsAlways?: boolean;
  /**
   * Answer errors only to a request that expects a response: an rsvp alone gets
   * successes but not errors (Hyperdrive's vfs).
   */
  readonly answerErrorsIfExpected?: boolean;
  /** The request's body (and blob) as the module's action; throws when malformed. */
  parse(km: KernelMessage, req: Request): A;
  /** Capability and authority checks; throws the module's error. */
  check?(km: KernelMessage, action: A): void;
  /** Does the work. `undefined`: nothing to answer now (the module answers later itself, or never). */
  act(
    km: KernelMessage,
    action: A,
  ): Answer<R> | undefined | Promise<Answer<R> | undefined>;
  /** Anything parse, check or act threw, as the module's one error shape; undefined: no answer. */
  error(e: unknown, km: KernelMessage): R | undefined;
  /** The response value as body bytes. */
  encode(response: R): Uint8Array;
  /** Responses addressed to the module (default: ignored). */
  onResponse?(km: KernelMessage): void;
}

/** Runs one message through a module's RequestHandler (see RequestHandler). */
export function serve<A, R>(
  ctx: RuntimeModuleContext,
  h: RequestHandler<A, R>,
  km: KernelMessage,
): void | Promise<void> {
  if (km.source.node !== ctx.our && !h.remote) {
    ctx.print(
      1,
      `${h.name}: got request from ${km.source.node}, but requests must come from our node`,
    );
    return;
  }
  if (km.message.tag !== "request") {
    h.onResponse?.(km);
    return;
  }
  const req = km.message.val;
  const ok = (a: Answer<R> | undefined) => {
    if (a) answer(ctx, h, km, a);
  };
  const fail = (e: unknown) => {
    const error = h.error(e, km);
    if (error === undefined) return;
    ctx.print(1, `${h.name}: ${errorText(e)}`);
    const expected = req.expectsResponse !== undefined;
    if (h.answerErrorsAlways || expected || (km.rsvp && !h.answerErrorsIfExpected)) {
      answer(ctx, h, km, { response: error }, true, true);
    }
  };
  try {
    const action = h.parse(km, req);
    h.check?.(km, action);
    const out = h.act(km, action);
    if (out instanceof Promise) return out.then(ok, fail);
    ok(out);
  } catch (e) {
    fail(e);
  }
}

/**
 * Sends `a` as the Response to `km`, to rsvp or else the source when it expects one;
 * `always` answers the source even without expects_response (error answers some
 * modules always send); `isError` marks an error answer (see echoMetadata).
 */
export function answer<R>(
  ctx: RuntimeModuleContext,
  h: Pick<RequestHandler<unknown, R>, "self" | "encode" | "echoMetadata">,
  km: KernelMessage,
  a: Answer<R>,
  always = false,
  isError = false,
): void {
  if (km.message.tag !== "request") return;
  const req = km.message.val;
  if (!always && !km.rsvp && req.expectsResponse === undefined) return;
  const resp = makeResponse(
    km,
    h.self,
    h.encode(a.response),
    a.blob ? { mime: a.mime ?? "application/octet-stream", bytes: a.blob } : undefined,
  );
  const echo = h.echoMetadata === true || (h.echoMetadata === "ok" && !isError);
  if (echo && req.metadata !== undefined && resp.message.tag === "response") {
    resp.message.val[0].metadata = req.metadata;
  }
  ctx.sendToLoop(resp);
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  try {
    return JSON.stringify(e, (_k, v) => typeof v === "bigint" ? `${v}` : v);
  } catch {
    return String(e);
  }
}

/** What Deno appends to an fs error: the operation and host path(s), ": copy '/a' -> '/b'". */
const DENO_FS_CONTEXT = /: [a-z_]+ '[\s\S]*$/;

/**
 * Rust's io::Error display: "<message> (os error N)", or the bare message for errors
 * std raises itself (e.g. fs::copy of a directory). Deno appends the operation and the
 * host path, which is cut so no host path reaches a process.
 */
export function ioErrorMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const i = m.indexOf("(os error");
  if (i < 0) return m.replace(DENO_FS_CONTEXT, "");
  const end = m.indexOf(")", i);
  return end < 0 ? m : m.slice(0, end + 1);
}

/**
 * Time limits of a module's requests with one timer, not one per request: `watch`
 * settles as `work` does, or rejects with `timedOut()` once `ms` have passed, whichever
 * comes first (the work itself is not cancelled; it finishes in the background). Every
 * request gets the same `ms`, so deadlines fall in the order requests began: the timer
 * is armed for the oldest, and when it fires it expires what is due and re-arms itself
 * for the next; a request ending costs a Map delete. The timer holds the process open
 * only while requests are pending (as a timer per request did), else it is unref'd and
 * lapses by itself. `stop()` clears it (shutdown); a later `watch` arms it again.
 */
export class Watchdog {
  /** requests not yet settled, oldest first */
  #pending = new Map<number, { at: number; expire: () => void }>();
  #next = 0;
  #timer?: ReturnType<typeof setTimeout>;
  /** whether #timer holds the process open */
  #held = false;

  constructor(readonly ms: number) {}

  watch<T>(work: Promise<T>, timedOut: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.#next++;
      this.#pending.set(id, { at: performance.now() + this.ms, expire: () => reject(timedOut()) });
      work.then(
        (v) => {
          this.#settled(id);
          resolve(v);
        },
        (e) => {
          this.#settled(id);
          reject(e);
        },
      );
      if (this.#timer === undefined) this.#arm(this.ms);
      else if (!this.#held) {
        this.#timer.ref();
        this.#held = true;
      }
    });
  }

  #settled(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0 && this.#held && this.#timer !== undefined) {
      this.#timer.unref();
      this.#held = false;
    }
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held = false;
  }

  /** Arms the timer (only ever while a request is pending). */
  #arm(ms: number): void {
    this.#timer = setTimeout(this.#fire, ms);
    this.#held = true;
  }

  #fire = (): void => {
    this.#timer = undefined;
    this.#held = false;
    const now = performance.now();
    for (const [id, p] of this.#pending) {
      if (p.at > now) {
        this.#arm(p.at - now);
        return;
      }
      this.#pending.delete(id);
      p.expire();
    }
  };
}
