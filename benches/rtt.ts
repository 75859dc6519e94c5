// Message round trips and one-way rates against a bare Worker, in one run:
// interleaved runs (baseline, then each target) so that load on the shared
// machine hits all of them alike. Prints one JSON line (benches/all.ts reads it).
//
//   deno run -A benches/rtt.ts [--runs=5] [--rounds=500] [--oneway=2000] [--no-components]
//                              [--own-workers]
//
// - baseline: a Worker echoing each postMessage (the main thread posts, awaits
//   the echo, posts again);
// - TS module -> TS module: process A does `rounds` sequential
//   send-and-await-response calls to process B (tests/fixtures/tester.js), which
//   answers each "ping" with "pong" (after the first, on a direct channel);
// - component -> component: the same, both built by componentize-js, of one package (so
//   sharing a Worker; each in its own with --own-workers, as the node's flag);
// - component -> component apart: the same, the answering one in another package (so in
//   another Worker);
// - minimal component: a hand-written component (benches/echo_component.ts) that
//   answers with no interpreter inside, asked by the TS module, so the figure
//   separates the runtime's cost from the guest's;
// - TS module -> runtime module: A asks a runtime module (on the kernel's
//   thread) that answers at once: the Worker <-> kernel path the storage
//   modules, http-server and net use, against the same baseline (a Worker and
//   the main thread);
// - one-way: `oneway` fire-and-forget requests into B, then one request to
//   confirm they all arrived (requests are delivered in order).

import { bootQuietNode } from "./quiet_node.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../kernel/module.ts";
import type { KernelMessage } from "../wire/core.ts";
import { makePackage, writeKitPackage } from "../tests/kernel/helpers.ts";
import { buildEchoComponent } from "./echo_component.ts";
import { threadCpu } from "./thread_cpu.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const RUNS = Number(args.runs ?? 5);
const ROUNDS = Number(args.rounds ?? 500);
const ONE_WAY = Number(args.oneway ?? 2000);
const COMPONENTS = !("no-components" in args);

const root = await Deno.makeTempDir({ prefix: "hyperdeno-rtt-" });
const dir = await makePackage(root, {
  name: "bench",
  processes: [
    { name: "ma", kind: "module" },
    { name: "mb", kind: "module" },
    ...(COMPONENTS ? [{ name: "ca" }, { name: "cb" }] : []),
  ],
});
/** A runtime module answering every request with "pong", at once. */
class PongModule implements RuntimeModule {
  readonly processId = { processName: "pong", packageName: "distro", publisherNode: "sys" };
  readonly public = true;
  private ctx!: RuntimeModuleContext;
  private readonly body = new TextEncoder().encode("pong");
  start(ctx: RuntimeModuleContext) {
    this.ctx = ctx;
  }
  handleMessage(km: KernelMessage) {
    if (km.message.tag !== "request") return;
    this.ctx.sendToLoop({
      id: km.id,
      source: { node: this.ctx.our, process: this.processId },
      target: km.rsvp ?? km.source,
      message: {
        tag: "response",
        val: [
          { inherit: false, body: this.body, metadata: undefined, capabilities: [] },
          undefined,
        ],
      },
      lazyLoadBlob: undefined,
    });
  }
}
const node = await bootQuietNode(`${root}/home`, {
  modules: [new PongModule()],
  shareWorkers: !("own-workers" in args),
});
await node.installPackage(dir);
if (COMPONENTS) {
  await node.installPackage(
    await makePackage(root, { name: "apart", processes: [{ name: "cc" }] }),
  );
  const echoDir = await writeKitPackage(root, {
    name: "echo",
    manifest: [{
      process_name: "echo",
      process_wasm_path: "/echo.wasm",
      on_exit: "Restart",
      request_networking: false,
      request_capabilities: [],
      grant_capabilities: [],
      public: true,
    }],
    files: { "echo.wasm": await buildEchoComponent() },
  });
  await node.installPackage(echoDir);
}

const ask = (target: string, cmd: unknown) =>
  node.request(target, JSON.stringify(cmd), { timeoutSeconds: 300 });
const askMany = (from: string, to: string, n: number) =>
  ask(`our@${from}:bench:test.os`, { op: "ask-many", target: `fake.dev@${to}`, n });

// the baseline: a Worker that echoes every message straight back
const echoUrl = URL.createObjectURL(
  new Blob(["self.onmessage = (e) => self.postMessage(e.data);"], { type: "text/javascript" }),
);
const echo = new Worker(echoUrl, { type: "module" });
const payload = { body: new TextEncoder().encode(JSON.stringify({ op: "echo" })) };
function workerRoundTrips(n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    echo.onmessage = () => {
      if (--left === 0) resolve();
      else echo.postMessage(payload);
    };
    echo.postMessage(payload);
  });
}
function workerOneWay(n: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    echo.onmessage = () => {
      if (++got === n) resolve();
    };
    for (let i = 0; i < n; i++) echo.postMessage(payload);
  });
}
async function oneWay(target: string, n: number) {
  for (let i = 0; i < n; i++) await node.send(target, "tick");
  await ask(target, { op: "count" });
}

/** CPU microseconds used so far by this process's threads: main, Workers, V8 helpers. */
function threadUs(): { main: number; workers: number; helpers: number } {
  const t = { main: 0, workers: 0, helpers: 0 };
  for (const th of threadCpu()) {
    if (th.name.startsWith("worker-")) t.workers += th.us;
    else if (th.name.startsWith("V8 ")) t.helpers += th.us;
    else if (th.main) t.main += th.us;
  }
  return t;
}
const cpu: Record<string, { main: number; workers: number; helpers: number }> = {};

/** Microseconds per item of `f(n)`; adds its CPU per item (us) to cpu[name]. */
async function timed(
  name: string,
  n: number,
  f: (n: number) => Promise<unknown>,
): Promise<number> {
  const a = threadUs();
  const t0 = performance.now();
  await f(n);
  const us = ((performance.now() - t0) * 1000) / n;
  const b = threadUs();
  const c = cpu[name] ??= { main: 0, workers: 0, helpers: 0 };
  for (const k of ["main", "workers", "helpers"] as const) {
    c[k] += (b[k] - a[k]) / n / RUNS;
  }
  return us;
}

const targets: [string, (n: number) => Promise<unknown>][] = [
  ["baseline", workerRoundTrips],
  ["ts", (n) => askMany("ma", "mb:bench:test.os", n)],
  ["ts_to_module", (n) => askMany("ma", "pong:distro:sys", n)],
];
if (COMPONENTS) {
  targets.push(["component", (n) => askMany("ca", "cb:bench:test.os", n)]);
  targets.push(["component_apart", (n) => askMany("ca", "cc:apart:test.os", n)]);
  targets.push(["minimal_component", (n) => askMany("ma", "echo:echo:test.os", n)]);
}
const oneWayTargets: [string, (n: number) => Promise<unknown>][] = [
  ["oneway_baseline", workerOneWay],
  ["oneway_ts", (n) => oneWay("our@mb:bench:test.os", n)],
];

// warm-up: JIT, first-message paths, direct channels
for (const [, f] of [...targets, ...oneWayTargets]) await f(200);

const us: Record<string, number[]> = {};
for (let r = 0; r < RUNS; r++) {
  for (const [name, f] of targets) (us[name] ??= []).push(await timed(name, ROUNDS, f));
  for (const [name, f] of oneWayTargets) (us[name] ??= []).push(await timed(name, ONE_WAY, f));
}
// cpu: per round trip (or one-way message), microseconds of CPU on the main
// (kernel) thread, on Workers, and on V8's helper (GC) threads, averaged over runs
console.log(JSON.stringify({ runs: RUNS, rounds: ROUNDS, oneway: ONE_WAY, us, cpu }));
await node.shutdown();
echo.terminate();
await Deno.remove(root, { recursive: true }).catch(() => {});
