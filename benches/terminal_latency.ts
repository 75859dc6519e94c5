// Console latency: from Enter to the printed answer of
//   m -a 5 our@echo:scripty:test.os '"ping-N"'
// typed at a node's console (the real console, raw mode, on an in-memory
// terminal), with no load, then while the node serves 10,000 messages/s, in one
// run. Two loads: a script flooding the echo process (Worker to Worker, as apps
// talk once the kernel has authorized them), and requests injected through the
// kernel's own thread (where the console runs). The achieved rate is read from
// the echo process's figures (Debug "ProcessStats").
//
//   ./node_modules/deno/deno run -A benches/terminal_latency.ts [samples]

import { bootNode, type BootOptions } from "../main.ts";
import { createConsole } from "../console/mod.ts";

const SAMPLES = Number(Deno.args[0] ?? 30);
const RATE = 10_000;
const ECHO = "our@echo:scripty:test.os";
const FIXTURE = new URL("../tests/terminal/fixtures/scripty", import.meta.url).pathname;
const enc = new TextEncoder();
const dec = new TextDecoder();

const root = await Deno.makeTempDir({ prefix: "hyperdeno-termbench-" });
let typed!: ReadableStreamDefaultController<Uint8Array>;
const input = new ReadableStream<Uint8Array>({ start: (c) => void (typed = c) });
let screen = "";
let waiting: { marker: string; resolve: (t: number) => void } | undefined;
const con = createConsole({
  home: `${root}/home`,
  logging: false,
  io: {
    input,
    interactive: true,
    columns: 200,
    rows: 50,
    write(b) {
      screen += dec.decode(b);
      if (waiting && screen.includes(waiting.marker)) {
        const w = waiting;
        waiting = undefined;
        w.resolve(performance.now());
      }
      if (screen.length > 1 << 20) screen = screen.slice(-4096);
      return Promise.resolve(b.length);
    },
  },
});
const node = await bootNode({
  home: `${root}/home`,
  console: con,
  tcpPort: 0,
  wsPort: false,
  httpPort: false,
  distro: true,
} as BootOptions);
await node.installPackage(FIXTURE);
const running = con.run(node);
// the console asks where its cursor is: answer as a terminal would
typed.enqueue(enc.encode("\x1b[1;1R"));

let n = 0;
async function once(): Promise<number> {
  const id = ++n;
  const marker = `terminal:sys: "ping-${id}"`;
  const done = new Promise<number>((resolve) => (waiting = { marker, resolve }));
  const t0 = performance.now();
  typed.enqueue(enc.encode(`m -a 5 ${ECHO} '"ping-${id}"'\r`));
  const t1 = await done;
  return t1 - t0;
}

async function series(): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    out.push(await once());
    await new Promise((r) => setTimeout(r, 50));
  }
  return out.sort((a, b) => a - b);
}

async function echoReceived(): Promise<number> {
  const r = await node.request("our@kernel:distro:sys", JSON.stringify({ Debug: "ProcessStats" }));
  return JSON.parse(dec.decode(r.body)).Debug.ProcessStats["echo:scripty:test.os"].received;
}

/** Runs `f` under load; resolves with its result and the rate echo received meanwhile. */
async function measured<T>(f: () => Promise<T>): Promise<{ result: T; rate: number }> {
  const before = await echoReceived();
  const t0 = performance.now();
  const result = await f();
  const rate = (await echoReceived() - before) / ((performance.now() - t0) / 1000);
  return { result, rate };
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const row = (name: string, xs: number[], rate: number, base?: number[]) =>
  `| ${name.padEnd(44)} | ${Math.round(rate).toString().padStart(7)}/s | ${
    q(xs, 0.5).toFixed(1).padStart(6)
  } ms | ${q(xs, 0.9).toFixed(1).padStart(6)} ms | ${
    base ? `${(q(xs, 0.5) / q(base, 0.5)).toFixed(2)}x` : "1.00x"
  } |`;

// warm up: the m script's first spawn, the echo process, the JIT
for (let i = 0; i < 5; i++) await once();

const idle = await measured(series);

// load 1: a script floods echo (Worker to Worker)
typed.enqueue(enc.encode(`flood:scripty:test.os 600 ${RATE}\r`));
await new Promise((r) => setTimeout(r, 1500));
const flooded = await measured(series);
// stop it (the console's Esc only stops live panels): kill the flood by its id
const stats = await node.request("our@kernel:distro:sys", JSON.stringify({ Debug: "ProcessMap" }));
for (const pid of Object.keys(JSON.parse(dec.decode(stats.body)).Debug.ProcessMap)) {
  if (/^\d+:scripty:test\.os$/.test(pid)) {
    await node.send("our@kernel:distro:sys", JSON.stringify({ KillProcess: pid }));
  }
}

// load 2: requests injected through the kernel's thread, paced every 10 ms to the rate
const body = enc.encode('"load"');
const loadStart = performance.now();
let injectedSoFar = 0;
const timer = setInterval(() => {
  const due = Math.floor(((performance.now() - loadStart) / 1000) * RATE);
  for (; injectedSoFar < due; injectedSoFar++) void node.send(ECHO, body);
}, 10);
await new Promise((r) => setTimeout(r, 1000));
const injected = await measured(series);
clearInterval(timer);

console.log(`Enter -> printed answer of \`m -a 5 ${ECHO}\`, ${SAMPLES} samples each\n`);
console.log(`| ${"load".padEnd(44)} | echo rate | p50       | p90       | p50 vs idle |`);
console.log(`| ${"-".repeat(44)} | --------- | --------- | --------- | ----------- |`);
console.log(row("none", idle.result, idle.rate));
console.log(
  row("10k msg/s, script -> echo (Worker to Worker)", flooded.result, flooded.rate, idle.result),
);
console.log(
  row("10k msg/s, injected through the kernel thread", injected.result, injected.rate, idle.result),
);

typed.enqueue(enc.encode("\x04")); // CTRL+D
await running;
await node.shutdown();
await con.close();
await Deno.remove(root, { recursive: true }).catch(() => {});
Deno.exit(0);
