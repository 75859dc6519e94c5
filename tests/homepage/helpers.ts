// A node with the distro packages (so homepage:homepage:sys), http-server on a
// free port, a password keyfile and a login cookie; test apps from
// fixtures/tileapp.js installed as packages `<name>:test.os`.

import { bootNode, type HyperdenoNode } from "../../main.ts";
import { writeKitPackage } from "../kernel/helpers.ts";
import { createHttpServer, generateJwt, importJwtKey } from "../../modules/http_server/mod.ts";
import { loadOrCreateKeyfile } from "../../modules/keyfile/mod.ts";

export const NODE_NAME = "home.dev";
export const PASSWORD = "homepage password";
export const HOMEPAGE = "homepage:homepage:sys";

export interface App {
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

export interface HomeNode {
  node: HyperdenoNode;
  base: string;
  port: number;
  cookie: string;
  prints: string[];
  /** fetch on the node with the login cookie (unless `cookie: false`) */
  get(path: string, init?: RequestInit & { cookie?: boolean }): Promise<Response>;
  post(path: string, body: unknown): Promise<Response>;
  /** homepage's GetApps, asked with root authority */
  getApps(): Promise<App[]>;
  /** GetApps until `pred` holds (apps add themselves asynchronously) */
  appsWhen(pred: (apps: App[]) => boolean, what: string, timeoutMs?: number): Promise<App[]>;
  /** Has the app `name` message the homepage (tileapp's commands) */
  viaApp(name: string, cmd: Record<string, unknown>): Promise<Record<string, unknown>>;
  installApp(name: string, opts?: AppOptions): Promise<void>;
  waitForPrint(re: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface AppOptions {
  /** request the homepage messaging cap (default true) */
  messaging?: boolean;
  /** homepage capabilities to request, e.g. ["RemoveOther"] */
  homepageCaps?: string[];
  /** wait until the app is listed (default: when it may message the homepage) */
  waitListed?: boolean;
}

const FIXTURE = new URL("./fixtures/tileapp.js", import.meta.url);
const dec = new TextDecoder();

export function appId(name: string): string {
  return `${name}:${name}:test.os`;
}

export interface HomeNodeOptions {
  /** distro packages to install (default only the homepage: others add their own tiles) */
  distro?: true | string[];
}

export async function bootHomeNode(home: string, opts: HomeNodeOptions = {}): Promise<HomeNode> {
  const loaded = await loadOrCreateKeyfile({ home, our: NODE_NAME, password: PASSWORD });
  const http = createHttpServer({
    port: 0,
    hostname: "127.0.0.1",
    jwtSecret: loaded.keyfile.jwtSecret,
    encodedKeyfile: loaded.encoded,
  });
  const prints: string[] = [];
  const node = await bootNode({
    home,
    name: NODE_NAME,
    verbosity: 1,
    onPrint: (_level, text) => prints.push(text),
    keyfile: loaded,
    modules: [http],
    // only the homepage unless asked: other distro apps (settings) would add their own tiles
    distro: opts.distro ?? ["homepage"],
    tcpPort: 0,
    wsPort: false,
  });
  const base = http.url!.replace("127.0.0.1", "localhost");
  const token = await generateJwt(await importJwtKey(loaded.keyfile.jwtSecret), NODE_NAME);
  const cookie = `hyperware-auth_${NODE_NAME}=${token}`;

  const get = (path: string, init: RequestInit & { cookie?: boolean } = {}) => {
    const headers = new Headers(init.headers);
    if (init.cookie !== false) headers.set("cookie", cookie);
    return fetch(base + path, { ...init, headers, redirect: "manual" });
  };
  const getApps = async () => {
    const res = await node.request(`our@${HOMEPAGE}`, JSON.stringify("GetApps"));
    const body = JSON.parse(dec.decode(res.body));
    if (!body.GetApps) throw new Error(`GetApps answered ${JSON.stringify(body)}`);
    return body.GetApps as App[];
  };
  const waitForPrint = async (re: RegExp, timeoutMs = 20_000) => {
    const end = Date.now() + timeoutMs;
    while (!prints.some((p) => re.test(p))) {
      if (Date.now() > end) throw new Error(`no print matching ${re}:\n${prints.join("\n")}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const appsWhen = async (pred: (apps: App[]) => boolean, what: string, timeoutMs = 10_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const apps = await getApps();
      if (pred(apps)) return apps;
      if (Date.now() > end) {
        throw new Error(`homepage never had ${what}: ${JSON.stringify(apps.map((a) => a.id))}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const n: HomeNode = {
    node,
    base,
    port: http.port!,
    cookie,
    prints,
    get,
    post: (path, body) =>
      get(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    getApps,
    appsWhen,
    async viaApp(name, cmd) {
      const res = await node.request(`our@${appId(name)}`, JSON.stringify(cmd), {
        timeoutSeconds: 10,
      });
      return JSON.parse(dec.decode(res.body));
    },
    async installApp(name, opts = {}) {
      const messaging = opts.messaging ?? true;
      const caps: unknown[] = ["http-server:distro:sys"];
      if (messaging) caps.push(HOMEPAGE);
      for (const params of opts.homepageCaps ?? []) caps.push({ process: HOMEPAGE, params });
      // as app-store and file-explorer do: let the homepage answer us (responses need caps too)
      const grants: unknown[] = ["http-server:distro:sys"];
      if (messaging) grants.push(HOMEPAGE);
      const dir = await writeKitPackage(`${home}/src`, {
        name,
        files: { "tileapp.js": FIXTURE },
        manifest: [{
          process_name: name,
          process_wasm_path: "/tileapp.js",
          on_exit: "Restart",
          request_networking: false,
          request_capabilities: caps,
          grant_capabilities: grants,
          public: false,
        }],
      });
      await node.installPackage(dir);
      await waitForPrint(new RegExp(`tileapp ${name}: added$`));
      if (opts.waitListed ?? messaging) {
        await appsWhen((apps) => apps.some((a) => a.id === appId(name)), appId(name));
      }
    },
    waitForPrint,
    stop: () => node.shutdown(),
  };
  // /order is the last path the homepage binds: once it is there (405 to a GET), it serves
  const end = Date.now() + 30_000;
  for (;;) {
    const res = await get("/order").catch(() => undefined);
    await res?.body?.cancel();
    if (res?.status === 405) break;
    if (Date.now() > end) {
      await node.shutdown();
      throw new Error(`homepage never served /apps:\n${prints.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return n;
}

export async function withHomeNode<T>(f: (n: HomeNode, home: string) => Promise<T>): Promise<T> {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-homepage-" });
  const n = await bootHomeNode(home);
  try {
    return await f(n, home);
  } finally {
    await n.stop();
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}
