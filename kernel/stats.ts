// Per-process message statistics, as `top` shows them (beyond Hyperdrive, which
// keeps none): messages waiting, received and sent, how long handling took over
// the last minute (p50/p99), and a Worker's heap.
//
// Latency is measured, per message, from when it reached the process's inbox
// (a Worker's: the kernel's or a peer's post; a module's: its mailbox drain) to
// when the process was done with it (a Worker asking for its next message; a
// module's handler returning or its promise settling). Each sample goes into a
// histogram of 8 bins per doubling (values within ~4.5%), kept per 5 s slot;
// percentiles merge the slots of the last minute. A Worker writes its counters
// into shared memory (one writer, no locks), which the kernel thread reads.

/** How long one histogram slot covers. */
export const SLOT_MS = 5_000;
/** Slots summed for "the last minute": the current one and the 11 before it. */
export const WINDOW_SLOTS = 12;
const SLOTS = WINDOW_SLOTS + 1;
/** Bins per doubling of the latency. */
const PER_OCTAVE = 8;
/** Bin 0 holds <= 1 µs; the last bin everything from 2^28 µs (~4.5 min) up. */
const BINS = PER_OCTAVE * 28;
const SLOT_INTS = 1 + BINS; // [epoch, ...bins]

/** Float64 counters at the start of a Worker's stats buffer. */
export const STAT_RECEIVED = 0;
export const STAT_SENT = 1;
export const STAT_QUEUED = 2;
export const STAT_HEAP_USED = 3;
export const STAT_EXTERNAL = 4;
export const STAT_MEMORY_AT = 5;
const COUNTERS = 8;
const HIST_OFFSET = COUNTERS * 8;

/** Bytes of one Worker's stats buffer. */
export const STATS_BYTES = HIST_OFFSET + SLOTS * SLOT_INTS * 4;

/** What the last minute of samples says. */
export interface LatencySummary {
  /** messages handled in the window */
  count: number;
  /** median handling time, ms (undefined without samples) */
  p50?: number;
  /** 99th percentile, ms */
  p99?: number;
}

/** A histogram of handling times per 5 s slot, in plain or shared memory. */
export class LatencyWindow {
  readonly data: Int32Array;

  constructor(data?: Int32Array) {
    this.data = data ?? new Int32Array(SLOTS * SLOT_INTS);
  }

  /** Records one message that took `ms`, finished at `now` (ms on any steady clock). */
  record(ms: number, now: number): void {
    const epoch = Math.floor(now / SLOT_MS);
    const base = (epoch % SLOTS) * SLOT_INTS;
    const d = this.data;
    if (d[base] !== (epoch | 0)) {
      d.fill(0, base + 1, base + SLOT_INTS);
      d[base] = epoch;
    }
    const us = ms * 1000;
    const bin = us <= 1 ? 0 : Math.min(BINS - 1, Math.floor(Math.log2(us) * PER_OCTAVE));
    d[base + 1 + bin]++;
  }

  /** p50 and p99 over the slots of the last minute, as of `now`. */
  summary(now: number): LatencySummary {
    const epoch = Math.floor(now / SLOT_MS);
    const merged = new Float64Array(BINS);
    let count = 0;
    const d = this.data;
    for (let s = 0; s < SLOTS; s++) {
      const base = s * SLOT_INTS;
      const e = d[base];
      if (e > epoch || e <= epoch - WINDOW_SLOTS || e === 0) continue;
      for (let b = 0; b < BINS; b++) {
        const n = d[base + 1 + b];
        if (n) {
          merged[b] += n;
          count += n;
        }
      }
    }
    if (count === 0) return { count };
    return { count, p50: quantile(merged, count, 0.5), p99: quantile(merged, count, 0.99) };
  }
}

/** The bin holding the q-th sample, as the geometric middle of its range, in ms. */
function quantile(bins: Float64Array, count: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (let b = 0; b < bins.length; b++) {
    seen += bins[b];
    if (seen >= rank) return b === 0 ? 0.001 : 2 ** ((b + 0.5) / PER_OCTAVE) / 1000;
  }
  return 2 ** (BINS / PER_OCTAVE) / 1000;
}

/** A Worker's stats buffer: counters (Float64) then its latency slots. */
export class WorkerStats {
  readonly counters: Float64Array;
  readonly latency: LatencyWindow;

  constructor(readonly sab: SharedArrayBuffer) {
    this.counters = new Float64Array(sab, 0, COUNTERS);
    this.latency = new LatencyWindow(new Int32Array(sab, HIST_OFFSET, SLOTS * SLOT_INTS));
  }

  static create(): WorkerStats {
    return new WorkerStats(new SharedArrayBuffer(STATS_BYTES));
  }
}

/** One process's figures, as the kernel reports them (wire/kernel.ts ProcessStats). */
export interface ProcessStatsSnapshot {
  /** "process" (a Worker) or "runtime" (a runtime module) */
  kind: "process" | "runtime";
  running: boolean;
  /** messages delivered but not yet taken by the process (a module: not yet handled) */
  queued: number;
  /** messages received since it started */
  received: number;
  /** messages it sent since it started */
  sent: number;
  latency: LatencySummary;
  /** the Worker's V8 heap in use, bytes (Workers only, as last sampled) */
  heapUsed?: number;
  /** memory outside the heap (ArrayBuffers, Wasm memories), bytes */
  external?: number;
  /** processes in the Worker when it shares one (the heap is all of theirs) */
  workerProcesses?: number;
}
