// Defining an app: hyperapp({...}) and its builder methods (the method table the
// runtime serves and the generators read), and typed clients for calling an app's
// methods on any node. The wire shapes are in wire.ts.

import { type Infer, type Type, witIdent } from "./types.ts";
import {
  type ArgsOf,
  asSendError,
  encodeCall,
  type Fields,
  type MethodDef,
  methodDef,
  type MethodSpec,
  type ReturnOf,
} from "./wire.ts";
import {
  addressString,
  dec,
  parseAddress,
  request,
  std,
  type WitMessage,
  type WitSendError,
} from "./std.ts";
import { type Context, run } from "./runtime.ts";

export {
  type ArgsOf,
  decodeCall,
  encodeCall,
  HTTP_METHODS,
  type HttpMethod,
  Malformed,
  type MethodDef,
  type MethodSpec,
} from "./wire.ts";

/** When state is saved (set-state), as hyperapp's SaveOptions. */
export type SaveOption =
  | "EveryMessage"
  | "OnDiff"
  | "Never"
  | { EveryNMessage: number }
  | { EveryNSeconds: number };

/** Hyperapp's Binding::Http / Binding::Ws with their binding configs. */
export type Endpoint =
  | {
    /** Path under the app's prefix, e.g. "/api" (served at /<process-id>/api). */
    http: string;
    /** Only logged-in users (the login cookie); default true, as HttpBindingConfig's default. */
    authenticated?: boolean;
    /** Only clients on this machine. */
    localOnly?: boolean;
    /** Served on the app's own subdomain only (SecureBind). */
    secureSubdomain?: boolean;
  }
  | {
    ws: string;
    authenticated?: boolean;
  };

export interface AppConfig<S> {
  /** The app's name: its homepage tile label; the WIT interface is its kebab-case. */
  name: string;
  /** The state of a fresh install; a saved state is merged over it at start. */
  state: () => S;
  /** When state is saved; default "EveryMessage". */
  save?: SaveOption;
  /** HTTP and WebSocket paths to bind at start. */
  endpoints?: Endpoint[];
  /** Serve the package's pkg/<dir> (default "ui") at "/" (index.html) and its files' paths. */
  ui?: { dir?: string; authenticated?: boolean };
  /**
   * The homepage tile (homepage:homepage:sys Add at start). Default: a tile labelled
   * `name`, opening "/" when there is a UI. false: no tile.
   */
  homepage?: false | { label?: string; icon?: string; path?: string | null; widget?: string };
  /** WIT interface name (default: kebab-case of `name`). */
  witInterface?: string;
  /** WIT world (default from the package: "<package>-<publisher with . as -dot->-v0"). */
  witWorld?: string;
}

/** The typed caller for one method: an args object unless it takes none. */
export type Caller<A extends Fields, R> = keyof A extends never ? () => R
  : (args: ArgsOf<A>) => R;

// deno-lint-ignore no-explicit-any
type Sig = { args: Fields; returns: any };
export type Client<M extends Record<string, Sig>> = {
  [K in keyof M]: Caller<M[K]["args"], M[K]["returns"]>;
};

export interface WsMessage {
  channel: number;
  /** The bound path the channel was opened on. */
  path: string;
  type: "Text" | "Binary";
  data: Uint8Array;
  /** data as UTF-8 text */
  text: string;
}

export interface WsHandlers<S> {
  message?: (cx: Context<S>, msg: WsMessage) => void;
  open?: (cx: Context<S>, channel: number, path: string) => void;
  close?: (cx: Context<S>, channel: number, path: string) => void;
}

/** Why a call failed: the callee's node was unreachable or did not answer in time, or the answer was not the declared type. */
export class CallError extends Error {
  constructor(readonly kind: "Offline" | "Timeout" | "Malformed", message: string) {
    super(message);
    this.name = "CallError";
  }
}

export interface CallOptions {
  /** Seconds to wait for the answer (default 30, as hyperapp's send). */
  timeout?: number;
}

// ---------------------------------------------------------------------------
// The wire: calls and answers

/** Calls `def` at `target` and waits (the process handles nothing else meanwhile). */
export function call(
  target: string,
  def: MethodDef,
  args: Record<string, unknown> | undefined,
  opts: CallOptions = {},
): unknown {
  const timeout = opts.timeout ?? 30;
  let message: WitMessage;
  try {
    [, message] = std.sendAndAwaitResponse(
      parseAddress(target),
      request(encodeCall(def, args), timeout),
      undefined,
    );
  } catch (e) {
    const err = (e as { payload?: WitSendError }).payload;
    if (err?.kind === "offline") throw new CallError("Offline", `${target} is offline`);
    if (err?.kind === "timeout") {
      throw new CallError("Timeout", `${target} did not answer ${def.variant} in ${timeout} s`);
    }
    throw e;
  }
  if (message.tag !== "response") throw new CallError("Malformed", "expected a response");
  let value: unknown;
  try {
    value = JSON.parse(dec.decode(message.val[0].body));
  } catch {
    throw new CallError("Malformed", `${target} answered ${def.variant} with something not JSON`);
  }
  try {
    return def.returns ? def.returns.read(value, "answer") : value;
  } catch (e) {
    const kind = asSendError(value);
    if (kind) {
      throw new CallError(
        kind,
        `${target} could not serve ${def.variant} (it answered a ${kind} SendError)`,
      );
    }
    throw new CallError("Malformed", `${target} answered ${def.variant}: ${(e as Error).message}`);
  }
}

function makeClient(defs: readonly MethodDef[], target: string, opts: CallOptions) {
  const client: Record<string, (args?: Record<string, unknown>) => unknown> = {};
  for (const def of defs) client[def.name] = (args) => call(target, def, args, opts);
  return client;
}

// ---------------------------------------------------------------------------
// An API without an implementation: calling another app (TS or Rust)

/** Another app's methods, declared to call them: `api({...}).at(address).method(args)`. */
export class Api<M extends Record<string, Sig>> {
  readonly methods: MethodDef[];
  constructor(specs: Record<string, MethodSpec<Fields, Type | undefined>>) {
    this.methods = Object.entries(specs).map(([n, s]) => methodDef(n, s));
  }
  /** A typed client for the app at "node@process:package:publisher". */
  at(target: string, opts: CallOptions = {}): Client<M> {
    return makeClient(this.methods, target, opts) as Client<M>;
  }
}

type SpecsSigs<T> = {
  [K in keyof T]: {
    args: T[K] extends { args: infer A extends Fields } ? A : Record<never, Type>;
    returns: T[K] extends { returns: infer R extends Type } ? Infer<R> : null;
  };
};

/** Declares another app's API (its methods' args and returns) for typed calls. */
export function api<const T extends Record<string, MethodSpec<Fields, Type | undefined>>>(
  specs: T,
): Api<SpecsSigs<T>> {
  return new Api(specs);
}

// ---------------------------------------------------------------------------
// An app

/** Marks an app object, also across bundles (build.ts reads apps it imports). */
export const APP_BRAND = "__hyperdenoApp";

export class HyperApp<S, M extends Record<string, Sig> = Record<never, Sig>> {
  readonly [APP_BRAND] = true;
  readonly methods: MethodDef[] = [];
  initHandler?: (cx: Context<S>) => void;
  wsHandlers: WsHandlers<S> = {};
  /** The process entry: `export const init = app.main;` */
  readonly main: (our: string) => void;

  constructor(readonly config: AppConfig<S>) {
    witIdent(config.witInterface ?? config.name);
    this.main = (our: string) => run(this, our);
  }

  /** A method: where it is served, its typed arguments and answer, and its handler. */
  method<
    N extends string,
    const A extends Fields = Record<never, Type>,
    R extends Type | undefined = undefined,
  >(
    name: N,
    spec: MethodSpec<A, R>,
    handler: (cx: Context<S>, args: ArgsOf<A>) => ReturnOf<R>,
  ): HyperApp<S, M & { [K in N]: { args: A; returns: ReturnOf<R> } }> {
    const def = methodDef(name, spec as MethodSpec<Fields, Type | undefined>);
    if (!def.remote && !def.local && !def.http) {
      throw new Error(`${name}: serve it somewhere: remote, local and/or http`);
    }
    if (this.methods.some((m) => m.variant === def.variant)) {
      throw new Error(`${name}: two methods named ${def.variant}`);
    }
    if (def.http?.path !== undefined && def.args.length === 0) {
      for (const m of this.methods) {
        if (m.http?.path === def.http.path && m.args.length === 0) {
          const both = m.http.methods.filter((x) => def.http!.methods.includes(x));
          if (both.length) throw new Error(`${name}: ${both[0]} ${def.http.path} is ${m.name}'s`);
        }
      }
    }
    def.handler = handler as MethodDef["handler"];
    this.methods.push(def);
    return this as unknown as HyperApp<S, M & { [K in N]: { args: A; returns: ReturnOf<R> } }>;
  }

  /** Runs at start, after state is loaded and endpoints are bound (#[init]). */
  init(handler: (cx: Context<S>) => void): this {
    this.initHandler = handler;
    return this;
  }

  /** WebSocket messages (#[ws]) and, optionally, channel open/close. */
  ws(handlers: WsHandlers<S> | ((cx: Context<S>, msg: WsMessage) => void)): this {
    this.wsHandlers = typeof handlers === "function" ? { message: handlers } : handlers;
    return this;
  }

  /** A typed client for this app's methods at another address (another node's copy). */
  at(target: string, opts: CallOptions = {}): Client<M> {
    return makeClient(this.methods, target, opts) as Client<M>;
  }

  /** The WIT interface name. */
  get witInterface(): string {
    return witIdent(this.config.witInterface ?? this.config.name).replace(/^%/, "");
  }
}

/** Starts defining an app: `hyperapp({name, state, ...}).method(...).init(...)`. */
export function hyperapp<S>(config: AppConfig<S>): HyperApp<S> {
  return new HyperApp(config);
}

/** Whether `v` is an app object (from this or another copy of the SDK). */
export function isApp(v: unknown): v is HyperApp<unknown, Record<string, Sig>> {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[APP_BRAND] === true;
}

/** The answer `{"Ok": value}`. */
export function ok<T>(value: T): { Ok: T } {
  return { Ok: value };
}
/** The answer `{"Err": error}`. */
export function err<E>(error: E): { Err: E } {
  return { Err: error };
}

export { addressString };
