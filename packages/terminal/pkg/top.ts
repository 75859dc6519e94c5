// top:terminal:sys: the kernel's processes (KernelPrint ProcessMap / Process), in
// Hyperdrive's format, each with one more line beyond Hyperdrive: messages waiting,
// received and sent, p50/p99 handling time over the last minute and the Worker's heap,
// with how many processes share it when they do (hyperdeno's KernelPrint ProcessStats).
// `top --watch` shows them as a table refreshed every second in place (the console's
// live panel; Esc stops it).
import { printToTerminal } from "hyperware:process/standard@1.0.0";
import { ask, dec, enc, script } from "./lib/script.ts";

export const init = script(main, afterAnswer);

const USAGE =
  "\x1b[1mUsage:\x1b[0m\n    \ntop [-c <show-caps>] <- to view all processes\n    \ntop <process_id> [-c <show-caps>] <- to view one process\n    \ntop --watch [<secs>] <- to watch all processes, refreshed in place (Esc stops it)";
/** What marks a print as a frame of the console's live panel (console/README.md). */
const LIVE = "\x1b]hyperdeno;live\x07";
/** A watch ends by itself after this long (so none outlives everyone's interest). */
const WATCH_MAX_MS = 60 * 60 * 1000;

interface Proc {
  wasm_bytes_handle: string;
  wit_version: number | null;
  on_exit: unknown;
  capabilities: { issuer: string; params: string }[];
  public: boolean;
}
interface Stats {
  queued: number;
  received: number;
  sent: number;
  last_minute: { handled: number; p50_ms: number | null; p99_ms: number | null };
  heap_used: number | null;
  external: number | null;
  /** processes sharing its Worker (so the heap); null or absent: a Worker of its own */
  worker_processes?: number | null;
}

let node = "";

function kernel(command: unknown): unknown {
  const a = ask(node, "kernel:distro:sys", enc.encode(JSON.stringify(command)), 60);
  if (!("body" in a)) return undefined;
  try {
    return JSON.parse(dec.decode(a.body));
  } catch {
    return null;
  }
}

function processStats(): Record<string, Stats> {
  const r = kernel({ Debug: "ProcessStats" }) as {
    Debug?: { ProcessStats?: Record<string, Stats> };
  };
  return r?.Debug?.ProcessStats ?? {};
}

// --- Rust's Debug of process_lib's OnExit, for "on-exit:"

const dbgStr = (s: string) => JSON.stringify(s);
function dbgAddress(a: string): string {
  const [n, p = ""] = a.split("@");
  const [x = "", y = "", z = ""] = p.split(":");
  return `Address { node: ${dbgStr(n)}, process: ProcessId { process_name: ${
    dbgStr(x)
  }, package_name: ${dbgStr(y)}, publisher_node: ${dbgStr(z)} } }`;
}
const dbgBytes = (b: unknown) => `[${Array.isArray(b) ? b.join(", ") : ""}]`;
const dbgOpt = (v: unknown, f: (v: never) => string) =>
  v === null || v === undefined ? "None" : `Some(${f(v as never)})`;
function dbgOnExit(o: unknown): string {
  if (o === "None" || o === "Restart") return o;
  const reqs = (o as { Requests?: unknown[] })?.Requests;
  if (!Array.isArray(reqs)) return String(o);
  return `Requests([${
    reqs.map((item) => {
      const [addr, r, blob] = item as [
        string,
        Record<string, unknown>,
        Record<string, unknown> | null,
      ];
      const caps = (r.capabilities as [{ issuer: string; params: string }, number[]][]).map((
        [c, sig],
      ) =>
        `(Capability { issuer: ${dbgAddress(c.issuer)}, params: ${dbgStr(c.params)} }, ${
          dbgBytes(sig)
        })`
      );
      return `(${dbgAddress(addr)}, Request { inherit: ${r.inherit}, expects_response: ${
        dbgOpt(r.expects_response, String)
      }, body: ${dbgBytes(r.body)}, metadata: ${dbgOpt(r.metadata, dbgStr)}, capabilities: [${
        caps.join(", ")
      }] }, ${
        dbgOpt(
          blob,
          (b: Record<string, unknown>) =>
            `LazyLoadBlob { mime: ${dbgOpt(b.mime, dbgStr)}, bytes: ${dbgBytes(b.bytes)} }`,
        )
      })`;
    }).join(", ")
  }])`;
}

// --- figures

function ms(v: number | null): string {
  if (v === null) return "-";
  return v < 1 ? v.toFixed(3) : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}
function mib(v: number | null): string {
  return v === null ? "-" : `${(v / 1048576).toFixed(1)} MiB`;
}

function statsLine(s: Stats | undefined): string | undefined {
  if (!s) return undefined;
  const m = s.last_minute;
  const timing = m.handled > 0 ? `, p50 ${ms(m.p50_ms)} ms, p99 ${ms(m.p99_ms)} ms` : "";
  const shared = s.worker_processes ? ` of a Worker shared by ${s.worker_processes}` : "";
  const heap = s.heap_used === null
    ? ""
    : `; heap ${mib(s.heap_used)} (+${mib(s.external ?? 0)} external)${shared}`;
  return `messages: ${s.queued} waiting, ${s.received} in, ${s.sent} out; last minute: ${m.handled} handled${timing}${heap}`;
}

function capText(c: { issuer: string; params: string }): string {
  let params: string;
  try {
    params = JSON.stringify(sortKeys(JSON.parse(c.params)));
  } catch {
    params = '"invalid JSON in capability"';
  }
  return `${c.issuer}(${params})`;
}
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return v;
}

function block(id: string, p: Proc, showCaps: boolean, stats?: Stats): string {
  const extra = statsLine(stats);
  return `${id}:\r\n    ${
    p.wasm_bytes_handle === "" ? "(runtime)" : p.wasm_bytes_handle
  }\r\n    wit: ${p.wit_version ?? 0}\r\n    on-exit: ${
    dbgOnExit(p.on_exit)
  }\r\n    public: ${p.public}\r\n${extra ? `    ${extra}\r\n` : ""}    capabilities:\r\n        ${
    showCaps
      ? p.capabilities.map((c) => `${capText(c)}\r\n        `).join("")
      : `${p.capabilities.length}, use -c to display`
  }`;
}

// --- top --watch

function pad(s: string, n: number, left = false): string {
  if (s.length > n) s = s.slice(0, n - 1) + "…";
  return left ? s.padEnd(n) : s.padStart(n);
}

function frame(
  stats: Record<string, Stats>,
  rates: Map<string, [number, number]>,
  everyS: number,
): string {
  const ids = Object.keys(stats).sort((a, b) =>
    (rates.get(b)?.[0] ?? 0) - (rates.get(a)?.[0] ?? 0) ||
    stats[b].received - stats[a].received || a.localeCompare(b)
  );
  const time = new Date().toTimeString().slice(0, 8);
  const head =
    `top --watch  ${node}  ${ids.length} processes  ${time}  every ${everyS} s  (Esc stops)`;
  const cols = `${pad("PROCESS", 34, true)}${pad("WAIT", 6)}${pad("IN/s", 9)}${pad("OUT/s", 9)}${
    pad("IN", 10)
  }${pad("OUT", 10)}${pad("P50 ms", 9)}${pad("P99 ms", 9)}${pad("HEAP", 11)}`;
  const rows = ids.map((id) => {
    const s = stats[id];
    const [i, o] = rates.get(id) ?? [0, 0];
    return `${pad(id, 34, true)}${pad(String(s.queued), 6)}${pad(i.toFixed(1), 9)}${
      pad(o.toFixed(1), 9)
    }${pad(String(s.received), 10)}${pad(String(s.sent), 10)}${pad(ms(s.last_minute.p50_ms), 9)}${
      pad(ms(s.last_minute.p99_ms), 9)
    }${pad(heapCell(s), 11)}`;
  });
  return [head, `\x1b[7m${cols}\x1b[0m`, ...rows].join("\n");
}

/** The heap column: a shared Worker's heap with how many share it ("9.1 MiB/4"). */
function heapCell(s: Stats): string {
  const heap = mib(s.heap_used);
  return s.heap_used !== null && s.worker_processes ? `${heap}/${s.worker_processes}` : heap;
}

function sleep(msecs: number): boolean {
  const a = ask(
    node,
    "timer:distro:sys",
    enc.encode(JSON.stringify({ SetTimer: msecs })),
    msecs / 1000 + 5,
  );
  return "body" in a;
}

function watch(everyS: number) {
  const start = Date.now();
  let last: { at: number; stats: Record<string, Stats> } | undefined;
  while (Date.now() - start < WATCH_MAX_MS) {
    const stats = processStats();
    const now = Date.now();
    const rates = new Map<string, [number, number]>();
    if (last) {
      const dt = (now - last.at) / 1000;
      for (const [id, s] of Object.entries(stats)) {
        const before = last.stats[id];
        if (before && dt > 0) {
          rates.set(id, [
            Math.max(0, s.received - before.received) / dt,
            Math.max(0, s.sent - before.sent) / dt,
          ]);
        }
      }
    }
    last = { at: now, stats };
    printToTerminal(0, LIVE + frame(stats, rates, everyS));
    if (!sleep(everyS * 1000)) return;
  }
}

// --- arguments, as clap reads `top [target] [-c]`

interface Args {
  target?: string;
  showCaps: boolean;
  watch?: number;
}

function parse(args: string): Args | undefined {
  const tokens = args.split(/\s+/).filter((t) => t !== "");
  const out: Args = { showCaps: false };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "-c" || t === "--show-caps") out.showCaps = true;
    else if (t === "-w" || t === "--watch") {
      out.watch = 1;
      const n = tokens[i + 1];
      if (n !== undefined && /^[0-9]+(\.[0-9]+)?$/.test(n)) {
        out.watch = Math.max(0.2, Number(n));
        i++;
      }
    } else if (t.startsWith("-")) return undefined;
    else if (out.target === undefined) out.target = t;
    else return undefined;
  }
  return out;
}

function main(our: string, args: string): string {
  node = our.split("@")[0];
  const a = parse(args);
  if (!a) return `Failed to parse args.\n${USAGE}`;
  if (a.watch !== undefined) {
    if (a.target !== undefined) return `Failed to parse args.\n${USAGE}`;
    watchEvery = a.watch;
    return "";
  }
  if (a.target !== undefined && !/^[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-.]+$/.test(a.target)) {
    return `invalid process id: Invalid character\n${USAGE}`;
  }
  const r = kernel(
    a.target === undefined ? { Debug: "ProcessMap" } : { Debug: { Process: a.target } },
  );
  if (r === undefined) return "Failed to get response from kernel";
  const d = (r as { Debug?: { ProcessMap?: Record<string, Proc>; Process?: Proc | null } })?.Debug;
  if (!d || (!("ProcessMap" in d) && !("Process" in d))) return "Failed to parse kernel response";
  const stats = processStats();
  if (d.ProcessMap) {
    const ids = Object.keys(d.ProcessMap).sort();
    const printout = ids.map((id) => block(id, d.ProcessMap![id], a.showCaps, stats[id])).join(
      "\r\n",
    );
    return `\r\n${printout}\r\n\r\ntop: ${ids.length} running processes`;
  }
  if (!d.Process) return `process ${a.target} not running`;
  return block(a.target!, d.Process, a.showCaps, stats[a.target!]);
}

/** Set by `top --watch`: once answered (with nothing), frames follow until the script ends. */
let watchEvery: number | undefined;

function afterAnswer() {
  if (watchEvery !== undefined) watch(watchEvery);
}
