// Memory per idle process (RSS growth / processes), against a bare Deno Worker
// holding a one-line echo script, and the scale curve: RSS per process and the
// TS -> TS round trip at 10, 100 and 300 processes. Prints one JSON line
// (benches/all.ts reads it).
//
//   deno run -A benches/memory.ts --what=bare|module|component [--n=50] [--own-workers]
//   deno run -A benches/memory.ts --what=scale [--levels=10,100,300]
//
// Each kind is measured in a fresh Deno process (all.ts runs one per kind): one
// process of the kind is started first, so one-time costs (transpiling a
// component, compiling its Wasm, loading the Worker's module graph) are not
// counted; then `n` more are started, each answers one request, and after 2 s
// the growth of VmRSS is divided by `n`. Components of one package share Workers, as the node
// runs them; --own-workers gives each a Worker of its own (the node's --own-workers).

import { bootQuietNode } from "./quiet_node.ts";
import { makePackage } from "../tests/kernel/helpers.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const what = args.what ?? "module";

function rssMb(): number {
  const s = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024;
}
const settle = (ms = 2000) => new Promise((r) => setTimeout(r, ms));

/** RSS growth per bare Worker (a one-line echo script), each having answered once. */
async function bareWorkers(n: number): Promise<number> {
  const url = URL.createObjectURL(
    new Blob(["self.onmessage = (e) => self.postMessage(e.data);"], { type: "text/javascript" }),
  );
  const start = async () => {
    const w = new Worker(url, { type: "module" });
    await new Promise<void>((resolve) => {
      w.onmessage = () => resolve();
      w.postMessage(1);
    });
    return w;
  };
  const workers = [await start()];
  await settle(1000);
  const r0 = rssMb();
  for (let i = 0; i < n; i++) workers.push(await start());
  await settle();
  const per = (rssMb() - r0) / n;
  for (const w of workers) w.terminate();
  return per;
}

const root = await Deno.makeTempDir({ prefix: "hyperdeno-mem-" });

async function bootBench() {
  return await bootQuietNode(`${root}/home`, { shareWorkers: !("own-workers" in args) });
}
type BenchNode = Awaited<ReturnType<typeof bootBench>>;

/** Installs `names` as processes of `kind` in package `pkg` and has each answer once. */
async function startProcesses(
  node: BenchNode,
  pkg: string,
  names: string[],
  kind: "module" | "component",
) {
  const dir = await makePackage(root, {
    name: pkg,
    processes: names.map((name) => ({ name, kind })),
  });
  await node.installPackage(dir);
  for (const name of names) {
    await node.request(`our@${name}:${pkg}:test.os`, JSON.stringify({ op: "our" }), {
      timeoutSeconds: 300,
    });
  }
}

async function perProcess(kind: "module" | "component", n: number): Promise<number> {
  const node = await bootBench();
  // two: a package's only component is built to run alone, so one would not warm the build
  // its neighbours share
  await startProcesses(node, "warm", ["w0", "w1"], kind);
  await settle(1000);
  const r0 = rssMb();
  await startProcesses(node, "mem", Array.from({ length: n }, (_, i) => `p${i}`), kind);
  await settle();
  const per = (rssMb() - r0) / n;
  await node.shutdown();
  return per;
}

/** RSS per process and TS -> TS round trips (us, median of 5 x 500) at each level. */
async function scale(levels: number[]) {
  const node = await bootBench();
  const rssBefore = rssMb();
  const ask = (target: string, cmd: unknown) =>
    node.request(target, JSON.stringify(cmd), { timeoutSeconds: 300 });
  const echoUrl = URL.createObjectURL(
    new Blob(["self.onmessage = (e) => self.postMessage(e.data);"], { type: "text/javascript" }),
  );
  const echo = new Worker(echoUrl, { type: "module" });
  const payload = { body: new TextEncoder().encode('{"op":"echo"}') };
  const workerRtt = (n: number) =>
    new Promise<void>((resolve) => {
      let left = n;
      echo.onmessage = () => --left === 0 ? resolve() : echo.postMessage(payload);
      echo.postMessage(payload);
    });
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const rows = [];
  let count = 0;
  for (const level of levels) {
    const names = [];
    for (let i = count; i < level; i++) names.push(`p${i}`);
    const t0 = performance.now();
    await startProcesses(node, `s${level}`, names, "module");
    const startMs = (performance.now() - t0) / names.length;
    count = level;
    await settle();
    const rss = rssMb();
    // p0 of the first batch asks p1 of the first batch
    const from = `our@p0:s${levels[0]}:test.os`;
    const to = `fake.dev@p1:s${levels[0]}:test.os`;
    const rtt: number[] = [];
    const base: number[] = [];
    await ask(from, { op: "ask-many", target: to, n: 200 });
    await workerRtt(200);
    for (let r = 0; r < 5; r++) {
      let t = performance.now();
      await workerRtt(500);
      base.push(((performance.now() - t) * 1000) / 500);
      t = performance.now();
      await ask(from, { op: "ask-many", target: to, n: 500 });
      rtt.push(((performance.now() - t) * 1000) / 500);
    }
    rows.push({
      processes: level,
      rssMb: Math.round(rss),
      perProcessMb: (rss - rssBefore) / level,
      startMs,
      rttUs: median(rtt),
      baselineUs: median(base),
    });
  }
  echo.terminate();
  await node.shutdown();
  return rows;
}

const out: Record<string, unknown> = { what };
if (what === "bare") out.perWorkerMb = await bareWorkers(Number(args.n ?? 20));
else if (what === "module" || what === "component") {
  const n = Number(args.n ?? (what === "module" ? 50 : 10));
  out.n = n;
  out.perProcessMb = await perProcess(what, n);
} else if (what === "scale") {
  out.rows = await scale((args.levels ?? "10,100,300").split(",").map(Number));
} else throw new Error(`unknown --what=${what}`);
console.log(JSON.stringify(out));
await Deno.remove(root, { recursive: true }).catch(() => {});
Deno.exit(0);
