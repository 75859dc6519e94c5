// What the thread structure alone costs a sqlite pair, with none of the runtime's code: a
// "process" Worker (blocking waits, as a process Worker), the main thread (the kernel's), and
// a db Worker holding node:sqlite (as sqlite's), handing each statement over with the least
// there is (a SharedArrayBuffer, Atomics.notify, Atomics.waitAsync on the main thread, a
// postMessage doorbell from the process). Against the same statements called directly, each
// round interleaved:
//   four hops: process -> main -> db Worker -> main -> process (today's sqlite path);
//   three hops: the db Worker answers the process itself;
//   two hops: the process hands the statement to the db Worker directly.
// Every statement runs in its own BEGIN/COMMIT on each path (as sqlite's Writes do).
//
//   deno run -A benches/storage_hops.ts [--rounds=40]

import { DatabaseSync } from "node:sqlite";
import { SQLITE_BENCH_DB } from "./channel_floor.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const ROUNDS = Number(args.rounds ?? 40);
const PAIRS = 20;

// signal words: 0 request counter, 1 op (1 insert, 2 select, 9 stop), 2 key, 3 answers to the
// main thread, 4 answers to the process, 5 which of 3/4 the db Worker bumps
const DB_WORKER = `
import { DatabaseSync } from "node:sqlite";
self.onmessage = (e) => {
  const s = new Int32Array(e.data.sig);
${SQLITE_BENCH_DB}
  self.postMessage("ready");
  let seen = 0;
  for (;;) {
    while (Atomics.load(s, 0) === seen) Atomics.wait(s, 0, seen);
    seen = Atomics.load(s, 0);
    const op = Atomics.load(s, 1), k = Atomics.load(s, 2);
    if (op === 9) break;
    db.exec("BEGIN");
    if (op === 1) insert.run(k, "value"); else select.get(k);
    db.exec("COMMIT");
    const to = Atomics.load(s, 5);
    Atomics.add(s, to, 1);
    Atomics.notify(s, to);
  }
  db.close();
};`;

const PROCESS_WORKER = `
self.onmessage = (e) => {
  const { sig, hops, n, from } = e.data;
  const s = new Int32Array(sig);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (const op of [1, 2]) {
      const before = Atomics.load(s, 4);
      if (hops === 2) {
        Atomics.store(s, 1, op); Atomics.store(s, 2, from + i); Atomics.store(s, 5, 4);
        Atomics.add(s, 0, 1); Atomics.notify(s, 0);
      } else {
        self.postMessage({ op, k: from + i });
      }
      while (Atomics.load(s, 4) === before) Atomics.wait(s, 4, before);
    }
  }
  self.postMessage({ done: performance.now() - t0 });
};`;

const url = (src: string) =>
  URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
const dir = await Deno.makeTempDir({ prefix: "hd-storage-hops-" });
const sig = new SharedArrayBuffer(64);
const s = new Int32Array(sig);
const db = new Worker(url(DB_WORKER), { type: "module" });
await new Promise((r) => {
  db.onmessage = r;
  db.postMessage({ file: `${dir}/worker.db`, sig });
});
const proc = new Worker(url(PROCESS_WORKER), { type: "module" });

const direct = new DatabaseSync(`${dir}/direct.db`);
direct.exec("PRAGMA journal_mode=WAL");
direct.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
const insert = direct.prepare("INSERT INTO t (k, v) VALUES (?, ?)");
const select = direct.prepare("SELECT v FROM t WHERE k = ?");

let hops = 4;
let finished: (ms: number) => void = () => {};
// the main thread: a doorbell from the process hands its statement to the db Worker; with
// four hops it awaits the answer and wakes the process, with three the db Worker does
proc.onmessage = (e) => {
  if (e.data.done !== undefined) return finished(e.data.done);
  Atomics.store(s, 1, e.data.op);
  Atomics.store(s, 2, e.data.k);
  Atomics.store(s, 5, hops === 4 ? 3 : 4);
  const before = Atomics.load(s, 3);
  Atomics.add(s, 0, 1);
  Atomics.notify(s, 0);
  if (hops !== 4) return;
  const wake = () => {
    Atomics.add(s, 4, 1);
    Atomics.notify(s, 4);
  };
  const w = Atomics.waitAsync(s, 3, before);
  if (w.async) w.value.then(wake);
  else wake();
};

let key = 1;
function viaWorkers(h: number): Promise<number> {
  hops = h;
  return new Promise((resolve) => {
    finished = resolve;
    proc.postMessage({ sig, hops: h, n: PAIRS, from: key });
    key += PAIRS;
  });
}
function directly(): number {
  const t0 = performance.now();
  for (let i = 0; i < PAIRS; i++) {
    direct.exec("BEGIN");
    insert.run(key + i, "value");
    direct.exec("COMMIT");
    direct.exec("BEGIN");
    select.get(key + i);
    direct.exec("COMMIT");
  }
  key += PAIRS;
  return performance.now() - t0;
}

const ratios: Record<number, number[]> = { 4: [], 3: [], 2: [] };
const directMs: number[] = [];
for (let r = 0; r < ROUNDS + 5; r++) {
  const d = directly();
  for (const h of [4, 3, 2]) {
    const ms = await viaWorkers(h);
    if (r >= 5) ratios[h].push(d / ms); // the first rounds warm up
  }
  if (r >= 5) directMs.push(d);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(JSON.stringify({
  rounds: ROUNDS,
  pairs: PAIRS,
  directPairUs: Math.round((median(directMs) * 1000) / PAIRS),
  vsDirect: {
    fourHops: +median(ratios[4]).toFixed(2),
    threeHops: +median(ratios[3]).toFixed(2),
    twoHops: +median(ratios[2]).toFixed(2),
  },
}));
Atomics.store(s, 1, 9);
Atomics.add(s, 0, 1);
Atomics.notify(s, 0);
proc.terminate();
direct.close();
await new Promise((r) => setTimeout(r, 50));
db.terminate();
await Deno.remove(dir, { recursive: true }).catch(() => {});
Deno.exit(0);
