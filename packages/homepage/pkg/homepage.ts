// homepage:homepage:sys, the node's home screen, as a TypeScript process module.
//
// Hyperdrive's API (api/homepage:sys-v2.wit, serde JSON):
//   {"Add": {label, icon, path, widget}}  from an app's init (process_lib's add_to_homepage);
//                                         the app is the message's source; no response
//   "Remove"                              the source removes itself; no response
//   {"RemoveOther": "proc:pkg:pub"}       needs our "RemoveOther" capability; no response
//   {"SetStylesheet": css}                needs our "SetStylesheet" capability; no response
//   "GetApps"                             -> {"GetApps": [App, ...]}
//   "GetPushSubscription"                 -> {"PushSubscription": null}
// Only processes holding a messaging capability to us can reach us (we are not public).
// A request we cannot act on is answered {"Err": "<why>"} when it expects a response
// (Hyperdrive drops it silently), and printed at verbosity 1. Answers reach an app only
// if it granted us messaging (its manifest's grant_capabilities), as the kernel checks
// responses too.
//
// HTTP, bound at the root as Hyperdrive's homepage binds it: "/" and its assets
// (authenticated, served by http-server from the bytes bound here); /apps, /version,
// /favorite, /order (authenticated, answered here); /hyperware.css, /manifest.json,
// icons, /our, /our.js, /amionline (public). Order and favourites persist in our state;
// the app list itself does not (apps add themselves at every init, as in Hyperdrive).

import {
  getBlob,
  getState,
  our as ourAddress,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendResponse,
  setState,
} from "hyperware:process/standard@1.0.0";

// ---------------------------------------------------------------------------
// The standard API's shapes, as this module uses them

interface ProcessId {
  processName: string;
  packageName: string;
  publisherNode: string;
}
interface Address {
  node: string;
  process: ProcessId;
}
interface Capability {
  issuer: Address;
  params: string;
}
interface Blob {
  mime: string | undefined;
  bytes: Uint8Array;
}
interface WitRequest {
  inherit: boolean;
  expectsResponse: bigint | undefined;
  body: Uint8Array;
  metadata: string | undefined;
  capabilities: Capability[];
}
interface WitResponse {
  inherit: boolean;
  body: Uint8Array;
  metadata: string | undefined;
  capabilities: Capability[];
}
type WitMessage =
  | { tag: "request"; val: WitRequest }
  | { tag: "response"; val: [WitResponse, Uint8Array | undefined] };

/** homepage's `app` record, with serde's field names. */
interface App {
  id: string;
  process: string;
  package_name: string;
  publisher: string;
  path: string | null;
  label: string;
  base64_icon: string | null;
  widget: string | null;
  order: number;
  favorite: boolean;
}

interface IncomingHttpRequest {
  method: string;
  url: string;
  bound_path: string;
  headers: Record<string, string>;
  query_params: Record<string, string>;
}

// ---------------------------------------------------------------------------

const VERSION = "0.1.0";
/** Favourites until the user says otherwise, as Hyperdrive's DEFAULT_FAVES. */
const DEFAULT_FAVES = ["main:app-store:sys", "settings:settings:sys"];
const PKG_DRIVE = "/homepage:sys/pkg";
const STYLESHEET = `${PKG_DRIVE}/hyperware.css`;
const PERSISTED_STYLESHEET = `${PKG_DRIVE}/persisted-hyperware.css`;

const enc = new TextEncoder();
const dec = new TextDecoder();
const me: Address = ourAddress();
const HOMEPAGE_ID = pidString(me.process);

function pidString(p: ProcessId): string {
  return `${p.processName}:${p.packageName}:${p.publisherNode}`;
}

function local(processName: string, packageName: string, publisherNode: string): Address {
  return { node: me.node, process: { processName, packageName, publisherNode } };
}
const HTTP_SERVER = local("http-server", "distro", "sys");
const VFS = local("vfs", "distro", "sys");

function log(verbosity: number, text: string): void {
  printToTerminal(verbosity, `homepage: ${text}`);
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  // a send error from send-and-await-response: {payload: {kind, target, ...}}
  const kind = (e as { payload?: { kind?: string } })?.payload?.kind;
  return kind ? `send error: ${kind}` : String(e);
}

// ---------------------------------------------------------------------------
// Persisted preferences: order and favourites, by app id

interface Prefs {
  order: Record<string, number>;
  favorite: Record<string, boolean>;
}

function loadPrefs(): Prefs {
  const prefs: Prefs = { order: {}, favorite: {} };
  let raw: unknown;
  try {
    const bytes = getState();
    if (!bytes) return prefs;
    raw = JSON.parse(dec.decode(bytes));
  } catch (e) {
    log(0, `ignoring unreadable saved state: ${errorText(e)}`);
    return prefs;
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return prefs;
  const o = raw as Record<string, unknown>;
  // Hyperdrive's state is the bare order map; ours is {order, favorite}
  const order = "order" in o || "favorite" in o ? o.order : o;
  if (order && typeof order === "object") {
    for (const [id, n] of Object.entries(order)) if (isU32(n)) prefs.order[id] = n;
  }
  if (o.favorite && typeof o.favorite === "object") {
    for (const [id, f] of Object.entries(o.favorite)) {
      if (typeof f === "boolean") prefs.favorite[id] = f;
    }
  }
  return prefs;
}

function savePrefs(prefs: Prefs): void {
  setState(enc.encode(JSON.stringify(prefs)));
}

function isU32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

// ---------------------------------------------------------------------------
// Requests to runtime modules

function request(body: unknown, timeout = 5): WitRequest {
  return {
    inherit: false,
    expectsResponse: BigInt(timeout),
    body: enc.encode(typeof body === "string" ? body : JSON.stringify(body)),
    metadata: undefined,
    capabilities: [],
  };
}

/** Sends and awaits; the response body parsed as JSON, and its blob. */
function call(target: Address, body: unknown, blob?: Blob): { answer: unknown; blob?: Blob } {
  const [, message] = sendAndAwaitResponse(target, request(body), blob) as [Address, WitMessage];
  if (message.tag !== "response") throw new Error("expected a response");
  const answer = JSON.parse(dec.decode(message.val[0].body));
  return { answer, blob: getBlob() as Blob | undefined };
}

function vfsRead(path: string): Uint8Array | undefined {
  try {
    const { answer, blob } = call(VFS, { path, action: "Read" });
    if (answer === "Read" && blob) return blob.bytes;
  } catch (e) {
    log(1, `vfs read ${path}: ${errorText(e)}`);
  }
  return undefined;
}

function vfsWrite(path: string, bytes: Uint8Array): boolean {
  try {
    const { answer } = call(VFS, { path, action: "Write" }, { mime: undefined, bytes });
    if (answer === "Ok") return true;
    log(0, `vfs write ${path}: ${JSON.stringify(answer)}`);
  } catch (e) {
    log(0, `vfs write ${path}: ${errorText(e)}`);
  }
  return false;
}

function bind(
  path: string,
  opts: { authenticated: boolean; content?: { mime: string; bytes: Uint8Array } },
): boolean {
  const action = {
    Bind: { path, authenticated: opts.authenticated, local_only: false, cache: !!opts.content },
  };
  try {
    const { answer } = call(
      HTTP_SERVER,
      action,
      opts.content ? { mime: opts.content.mime, bytes: opts.content.bytes } : undefined,
    );
    if (answer && typeof answer === "object" && "Ok" in answer) return true;
    log(0, `binding ${path} failed: ${JSON.stringify(answer)}`);
  } catch (e) {
    log(0, `binding ${path} failed: ${errorText(e)}`);
  }
  return false;
}

// ---------------------------------------------------------------------------
// HTTP

/** Our UI files in the pkg drive, and where each is served. */
const UI_FILES: { file: string; path: string; mime: string; authenticated: boolean }[] = [
  { file: "ui/index.html", path: "/", mime: "text/html; charset=utf-8", authenticated: true },
  {
    file: "ui/home.css",
    path: "/assets/home.css",
    mime: "text/css; charset=utf-8",
    authenticated: true,
  },
  {
    file: "ui/home.js",
    path: "/assets/home.js",
    mime: "application/javascript; charset=utf-8",
    authenticated: true,
  },
  // public so that a PWA install and apps on secure subdomains can load them
  {
    file: "ui/manifest.json",
    path: "/manifest.json",
    mime: "application/json",
    authenticated: false,
  },
  { file: "ui/icon.svg", path: "/icon.svg", mime: "image/svg+xml", authenticated: false },
  { file: "ui/icon.svg", path: "/hyperware.svg", mime: "image/svg+xml", authenticated: false },
  { file: "ui/icon-180.png", path: "/icon-180.png", mime: "image/png", authenticated: false },
];

function bindStylesheet(css: Uint8Array): boolean {
  // public: apps on secure subdomains use it too
  return bind("/hyperware.css", {
    authenticated: false,
    content: { mime: "text/css; charset=utf-8", bytes: css },
  });
}

function bindAll(): void {
  for (const f of UI_FILES) {
    const bytes = vfsRead(`${PKG_DRIVE}/${f.file}`);
    if (!bytes) {
      log(0, `missing ${f.file} in ${PKG_DRIVE}; ${f.path} not served`);
      continue;
    }
    bind(f.path, { authenticated: f.authenticated, content: { mime: f.mime, bytes } });
  }
  const text = (s: string) => ({ mime: "text/html", bytes: enc.encode(s) });
  bind("/our", { authenticated: false, content: text(me.node) });
  bind("/amionline", { authenticated: false, content: text("yes") });
  bind("/our.js", {
    authenticated: false,
    content: {
      mime: "application/javascript",
      // as Hyperdrive writes it (node names are a-z, 0-9, "-" and ".": nothing to escape)
      bytes: enc.encode(`window.our = {}; window.our.node = '${me.node}';`),
    },
  });
  // the stylesheet SetStylesheet saved wins over the package's own
  let css = vfsRead(PERSISTED_STYLESHEET);
  if (!css) {
    css = vfsRead(STYLESHEET) ?? new Uint8Array();
    vfsWrite(PERSISTED_STYLESHEET, css);
  }
  bindStylesheet(css);
  for (const path of ["/apps", "/version", "/favorite", "/order"]) {
    bind(path, { authenticated: true });
  }
}

interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

function jsonAnswer(status: number, value: unknown): HttpAnswer {
  return {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
    body: enc.encode(JSON.stringify(value)),
  };
}

function textAnswer(status: number, text: string): HttpAnswer {
  return {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
    body: enc.encode(text),
  };
}

function respondHttp(a: HttpAnswer): void {
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify({ status: a.status, headers: a.headers ?? {} })),
      metadata: undefined,
      capabilities: [],
    },
    a.body ? { mime: a.headers?.["Content-Type"], bytes: a.body } : undefined,
  );
}

function postedJson(incoming: IncomingHttpRequest): { value?: unknown; error?: HttpAnswer } {
  if (incoming.method !== "POST") {
    return { error: textAnswer(405, `${incoming.bound_path} takes POST`) };
  }
  const blob = getBlob() as Blob | undefined;
  if (!blob || blob.bytes.length === 0) return { error: textAnswer(400, "missing JSON body") };
  try {
    return { value: JSON.parse(dec.decode(blob.bytes)) };
  } catch {
    return { error: textAnswer(400, "body is not JSON") };
  }
}

// ---------------------------------------------------------------------------
// The homepage

class Homepage {
  /** by id; listed in id order, as Hyperdrive's BTreeMap */
  readonly apps = new Map<string, App>();
  constructor(readonly prefs: Prefs) {}

  list(): App[] {
    return [...this.apps.keys()].sort().map((id) => this.apps.get(id)!);
  }

  add(source: Address, add: AddRequest): void {
    const id = pidString(source.process);
    const existing = this.apps.get(id);
    const path = add.path === null ? null : `/${id}/${add.path.replace(/^\//, "")}`;
    this.apps.set(id, {
      id,
      process: source.process.processName,
      package_name: source.process.packageName,
      publisher: source.process.publisherNode,
      path,
      label: add.label,
      base64_icon: add.icon,
      widget: add.widget,
      order: this.prefs.order[id] ?? existing?.order ?? this.apps.size,
      favorite: this.prefs.favorite[id] ?? existing?.favorite ?? DEFAULT_FAVES.includes(id),
    });
  }

  remove(id: string): boolean {
    const had = this.apps.delete(id);
    const known = id in this.prefs.order || id in this.prefs.favorite;
    delete this.prefs.order[id];
    delete this.prefs.favorite[id];
    if (known) savePrefs(this.prefs);
    return had;
  }

  setFavorite(id: string, favorite: boolean): boolean {
    const app = this.apps.get(id);
    if (!app) return false;
    app.favorite = favorite;
    this.prefs.favorite[id] = favorite;
    savePrefs(this.prefs);
    return true;
  }

  /** As Hyperdrive: the posted list becomes the whole saved order. */
  setOrder(list: [string, number][]): void {
    for (const [id, n] of list) {
      const app = this.apps.get(id);
      if (app) app.order = n;
    }
    this.prefs.order = Object.fromEntries(list);
    savePrefs(this.prefs);
  }

  handleHttp(incoming: IncomingHttpRequest): HttpAnswer {
    switch (incoming.bound_path) {
      case "/apps":
        return jsonAnswer(200, this.list());
      case "/version":
        return textAnswer(200, VERSION);
      case "/favorite": {
        const { value, error } = postedJson(incoming);
        if (error) return error;
        if (
          !Array.isArray(value) || value.length !== 2 || typeof value[0] !== "string" ||
          typeof value[1] !== "boolean"
        ) {
          return textAnswer(400, 'expected ["<app id>", true | false]');
        }
        this.setFavorite(value[0], value[1]);
        return { status: 200 };
      }
      case "/order": {
        const { value, error } = postedJson(incoming);
        if (error) return error;
        if (
          !Array.isArray(value) ||
          !value.every((e) =>
            Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && isU32(e[1])
          )
        ) {
          return textAnswer(400, 'expected [["<app id>", <order>], ...]');
        }
        this.setOrder(value as [string, number][]);
        return { status: 200 };
      }
    }
    return { status: 404 };
  }
}

// ---------------------------------------------------------------------------
// Process requests

interface AddRequest {
  label: string;
  icon: string | null;
  path: string | null;
  widget: string | null;
}

type HomepageRequest =
  | { tag: "Add"; val: AddRequest }
  | { tag: "Remove" }
  | { tag: "RemoveOther"; val: string }
  | { tag: "SetStylesheet"; val: string }
  | { tag: "GetApps" }
  | { tag: "GetPushSubscription" };

class Malformed extends Error {}

function optString(o: Record<string, unknown>, k: string): string | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new Malformed(`Add.${k} must be a string or null`);
  return v;
}

/** The request as serde_json reads Hyperdrive's `request` variant, or Malformed. */
function parseRequest(body: Uint8Array): HomepageRequest {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(body));
  } catch {
    throw new Malformed("body is not JSON");
  }
  let tag: string;
  let val: unknown = null;
  if (typeof v === "string") {
    tag = v;
  } else if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1) {
    tag = Object.keys(v)[0];
    val = (v as Record<string, unknown>)[tag];
  } else {
    throw new Malformed('expected a variant: "Name" or {"Name": value}');
  }
  switch (tag) {
    case "Remove":
    case "GetApps":
    case "GetPushSubscription":
      if (val !== null) throw new Malformed(`${tag} takes no value`);
      return { tag };
    case "RemoveOther":
    case "SetStylesheet":
      if (typeof val !== "string") throw new Malformed(`${tag} takes a string`);
      return { tag, val };
    case "Add": {
      if (!val || typeof val !== "object" || Array.isArray(val)) {
        throw new Malformed("Add takes {label, icon, path, widget}");
      }
      const o = val as Record<string, unknown>;
      if (typeof o.label !== "string") throw new Malformed("Add.label must be a string");
      return {
        tag,
        val: {
          label: o.label,
          icon: optString(o, "icon"),
          path: optString(o, "path"),
          widget: optString(o, "widget"),
        },
      };
    }
  }
  throw new Malformed(
    `unknown request ${JSON.stringify(tag)}: expected Add, Remove, RemoveOther, SetStylesheet, ` +
      "GetApps or GetPushSubscription",
  );
}

/** Whether the message carries our capability `name` ("RemoveOther", "SetStylesheet"). */
function carriesCap(caps: Capability[], name: string): boolean {
  return caps.some((c) => {
    if (c.issuer.node !== me.node || pidString(c.issuer.process) !== HOMEPAGE_ID) return false;
    try {
      return JSON.parse(c.params) === name;
    } catch {
      return false;
    }
  });
}

function answer(req: WitRequest, value: unknown): void {
  if (req.expectsResponse === undefined) return;
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify(value)),
      metadata: undefined,
      capabilities: [],
    },
    undefined,
  );
}

function refuse(source: Address, req: WitRequest, why: string): void {
  log(1, `refused a request from ${pidString(source.process)}: ${why}`);
  answer(req, { Err: why });
}

function handleRequest(home: Homepage, source: Address, req: WitRequest): void {
  if (source.node !== me.node) return refuse(source, req, "only local processes may use homepage");
  let r: HomepageRequest;
  try {
    r = parseRequest(req.body);
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    return refuse(source, req, `malformed request: ${e.message}`);
  }
  switch (r.tag) {
    case "Add":
      home.add(source, r.val);
      return;
    case "Remove":
      home.remove(pidString(source.process));
      return;
    case "RemoveOther":
      if (!carriesCap(req.capabilities, "RemoveOther")) {
        return refuse(source, req, "RemoveOther needs homepage's RemoveOther capability");
      }
      home.remove(r.val);
      return;
    case "SetStylesheet": {
      if (!carriesCap(req.capabilities, "SetStylesheet")) {
        return refuse(source, req, "SetStylesheet needs homepage's SetStylesheet capability");
      }
      const css = enc.encode(r.val);
      vfsWrite(PERSISTED_STYLESHEET, css);
      bindStylesheet(css);
      return;
    }
    case "GetApps":
      return answer(req, { GetApps: home.list() });
    case "GetPushSubscription":
      // push subscriptions live with notifications:distro:sys, as in Hyperdrive
      return answer(req, { PushSubscription: null });
  }
}

export function init(_our: string): void {
  const home = new Homepage(loadPrefs());
  bindAll();
  log(1, "serving /");
  for (;;) {
    let source: Address;
    let message: WitMessage;
    try {
      [source, message] = receive() as [Address, WitMessage];
    } catch {
      continue; // a send error: we only send requests we await
    }
    if (message.tag !== "request") continue;
    const req = message.val;
    const fromHttp = source.node === me.node &&
      pidString(source.process) === "http-server:distro:sys";
    try {
      if (fromHttp) {
        let msg: { Http?: IncomingHttpRequest } | undefined;
        try {
          msg = JSON.parse(dec.decode(req.body));
        } catch {
          continue;
        }
        // WebSocket messages: we bind no WebSocket paths
        if (msg?.Http) respondHttp(home.handleHttp(msg.Http));
        continue;
      }
      handleRequest(home, source, req);
    } catch (e) {
      // keep serving: one bad message must not take the homepage down
      log(0, `error handling a request from ${pidString(source.process)}: ${errorText(e)}`);
      if (req.expectsResponse === undefined) continue;
      try {
        if (fromHttp) respondHttp(textAnswer(500, `homepage: ${errorText(e)}`));
        else answer(req, { Err: `internal error: ${errorText(e)}` });
      } catch { /* the answer itself failed */ }
    }
  }
}
