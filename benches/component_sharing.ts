// Before choosing a design where several components share one Worker (#16's memory goal):
// what a componentize-js component costs in memory and round trips when it has a Worker of
// its own, as the runtime runs them today, against sharing one Worker with others, its glue
// transpiled by jco for JSPI so that `receive` and `send-and-await-response` suspend the
// component instead of blocking the thread. Both run tests/fixtures/tester.js built as kit
// builds it, against the same small stand-in for the process API
// (component_sharing_worker.ts), so the difference is the Worker and the glue alone.
//
//   memory: RSS growth per idle component, k components (each booted and having answered one
//     request) after one of the kind warmed up, each mode in a fresh Deno process
//   round trips: `ask-many` between two components, both in one shared Worker (no thread
//     crossing), and each in its own Worker with the sync glue (Atomics.wait) and the JSPI
//     glue (Atomics.waitAsync), the same one-slot mailboxes in shared memory
//   interrupt checks: components in a shared Worker run with checks on their core modules'
//     loops (kernel/process_host/interrupt.ts), so that one can be killed alone; what the
//     checks cost is the sync pair's round trip with and without them, and a stuck component
//     (the tester's `loop`) is killed while its neighbour in the Worker then answers
//
// Prints one JSON line.
//
//   deno run -A benches/component_sharing.ts [--k=10] [--n=3000] [--rounds=5]

import { buildFixture } from "../tests/fixtures/build.ts";
import { sha256Hex } from "../kit/hash.ts";
import type { SharingCommand, SharingInit, SharingReply } from "./component_sharing_worker.ts";
import { addInterruptChecks } from "../kernel/process_host/interrupt.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const K = Number(args.k ?? 10);
const N = Number(args.n ?? 3000);
const ROUNDS = Number(args.rounds ?? 5);
const ROOT = new URL("../", import.meta.url).pathname;
const STANDARD = "hyperware:process/standard@1.0.0";
const WORKER = new URL("./component_sharing_worker.ts", import.meta.url);

type Glue = "sync" | "jspi";
type Core = Record<string, WebAssembly.Module>;

/**
 * The tester's glue for `kind`, transpiled by jco once (cached by content under .cache/), with
 * its core modules as they are and with interrupt checks on their loops.
 */
async function glue(kind: Glue): Promise<{ dir: string; core: Core; checked: Core }> {
  const bytes = await buildFixture("tester");
  const dir = `${ROOT}.cache/sharing/${kind}-${(await sha256Hex(bytes)).slice(0, 16)}`;
  try {
    await Deno.stat(`${dir}/component.js`);
  } catch {
    console.error(`[sharing] transpiling the tester (${kind} glue)...`);
    const { transpileBytes } = await import("@bytecodealliance/jco-transpile");
    const opts: Record<string, unknown> = {
      name: "component",
      instantiation: { tag: "async" },
      noTypescript: true,
      minify: true,
    };
    if (kind === "jspi") {
      opts.asyncMode = "jspi";
      opts.asyncImports = [`${STANDARD}#receive`, `${STANDARD}#send-and-await-response`];
      opts.asyncExports = ["init"];
    }
    const result = await transpileBytes(bytes, opts as Parameters<typeof transpileBytes>[1]);
    await Deno.mkdir(dir, { recursive: true });
    for (const [name, data] of Object.entries(result.files)) {
      if (name.endsWith(".wasm")) await Deno.writeFile(`${dir}/${name}`, data);
    }
    // as the runtime loads it (program.ts): jco's debug hook reads process.env
    const js = new TextDecoder().decode(result.files["component.js"])
      .replaceAll("globalThis?.process?.env?.JCO_DEBUG", "false");
    await Deno.writeTextFile(`${dir}/component.js`, js);
  }
  const core: Core = {};
  const checked: Core = {};
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".wasm")) continue;
    const bytes = await Deno.readFile(`${dir}/${e.name}`);
    core[e.name] = await WebAssembly.compile(bytes);
    checked[e.name] = await WebAssembly.compile(
      addInterruptChecks(bytes) as Uint8Array<ArrayBuffer>,
    );
  }
  return { dir, core, checked };
}

type Role =
  | { role: "group"; n: number; kill?: SharedArrayBuffer }
  | Omit<Extract<SharingInit, { role: "pair" }>, "glue" | "core" | "jspi">;

function start(dir: string, core: Core, jspi: boolean, role: Role): Promise<Worker> {
  const w = new Worker(WORKER, { type: "module" });
  return new Promise((resolve, reject) => {
    w.onmessage = (e: MessageEvent<SharingReply>) => {
      if (e.data.t === "ready") resolve(w);
      else if (e.data.t === "failed") reject(new Error(e.data.error));
    };
    w.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
    w.postMessage({ glue: `file://${dir}/component.js`, core, jspi, ...role } as SharingInit);
  });
}

const rssMb = () =>
  Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) / 1024;
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS growth per idle component: k Workers of one (each), or one Worker of k (shared). */
async function memory(mode: "each" | "shared"): Promise<number> {
  // as each would run: today's one per Worker as it is, a shared Worker's with checks
  const jspi = mode === "shared";
  const g = await glue(jspi ? "jspi" : "sync");
  const core = jspi ? g.checked : g.core;
  const warm = await start(g.dir, core, jspi, { role: "group", n: 1 });
  await settle(1500);
  const r0 = rssMb();
  const workers: Worker[] = [];
  if (jspi) workers.push(await start(g.dir, core, true, { role: "group", n: K }));
  else {
    for (let i = 0; i < K; i++) {
      workers.push(await start(g.dir, core, false, { role: "group", n: 1 }));
    }
  }
  await settle(2500);
  const per = (rssMb() - r0) / K;
  for (const w of [warm, ...workers]) w.terminate();
  return per;
}

function asked(w: Worker, send: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    w.onmessage = (e: MessageEvent<SharingReply>) => {
      if (e.data.t === "asked") resolve(e.data.us);
      else if (e.data.t === "failed") reject(new Error(e.data.error));
    };
    send();
  });
}

/** us per round trip, each round `N` of them after one warm-up round. */
async function rounds(run: () => Promise<number>): Promise<number[]> {
  await run();
  const out = [];
  for (let r = 0; r < ROUNDS; r++) out.push(Math.round((await run()) * 10) / 10);
  return out;
}

async function sharedRtt(): Promise<number[]> {
  const g = await glue("jspi");
  const w = await start(g.dir, g.checked, true, { role: "group", n: 2 });
  const ask: SharingCommand = { t: "ask", n: N };
  const xs = await rounds(() => asked(w, () => w.postMessage(ask)));
  w.terminate();
  return xs;
}

async function pairRtt(
  kind: Glue,
  checks: boolean,
  wake: "waitAsync" | "scheduler" = "waitAsync",
): Promise<number[]> {
  const g = await glue(kind);
  const core = checks ? g.checked : g.core;
  const ab = new SharedArrayBuffer(4096);
  const ba = new SharedArrayBuffer(4096);
  const jspi = kind === "jspi";
  const a = await start(g.dir, core, jspi, { role: "pair", me: 0, inbox: ba, outbox: ab, wake });
  const b = await start(g.dir, core, jspi, { role: "pair", me: 1, inbox: ab, outbox: ba, wake });
  // the bench's command goes into component 0's mailbox, as kind 3
  const ctl = new Int32Array(ba, 0, 4);
  const body = new Uint8Array(ba, 64);
  const command = () => {
    const cmd = new TextEncoder().encode(JSON.stringify({ n: N }));
    body.set(cmd);
    Atomics.store(ctl, 1, 3);
    Atomics.store(ctl, 2, cmd.length);
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
  };
  const xs = await rounds(() => asked(a, command));
  a.terminate();
  b.terminate();
  return xs;
}

/**
 * Two components in one Worker; the second is told to spin forever (the tester's `loop`), then
 * killed through its flag. How long the kill took to land, and the first one's answer after it.
 */
async function killOne(): Promise<{ killMs: number; ended: string; neighbour: string }> {
  const g = await glue("jspi");
  const kill = new SharedArrayBuffer(8);
  const w = await start(g.dir, g.checked, true, { role: "group", n: 2, kill });
  const next = <T extends SharingReply["t"]>(t: T) =>
    new Promise<Extract<SharingReply, { t: T }>>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<SharingReply>) => {
        if (e.data.t === t) resolve(e.data as Extract<SharingReply, { t: T }>);
        else if (e.data.t === "failed") reject(new Error(e.data.error));
      };
    });
  const send = (c: SharingCommand) => w.postMessage(c);
  send({ t: "command", to: 1, cmd: { op: "loop" } });
  await settle(300);
  const ended = next("ended");
  const t0 = performance.now();
  Atomics.store(new Int32Array(kill), 1, 1);
  const gone = await ended;
  const killMs = performance.now() - t0;
  if (gone.index !== 1) throw new Error(`component ${gone.index} ended, not the stuck one`);
  const answered = next("answered");
  send({ t: "command", to: 0, cmd: { op: "our" } });
  const neighbour = await answered;
  w.terminate();
  return { killMs: Math.round(killMs * 10) / 10, ended: gone.error, neighbour: neighbour.body };
}

if (args.part === "each" || args.part === "shared") {
  console.log(JSON.stringify({ perComponentMb: await memory(args.part) }));
  Deno.exit(0);
}

/** One memory mode in a fresh Deno process, so neither inherits the other's heap. */
async function memoryApart(mode: "each" | "shared"): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, `--part=${mode}`, `--k=${K}`],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`memory part ${mode} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout)).perComponentMb;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
// transpiled before anything is measured
await glue("sync");
await glue("jspi");
const each = await memoryApart("each");
const shared = await memoryApart("shared");
const inWorker = await sharedRtt();
const crossSync = await pairRtt("sync", false);
const crossSyncChecked = await pairRtt("sync", true);
const crossJspi = await pairRtt("jspi", true);
const crossJspiScheduled = await pairRtt("jspi", true, "scheduler");
const killed = await killOne();
console.log(JSON.stringify({
  k: K,
  memoryPerComponentMb: {
    ownWorker: Math.round(each * 10) / 10,
    sharedWorker: Math.round(shared * 10) / 10,
  },
  rttUs: {
    sharedWorker: { median: median(inWorker), rounds: inWorker },
    ownWorkersSync: { median: median(crossSync), rounds: crossSync },
    ownWorkersSyncChecked: { median: median(crossSyncChecked), rounds: crossSyncChecked },
    ownWorkersJspiChecked: { median: median(crossJspi), rounds: crossJspi },
    ownWorkersJspiCheckedScheduler: {
      median: median(crossJspiScheduled),
      rounds: crossJspiScheduled,
    },
  },
  n: N,
  killed,
}));
Deno.exit(0);
