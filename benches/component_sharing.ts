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
//
// Prints one JSON line.
//
//   deno run -A benches/component_sharing.ts [--k=10] [--n=3000] [--rounds=5]

import { buildFixture } from "../tests/fixtures/build.ts";
import { sha256Hex } from "../kit/hash.ts";
import type { AskMany, SharingInit, SharingReply } from "./component_sharing_worker.ts";

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

/** The tester's glue for `kind`, transpiled by jco once (cached by content under .cache/). */
async function glue(
  kind: Glue,
): Promise<{ dir: string; core: Record<string, WebAssembly.Module> }> {
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
  const core: Record<string, WebAssembly.Module> = {};
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith(".wasm")) {
      core[e.name] = await WebAssembly.compile(await Deno.readFile(`${dir}/${e.name}`));
    }
  }
  return { dir, core };
}

function start(
  g: { dir: string; core: Record<string, WebAssembly.Module> },
  jspi: boolean,
  role:
    | { role: "group"; n: number }
    | Omit<Extract<SharingInit, { role: "pair" }>, "glue" | "core" | "jspi">,
): Promise<Worker> {
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
    w.postMessage(
      { glue: `file://${g.dir}/component.js`, core: g.core, jspi, ...role } as SharingInit,
    );
  });
}

const rssMb = () =>
  Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) / 1024;
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS growth per idle component: k Workers of one (each), or one Worker of k (shared). */
async function memory(mode: "each" | "shared"): Promise<number> {
  const g = await glue(mode === "each" ? "sync" : "jspi");
  const jspi = mode === "shared";
  const warm = await start(g, jspi, { role: "group", n: 1 });
  await settle(1500);
  const r0 = rssMb();
  const workers: Worker[] = [];
  if (jspi) workers.push(await start(g, true, { role: "group", n: K }));
  else for (let i = 0; i < K; i++) workers.push(await start(g, false, { role: "group", n: 1 }));
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
  const w = await start(await glue("jspi"), true, { role: "group", n: 2 });
  const xs = await rounds(() => asked(w, () => w.postMessage({ t: "ask", n: N } as AskMany)));
  w.terminate();
  return xs;
}

async function pairRtt(kind: Glue): Promise<number[]> {
  const g = await glue(kind);
  const ab = new SharedArrayBuffer(4096);
  const ba = new SharedArrayBuffer(4096);
  const a = await start(g, kind === "jspi", { role: "pair", me: 0, inbox: ba, outbox: ab });
  const b = await start(g, kind === "jspi", { role: "pair", me: 1, inbox: ab, outbox: ba });
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
const crossSync = await pairRtt("sync");
const crossJspi = await pairRtt("jspi");
console.log(JSON.stringify({
  k: K,
  memoryPerComponentMb: {
    ownWorker: Math.round(each * 10) / 10,
    sharedWorker: Math.round(shared * 10) / 10,
  },
  rttUs: {
    sharedWorker: { median: median(inWorker), rounds: inWorker },
    ownWorkersSync: { median: median(crossSync), rounds: crossSync },
    ownWorkersJspi: { median: median(crossJspi), rounds: crossJspi },
  },
  n: N,
}));
Deno.exit(0);
