// Every figure of issue #16's table, each against its baseline measured in the
// same run, in one command:
//
//   deno run -A benches/all.ts [--only=rtt,growth,memory,sharing,storage,net,http,scale]
//
// Parts (each in its own Deno process, so one part's heap and threads do not
// weigh on the next): rtt (benches/rtt.ts, as the node runs and with --own-workers), memory
// (benches/memory.ts: bare Worker, TS module, components of a package sharing Workers and each
// in its own), sharing (benches/component_sharing.ts: the design experiment of
// components sharing one Worker, on a stand-in host, not judged against the goals), growth (benches/component_growth.ts: a component's round trip
// after many messages against its first ones), storage (benches/storage_process.ts in bursts and
// sustained, and benches/wake_cost.ts: what a thread hand-off costs each way), net
// (benches/net.bench.ts, raw cipher and TCP bulk), http
// (benches/http_throughput.ts), scale (benches/memory.ts --what=scale).
// Prints the machine, the load average before and after each part, and a
// markdown table (BENCHMARKS.md keeps the last one).

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const PARTS = ["rtt", "growth", "memory", "sharing", "storage", "net", "http", "scale"];
const only = new Set((args.only ?? PARTS.join(",")).split(","));
const HERE = new URL(".", import.meta.url).pathname;
const dec = new TextDecoder();

function loadavg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

async function run(argv: string[], env?: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: argv,
    stdout: "piped",
    stderr: "inherit",
    cwd: `${HERE}..`,
    env,
  }).output();
  if (!out.success) throw new Error(`failed: deno ${argv.join(" ")}`);
  return dec.decode(out.stdout);
}

const lastJson = (s: string) => JSON.parse(s.trim().split("\n").pop()!);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

interface BenchResult {
  name: string;
  results: { ok?: { avg: number } }[];
}
/** deno bench --json: average ns per iteration by bench name. */
async function denoBench(file: string, filter: string): Promise<Map<string, number>> {
  const out = await run(["bench", "-A", "--json", `--filter=${filter}`, `${HERE}${file}`]);
  const m = new Map<string, number>();
  for (const b of JSON.parse(out).benches as BenchResult[]) {
    const ok = b.results[0]?.ok;
    if (ok) m.set(b.name, ok.avg);
  }
  return m;
}
function pick(m: Map<string, number>, part: string): number {
  for (const [k, v] of m) if (k.includes(part)) return v;
  throw new Error(`no bench named like "${part}" (have: ${[...m.keys()].join("; ")})`);
}

interface Row {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** "not judged": the goal holds only under a condition this run did not meet */
  met?: boolean | "not judged";
}
const rows: Row[] = [];
/** The round-trip baseline under which #16's round-trip goals hold (a quiet machine). */
const QUIET_BASELINE_US = 25;
const loads: string[] = [];
const notes: string[] = [];
const fmt = (x: number, d = 1) => x.toFixed(d);

async function part(name: string, f: () => Promise<void>) {
  if (!only.has(name)) return;
  const before = loadavg();
  const t0 = performance.now();
  console.error(`[bench:all] ${name}... (load ${before})`);
  await f();
  loads.push(
    `${name}: load ${before} -> ${loadavg()}, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

await part("rtt", async () => {
  const r = lastJson(await run(["run", "-A", `${HERE}rtt.ts`, "--runs=5", "--rounds=500"]));
  const us = r.us as Record<string, number[]>;
  const ratio = (k: string, b = "baseline") => median(us[k].map((x, i) => x / us[b][i]));
  const base = median(us.baseline);
  // #16's round-trip goals hold on a quiet machine, where the baseline is under 25 us; over
  // it the ratio is shown but not judged (a slow baseline flatters every ratio)
  const quiet = base < QUIET_BASELINE_US;
  const line = (figure: string, k: string, goal: number | undefined, b = "baseline") => {
    const x = ratio(k, b);
    rows.push({
      figure,
      value: `${fmt(median(us[k]))} us`,
      baseline: `${fmt(median(us[b]))} us`,
      ratio: `${x.toFixed(2)}x`,
      goal: goal === undefined ? "" : `<= ${goal}x (baseline < ${QUIET_BASELINE_US} us)`,
      met: goal === undefined ? undefined : quiet ? x <= goal : "not judged",
    });
  };
  line("TS module -> TS module RTT vs bare Worker postMessage RTT", "ts", 1.5);
  line(
    "componentize-js component -> component RTT, one package's sharing a Worker (same baseline)",
    "component",
    5,
  );
  line(
    "the same, the answering component of another package (so in another Worker)",
    "component_apart",
    undefined,
  );
  line(
    "minimal hand-written component RTT, asked by a TS module (runtime floor)",
    "minimal_component",
    undefined,
  );
  line("TS module -> runtime module RTT (Worker <-> kernel thread)", "ts_to_module", undefined);
  const ow = ratio("oneway_ts", "oneway_baseline");
  rows.push({
    figure: "one-way messages into a TS module vs bare Worker one-way",
    value: `${fmt(median(us.oneway_ts))} us/msg`,
    baseline: `${fmt(median(us.oneway_baseline))} us/msg`,
    ratio: `${ow.toFixed(2)}x`,
    goal: "keep (< 1x)",
    met: ow < 1,
  });
  notes.push(
    `rtt: median of ${r.runs} interleaved runs of ${r.rounds} round trips; ratios are medians of ` +
      `per-run ratios; the baseline's median was ${fmt(base)} us. CPU per round trip (us, ` +
      `kernel thread / Workers / V8 helpers): ` +
      Object.entries(r.cpu as Record<string, Record<string, number>>).map(([k, c]) =>
        `${k} ${fmt(c.main)}/${fmt(c.workers)}/${fmt(c.helpers)}`
      ).join(", "),
  );
  // the design sharing replaced: every component in a Worker of its own (the node's
  // --own-workers), against the same kind of baseline, from a run of its own
  const o = lastJson(
    await run(["run", "-A", `${HERE}rtt.ts`, "--runs=5", "--rounds=500", "--own-workers"]),
  );
  const ous = o.us as Record<string, number[]>;
  for (
    const [figure, k] of [
      ["the same pair, each in a Worker of its own (--own-workers)", "component"],
      ["the minimal component in a Worker of its own (--own-workers)", "minimal_component"],
    ]
  ) {
    rows.push({
      figure,
      value: `${fmt(median(ous[k]))} us`,
      baseline: `${fmt(median(ous.baseline))} us`,
      ratio: `${median(ous[k].map((x, i) => x / ous.baseline[i])).toFixed(2)}x`,
      goal: "(comparison)",
    });
  }
});

await part("growth", async () => {
  // 8 blocks of 1500 round trips per pair: the last two against the first two
  const r = lastJson(
    await run(["run", "-A", `${HERE}component_growth.ts`, "--segments=8", "--block=1500"]),
  );
  const us = r.us as Record<string, number[]>;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (
    const [k, figure] of [
      ["kit", "componentize-js component RTT after 9000-12000 messages vs its first 3000 (kit)"],
      ["plain", "the same, built by componentize-js alone (its import arguments never freed)"],
    ]
  ) {
    const g = r.growth[k] as number;
    rows.push({
      figure,
      value: `${fmt(mean(us[k].slice(-2)))} us`,
      baseline: `${fmt(mean(us[k].slice(0, 2)))} us`,
      ratio: `${g.toFixed(2)}x`,
      goal: k === "kit" ? "<= 1.2x (no growth)" : "(without the fix)",
      met: k === "kit" ? g <= 1.2 : undefined,
    });
  }
});

await part("memory", async () => {
  /** MB of RSS per process of a kind, from benches/memory.ts */
  const perProcess = async (
    what: string,
    n: number,
    env?: Record<string, string>,
    extra: string[] = [],
  ) =>
    lastJson(
      await run(["run", "-A", `${HERE}memory.ts`, `--what=${what}`, `--n=${n}`, ...extra], env),
    );
  const w = (await perProcess("bare", 20)).perWorkerMb as number;
  const row = (figure: string, mb: number, goalMb: number) =>
    rows.push({
      figure,
      value: `${fmt(mb)} MB`,
      baseline: `${fmt(w)} MB (bare Worker)`,
      ratio: `${(mb / w).toFixed(2)}x`,
      goal: `<= ${goalMb} MB`,
      met: mb <= goalMb,
    });
  row(
    "memory per idle TS module (RSS growth / 50 processes)",
    (await perProcess("module", 50)).perProcessMb,
    4,
  );
  row(
    "memory per idle component, one package's sharing Workers (RSS growth / 10 processes)",
    (await perProcess("component", 10)).perProcessMb,
    15,
  );
  // as `deno task start` and the Docker image run a node: glibc keeps two malloc arenas
  const arenas2 = { MALLOC_ARENA_MAX: "2" };
  const component2 = (await perProcess("component", 10, arenas2)).perProcessMb as number;
  row(
    "the same, MALLOC_ARENA_MAX=2 (as `deno task start` and the Docker image run a node)",
    component2,
    15,
  );
  // the design the sharing replaced: a Worker per component (the node's --own-workers), and its
  // floor, the same component in a Worker of its own with none of the runtime
  // (component_sharing.ts's stand-in host)
  const own2 = (await perProcess("component", 10, arenas2, ["--own-workers"]))
    .perProcessMb as number;
  rows.push({
    figure: "the same, each in a Worker of its own (--own-workers), MALLOC_ARENA_MAX=2",
    value: `${fmt(own2)} MB`,
    baseline: `${fmt(component2)} MB (sharing Workers)`,
    ratio: `${(own2 / component2).toFixed(2)}x`,
    goal: "(comparison)",
  });
  const alone = lastJson(
    await run(["run", "-A", `${HERE}component_sharing.ts`, "--part=each"], arenas2),
  ).perComponentMb as number;
  rows.push({
    figure:
      "--own-workers against the component alone in a Worker, no runtime (floor), both MALLOC_ARENA_MAX=2",
    value: `${fmt(own2)} MB`,
    baseline: `${fmt(alone)} MB (Worker + component)`,
    ratio: `${(own2 / alone).toFixed(2)}x`,
    goal: "(floor)",
  });
});

await part("sharing", async () => {
  const r = lastJson(await run(["run", "-A", `${HERE}component_sharing.ts`]));
  const mem = r.memoryPerComponentMb as { ownWorker: number; sharedWorker: number };
  const rtt = r.rttUs as Record<string, { median: number }>;
  const killed = r.killed as { killMs: number; neighbour: string };
  const design = "(design, stand-in host)";
  rows.push({
    figure:
      "components sharing one Worker (JSPI glue, interrupt checks): memory per idle component",
    value: `${fmt(mem.sharedWorker)} MB`,
    baseline: `${fmt(mem.ownWorker)} MB (own Worker)`,
    ratio: `${(mem.sharedWorker / mem.ownWorker).toFixed(2)}x`,
    goal: design,
  });
  const own = rtt.ownWorkersSync.median;
  const rttRow = (figure: string, us: number) =>
    rows.push({
      figure,
      value: `${fmt(us)} us`,
      baseline: `${fmt(own)} us (own Workers, sync glue)`,
      ratio: `${(us / own).toFixed(2)}x`,
      goal: design,
    });
  rttRow("the same: component RTT, both in one Worker", rtt.sharedWorker.median);
  rttRow("the same: component RTT, own Workers, JSPI glue", rtt.ownWorkersJspiChecked.median);
  rttRow(
    "the same: component RTT, own Workers, JSPI glue, the Worker blocking between resumes",
    rtt.ownWorkersJspiCheckedScheduler.median,
  );
  rttRow(
    "the same: component RTT, own Workers, sync glue with interrupt checks",
    rtt.ownWorkersSyncChecked.median,
  );
  rows.push({
    figure:
      "the same: a stuck component in a shared Worker killed by its flag; its neighbour then answers",
    value: `${fmt(killed.killMs)} ms`,
    baseline: "",
    ratio: "",
    goal: design,
    met: JSON.parse(killed.neighbour).our !== undefined,
  });
});

await part("storage", async () => {
  const r = lastJson(await run(["run", "-A", `${HERE}storage_process.ts`, "--rounds=30"]));
  type Figures = Record<
    string,
    {
      direct: number;
      process: number;
      ratio: number;
      floorRatio: number;
      bareRatio: number;
      protocolRatio?: number;
      vsProtocol?: number;
    }
  >;
  for (
    const [pps, how] of [
      [r.pairsPerSecond as Figures, "bursts of 20, interleaved"],
      [r.sustained.pairsPerSecond as Figures, `sustained, ${r.sustained.slice} in a row`],
    ] as const
  ) {
    for (
      const [k, what, goal] of [
        ["kv", "kv set+get pairs", 0.6],
        ["sqlite", "sqlite insert+select pairs", 0.4],
      ] as const
    ) {
      const x = pps[k];
      if (!x) continue;
      rows.push({
        figure: `${what} sent by a process vs direct (${how})`,
        value: `${fmt(x.process, 0)} pairs/s`,
        baseline: `${fmt(x.direct, 0)} pairs/s`,
        // the bare path: no module or app work at all; the floor: direct plus bare Worker hops;
        // the protocol floor: the process path's shape carrying the module's JSON, none of our code
        ratio: `${fmt(100 * x.ratio, 0)}% (bare path ${fmt(100 * x.bareRatio, 0)}%, floor ${
          fmt(100 * x.floorRatio, 0)
        }%${
          x.protocolRatio === undefined
            ? ""
            : `, protocol floor ${fmt(100 * x.protocolRatio, 0)}%: the process path at ${
              fmt(100 * x.vsProtocol!, 0)
            }% of it`
        })`,
        goal: `>= ${goal * 100}%`,
        met: x.ratio >= goal,
      });
    }
  }
  const w = lastJson(await run(["run", "-A", "--unstable-kv", `${HERE}wake_cost.ts`]));
  const wake = w.out as Record<string, { burstUs: number; sustainedUs: number }>;
  for (const [name, x] of Object.entries(wake)) {
    rows.push({
      figure: `${name}: sustained 1 s vs bursts of 20 after 10 ms idle (machine)`,
      value: `${fmt(x.sustainedUs)} us`,
      baseline: `${fmt(x.burstUs)} us`,
      ratio: `${(x.sustainedUs / x.burstUs).toFixed(2)}x`,
      goal: "(machine)",
      met: undefined,
    });
  }
});

await part("net", async () => {
  const m = await denoBench("net.bench.ts", "/raw chacha20|in flight \\(TCP\\)$|floor/");
  const raw = pick(m, "raw chacha20-poly1305 seal");
  const tcp = pick(m, "in flight (TCP)");
  rows.push({
    figure: "TCP bulk between nodes vs raw chacha20-poly1305 seal",
    value: `${fmt(tcp / 1e6)} ms / 128 MiB`,
    baseline: `${fmt(raw / 1e6)} ms`,
    ratio: `${fmt((100 * raw) / tcp, 0)}%`,
    goal: ">= 66%",
    met: raw / tcp >= 0.66,
  });
  // what a bare socket pair moving the same sealed frames reaches here: net's floor
  const floor = pick(m, "(floor)");
  rows.push({
    figure: "bare TCP socket pair, same sealed frames (floor) vs raw seal",
    value: `${fmt(floor / 1e6)} ms / 128 MiB`,
    baseline: `${fmt(raw / 1e6)} ms`,
    ratio: `${fmt((100 * raw) / floor, 0)}%`,
    goal: "(floor)",
    met: true,
  });
});

await part("http", async () => {
  // three rounds of every target in turn; each row's req/s and ratio are medians over them
  const out = await run([
    "run",
    "-A",
    `${HERE}http_throughput.ts`,
    "--seconds=3",
    "--rounds=3",
    "--no-ws",
  ]);
  const row = (label: string) => {
    const line = out.split("\n").find((l) => l.startsWith(`| ${label}`));
    if (!line) throw new Error(`http_throughput printed no row "${label}"`);
    const cells = line.split("|");
    return { rps: Number(cells[2]), vsRaw: parseFloat(cells[5]) / 100 };
  };
  const raw = row("raw Deno.serve hello-world");
  const proc = row("GET answered by a process");
  const floor = row("raw Deno.serve + one bare Worker round trip (floor)");
  const protocol = row("raw Deno.serve + one bare Worker round trip carrying");
  rows.push({
    figure: "process GET vs raw Deno.serve (median of 3 rounds)",
    value: `${fmt(proc.rps, 0)} req/s`,
    baseline: `${fmt(raw.rps, 0)} req/s`,
    ratio: `${fmt(100 * proc.vsRaw, 0)}%`,
    goal: ">= 50%",
    met: proc.vsRaw >= 0.5,
  });
  rows.push({
    figure: "raw Deno.serve + one bare Worker round trip per request (floor) vs raw",
    value: `${fmt(floor.rps, 0)} req/s`,
    baseline: `${fmt(raw.rps, 0)} req/s`,
    ratio: `${fmt(100 * floor.vsRaw, 0)}%`,
    goal: "(floor)",
    met: true,
  });
  rows.push({
    figure:
      "raw Deno.serve + one bare Worker round trip carrying Hyperware's HTTP JSON (protocol floor) vs raw",
    value: `${fmt(protocol.rps, 0)} req/s`,
    baseline: `${fmt(raw.rps, 0)} req/s`,
    ratio: `${fmt(100 * protocol.vsRaw, 0)}% (process GET: ${
      fmt((100 * proc.vsRaw) / protocol.vsRaw, 0)
    }% of it)`,
    goal: "(floor)",
    met: true,
  });
});

let scaleRows: Record<string, number>[] = [];
await part("scale", async () => {
  scaleRows = lastJson(await run(["run", "-A", `${HERE}memory.ts`, "--what=scale"])).rows;
});

const cpuModel = (() => {
  try {
    return /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "?";
  } catch {
    return "?";
  }
})();
console.log(
  `\n${
    new Date().toISOString().slice(0, 10)
  }, Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ` +
    `${navigator.hardwareConcurrency} vCPUs (${cpuModel}), ${
      fmt(Deno.systemMemoryInfo().total / 2 ** 30, 0)
    } GiB\n`,
);
console.log("| figure | value | baseline (same run) | ratio | goal | met |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const met = r.met === undefined ? "" : r.met === "not judged" ? r.met : r.met ? "yes" : "**no**";
  console.log(`| ${r.figure} | ${r.value} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${met} |`);
}
if (scaleRows.length) {
  console.log("\n| TS processes | RSS | per process | start each | TS RTT | bare Worker RTT |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const s of scaleRows) {
    console.log(
      `| ${s.processes} | ${s.rssMb} MB | ${fmt(s.perProcessMb)} MB | ${fmt(s.startMs)} ms | ${
        fmt(s.rttUs)
      } us | ${fmt(s.baselineUs)} us |`,
    );
  }
}
console.log("");
for (const n of notes) console.log(`- ${n}`);
for (const l of loads) console.log(`- ${l}`);
