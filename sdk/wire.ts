// The SDK's wire: how a method is declared, how a call of it is written and read,
// and hyperapp's answer to a call it will not serve. Pure: no process API here.
//
// Shapes, as a Rust hyperapp (hyperprocess_macro / hyperapp_macro) serializes them:
// a call is serde's externally tagged request enum with the method's PascalCase
// name as the variant:
//   no argument    {"Name": null}   ("Name", serde's unit variant, is read too)
//   one argument   {"Name": value}
//   n arguments    {"Name": [v1, ..., vn]}
// and the answer (local, remote and HTTP alike) is the return value's JSON itself,
// not wrapped (a unit return is `null`).

import { type Infer, pascal, type Type, TypeMismatch, witIdent } from "./types.ts";
import type { Context } from "./runtime.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS";
export const HTTP_METHODS: readonly HttpMethod[] = [
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "HEAD",
  "OPTIONS",
];

export type Fields = Record<string, Type>;
export type ArgsOf<A extends Fields> = { [K in keyof A]: Infer<A[K]> };
export type ReturnOf<R> = R extends Type<infer T> ? T : null;

/** A method as declared: where it is served, its arguments and return type. */
export interface MethodSpec<A extends Fields = Fields, R extends Type | undefined = Type> {
  /** Served to other nodes (#[remote]); also to local processes, as hyperapp does. */
  remote?: boolean;
  /** Served to processes on this node (#[local]). */
  local?: boolean;
  /**
   * Served over HTTP (#[http]): `true` for any method, or the method and path. A call
   * with a body is routed by the body's variant; one without (only methods without
   * arguments) by method and path.
   */
  http?: boolean | { method?: HttpMethod; path?: string };
  /** The arguments, in order: {name: type}. */
  args?: A;
  /** The return type; none: the answer is `null`. */
  returns?: R;
}

/** One method of an app's API: what the runtime serves and the generators write. */
export interface MethodDef {
  name: string;
  /** hyperapp's request variant: the name in PascalCase. */
  variant: string;
  remote: boolean;
  local: boolean;
  http?: { methods: readonly HttpMethod[]; path?: string };
  args: [string, Type][];
  returns?: Type;
  // deno-lint-ignore no-explicit-any
  handler?: (cx: Context<any>, args: Record<string, unknown>) => unknown;
}

/** A call's body: {"Variant": null | arg | [args...]}. */
export function encodeCall(def: MethodDef, args: Record<string, unknown> = {}): unknown {
  const values = def.args.map(([name]) => args[name]);
  return {
    [def.variant]: values.length === 0 ? null : values.length === 1 ? values[0] : values,
  };
}

/** A request body that is not a call of a declared method. */
export class Malformed extends Error {}

/** The method a call body names and its checked arguments; throws Malformed. */
export function decodeCall(
  defs: readonly MethodDef[],
  body: unknown,
): { def: MethodDef; args: Record<string, unknown> } {
  let variant: string;
  let value: unknown = null;
  if (typeof body === "string") {
    variant = body;
  } else if (
    typeof body === "object" && body !== null && !Array.isArray(body) &&
    Object.keys(body).length === 1
  ) {
    variant = Object.keys(body)[0];
    value = (body as Record<string, unknown>)[variant];
  } else {
    throw new Malformed('expected a call {"MethodName": arguments}');
  }
  const def = defs.find((d) => d.variant === variant);
  if (!def) {
    throw new Malformed(
      `no method ${JSON.stringify(variant)} (methods: ${defs.map((d) => d.variant).join(", ")})`,
    );
  }
  const n = def.args.length;
  let values: unknown[];
  if (n === 0) {
    if (value !== null) throw new Malformed(`${variant} takes no arguments: send null`);
    values = [];
  } else if (n === 1) {
    if (typeof body === "string") throw new Malformed(`${variant} takes an argument`);
    values = [value];
  } else {
    if (!Array.isArray(value) || value.length !== n) {
      throw new Malformed(
        `${variant} takes ${n} arguments as an array [${def.args.map(([a]) => a)}]`,
      );
    }
    values = value;
  }
  const args: Record<string, unknown> = {};
  try {
    def.args.forEach(([name, type], i) => (args[name] = type.read(values[i], name)));
  } catch (e) {
    if (e instanceof TypeMismatch) throw new Malformed(`${variant}: ${e.message}`);
    throw e;
  }
  return { def, args };
}

/** process_lib's SendError, serde JSON: what send() reads when an answer is not the return type. */
export function asSendError(v: unknown): "Offline" | "Timeout" | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if ((o.kind === "Offline" || o.kind === "Timeout") && typeof o.target === "string") return o.kind;
  return undefined;
}

/** A method's definition from its name and spec; throws if it cannot be served. */
export function methodDef(name: string, spec: MethodSpec<Fields, Type | undefined>): MethodDef {
  witIdent(name);
  const http = spec.http === true
    ? { methods: HTTP_METHODS }
    : spec.http
    ? { methods: spec.http.method ? [spec.http.method] : HTTP_METHODS, path: spec.http.path }
    : undefined;
  if (http?.path !== undefined && !http.path.startsWith("/")) {
    throw new Error(`${name}: http path must start with "/"`);
  }
  if (
    http && Object.keys(spec.args ?? {}).length &&
    http.methods.every((m) => m === "GET" || m === "HEAD")
  ) {
    throw new Error(`${name}: arguments come in the request body, which GET and HEAD cannot have`);
  }
  return {
    name,
    variant: pascal(name),
    remote: !!spec.remote,
    local: !!spec.local,
    http,
    args: Object.entries(spec.args ?? {}),
    returns: spec.returns,
  };
}

/** The fields of a request hyperapp refuses, as the runtime has them. */
export interface RefusedRequest {
  /** who sent it, "node@process:package:publisher" */
  source: string;
  expectsResponse: bigint | undefined;
  body: Uint8Array;
  metadata: string | undefined;
  capabilities: { issuer: string; params: string }[];
}

/**
 * What hyperapp answers a call it will not serve: process_lib's SendError (kind
 * Timeout) about the request, serde JSON, which process_lib's send() reads as an error.
 */
export function sendErrorBody(req: RefusedRequest): unknown {
  return {
    kind: "Timeout",
    target: req.source,
    message: {
      Request: {
        source: req.source,
        expects_response: req.expectsResponse === undefined ? null : Number(req.expectsResponse),
        body: [...req.body],
        metadata: req.metadata ?? null,
        capabilities: req.capabilities,
      },
    },
    lazy_load_blob: null,
    context: null,
  };
}
