// Nodes for the SDK's tests: booted with bootNode, optionally with the distro
// packages (homepage), an HTTP server with a login cookie, and networking.

import { bootNode, type BootOptions, type HyperdenoNode } from "../../main.ts";
import { generateJwt, importJwtKey } from "../../modules/http_server/mod.ts";
import { loadOrCreateKeyfile } from "../../modules/keyfile/mod.ts";
import { encodeNetAction } from "../../net/codec.ts";
import { sleep } from "../kernel/helpers.ts";

const dec = new TextDecoder();
export const PASSWORD = "sdk test password";

export interface SdkNode extends HyperdenoNode {
  prints: string[];
  /** `cookie: ...` header value for the node's login, when booted with http */
  cookie?: string;
  /** Sends `body` as JSON to `target` and returns the answer parsed as JSON. */
  ask(target: string, body: unknown, timeoutSeconds?: number): Promise<unknown>;
  /** Waits until a print matches `re`. */
  waitForPrint(re: RegExp, timeoutMs?: number): Promise<void>;
}

export async function bootSdkNode(
  home: string,
  name: string,
  opts: { http?: boolean; distro?: boolean; pki?: BootOptions["pki"] } = {},
): Promise<SdkNode> {
  const prints: string[] = [];
  let keyfile;
  let cookie: string | undefined;
  if (opts.http) {
    keyfile = await loadOrCreateKeyfile({ home, our: name, password: PASSWORD });
    const token = await generateJwt(await importJwtKey(keyfile.keyfile.jwtSecret), name);
    cookie = `hyperware-auth_${name}=${token}`;
  }
  const node = await bootNode({
    home,
    name,
    verbosity: 1,
    onPrint: (_level, text) => void prints.push(text),
    keyfile,
    httpPort: opts.http ? 0 : false,
    distro: opts.distro,
    tcpPort: 0,
    wsPort: false,
    pki: opts.pki,
  }) as SdkNode;
  node.prints = prints;
  node.cookie = cookie;
  node.ask = async (target, body, timeoutSeconds = 10) => {
    const res = await node.request(target, JSON.stringify(body), { timeoutSeconds });
    return JSON.parse(dec.decode(res.body));
  };
  node.waitForPrint = async (re, timeoutMs = 20_000) => {
    const end = Date.now() + timeoutMs;
    while (!prints.some((p) => re.test(p))) {
      if (Date.now() > end) throw new Error(`no print matching ${re}:\n${prints.join("\n")}`);
      await sleep(20);
    }
  };
  return node;
}

/** Teaches `node` a peer's record (NetAction::HnsUpdate), as the hns-indexer does. */
export async function introduce(node: HyperdenoNode, peer: HyperdenoNode): Promise<void> {
  await node.send(
    "our@net:distro:sys",
    encodeNetAction({ tag: "HnsUpdate", update: peer.identity }),
  );
}

/** Polls `f` until it returns without throwing. */
export async function until<T>(f: () => T | Promise<T>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(50);
    }
  }
}
