// Fake nodes on a real local Hypermap chain (anvil + chain/), hns-indexer's requests, and
// running hns-indexer's scripts the way Hyperdrive's terminal does (InitializeProcess with the
// caps scripts.json lists, RunProcess, then the arguments as a request).

import { bootNode, type BootOptions, type HyperdenoNode } from "../../main.ts";
import { type Chain, startChain } from "../../chain/mod.ts";
import {
  encodeIndexerRequest,
  type IndexerRequest,
  type IndexerResponse,
  parseIndexerResponse,
} from "../../wire/hns_indexer.ts";
import type { EthTiming } from "../../modules/eth/mod.ts";
import { eventually, sleep } from "../kernel/helpers.ts";

export { eventually, sleep };

export const HNS = "our@hns-indexer:hns-indexer:sys";
export const PKG_DIR = new URL("../../packages/hns-indexer", import.meta.url).pathname;

/** eth:distro:sys timings for tests: quick reconnects and health checks. */
export const FAST_ETH: Partial<EthTiming> = {
  urlHealthCheckMs: 300,
  nodeHealthCheckMs: 300,
  methodRetryMs: 300,
  reconnectDelayMs: 200,
  reconnectAttempts: 100,
  connectTimeoutMs: 2_000,
};

/** hns-indexer timings for tests. */
export const FAST_HNS: BootOptions["hnsIndexer"] = {
  timing: { sync_ms: 500, pending_ms: 200, checkpoint_ms: 200, resubscribe_ms: 200 },
};

/** A fresh local chain on a free port (stopped by `f`'s end). */
export async function withChain<T>(
  f: (chain: Chain) => Promise<T>,
  opts: { statePath?: string } = {},
): Promise<T> {
  const chain = await startChain({ port: 0, statePath: opts.statePath });
  try {
    return await f(chain);
  } finally {
    await chain.stop();
  }
}

export interface FakeNode {
  node: HyperdenoNode;
  prints: string[];
}

/** A fake node minted on `port`'s chain, with the distro packages (hello, hns-indexer). */
export async function bootFakeNode(
  home: string,
  name: string,
  port: number,
  extra: Partial<BootOptions> = {},
): Promise<FakeNode> {
  const prints: string[] = [];
  const node = await bootNode({
    home,
    name,
    httpPort: false,
    wsPort: 0,
    fakeChain: { port },
    eth: { timing: FAST_ETH },
    hnsIndexer: FAST_HNS,
    distro: true,
    verbosity: 2,
    onPrint: (_l, t) => {
      prints.push(t);
      if (Deno.env.get("HNS_TEST_VERBOSE")) console.log(`[${name}] ${t}`);
    },
    ...extra,
  });
  return { node, prints };
}

/** One IndexerRequest to a node's hns-indexer. */
export async function ask(
  node: HyperdenoNode,
  req: IndexerRequest,
  timeoutSeconds = 10,
): Promise<IndexerResponse> {
  const res = await node.request(HNS, encodeIndexerRequest(req), { timeoutSeconds });
  return parseIndexerResponse(res.body);
}

/** The node's record as its hns-indexer has it (null: none). */
export async function nodeInfo(node: HyperdenoNode, name: string, block = 0) {
  const r = await ask(node, { NodeInfo: { name, block } });
  if (!("NodeInfo" in r)) throw new Error(`not a NodeInfo answer: ${JSON.stringify(r)}`);
  return r.NodeInfo;
}

/** Waits until `node`'s hns-indexer has `name` with the key `publicKey` (hex, with or without 0x). */
export function waitForKey(node: HyperdenoNode, name: string, publicKey: string, ms = 30_000) {
  const want = publicKey.replace(/^0x/, "");
  return eventually(async () => {
    const r = await ask(node, { GetState: { block: 0 } });
    if (!("GetState" in r)) return undefined;
    const found = r.GetState.nodes.find(([n]) => n === name)?.[1];
    return found && found.public_key === want ? found : undefined;
  }, ms);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Runs one of hns-indexer's scripts as Hyperdrive's terminal does: a new process
 * `<random>:hns-indexer:sys` from the script file, with the caps scripts.json gives it, then
 * `args` as a request. Resolves with its answer (the request expects one, so the script answers
 * instead of printing); `expectAnswer: false` sends the args without waiting.
 */
export async function runScript(
  node: HyperdenoNode,
  script: string,
  args: string,
  opts: { expectAnswer?: boolean; timeoutSeconds?: number } = {},
): Promise<string | undefined> {
  const scripts = JSON.parse(await Deno.readTextFile(`${PKG_DIR}/pkg/scripts.json`));
  const entry = scripts[`${script}.ts`];
  if (!entry) throw new Error(`no ${script}.ts in scripts.json`);
  const id = `script-${crypto.randomUUID().slice(0, 8)}:hns-indexer:sys`;
  const our = node.our;
  const cap = (v: unknown) =>
    typeof v === "string" ? { issuer: `${our}@${v}`, params: '"messaging"' } : {
      issuer: `${our}@${(v as { process: string }).process}`,
      params: JSON.stringify((v as { params: unknown }).params),
    };
  const kernel = "our@kernel:distro:sys";
  // the terminal's handle_run: grants first (the script's caps over itself to others)
  for (const g of entry.grant_capabilities ?? []) {
    const target = typeof g === "string" ? g : g.process;
    const params = typeof g === "string" ? '"messaging"' : JSON.stringify(g.params);
    await node.send(
      kernel,
      JSON.stringify({
        GrantCapabilities: {
          target,
          capabilities: [{ issuer: `${our}@${id}`, params }],
        },
      }),
    );
  }
  const res = await node.request(
    kernel,
    JSON.stringify({
      InitializeProcess: {
        id,
        wasm_bytes_handle: `/hns-indexer:sys/pkg/${script}.ts`,
        wit_version: entry.wit_version ?? null,
        on_exit: "None",
        initial_capabilities: (entry.request_capabilities ?? []).map(cap),
        public: entry.public,
      },
    }),
    { blob: await Deno.readFile(`${PKG_DIR}/pkg/${script}.ts`), timeoutSeconds: 10 },
  );
  if (dec.decode(res.body) !== '"InitializedProcess"') {
    throw new Error(`InitializeProcess: ${dec.decode(res.body)}`);
  }
  const run = await node.request(kernel, JSON.stringify({ RunProcess: id }));
  if (dec.decode(run.body) !== '"StartedProcess"') {
    throw new Error(`RunProcess: ${dec.decode(run.body)}`);
  }
  if (opts.expectAnswer === false) {
    await node.send(`our@${id}`, enc.encode(args));
    return undefined;
  }
  const answer = await node.request(`our@${id}`, enc.encode(args), {
    timeoutSeconds: opts.timeoutSeconds ?? 15,
  });
  return dec.decode(answer.body);
}

/** A free loopback port (for a CLI node's --ws-port, so parallel tests do not race for 9000+). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A temporary directory, removed after `f`. */
export async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "hyperdeno-hns-" });
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Stops every node, ignoring failures. */
export async function shutdownAll(nodes: (FakeNode | HyperdenoNode | undefined)[]) {
  await Promise.allSettled(
    nodes.map((n) => n && ("node" in n ? n.node.shutdown() : n.shutdown())),
  );
}

/** A CLI node (`main.ts <args>`) whose output is read as it comes. */
export interface CliProcess {
  /** stdout so far */
  stdout(): string;
  /** Resolves with stdout once it matches `re` (rejects after `ms` or if the process ends). */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  /** SIGTERM (SIGKILL after 20 s); the exit code and all output. */
  stop(): Promise<{ code: number; stdout: string; stderr: string }>;
}

export function spawnCli(args: string[]): CliProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const t of s.pipeThrough(new TextDecoderStream())) {
      add(t);
      if (Deno.env.get("HNS_TEST_VERBOSE")) console.log(t.trimEnd());
    }
  };
  const done = Promise.all([
    pump(child.stdout, (t) => (out += t)),
    pump(child.stderr, (t) => (err += t)),
  ]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    stdout: () => out,
    async waitFor(re, ms = 60_000) {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (exited) throw new Error(`exited before ${re}: ${out}\n${err}`);
        if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms: ${out}\n${err}`);
        await sleep(50);
      }
      return out;
    },
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 20_000);
      const { code } = await status;
      clearTimeout(timer);
      await done;
      return { code, stdout: out, stderr: err };
    },
  };
}

/** Whether `from` can reach `target`'s hello process: its greeting, or undefined. */
export async function hello(from: HyperdenoNode, target: string, timeoutSeconds = 5) {
  try {
    const r = await from.request(`${target}@hello:hello:sys`, `hi from ${from.our}`, {
      timeoutSeconds,
    });
    return dec.decode(r.body);
  } catch {
    return undefined;
  }
}
