// Helpers for the Quick Start tests: temporary directories, free ports, fake nodes booted in
// this process on a local chain (bootNode, as run-tests boots them).

import { bootNode, type HyperdenoNode } from "../../main.ts";
import { HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION } from "../../modules/http_server/mod.ts";
import { encodeIndexerRequest, parseIndexerResponse } from "../../wire/hns_indexer.ts";
import { FAST_ETH, FAST_HNS } from "../hns/helpers.ts";

export { eventually, sleep } from "../kernel/helpers.ts";

/** A free loopback port. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A temporary directory, removed after `f`. */
export async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hyperdeno-qs-" }));
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

export interface QsNode {
  node: HyperdenoNode;
  port: number;
  url: string;
  prints: string[];
}

/**
 * A fake node as `deno task fake-node` runs one (simulation mode, --expose-local, password
 * "secret", the distro packages), booted in this process on the chain at `chainPort`.
 */
export async function bootQsNode(
  home: string,
  name: string,
  chainPort: number,
): Promise<QsNode> {
  const prints: string[] = [];
  const port = freePort();
  const node = await bootNode({
    home,
    name,
    password: "secret",
    httpPort: port,
    wsPort: freePort(),
    exposeLocal: true,
    httpTimeoutSeconds: HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION,
    fakeChain: { port: chainPort, freshKey: true },
    // tests/hns's timings: quick eth reconnects and indexer syncs (the CLI keeps the defaults)
    eth: { timing: FAST_ETH },
    hnsIndexer: FAST_HNS,
    distro: true,
    verbosity: 2,
    onPrint: (_l, text) => {
      prints.push(text);
      if (Deno.env.get("QS_TEST_VERBOSE")) console.log(`[${name}] ${text}`);
    },
  });
  return { node, port, url: `http://localhost:${port}`, prints };
}

/**
 * Waits until `a`'s hns-indexer knows `name` (from the chain). `prints`: the node's output, whose
 * hns-indexer line saying which chain it indexes goes into the error.
 */
export async function waitToKnow(
  a: HyperdenoNode,
  name: string,
  ms = 60_000,
  prints: string[] = [],
): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await a.request(
        "our@hns-indexer:hns-indexer:sys",
        encodeIndexerRequest({ NodeInfo: { name, block: 0 } }),
      );
      const r = parseIndexerResponse(res.body);
      if ("NodeInfo" in r && r.NodeInfo) return;
    } catch { /* not yet */ }
    if (Date.now() > end) {
      const chain = prints.filter((p) => p.includes("hns-indexer: chain")).join("; ");
      throw new Error(
        `${a.our} did not find ${name} within ${ms} ms (${chain || "no chain line"})`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Log lines kept instead of printed. */
export function collector(): { lines: string[]; log: (l: string) => void } {
  const lines: string[] = [];
  return { lines, log: (l) => void lines.push(l) };
}

export const sha256 = async (bytes: Uint8Array) =>
  Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
