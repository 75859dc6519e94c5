// Nodes with the app store: the homepage and app-store distro packages, the runtime's
// install machinery (packages:distro:sys), http-server on a free port with kit's RPC
// (exposeLocal), a password keyfile and login cookies; networking over TCP on loopback.

import { bootNode, type HyperdenoNode } from "../../main.ts";
import { createPackagesModule } from "../../kernel/packages.ts";
import { createHttpServer, generateJwt, importJwtKey } from "../../modules/http_server/mod.ts";
import { loadOrCreateKeyfile } from "../../modules/keyfile/mod.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import type { ConsolePort, RuntimeConsole } from "../../kernel/console_port.ts";
import { rawRequest } from "../http/harness.ts";
import { makeZip } from "./kit.ts";

export const PASSWORD = "app store password";
export const MAIN = "main:app-store:sys";
export const SUBDOMAIN = "app-store-sys";

const dec = new TextDecoder();
const enc = new TextEncoder();

export interface StoreNode {
  node: HyperdenoNode;
  name: string;
  home: string;
  base: string;
  port: number;
  /** login cookie for the main origin, and the one for the app store's subdomain */
  cookie: string;
  storeCookie: string;
  prints: string[];
  /** An HTTP request to the app store's API on its subdomain, logged in. */
  api(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown; text: string }>;
  /** A request to a process with root authority; the JSON answer. */
  ask(target: string, body: unknown, timeoutSeconds?: number): Promise<unknown>;
  waitForPrint(re: RegExp, timeoutMs?: number): Promise<string>;
  /** A line entered at the console (with `console: true`): the terminal runs it. */
  line(text: string): void;
  stop(): Promise<void>;
}

export interface StoreNodeOptions {
  name?: string;
  pki?: HnsUpdate[];
  tcpPort?: number;
  /** distro packages (default homepage and app-store) */
  distro?: string[];
  verbosity?: number;
  httpPort?: number;
  /** a local chain (chain/) on this port: eth's provider for 31337, the app store indexes it */
  chainPort?: number;
  /** attach a console (as the CLI's) so lines can be entered: `line()` */
  console?: boolean;
}

export async function until<T>(
  f: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 15_000,
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

export async function bootStoreNode(home: string, opts: StoreNodeOptions = {}): Promise<StoreNode> {
  const name = opts.name ?? "store.dev";
  const loaded = await loadOrCreateKeyfile({ home, our: name, password: PASSWORD });
  const http = createHttpServer({
    port: opts.httpPort ?? 0,
    hostname: "127.0.0.1",
    jwtSecret: loaded.keyfile.jwtSecret,
    encodedKeyfile: loaded.encoded,
    exposeLocal: true,
  });
  if (opts.chainPort !== undefined) {
    const dir = `${home}/vfs/app-store:sys/initfiles`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/chain.json`,
      JSON.stringify({ chain_id: 31337, first_block: 0, poll_ms: 300 }),
    );
  }
  const prints: string[] = [];
  const waiters: { re: RegExp; resolve: (s: string) => void }[] = [];
  const onPrint = (_level: number, text: string) => {
    prints.push(text);
    for (const w of [...waiters]) {
      if (w.re.test(text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(text);
      }
    }
  };
  let consolePort: ConsolePort | undefined;
  const con: RuntimeConsole | undefined = opts.console
    ? {
      print: (level, text) => onPrint(level, text),
      attach: (p) => void (consolePort = p),
      verbosity: 1,
      setVerbosity: () => {},
    }
    : undefined;
  const node = await bootNode({
    home,
    name,
    verbosity: opts.verbosity ?? 1,
    onPrint,
    console: con,
    keyfile: loaded,
    modules: [http, createPackagesModule()],
    distro: opts.distro ?? ["homepage", "app-store"],
    tcpPort: opts.tcpPort ?? 0,
    wsPort: false,
    pki: opts.pki,
    eth: opts.chainPort === undefined
      ? undefined
      : { simulation: true, fakechainPort: opts.chainPort, bootstrapPki: false },
  });
  const base = http.url!.replace("127.0.0.1", "localhost");
  const key = await importJwtKey(loaded.keyfile.jwtSecret);
  const cookie = `hyperware-auth_${name}=${await generateJwt(key, name)}`;
  const storeCookie = `hyperware-auth_${name}@${MAIN}=${await generateJwt(key, name, MAIN)}`;
  const port = http.port!;
  const n: StoreNode = {
    node,
    name,
    home,
    base,
    port,
    cookie,
    storeCookie,
    prints,
    async api(method, path, body) {
      const res = await fetchOnSubdomain(port, method, `/${MAIN}${path}`, storeCookie, body);
      let json: unknown;
      try {
        json = JSON.parse(res.text);
      } catch { /* not JSON */ }
      return { status: res.status, json, text: res.text };
    },
    async ask(target, body, timeoutSeconds = 30) {
      const res = await node.request(
        target,
        typeof body === "string" ? body : JSON.stringify(body),
        {
          timeoutSeconds,
        },
      );
      return JSON.parse(dec.decode(res.body));
    },
    waitForPrint(re, timeoutMs = 20_000) {
      const found = prints.find((p) => re.test(p));
      if (found) return Promise.resolve(found);
      return new Promise<string>((resolve, reject) => {
        const w = {
          re,
          resolve: (s: string) => {
            clearTimeout(timer);
            resolve(s);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(
              `no print matching ${re} within ${timeoutMs} ms:\n${prints.slice(-30).join("\n")}`,
            ),
          );
        }, timeoutMs);
        waiters.push(w);
      });
    },
    line(text) {
      if (!consolePort) throw new Error("boot with console: true to enter lines");
      consolePort.enterLine(text);
    },
    stop: () => node.shutdown(),
  };
  // the app store is up once it serves its API
  try {
    await until(
      async () => {
        const r = await n.api("GET", "/installed");
        if (r.status !== 200) throw new Error(`${r.status} ${r.text.slice(0, 200)}`);
        return true;
      },
      "app store serving",
      30_000,
    );
  } catch (e) {
    await node.shutdown();
    throw new Error(
      `${e}\n${prints.filter((p) => !p.startsWith("http-server: GET")).slice(-60).join("\n")}`,
    );
  }
  return n;
}

/** An HTTP request as a browser on app-store-sys.localhost sends it (Host header). */
async function fetchOnSubdomain(
  port: number,
  method: string,
  path: string,
  cookie: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const res = await rawRequest(port, {
    method,
    path,
    host: `${SUBDOMAIN}.localhost:${port}`,
    headers: {
      cookie,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, text: res.text };
}

/** A package zip with a small TS process and `size` bytes of incompressible data. */
export function bigPackageZip(size: number, seed = 1): Uint8Array {
  const data = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  const manifest = [{
    process_name: "big",
    process_wasm_path: "/big.js",
    on_exit: "Restart",
    request_networking: false,
    request_capabilities: [],
    grant_capabilities: [],
    public: true,
  }];
  const proc = `import { receive, sendResponse } from "hyperware:process/standard@1.0.0";
export function init(our) {
  for (;;) {
    const [, m] = receive();
    if (m.tag === "request" && m.val.expectsResponse !== undefined) {
      sendResponse({ inherit: false, body: new TextEncoder().encode("big ok"), metadata: undefined, capabilities: [] }, undefined);
    }
  }
}
`;
  return makeZip([
    { name: "big.js", data: enc.encode(proc) },
    { name: "data/" },
    { name: "data/blob.bin", data, stored: true },
    { name: "manifest.json", data: enc.encode(JSON.stringify(manifest)) },
  ]);
}
