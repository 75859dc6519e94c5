// What one thread hand-off costs on this machine, in bursts and sustained: the same
// operations timed in bursts of 20 after a 10 ms pause (50 bursts), and for one second in a
// row, alternating (each round one of each). A bare Worker postMessage round trip (two
// hand-offs), the same with the Worker waiting in Atomics.wait as a process does (its
// receive blocks) and woken by Atomics.notify, direct Deno KV set+get pairs (Deno KV's own thread: two hand-offs an op) and
// direct node:sqlite insert+select pairs (no hand-off). Under a hypervisor a thread woken
// right after it slept can cost several times less than one in a steady ping-pong, so a
// path's ratio to another moves with how many hand-offs each makes and how densely they
// follow each other (benches/storage_process.ts measures both ways).
//
//   deno run -A --unstable-kv benches/wake_cost.ts [--rounds=3]

import { DatabaseSync } from "node:sqlite";
import { echoWorker, roundTrips, syncRoundTrips } from "./echo_worker.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const ROUNDS = Number(args.rounds ?? 3);
const BURST = 20;
const BURSTS = 50;
const SUSTAINED_MS = 1000;
const PAUSE_MS = 10;

const dir = await Deno.makeTempDir({ prefix: "hd-wake-cost-" });
const echo = echoWorker();
const hop = roundTrips(echo);
const sync = syncRoundTrips();
const kv = await Deno.openKv(`${dir}/direct.kv`);
const db = new DatabaseSync(`${dir}/direct.db`);
db.exec("PRAGMA journal_mode=WAL");
db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
const insert = db.prepare("INSERT INTO t (k, v) VALUES (?, ?)");
const select = db.prepare("SELECT v FROM t WHERE k = ?");
const value = new Uint8Array(100).fill(7);
let seq = 0;

const ops: Record<string, () => Promise<void> | void> = {
  "bare Worker round trip": hop,
  "Worker round trip, synchronous receive (Atomics.wait)": sync.hop,
  "direct Deno KV set+get pair": async () => {
    const key = ["k", seq++];
    await kv.set(key, value);
    if ((await kv.get(key)).value === null) throw new Error("kv get");
  },
  "direct node:sqlite insert+select pair": () => {
    const k = seq++;
    insert.run(k, "value");
    if (select.get(k) === undefined) throw new Error("sqlite select");
  },
};

/** Milliseconds of `n` ops in a row. */
async function timed(op: () => Promise<void> | void, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await op();
  return performance.now() - t0;
}

/** Microseconds per op of ops in a row for `ms`. */
async function sustainedUs(op: () => Promise<void> | void, ms: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) {
    await op();
    n++;
  }
  return ((performance.now() - t0) * 1000) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const out: Record<string, { burstUs: number; sustainedUs: number; ratio: number }> = {};
for (const [name, op] of Object.entries(ops)) {
  await sustainedUs(op, 200); // warm up
  const burst: number[] = [];
  const sustained: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t = 0;
    for (let b = 0; b < BURSTS; b++) {
      await new Promise((res) => setTimeout(res, PAUSE_MS));
      t += await timed(op, BURST);
    }
    burst.push((t * 1000) / (BURSTS * BURST));
    sustained.push(await sustainedUs(op, SUSTAINED_MS));
  }
  const b = median(burst);
  const s = median(sustained);
  out[name] = { burstUs: b, sustainedUs: s, ratio: s / b };
  console.error(
    `${name.padEnd(54)} bursts ${b.toFixed(1).padStart(7)} us  sustained ${
      s.toFixed(1).padStart(7)
    } us  (${(s / b).toFixed(2)}x)`,
  );
}
console.log(
  JSON.stringify({
    rounds: ROUNDS,
    burst: BURST,
    pauseMs: PAUSE_MS,
    sustainedMs: SUSTAINED_MS,
    out,
  }),
);
echo.terminate();
sync.stop();
kv.close();
db.close();
await Deno.remove(dir, { recursive: true }).catch(() => {});
