// kv set+get and sqlite insert+select pairs sent by a real process (a Worker,
// through the kernel to kv:distro:sys / sqlite:distro:sys and back), against
// Deno KV and node:sqlite called directly with the same settings, interleaved:
// each round times one direct batch then one process batch, so the shared
// disk's fsync latency (which swings single runs 2-5x here) hits both alike.
// Prints one JSON line (benches/all.ts reads it). With Linux's /proc it also gives the
// CPU the kernel's thread (this process's main thread: routing, the modules, Deno KV's
// JS side) spent per pair on each path, which the disk's latency does not swing.
//
//   deno run -A benches/storage_process.ts [--rounds=30]

import { DatabaseSync } from "node:sqlite";
import { appBatch, bootStorageNode, writeStoragePackage } from "../tests/modules/node_helpers.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const ROUNDS = Number(args.rounds ?? 30);
const BATCH = 20;

const root = await Deno.makeTempDir({ prefix: "hd-storage-process-" });
const n = await bootStorageNode(`${root}/home`);
await n.node.installPackage(await writeStoragePackage(root));
const APP = "our@app:storage:test.os";
const PKG = { package_name: "storage", publisher_node: "test.os" };
const enc = new TextEncoder();
const value = new Uint8Array(100).fill(7);
const body = (action: unknown) => ({ package_id: PKG, db: "bench", action });

const kvDirect = await Deno.openKv(`${root}/direct.kv`);
const sqlDirect = new DatabaseSync(`${root}/direct.db`);
sqlDirect.exec("PRAGMA journal_mode=WAL");
sqlDirect.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
const insertDirect = sqlDirect.prepare("INSERT INTO t (k, v) VALUES (?, ?)");
const selectDirect = sqlDirect.prepare("SELECT v FROM t WHERE k = ?");
await appBatch(n.node, APP, [
  { target: "kv:distro:sys", body: body("Open") },
  { target: "sqlite:distro:sys", body: body("Open") },
  {
    target: "sqlite:distro:sys",
    body: body({
      Write: { statement: "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)", tx_id: null },
    }),
  },
]);

// The floor: the direct calls, each op also paying the thread crossings the process path
// cannot avoid (a round trip to a bare echo Worker per op: the app's request to the kernel's
// thread and its answer; sqlite one more, to its db Worker and back).
const echo = new Worker(
  URL.createObjectURL(
    new Blob(["self.onmessage = (e) => self.postMessage(e.data);"], {
      type: "application/javascript",
    }),
  ),
  { type: "module" },
);
let echoed: (() => void) | undefined;
echo.onmessage = () => echoed!();
const hop = () =>
  new Promise<void>((r) => {
    echoed = r;
    echo.postMessage(0);
  });

let seq = 1;
function expect(ok: boolean, what: string) {
  if (!ok) throw new Error(`bench: unexpected answer to ${what}`);
}

const kv = {
  async direct() {
    for (let i = 0; i < BATCH; i++) {
      const key = ["k", seq++];
      await kvDirect.set(key, value);
      expect((await kvDirect.get(key)).value !== null, "direct get");
    }
  },
  async floor() {
    for (let i = 0; i < BATCH; i++) {
      const key = ["f", seq++];
      await hop();
      await kvDirect.set(key, value);
      await hop();
      expect((await kvDirect.get(key)).value !== null, "floor get");
    }
  },
  async process() {
    const calls = [];
    for (let i = 0; i < BATCH; i++) {
      const key = Array.from(enc.encode(`p${seq++}`));
      calls.push({
        target: "kv:distro:sys",
        body: body({ Set: { key, tx_id: null } }),
        blob: value,
      });
      calls.push({ target: "kv:distro:sys", body: body({ Get: key }) });
    }
    const r = await appBatch(n.node, APP, calls);
    expect(r[r.length - 1].blob?.length === value.length, "process kv get");
  },
};
const sqlite = {
  direct() {
    for (let i = 0; i < BATCH; i++) {
      const k = seq++;
      insertDirect.run(k, "value");
      expect(selectDirect.get(k) !== undefined, "direct select");
    }
    return Promise.resolve();
  },
  async floor() {
    for (let i = 0; i < BATCH; i++) {
      const k = seq++;
      await hop();
      await hop();
      insertDirect.run(k, "value");
      await hop();
      await hop();
      expect(selectDirect.get(k) !== undefined, "floor select");
    }
  },
  async process() {
    const calls = [];
    for (let i = 0; i < BATCH; i++) {
      const k = seq++;
      calls.push({
        target: "sqlite:distro:sys",
        body: body({ Write: { statement: "INSERT INTO t (k, v) VALUES (?, ?)", tx_id: null } }),
        blob: enc.encode(`[${k}, "value"]`),
      });
      calls.push({
        target: "sqlite:distro:sys",
        body: body({ Query: "SELECT v FROM t WHERE k = ?" }),
        blob: enc.encode(`[${k}]`),
      });
    }
    const r = await appBatch(n.node, APP, calls);
    expect(r[r.length - 1].text === '"Read"', "process sqlite select");
  },
};

/** CPU ms of this process's main thread (the kernel's), or NaN without /proc. */
function mainThreadCpuMs(): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/self/task/${Deno.pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 100 Hz ticks
  } catch {
    return NaN;
  }
}

let cpu = { direct: 0, process: 0, floor: 0 };
async function ms(
  f: () => Promise<void>,
  path: "direct" | "process" | "floor",
): Promise<number> {
  const c0 = mainThreadCpuMs();
  const t0 = performance.now();
  await f();
  const t = performance.now() - t0;
  cpu[path] += mainThreadCpuMs() - c0;
  return t;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const out: Record<
  string,
  {
    direct: number;
    process: number;
    ratio: number;
    floor: number;
    floorRatio: number;
    kernelUsPerPair: typeof cpu;
  }
> = {};
for (const [name, s] of [["kv", kv], ["sqlite", sqlite]] as const) {
  for (let i = 0; i < 3; i++) {
    await s.direct();
    await s.floor();
    await s.process();
  }
  const d: number[] = [];
  const p: number[] = [];
  const f: number[] = [];
  cpu = { direct: 0, process: 0, floor: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    d.push(await ms(s.direct, "direct"));
    f.push(await ms(s.floor, "floor"));
    p.push(await ms(s.process, "process"));
  }
  const perPair = (cpuMs: number) => Math.round((cpuMs * 1000) / (ROUNDS * BATCH));
  // pairs per second from the median batch times; ratio: median of per-round ratios
  out[name] = {
    direct: (BATCH * 1000) / median(d),
    process: (BATCH * 1000) / median(p),
    ratio: median(d.map((x, i) => x / p[i])),
    floor: (BATCH * 1000) / median(f),
    floorRatio: median(d.map((x, i) => x / f[i])),
    kernelUsPerPair: {
      direct: perPair(cpu.direct),
      process: perPair(cpu.process),
      floor: perPair(cpu.floor),
    },
  };
}
console.log(JSON.stringify({ rounds: ROUNDS, batch: BATCH, pairsPerSecond: out }));
kvDirect.close();
echo.terminate();
sqlDirect.close();
await n.stop();
await Deno.remove(root, { recursive: true }).catch(() => {});
Deno.exit(0);
