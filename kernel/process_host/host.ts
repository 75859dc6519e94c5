// The kernel side of one running process: its Worker and the channel into
// it. (Request timeouts live in the worker, which waits with a deadline.)

import type {
  ChannelControl,
  FromWorker,
  Incoming,
  KernelCall,
  OutgoingMessage,
  Program,
  ToWorker,
  WorkerInit,
} from "./protocol.ts";
import {
  DELIVERED,
  DOORBELL,
  PARKED,
  processWorker,
  RING_BYTES,
  SIGNAL_BYTES,
  TAKEN,
  toWire,
  wallClock,
} from "./protocol.ts";
import { decodeSends, encodeDelivery, Reader, Writer } from "./codec.ts";
import { Ring, RING_FLAG, RING_PORT_COUNT } from "./ring.ts";
import type { SharedWorkers, SharedWorkerSeat } from "./shared_workers.ts";
import type { Address, OnExit } from "../../wire/core.ts";
import {
  type ProcessStatsSnapshot,
  STAT_EXTERNAL,
  STAT_HEAP_USED,
  STAT_QUEUED,
  STAT_RECEIVED,
  STAT_SENT,
  WorkerStats,
} from "../stats.ts";

export interface ProcessHostHooks {
  /** Messages the process sent (source not yet stamped). */
  send(host: ProcessHost, msgs: OutgoingMessage[]): void;
  print(host: ProcessHost, verbosity: number, text: string): void;
  call(host: ProcessHost, call: KernelCall): Promise<unknown>;
  /** The process ended: init returned, trapped or threw (`error` says which). */
  exited(host: ProcessHost, error?: string): void;
}

/** One encoder for every host: the kernel thread encodes one message at a time. */
const writer = new Writer();

export class ProcessHost {
  private worker?: Worker;
  /** its place in a shared Worker, when it has one (a component built to suspend) */
  private seat?: SharedWorkerSeat;
  private readonly port: MessagePort;
  private readonly workerPort: MessagePort;
  /** [0]: bumped on every post (the worker waits on it); [1]: set to stop the worker; [PARKED] ... */
  private readonly signal = new SharedArrayBuffer(SIGNAL_BYTES);
  private readonly signalView = new Int32Array(this.signal);
  private preRun: { item: ToWorker; transfer: Transferable[] }[] = [];
  /** kernel -> worker fast path, and its item counter (shared with the port) */
  private readonly toRing = Ring.create(RING_BYTES);
  private toSeq = 0;
  /** worker -> kernel fast path; items from the port wait here until their turn */
  private readonly fromRing = Ring.create(RING_BYTES);
  private readonly fromReader = new Reader(this.fromRing.bytes);
  private fromSeq = 0;
  private readonly fromPort: { seq: number; m: FromWorker }[] = [];
  private ended = false;
  readonly startedAt = performance.now();
  /** what the worker counts for `top` */
  private readonly stats = WorkerStats.create();

  constructor(
    readonly our: Address,
    private readonly program: Program,
    private onExit: OnExit,
    private readonly hooks: ProcessHostHooks,
    private readonly tmpDir?: string,
    /** where components built to suspend find a Worker to share */
    private readonly sharing?: SharedWorkers,
  ) {
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.workerPort = channel.port2;
  }

  get running(): boolean {
    return this.worker !== undefined && !this.ended;
  }

  /** Starts the Worker and hands it anything that arrived before. */
  run(): void {
    if (this.worker || this.ended) return;
    const onmessage = (e: MessageEvent<typeof DOORBELL | { seq: number; m: FromWorker }>) => {
      if (e.data !== DOORBELL) this.fromPort.push(e.data);
      this.drain();
    };
    const init: WorkerInit = {
      t: "init",
      our: this.our,
      program: this.program,
      onExit: this.onExit,
      port: this.workerPort,
      signal: this.signal,
      toWorker: this.toRing.sab,
      fromWorker: this.fromRing.sab,
      stats: this.stats.sab,
      tmpDir: this.tmpDir,
    };
    // the worker rings the doorbell only when this flag is up
    Atomics.store(this.fromRing.ctl, RING_FLAG, 1);
    const program = this.program;
    if (this.sharing && program.kind === "component" && program.suspends) {
      // it answers on its own channel: the Worker's port is the Worker's. The Worker may
      // read every component's glue (the cache's folder, program.ts), so a package's
      // components all share it
      const seat = this.seat = this.sharing.seat(
        this.our.process.packageName,
        this.tmpDir,
        program.url ? [new URL("..", program.url).pathname] : [],
        { workerEnded: (error) => this.end(error) },
      );
      this.worker = seat.worker;
      this.port.onmessage = onmessage;
      seat.start(init, [this.workerPort]);
    } else {
      // its tmp drive, and a component's own glue (program.ts)
      const p = this.our.process;
      const worker = processWorker(
        `${p.processName}:${p.packageName}:${p.publisherNode}`,
        program.kind === "component" && program.url ? [new URL(program.url).pathname] : [],
        this.tmpDir,
      );
      this.worker = worker;
      worker.onmessage = onmessage;
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.end(`worker error: ${e.message}`);
      };
      worker.postMessage(init, [this.workerPort]);
    }
    const early = this.preRun;
    this.preRun = [];
    for (const { item, transfer } of early) this.post(item, transfer);
  }

  private post(item: ToWorker, transfer: Transferable[] = []) {
    if (!this.worker) {
      this.preRun.push({ item, transfer });
      return;
    }
    const seq = this.toSeq;
    this.toSeq = (seq + 1) >>> 0;
    const ring = this.toRing;
    if (
      !(item.t === "msg" && transfer.length === 0 && encodeDelivery(writer, item.km, item.at) &&
        writer.pos <= ring.maxPayload && ring.write(seq, writer.bytes))
    ) {
      // everything else (and what does not fit) keeps structured clone; the seq
      // lets the worker merge the port with the ring in the order posted
      const moved = [...transfer];
      this.port.postMessage({ seq, item: toWire(item, moved) }, moved);
      Atomics.add(ring.ctl, RING_PORT_COUNT, 1);
    }
    Atomics.add(this.signalView, 0, 1);
    if (Atomics.load(this.signalView, PARKED) !== 0) Atomics.notify(this.signalView, 0);
  }

  /** Delivers a message or send error to the process. */
  deliver(item: Incoming): void {
    if (this.ended) return;
    Atomics.add(this.signalView, DELIVERED, 1);
    this.post(
      item.t === "msg" ? { t: "msg", km: item.km, at: wallClock() } : { ...item, at: wallClock() },
    );
  }

  /**
   * Handles what the worker sent, in the order it sent it: ring records and
   * port items interleave by seq. Then raises the doorbell flag, so the
   * worker posts a doorbell for its next ring record; a record that slipped
   * in before the flag went up is drained here instead.
   */
  private drain() {
    const ring = this.fromRing;
    for (;;) {
      while (!this.ended) {
        const head = this.fromPort[0];
        if (head !== undefined && head.seq === this.fromSeq) {
          this.fromPort.shift();
          this.fromSeq = (this.fromSeq + 1) >>> 0;
          this.fromWorker(head.m);
          continue;
        }
        let msgs;
        try {
          const rec = ring.peek();
          if (rec === undefined || rec.seq !== this.fromSeq) break;
          msgs = decodeSends(this.fromReader.at(rec.offset, rec.length));
          ring.consume(rec.next);
        } catch (e) {
          // only a broken worker writes a bad record
          this.end(`worker wrote a malformed message: ${e instanceof Error ? e.message : e}`);
          return;
        }
        this.fromSeq = (this.fromSeq + 1) >>> 0;
        this.hooks.send(this, msgs);
      }
      if (this.ended) return;
      Atomics.store(ring.ctl, RING_FLAG, 1);
      let rec;
      try {
        rec = ring.peek();
      } catch {
        rec = undefined; // reported by the next drain
      }
      if (rec === undefined || rec.seq !== this.fromSeq) return;
      // lower the flag again ourselves; if the worker got there first, its doorbell is on the way
      if (Atomics.compareExchange(ring.ctl, RING_FLAG, 1, 0) !== 1) return;
    }
  }

  /** Opens or closes a direct channel end in the worker. */
  control(item: ChannelControl, transfer: Transferable[] = []): void {
    if (this.ended) return;
    this.post(item, transfer);
  }

  /** The process's figures for `top`, as of `now` (wallClock()). */
  statsSnapshot(now: number): ProcessStatsSnapshot {
    const c = this.stats.counters;
    const waiting = (Atomics.load(this.signalView, DELIVERED) -
      Atomics.load(this.signalView, TAKEN)) | 0;
    const heapUsed = c[STAT_HEAP_USED];
    return {
      kind: "process",
      running: this.running,
      queued: Math.max(0, waiting) + c[STAT_QUEUED],
      received: c[STAT_RECEIVED],
      sent: c[STAT_SENT],
      latency: this.stats.latency.summary(now),
      heapUsed: heapUsed > 0 ? heapUsed : undefined,
      external: heapUsed > 0 ? c[STAT_EXTERNAL] : undefined,
      workerProcesses: heapUsed > 0 && this.seat ? this.seat.processes : undefined,
    };
  }

  /** The counter the worker waits on: peers bump it after posting to a direct channel. */
  get signalBuffer(): SharedArrayBuffer {
    return this.signal;
  }

  setOnExit(onExit: OnExit) {
    this.onExit = onExit;
  }

  get currentOnExit(): OnExit {
    return this.onExit;
  }

  private fromWorker(m: FromWorker) {
    if (this.ended) return;
    switch (m.t) {
      case "send":
        this.hooks.send(this, m.msgs);
        break;
      case "print":
        this.hooks.print(this, m.verbosity, m.text);
        break;
      case "call":
        this.hooks.call(this, m.call).then(
          (value) => this.post({ t: "reply", callId: m.callId, ok: true, value }),
          (e) =>
            this.post({
              t: "reply",
              callId: m.callId,
              ok: false,
              value: e instanceof Error ? e.message : String(e),
            }),
        );
        break;
      case "started":
        break;
      case "exit":
        this.end(m.error);
        break;
    }
  }

  private end(error?: string) {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    this.hooks.exited(this, error);
  }

  private stop() {
    // terminate() does not wake a worker parked in Atomics.wait: raise the
    // stop flag and wake it, so it unwinds and the thread really ends
    Atomics.store(this.signalView, 1, 1);
    Atomics.add(this.signalView, 0, 1);
    Atomics.notify(this.signalView, 0);
    Atomics.notify(this.signalView, 1);
    // a shared Worker goes on: the process leaves it (or it is ended if it does not)
    if (this.seat) this.seat.stopped();
    else this.worker?.terminate();
    this.port.close();
  }

  /** Ends the process now, whatever it is doing (even a busy loop). No exit hook. */
  kill(): void {
    if (this.ended) return;
    this.ended = true;
    this.stop();
  }
}
