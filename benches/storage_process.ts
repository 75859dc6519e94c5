// kv set+get and sqlite insert+select pairs sent by a real process (a Worker, to
// kv:distro:sys / sqlite:distro:sys and back: the first request through the kernel, later
// ones by the module channels it then gets to kv's Worker and the database's Worker; the app
// builds each request's JSON and checks each answer, as an app on process_lib does), against
// Deno KV and node:sqlite called directly with the same settings, interleaved:
// each round times one batch of each path in turn, so the shared disk's fsync
// latency (which swings single runs 2-5x here) hits all alike. Reference paths:
// the floor (the direct calls plus a bare Worker round trip per thread crossing), the
// bare path (the same process and kernel path to a module doing only the raw op) and,
// the floors of each process path's own shape with none of our code (channel_floor.ts:
// the bare structure, and the structure carrying the module's protocol).
// Prints one JSON line (benches/all.ts reads it). With Linux's /proc it also gives the
// CPU the kernel's thread (this process's main thread: routing, the modules left on it, Deno
// KV's JS side on the direct path) spent per pair on each path, and the CPU of all threads
// together per pair (wherever the work runs: kv's and sqlite's Workers, Deno KV's thread),
// which the disk's latency does not swing.
// Two phases: bursts (each round one batch of 20 pairs a path) and sustained (each round
// --slice pairs of a path in a row, still alternating paths). They differ because this
// machine's thread hand-offs cost ~3x more when they follow each other without a pause
// (benches/wake_cost.ts): Deno KV's direct calls (two hand-offs per op) run far faster in
// bursts than sustained, while direct node:sqlite (none) runs faster sustained.
//
//   deno run -A benches/storage_process.ts [--rounds=30] [--sustained=3] [--slice=2000]
//     [--warmup=30]

import { DatabaseSync } from "node:sqlite";
import { appBatch, bootStorageNode, writeStoragePackage } from "../tests/modules/node_helpers.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../kernel/module.ts";
import { makeResponse } from "../wire/core.ts";
import { DbHost } from "../modules/sqlite/host.ts";
import { ByteBudget } from "../modules/shared/db.ts";
import { echoWorker, roundTrips } from "./echo_worker.ts";
import { threadCpu } from "./thread_cpu.ts";
import { type ChannelFloor, kvChannelFloor, sqliteChannelFloor } from "./channel_floor.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const ROUNDS = Number(args.rounds ?? 30);
const BATCH = 20;
/** Rounds of the sustained phase (0: none), each running SLICE pairs of every path in a row. */
const SUSTAINED = Number(args.sustained ?? 3);
/** Batches of every path before measuring. */
const WARMUP = Number(args.warmup ?? 30);
const SLICE = Math.max(BATCH, Math.round(Number(args.slice ?? 2000) / BATCH) * BATCH);

const root = await Deno.makeTempDir({ prefix: "hd-storage-process-" });

// The bare path: the same process, Worker, kernel routing and thread hops, to a module that
// does nothing but the storage op (the raw Deno KV call; the statement handed to a db Worker
// as sqlite does) on one-byte requests: no JSON to build or parse on either side, no caps,
// no limits. What the process path costs on this design with no module or app work at all.
const BARE = { processName: "bare", packageName: "distro", publisherNode: "sys" };
const bareKv = await Deno.openKv(`${root}/bare.kv`);
const bareDb = new DbHost(`${root}/bare.db`, "bare", {
  timeoutMs: 60_000,
  budget: new ByteBudget(1 << 28),
  runaway: () => {},
  workers: new Set(),
  print: () => {},
  maxParamsBytes: 1 << 26,
  maxResultBytes: 1 << 26,
});
await bareDb.run({ op: "write", sql: "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)" }, "bare");
let bareCtx!: RuntimeModuleContext;
let bareSeq = 0;
const bareModule: RuntimeModule = {
  processId: BARE,
  public: false,
  start(ctx) {
    bareCtx = ctx;
  },
  async handleMessage(km) {
    if (km.message.tag !== "request") return;
    const self = { node: bareCtx.our, process: BARE };
    const one = new Uint8Array([1]);
    const octets = (bytes: Uint8Array) => ({ mime: "application/octet-stream", bytes });
    switch (km.message.val.body[0]) {
      case 0x53: // S
        await bareKv.set(["k", bareSeq], km.lazyLoadBlob!.bytes);
        return bareCtx.sendToLoop(makeResponse(km, self, one));
      case 0x47: { // G
        const e = await bareKv.get<Uint8Array>(["k", bareSeq++]);
        return bareCtx.sendToLoop(makeResponse(km, self, one, octets(e.value!)));
      }
      case 0x57: // W
        await bareDb.run({
          op: "write",
          sql: "INSERT INTO t (k, v) VALUES (?, ?)",
          params: enc.encode(`[${bareSeq}, "value"]`),
        }, "bare");
        return bareCtx.sendToLoop(makeResponse(km, self, one));
      default: { // Q
        const rows = await bareDb.run({
          op: "query",
          sql: "SELECT v FROM t WHERE k = ?",
          params: enc.encode(`[${bareSeq++}]`),
          maxBytes: 1 << 20,
        }, "bare");
        return bareCtx.sendToLoop(makeResponse(km, self, one, octets(rows!)));
      }
    }
  },
};

const n = await bootStorageNode(`${root}/home`, [bareModule]);
await n.node.installPackage(await writeStoragePackage(root, "storage", ["bare:distro:sys"]));
const APP = "our@app:storage:test.os";
const PKG = { package_name: "storage", publisher_node: "test.os" };
const enc = new TextEncoder();
const value = new Uint8Array(100).fill(7);
const body = (action: unknown) => ({ package_id: PKG, db: "bench", action });

// Every path writes its own files: a SQLite WAL still growing syncs slower than one that
// has wrapped (measured 1.1-1.9x here), so paths sharing a file would reach the wrapped
// state sooner than the process path's database and be favoured; WARMUP lets all wrap.
const kvDirect = await Deno.openKv(`${root}/direct.kv`);
const kvFloorFile = await Deno.openKv(`${root}/floor.kv`);
function sqliteAt(path: string) {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  return {
    db,
    insert: db.prepare("INSERT INTO t (k, v) VALUES (?, ?)"),
    select: db.prepare("SELECT v FROM t WHERE k = ?"),
  };
}
const sqlDirect = sqliteAt(`${root}/direct.db`);
const sqlFloor = sqliteAt(`${root}/floor.db`);
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
const echo = echoWorker();
const hop = roundTrips(echo);
// kv's floors on the shape its process path has (process Worker -> kv's Worker -> the
// process), with none of the runtime's code: the bare structure, and the structure carrying
// kv's protocol (process_lib's request JSON and kv's answer, the value as the blob).
const kvStructure = await kvChannelFloor(`${root}/structure.kv`);
const kvProtocol = await kvChannelFloor(`${root}/protocol.kv`);
// sqlite's likewise (process Worker -> its db Worker -> the process)
const sqlStructure = await sqliteChannelFloor(`${root}/structure.db`);
const sqlProtocol = await sqliteChannelFloor(`${root}/protocol.db`);

let seq = 1;
/** BATCH pairs built, sent and checked by the app itself, as an app on process_lib does. */
async function pairs(op: "kv-pairs" | "sqlite-pairs") {
  const res = await n.node.request(
    APP,
    JSON.stringify({ op, db: "bench", from: seq, n: BATCH }),
    { timeoutSeconds: 60 },
  );
  seq += BATCH;
  const out = JSON.parse(new TextDecoder().decode(res.body));
  expect(out.ok === BATCH, `${op}: ${JSON.stringify(out)}`);
}
/** BATCH pairs to the bare module. */
async function barePairs(kind: "kv" | "sqlite") {
  const res = await n.node.request(
    APP,
    JSON.stringify({ op: "bare-pairs", target: "our@bare:distro:sys", kind, n: BATCH }),
    { timeoutSeconds: 60 },
  );
  const out = JSON.parse(new TextDecoder().decode(res.body));
  expect(out.ok === BATCH, `bare ${kind} pairs: ${JSON.stringify(out)}`);
}
function expect(ok: boolean, what: string) {
  if (!ok) throw new Error(`bench: unexpected answer to ${what}`);
}

/** The paths a storage kind is measured on. */
interface Paths {
  direct(): Promise<void>;
  floor(): Promise<void>;
  process(): Promise<void>;
  bare(): Promise<void>;
  structure(): Promise<void>;
  protocol(): Promise<void>;
}

/** A kind's channel floors (channel_floor.ts) as paths: BATCH pairs on each. */
function channelFloors(
  structure: ChannelFloor,
  protocol: ChannelFloor,
): Pick<Paths, "structure" | "protocol"> {
  const batch = async (floor: ChannelFloor, withProtocol: boolean) => {
    await floor.pairs(withProtocol, seq, BATCH);
    seq += BATCH;
  };
  return { structure: () => batch(structure, false), protocol: () => batch(protocol, true) };
}

const kv: Paths = {
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
      await kvFloorFile.set(key, value);
      await hop();
      expect((await kvFloorFile.get(key)).value !== null, "floor get");
    }
  },
  async process() {
    await pairs("kv-pairs");
  },
  bare: () => barePairs("kv"),
  ...channelFloors(kvStructure, kvProtocol),
};
const sqlite: Paths = {
  direct() {
    for (let i = 0; i < BATCH; i++) {
      const k = seq++;
      sqlDirect.insert.run(k, "value");
      expect(sqlDirect.select.get(k) !== undefined, "direct select");
    }
    return Promise.resolve();
  },
  async floor() {
    for (let i = 0; i < BATCH; i++) {
      const k = seq++;
      await hop();
      await hop();
      sqlFloor.insert.run(k, "value");
      await hop();
      await hop();
      expect(sqlFloor.select.get(k) !== undefined, "floor select");
    }
  },
  async process() {
    await pairs("sqlite-pairs");
  },
  bare: () => barePairs("sqlite"),
  ...channelFloors(sqlStructure, sqlProtocol),
};

/**
 * CPU ms of this process's main thread (the kernel's) and of all its threads together (the
 * process and module Workers, Deno KV's and V8's threads), or NaN without /proc.
 */
function cpuMs(): { main: number; all: number } {
  const threads = threadCpu();
  const main = threads.find((t) => t.main);
  if (!main) return { main: NaN, all: NaN };
  return { main: main.us / 1000, all: threads.reduce((sum, t) => sum + t.us, 0) / 1000 };
}

type PathName = keyof Paths;
/** CPU ms charged to each path measured: the kernel's thread, and all threads together */
type Cpu = Partial<Record<PathName, number>>;
let cpu: Cpu = {};
let cpuAll: Cpu = {};
/** Time of `batches` runs of `f` in a row, charging the threads' CPU to `path`. */
async function ms(f: () => Promise<void>, path: PathName, batches: number): Promise<number> {
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) await f();
  const t = performance.now() - t0;
  const c1 = cpuMs();
  cpu[path] = (cpu[path] ?? 0) + c1.main - c0.main;
  cpuAll[path] = (cpuAll[path] ?? 0) + c1.all - c0.all;
  return t;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

interface Figures {
  direct: number;
  process: number;
  ratio: number;
  floor: number;
  floorRatio: number;
  bare: number;
  bareRatio: number;
  /** the channel shape with none of the runtime's code, bare and carrying the module's protocol */
  structureRatio: number;
  protocolRatio: number;
  /** the process path's pairs/s over the protocol floor's (median of rounds) */
  vsProtocol: number;
  kernelUsPerPair: Cpu;
  /** all threads' CPU per pair (the work wherever it runs) */
  allUsPerPair: Cpu;
}

/** `rounds` rounds, each timing `batches` batches of every path in turn. */
async function measure(s: Paths, rounds: number, batches: number): Promise<Figures> {
  const paths = Object.entries(s) as [PathName, () => Promise<void>][];
  const t: Partial<Record<PathName, number[]>> = {};
  cpu = {};
  cpuAll = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of paths) (t[name] ??= []).push(await ms(f, name, batches));
  }
  const pairs = batches * BATCH;
  const perPair = (c: Cpu) =>
    Object.fromEntries(
      Object.entries(c).map(([k, v]) => [k, Math.round((v * 1000) / (rounds * pairs))]),
    );
  // pairs per second from the median round times; ratios: medians of per-round ratios
  const pps = (xs: number[]) => (pairs * 1000) / median(xs);
  const over = (num: number[], den: number[]) => median(num.map((x, i) => x / den[i]));
  const d = t.direct!;
  return {
    direct: pps(d),
    process: pps(t.process!),
    ratio: over(d, t.process!),
    floor: pps(t.floor!),
    floorRatio: over(d, t.floor!),
    bare: pps(t.bare!),
    bareRatio: over(d, t.bare!),
    structureRatio: over(d, t.structure!),
    protocolRatio: over(d, t.protocol!),
    vsProtocol: over(t.protocol!, t.process!),
    kernelUsPerPair: perPair(cpu),
    allUsPerPair: perPair(cpuAll),
  };
}

const out: Record<string, Figures> = {};
const sustained: Record<string, Figures> = {};
for (const [name, s] of [["kv", kv], ["sqlite", sqlite]] as const) {
  for (let i = 0; i < WARMUP; i++) for (const f of Object.values(s)) await f();
  out[name] = await measure(s, ROUNDS, 1);
  if (SUSTAINED > 0) sustained[name] = await measure(s, SUSTAINED, SLICE / BATCH);
}
console.log(JSON.stringify({
  rounds: ROUNDS,
  batch: BATCH,
  pairsPerSecond: out,
  sustained: { rounds: SUSTAINED, slice: SLICE, pairsPerSecond: sustained },
}));
kvDirect.close();
kvFloorFile.close();
await kvStructure.close();
await kvProtocol.close();
await sqlStructure.close();
await sqlProtocol.close();
bareKv.close();
bareDb.stop();
echo.terminate();
sqlDirect.db.close();
sqlFloor.db.close();
await n.stop();
await Deno.remove(root, { recursive: true }).catch(() => {});
Deno.exit(0);
