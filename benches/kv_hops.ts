// What the thread structure alone costs a kv pair, with none of the runtime's code, against
// the same Deno KV set+get pairs called directly (each round interleaved):
//   kernel: a "process" Worker (blocking waits, as a process Worker) asks the main thread
//     (the kernel's, which holds the Deno KV handle) by a postMessage doorbell and is
//     answered through a SharedArrayBuffer and Atomics.notify (kv's path before kv had a
//     Worker of its own, bare);
//   channel: the process hands the op to a kv Worker (Deno KV opened there, woken by
//     Atomics.notify into an Atomics.waitAsync) that answers the process directly (kv's
//     module channels today, bare: channel_floor.ts's structure path).
// Every path wakes four threads per op (the caller's, Deno KV's own, and back) where the
// direct calls wake two.
//
//   deno run -A --unstable-kv benches/kv_hops.ts [--rounds=30]

import { kvChannelFloor } from "./channel_floor.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const ROUNDS = Number(args.rounds ?? 30);
const PAIRS = 20;
const VALUE = new Uint8Array(100).fill(7);

// signal words: 1 op (1 set, 2 get), 2 key, 3 answers
const PROCESS_WORKER = `
self.onmessage = (e) => {
  const { sig, n, from } = e.data;
  const s = new Int32Array(sig);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (const op of [1, 2]) {
      const before = Atomics.load(s, 3);
      Atomics.store(s, 1, op); Atomics.store(s, 2, from + i);
      self.postMessage(0);
      while (Atomics.load(s, 3) === before) Atomics.wait(s, 3, before);
    }
  }
  self.postMessage({ done: performance.now() - t0 });
};`;

const url = (src: string) =>
  URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
const dir = await Deno.makeTempDir({ prefix: "hd-kv-hops-" });
const direct = await Deno.openKv(`${dir}/direct.kv`);
const mainKv = await Deno.openKv(`${dir}/main.kv`);

// the channel shape is channel_floor.ts's structure path
const floor = await kvChannelFloor(`${dir}/worker.kv`);

const kernSig = new SharedArrayBuffer(64);
const ks = new Int32Array(kernSig);
const proc = new Worker(url(PROCESS_WORKER), { type: "module" });
let onDone: (ms: number) => void = () => {};
proc.onmessage = async (e) => {
  if (typeof e.data === "object") return onDone(e.data.done);
  // the kernel's side: one Deno KV op, then answer through shared memory
  const op = Atomics.load(ks, 1), k = Atomics.load(ks, 2);
  if (op === 1) await mainKv.set(["k", k], VALUE);
  else await mainKv.get(["k", k]);
  Atomics.add(ks, 3, 1);
  Atomics.notify(ks, 3);
};

let seq = 0;
function viaKernel(): Promise<number> {
  const from = seq;
  seq += PAIRS;
  return new Promise((resolve) => {
    onDone = resolve;
    proc.postMessage({ sig: kernSig, n: PAIRS, from });
  });
}

async function viaChannel(): Promise<number> {
  const t0 = performance.now();
  await floor.pairs(false, seq, PAIRS);
  seq += PAIRS;
  return performance.now() - t0;
}

async function viaDirect(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < PAIRS; i++) {
    const k = seq++;
    await direct.set(["k", k], VALUE);
    await direct.get(["k", k]);
  }
  return performance.now() - t0;
}

const times = { direct: [] as number[], kernel: [] as number[], channel: [] as number[] };
for (let r = 0; r < ROUNDS + 3; r++) {
  const d = await viaDirect();
  const k = await viaKernel();
  const c = await viaChannel();
  if (r < 3) continue; // warm-up
  times.direct.push(d);
  times.kernel.push(k);
  times.channel.push(c);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const d = median(times.direct);
console.log(JSON.stringify({
  rounds: ROUNDS,
  pairs: PAIRS,
  directPairUs: Math.round((d * 1000) / PAIRS),
  vsDirect: {
    kernel: +(d / median(times.kernel)).toFixed(2),
    channel: +(d / median(times.channel)).toFixed(2),
  },
}));
proc.terminate();
direct.close();
mainKv.close();
await floor.close();
await Deno.remove(dir, { recursive: true });
