// Nodes for the security tests: a victim (alice.os, HTTP with --expose-local) and,
// when asked, a peer (mallory.os) that knows alice and is known by her, over real
// Noise/TCP on loopback. Both run the prober (fixtures/prober.js) as
// prober:sec:test.os, an installed app with networking and the http-server and
// http-client capabilities.

import { bootNode, type HyperdenoNode } from "../../main.ts";
import { decodeNetResponse, encodeNetAction } from "../../net/codec.ts";
import { writeKitPackage } from "../kernel/helpers.ts";
import { assertEquals } from "../assert.ts";

export const PROBER = "prober:sec:test.os";

export interface Outcome {
  ok?: {
    source: string;
    body: string;
    bodyB64: string;
    blob: string | null;
    blobB64: string | null;
  };
  err?: "timeout" | "offline";
}

export interface Probe {
  target: string;
  body?: string;
  bodyB64?: string;
  blob?: string;
  blobB64?: string;
  timeout?: number;
}

export interface SecNode {
  node: HyperdenoNode;
  prints: string[];
  /** The prober sends every request at once; each one's outcome, in order. */
  probe(requests: Probe[], waitSeconds?: number): Promise<Outcome[]>;
  /** A request from the prober and its outcome. */
  probeOne(request: Probe): Promise<Outcome>;
  /** An HttpServerAction from the prober; its result. */
  httpServer(action: unknown): Promise<unknown>;
  /** Whether a print containing `text` showed up (waits up to `ms`). */
  printed(text: string, ms?: number): Promise<boolean>;
  stop(): Promise<void>;
}

function writeProberPackage(root: string): Promise<string> {
  const modules = ["http-server:distro:sys", "http-client:distro:sys"];
  return writeKitPackage(root, {
    name: "sec",
    files: { "prober.js": new URL("./fixtures/prober.js", import.meta.url) },
    manifest: [{
      process_name: "prober",
      process_wasm_path: "/prober.js",
      on_exit: "Restart",
      request_networking: true,
      request_capabilities: modules,
      grant_capabilities: modules,
      public: true,
    }],
  });
}

export async function bootSecNode(
  home: string,
  name: string,
  opts: {
    http: boolean;
    pki?: Parameters<typeof bootNode>[0]["pki"];
    distro?: boolean;
  },
): Promise<SecNode> {
  const prints: string[] = [];
  const node = await bootNode({
    home,
    name,
    verbosity: 1,
    onPrint: (_level, text) => void prints.push(text),
    tcpPort: 0,
    wsPort: false,
    httpPort: opts.http ? 0 : false,
    exposeLocal: true,
    pki: opts.pki,
    distro: opts.distro,
  });
  try {
    assertEquals(await node.installPackage(await writeProberPackage(`${home}/src`)), "sec:test.os");
  } catch (e) {
    await node.shutdown();
    throw e;
  }
  const probe = async (requests: Probe[], waitSeconds?: number) => {
    const longest = Math.max(3, ...requests.map((r) => r.timeout ?? 3));
    const res = await node.request(
      `our@${PROBER}`,
      JSON.stringify({ op: "ask-all", requests }),
      { timeoutSeconds: waitSeconds ?? longest + 5 },
    );
    return JSON.parse(new TextDecoder().decode(res.body)) as Outcome[];
  };
  return {
    node,
    prints,
    probe,
    probeOne: async (request) => (await probe([request]))[0],
    async httpServer(action) {
      const res = await node.request(
        `our@${PROBER}`,
        JSON.stringify({ op: "http-server", action }),
      );
      return JSON.parse(new TextDecoder().decode(res.body));
    },
    async printed(text, ms = 3000) {
      const end = Date.now() + ms;
      while (!prints.some((p) => p.includes(text))) {
        if (Date.now() > end) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    stop: () => node.shutdown(),
  };
}

/** Teach a running node a peer, as the hns-indexer does, and wait until it knows it. */
export async function teach(node: HyperdenoNode, peer: HyperdenoNode): Promise<void> {
  await node.send(
    "our@net:distro:sys",
    encodeNetAction({ tag: "HnsUpdate", update: peer.identity }),
  );
  const end = Date.now() + 5000;
  for (;;) {
    const res = await node.request(
      "our@net:distro:sys",
      encodeNetAction({ tag: "GetPeer", name: peer.our }),
    );
    const r = decodeNetResponse(res.body);
    if (typeof r === "object" && "Peer" in r && r.Peer !== null) return;
    if (Date.now() > end) throw new Error(`${node.our} did not learn ${peer.our}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function json(text: string | undefined | null): unknown {
  return text == null ? null : JSON.parse(text);
}
