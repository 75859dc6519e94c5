// deno task bench:quickstart [--runs N]: how long the Quick Start's waits are, against their raw
// parts, measured in one run on this machine:
//
//   anvil start              startAnvil until it answers JSON-RPC (raw part)
//   chain start              anvil + Hypermap deployed (deno task chain's code)
//   bootNode alone           a fake node booted in this process on a running chain, distro
//                            packages installed, until /our answers (raw part)
//   fake-node, no chain      `deno task fake-node` (a subprocess) until /our answers
//   fake-node, chain up      the same with the chain already running
//   installPackage alone     bootNode's install of the built chat until it answers (raw part)
//   start-package            `deno task start-package` (a subprocess) until the chat answers,
//                            when the node runs main:app-store:sys
//
// Packages are built first (cached components), ports are free ones, homes temporary.

import { startAnvil } from "../chain/anvil.ts";
import { startChain } from "../chain/mod.ts";
import { bootNode } from "../node.ts";
import { buildPackage } from "./build.ts";
import { newPackage } from "./new.ts";
import { APP_STORE } from "./start_package.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CHAT = "bench-chat:bench-chat:template.os";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function until(what: string, f: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await f()) return;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const answersOur = (port: number) => async () => (await fetch(`http://localhost:${port}/our`)).ok;

/** The chat answers a History call through kit's RPC. */
async function chatAnswers(port: number): Promise<boolean> {
  const res = await fetch(`http://localhost:${port}/rpc:distro:sys/message`, {
    method: "POST",
    body: JSON.stringify({
      body: '{"History":"nobody.os"}',
      context: null,
      data: null,
      expects_response: 15,
      inherit: false,
      metadata: null,
      mime: "application/octet-stream",
      node: null,
      process: CHAT,
    }),
  });
  await res.body?.cancel();
  return res.ok;
}

function fakeNode(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}kit/main.ts`, "fake-node", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
}

async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

type Row = { name: string; ms: number[]; note?: string };

async function run(rows: Map<string, Row>, tmp: string, app: string, i: number) {
  const add = (name: string, ms: number, note?: string) => {
    const r = rows.get(name) ?? { name, ms: [], note };
    r.ms.push(ms);
    rows.set(name, r);
  };
  // raw: anvil, then the chain
  let anvil: Awaited<ReturnType<typeof startAnvil>> | undefined;
  add("anvil start (raw)", await time(async () => (anvil = await startAnvil({ port: 0 }))));
  await anvil!.stop();
  let chain: Awaited<ReturnType<typeof startChain>> | undefined;
  add(
    "chain start (anvil + Hypermap)",
    await time(async () => (chain = await startChain({ port: 0 }))),
  );
  try {
    // raw: bootNode alone, on the running chain, until /our answers
    const port = freePort();
    let node: Awaited<ReturnType<typeof bootNode>> | undefined;
    add(
      "bootNode alone (raw, chain up)",
      await time(async () => {
        node = await bootNode({
          home: `${tmp}/raw-${i}`,
          name: `raw${i}.os`,
          password: "secret",
          httpPort: port,
          wsPort: freePort(),
          exposeLocal: true,
          fakeChain: { port: chain!.port, freshKey: true },
          distro: true,
          onPrint: () => {},
        });
        await until("/our", answersOur(port));
      }),
    );
    // raw: bootNode's install of the built package until it answers
    add(
      "installPackage alone (raw) to answering",
      await time(async () => {
        await node!.installPackage(app);
        await until("the chat", () => chatAnswers(port));
      }),
    );
    await node!.shutdown();

    // deno task fake-node, the chain already running
    const p2 = freePort();
    const second = fakeNode([
      "--home",
      `${tmp}/fake2-${i}`,
      "--port",
      String(p2),
      "--fakechain-port",
      String(chain!.port),
      "--fake-node-name",
      `bench${i}`,
      "--",
      "--ws-port",
      String(freePort()),
    ]);
    add("deno task fake-node (chain up) to /our", await time(() => until("/our", answersOur(p2))));
    // deno task start-package: once the node's app store answers (it starts with the distro)
    await until("the app store", () => appStoreAnswers(p2));
    add(
      "deno task start-package to answering",
      await time(async () => {
        const s = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${ROOT}kit/main.ts`, "start-package", app, "--port", String(p2)],
          stdout: "null",
          stderr: "null",
        }).output();
        if (!s.success) throw new Error("start-package failed");
        await until("the chat", () => chatAnswers(p2));
      }),
    );
    await stop(second);
  } finally {
    await chain!.stop();
  }
  // deno task fake-node with no chain running: it starts one
  const p1 = freePort();
  const first = fakeNode([
    "--home",
    `${tmp}/fake-${i}`,
    "--port",
    String(p1),
    "--fakechain-port",
    String(freePort()),
    "--",
    "--ws-port",
    String(freePort()),
  ]);
  add("deno task fake-node (no chain) to /our", await time(() => until("/our", answersOur(p1))));
  await stop(first);
}

/** Whether the node runs the app store (its RPC answers an Apis request). */
async function appStoreAnswers(port: number): Promise<boolean> {
  const res = await fetch(`http://localhost:${port}/rpc:distro:sys/message`, {
    method: "POST",
    body: JSON.stringify({
      body: '"Apis"',
      context: null,
      data: null,
      expects_response: 5,
      inherit: false,
      metadata: null,
      mime: "application/octet-stream",
      node: null,
      process: APP_STORE,
    }),
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);
  await res?.body?.cancel();
  return res?.status === 200;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--runs");
  const runs = i >= 0 ? Number(Deno.args[i + 1]) : 1;
  const tmp = await Deno.makeTempDir({ prefix: "hyperdeno-bench-qs-" });
  try {
    const app = `${tmp}/bench-chat`;
    await newPackage({ dir: app });
    console.error("building the chat package...");
    await buildPackage({ dir: app, log: () => {} });
    const rows = new Map<string, Row>();
    for (let r = 0; r < runs; r++) {
      console.error(`run ${r + 1} of ${runs}...`);
      await run(rows, tmp, app, r);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = (name: string) => median(rows.get(name)!.ms);
    const ratios: Record<string, string[]> = {
      "deno task fake-node (chain up) to /our": ["bootNode alone (raw, chain up)"],
      "deno task fake-node (no chain) to /our": [
        "chain start (anvil + Hypermap)",
        "bootNode alone (raw, chain up)",
      ],
      "deno task start-package to answering": ["installPackage alone (raw) to answering"],
    };
    console.log(`| step | median ms (${runs} run${runs > 1 ? "s" : ""}) | vs raw part |`);
    console.log("| --- | ---: | --- |");
    for (const r of rows.values()) {
      const m = median(r.ms);
      const vs = ratios[r.name];
      const sum = vs?.reduce((t, n) => t + base(n), 0);
      const ratio = vs && Number.isFinite(m) ? `${(m / sum!).toFixed(2)}x (${vs.join(" + ")})` : "";
      console.log(
        `| ${r.name} | ${Number.isFinite(m) ? m.toFixed(0) : r.note ?? "n/a"} | ${ratio} |`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
