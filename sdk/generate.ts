// From an app's methods: the WIT of its API, as kit's hyperapp generator writes
// it (one `<name>-signature-<remote|local|http>` record per way a method is
// served: the target, the argument types as a tuple, the return type), the world
// files, and a typed TS client for a UI (fetch wrappers for the HTTP methods).

import type { HyperApp, MethodDef } from "./app.ts";
import { kebab, namedInOrder, pascal, type ResultType, type Type, witIdent } from "./types.ts";

type AnyApp = HyperApp<unknown, Record<string, never>>;

function indent(text: string, by = "    "): string {
  return text.split("\n").map((l) => (l ? by + l : l)).join("\n");
}

function allTypes(methods: readonly MethodDef[]): Type[] {
  return methods.flatMap((m) => [...m.args.map(([, t]) => t), ...(m.returns ? [m.returns] : [])]);
}

/** The first HTTP path the app binds (where its HTTP methods are called), default "/api". */
export function apiPath(app: AnyApp): string {
  for (const e of app.config.endpoints ?? []) if ("http" in e) return e.http;
  return "/api";
}

function httpLine(app: AnyApp, m: MethodDef): { method: string; path: string } {
  const methods = m.http!.methods;
  return {
    method: methods.length === 1 ? methods[0] : "POST",
    path: m.http!.path ?? apiPath(app),
  };
}

function signature(app: AnyApp, m: MethodDef, kind: "remote" | "local" | "http"): string {
  const name = witIdent(m.name).replace(/^%/, "");
  const lines = [`// Function signature for: ${name} (${kind})`];
  if (kind === "http") {
    const h = httpLine(app, m);
    lines.push(`// HTTP: ${h.method} ${h.path}`);
  }
  const fields = [`target: ${kind === "http" ? "string" : "address"}`];
  if (m.args.length) {
    lines.push(`// args: (${m.args.map(([a, t]) => `${witIdent(a)}: ${t.wit}`).join(", ")})`);
    if (kind !== "http") {
      const names = m.args.map(([a]) => a);
      lines.push(
        `// json fmt: {"${m.variant}": ${names.length === 1 ? names[0] : `[${names.join(", ")}]`}}`,
      );
    }
    fields.push(`arg-types: tuple<${m.args.map(([, t]) => t.wit).join(", ")}>`);
  } else {
    lines.push("// args: none");
    if (kind !== "http") lines.push(`// json fmt: {"${m.variant}": null}`);
  }
  if (m.returns) fields.push(`returning: ${m.returns.wit}`);
  else lines.push("// returns: nothing (the answer is null)");
  return `${lines.join("\n")}\nrecord ${name}-signature-${kind} {\n${
    fields.map((f) => `    ${f}`).join(",\n")
  }\n}`;
}

/** The app's WIT interface (api/<interface>.wit). */
export function generateWit(app: AnyApp): string {
  const sigs: string[] = [];
  for (const m of app.methods) {
    if (m.remote) sigs.push(signature(app, m, "remote"));
    if (m.local) sigs.push(signature(app, m, "local"));
    if (m.http) sigs.push(signature(app, m, "http"));
  }
  const kindOrder = (s: string) => s.match(/record (\S+)/)![1];
  sigs.sort((a, b) => (kindOrder(a) < kindOrder(b) ? -1 : kindOrder(a) > kindOrder(b) ? 1 : 0));
  const types = namedInOrder(allTypes(app.methods)).map((n) => n.witDefinition());
  const body = ["use standard.{address};", ...types, ...sigs].join("\n\n");
  return `interface ${witIdent(app.witInterface)} {\n${indent(body)}\n}\n`;
}

/** The world that builds the app (api/<world>.wit) and its types-only twin. */
export function generateWorlds(app: AnyApp, world: string): Record<string, string> {
  const iface = witIdent(app.witInterface);
  return {
    [`${world}.wit`]: `world ${world} {\n    import ${iface};\n    include process-v1;\n}\n`,
    [`types-${world}.wit`]: `world types-${world} {\n    import ${iface};\n    include lib;\n}\n`,
  };
}

/** kit's default world name for a package: "<package>-<publisher, . as -dot->-v0". */
export function defaultWorld(packageName: string, publisher: string): string {
  return `${packageName}-${publisher.replaceAll(".", "-dot-")}-v0`;
}

function unwrappedReturn(m: MethodDef): { ts: string; unwrap: boolean } {
  const r = m.returns;
  if (!r) return { ts: "null", unwrap: false };
  if (r.kind === "result") return { ts: (r as ResultType<unknown, unknown>).ok.ts, unwrap: true };
  return { ts: r.ts, unwrap: false };
}

/**
 * A typed TS client for a UI: one async function per HTTP method, named as the
 * method, sending hyperapp's body ({"Variant": args}) to the app's HTTP path under
 * its prefix. A `result` answer is unwrapped: Ok is returned, Err thrown as ApiError.
 */
export function generateClient(app: AnyApp, processId: string): string {
  const http = app.methods.filter((m) => m.http);
  const types = namedInOrder(http.flatMap((m) => allTypes([m]))).map((n) => n.tsDefinition());
  const fns = http.map((m) => {
    const h = httpLine(app, m);
    const params = m.args.map(([a, t]) => `${a}: ${t.ts}`).join(", ");
    const ret = unwrappedReturn(m);
    const noBody = m.args.length === 0 && (h.method === "GET" || h.method === "HEAD");
    const values = m.args.map(([a]) => a);
    const body = noBody
      ? "undefined"
      : `{ ${m.variant}: ${
        values.length === 0 ? "null" : values.length === 1 ? values[0] : `[${values.join(", ")}]`
      } }`;
    const doc = [
      `/** ${m.name}: ${h.method} ${h.path}${
        m.args.length ? ` (${m.args.map(([a, t]) => `${a}: ${t.wit}`).join(", ")})` : ""
      } -> ${m.returns?.wit ?? "null"} */`,
    ];
    return `${doc.join("\n")}\nexport function ${m.name}(${params}): Promise<${ret.ts}> {\n` +
      `  return request<${ret.ts}>(${JSON.stringify(h.method)}, ${
        JSON.stringify(h.path)
      }, ${body}, ${ret.unwrap});\n}`;
  });
  return `// Typed client for ${app.config.name}'s HTTP API (${processId}), generated by
// hyperdeno's sdk/build.ts from the app's methods: do not edit.

/** Where the app is served: the node's origin (if not this page's) and the app's prefix. */
export const config: { origin: string; prefix: string; headers: Record<string, string> } = {
  origin: typeof location === "undefined" ? "" : location.origin,
  prefix: ${JSON.stringify("/" + processId)},
  headers: {},
};

/** A failed call: an HTTP error status, or a method's Err answer (in \`details\`). */
export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly details?: unknown) {
    super(message);
    this.name = "ApiError";
  }
}
${types.length ? "\n" + types.join("\n\n") + "\n" : ""}
async function request<T>(method: string, path: string, body: unknown, ok: boolean): Promise<T> {
  const res = await fetch(config.origin + config.prefix + path, {
    method,
    headers: { "Content-Type": "application/json", ...config.headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await res.text();
  if (!res.ok) throw new ApiError(\`\${method} \${path}: \${res.status} \${text}\`, res.status);
  const value = JSON.parse(text);
  if (!ok) return value as T;
  if (value && typeof value === "object" && "Err" in value) {
    throw new ApiError(\`\${method} \${path}: \${JSON.stringify(value.Err)}\`, res.status, value.Err);
  }
  return value.Ok as T;
}

${fns.join("\n\n")}
`;
}

export { kebab, pascal };
