// A node with the distro packages (homepage, settings, hello), http-server on a free
// port, a password keyfile, the login cookie for the main origin and the one scoped to
// settings' secure subdomain; helpers to ask settings over HTTP (on its subdomain, as
// a browser does) and as a process; a test app (tests/homepage/fixtures/tileapp.js)
// installed as `<name>:<name>:test.os`.

import { bootNode, type HyperdenoNode } from "../../main.ts";
import { writeKitPackage } from "../kernel/helpers.ts";
import { rawRequest } from "../http/harness.ts";
import { createHttpServer, generateJwt, importJwtKey } from "../../modules/http_server/mod.ts";
import { loadOrCreateKeyfile } from "../../modules/keyfile/mod.ts";

export const NODE_NAME = "settings.dev";
export const PASSWORD = "settings password";
export const SETTINGS = "settings:settings:sys";
export const SUBDOMAIN = "settings-sys";
export const HOMEPAGE = "homepage:homepage:sys";

const TILEAPP = new URL("../homepage/fixtures/tileapp.js", import.meta.url);
const dec = new TextDecoder();

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** the body as JSON (undefined when it is not) */
  json: unknown;
}

export interface SettingsNode {
  node: HyperdenoNode;
  base: string;
  port: number;
  /** the login cookie for the main origin */
  cookie: string;
  /** the login cookie scoped to settings (its secure subdomain) */
  settingsCookie: string;
  prints: string[];
  /** An HTTP request to settings on its subdomain, logged in (unless `cookie: false`). */
  http(
    method: string,
    path: string,
    body?: unknown,
    opts?: { cookie?: string | false; host?: string },
  ): Promise<HttpAnswer>;
  /** POST /ask; `raw` sends the string as it is. */
  ask(body: unknown, raw?: boolean): Promise<HttpAnswer>;
  /** GET /ask, the state. */
  state(): Promise<Record<string, unknown>>;
  /** A request to settings as a process, with root authority; the parsed answer. */
  request(body: unknown, raw?: boolean): Promise<unknown>;
  /** fetch on the main origin with the login cookie */
  get(path: string, init?: RequestInit & { cookie?: boolean }): Promise<Response>;
  installApp(name: string): Promise<void>;
  waitForPrint(re: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function appId(name: string): string {
  return `${name}:${name}:test.os`;
}

export async function until<T>(
  f: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`never ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function bootSettingsNode(
  home: string,
  opts: { name?: string } = {},
): Promise<SettingsNode> {
  const name = opts.name ?? NODE_NAME;
  const loaded = await loadOrCreateKeyfile({ home, our: name, password: PASSWORD });
  const httpServer = createHttpServer({
    port: 0,
    hostname: "127.0.0.1",
    jwtSecret: loaded.keyfile.jwtSecret,
    encodedKeyfile: loaded.encoded,
  });
  const prints: string[] = [];
  const node = await bootNode({
    home,
    name,
    verbosity: 1,
    onPrint: (_level, text) => prints.push(text),
    keyfile: loaded,
    modules: [httpServer],
    // not hns-indexer: it would try the default mainnet node providers (and mark them unusable)
    distro: ["homepage", "settings", "hello"],
    tcpPort: 0,
    wsPort: false,
  });
  const port = httpServer.port!;
  const base = `http://localhost:${port}`;
  const key = await importJwtKey(loaded.keyfile.jwtSecret);
  const cookie = `hyperware-auth_${name}=${await generateJwt(key, name)}`;
  const settingsCookie = `hyperware-auth_${name}@${SETTINGS}=${await generateJwt(
    key,
    name,
    SETTINGS,
  )}`;

  const http: SettingsNode["http"] = async (method, path, body, o = {}) => {
    const headers: Record<string, string> = {};
    const c = o.cookie === undefined ? settingsCookie : o.cookie;
    if (c) headers.cookie = c;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await rawRequest(port, {
      method,
      path: `/${SETTINGS}${path}`,
      host: o.host ?? `${SUBDOMAIN}.localhost:${port}`,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text: res.text, json };
  };
  const waitForPrint = async (re: RegExp, timeoutMs = 20_000) => {
    await until(
      () => Promise.resolve(prints.some((p) => re.test(p))),
      `a print matching ${re}`,
      timeoutMs,
    )
      .catch((e) => {
        throw new Error(`${e.message}\n${prints.join("\n")}`);
      });
  };

  const n: SettingsNode = {
    node,
    base,
    port,
    cookie,
    settingsCookie,
    prints,
    http,
    ask: (body, raw = false) => http("POST", "/ask", raw ? body : JSON.stringify(body)),
    async state() {
      const res = await http("GET", "/ask");
      if (res.status !== 200) throw new Error(`GET /ask: ${res.status} ${res.text}`);
      return res.json as Record<string, unknown>;
    },
    async request(body, raw = false) {
      const res = await node.request(
        `our@${SETTINGS}`,
        raw ? body as string : JSON.stringify(body),
        { timeoutSeconds: 15 },
      );
      return JSON.parse(dec.decode(res.body));
    },
    get(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.cookie !== false) headers.set("cookie", cookie);
      return fetch(base + path, { ...init, headers, redirect: "manual" });
    },
    async installApp(app) {
      const dir = await writeKitPackage(`${home}/src`, {
        name: app,
        files: { "tileapp.js": TILEAPP },
        manifest: [{
          process_name: app,
          process_wasm_path: "/tileapp.js",
          on_exit: "Restart",
          request_networking: false,
          request_capabilities: ["http-server:distro:sys", HOMEPAGE],
          grant_capabilities: ["http-server:distro:sys", HOMEPAGE],
          public: false,
        }],
      });
      await node.installPackage(dir);
      await waitForPrint(new RegExp(`tileapp ${app}: added$`));
    },
    waitForPrint,
    stop: () => node.shutdown(),
  };
  // settings binds /refresh last: once it answers, settings serves
  try {
    await until(
      async () => {
        const res = await n.get(`/${SETTINGS}/refresh`).catch(() => undefined);
        await res?.body?.cancel();
        return res?.status === 200;
      },
      "settings serving /refresh",
      30_000,
    );
  } catch (e) {
    await node.shutdown();
    throw new Error(`${(e as Error).message}\n${prints.join("\n")}`);
  }
  return n;
}

export async function withSettingsNode<T>(
  f: (n: SettingsNode, home: string) => Promise<T>,
): Promise<T> {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-settings-" });
  const n = await bootSettingsNode(home);
  try {
    return await f(n, home);
  } finally {
    await n.stop();
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}
