// One open sqlite database, as the module sees it: a FIFO of requests served one at a
// time by the database's Worker (worker.ts), each under the module's time limit.
//
// Past the limit the request is answered with an error at once and its Worker is given
// up: its STATE becomes ABANDONED (a query stops at its next row; a Write or a
// transaction rolls back before its next statement or COMMIT) and it closes its
// connection once the request returns. A step SQLite cannot leave (an endless
// aggregate) keeps that Worker's thread until it returns (node:sqlite has no interrupt,
// and terminating a Worker does not stop native code); the connection then closes,
// rolling back whatever it had not committed. The database gets a fresh Worker and
// connection for the next request, so it stays usable.

import { receiveMessageOnPort } from "node:worker_threads";
import {
  ABANDONED,
  CH_STATE,
  CH_WHO,
  type ChannelOpen,
  CTL_SEQ,
  decodeReply,
  encodeJob,
  FRAME_BYTES,
  IDLE,
  INFO_BYTES,
  INFO_ID,
  INFO_LAST,
  INFO_SINCE,
  type Job,
  REP_LEN,
  REP_SEQ,
  REPLIED,
  type Reply,
  REQ_LEN,
  REQ_SEQ,
  RUNNING,
  SIGNAL_WORDS,
  STATE,
  STOP,
  type WorkerError,
  type WorkerEvent,
  type WorkerInit,
} from "./protocol.ts";
import { SqliteFailure } from "../../wire/sqlite.ts";
import type { ByteBudget } from "../shared/db.ts";
import type { Address } from "../../wire/core.ts";
import {
  closeModuleChannel,
  moduleChannelClosed,
  type ModuleChannelEnd,
  type ModuleRoute,
  ringBell,
  WAKE_BYTES,
  wallClock,
} from "../../kernel/module.ts";

export type { Job } from "./protocol.ts";

const WORKER_URL = new URL("./worker.ts", import.meta.url);
/** Module channels a db Worker keeps records of before it forgets closed ones. */
const MAX_CHANNEL_RECORDS = 256;
/** Starting a db's Worker and opening its file, apart from the request's own limit. */
export const DB_OPEN_TIMEOUT_MS = 10_000;

/** The answer to a request given up on past the time limit of `ms`. */
export function interrupted(ms: number): SqliteFailure {
  return new SqliteFailure({
    RusqliteError: `interrupted: past sqlite's time limit of ${ms} ms; ` +
      "the statement was stopped and its transaction rolled back",
  });
}

/** A module channel to serve: its end, what it takes, the rights checked, whom a runaway blames. */
export interface ChannelGrant {
  end: ModuleChannelEnd;
  route: ModuleRoute;
  read: boolean;
  write: boolean;
  blame: string;
}

/** What the module gives each host. */
export interface HostEnv {
  timeoutMs: number;
  budget: ByteBudget;
  /** a Worker given up on for `blame` (a package) still runs: +1, then -1 when it ends */
  runaway(blame: string, delta: 1 | -1): void;
  /** every Worker not yet ended, for shutdown */
  workers: Set<EndableWorker>;
  /** prints at verbosity 1 (a channel request's error) */
  print(text: string): void;
  /** what module-channel requests are held to */
  maxParamsBytes: number;
  maxResultBytes: number;
}

interface Pending {
  job: Job;
  blame: string;
  resolve: (blob: Uint8Array | undefined) => void;
  reject: (e: Error) => void;
}

function toError(e: WorkerError): Error {
  return "failure" in e ? new SqliteFailure(e.failure) : new Error(e.message);
}

type NodePort = Parameters<typeof receiveMessageOnPort>[0];

/**
 * Why a request in flight ended without its reply; "retry": the Worker was given up on
 * before it took the request, which goes to the next one.
 */
type Interrupt = "died" | "timeout" | "stop" | "retry";

/** What shutdown needs of a db Worker. */
export interface EndableWorker {
  /** resolves when the Worker has ended */
  readonly gone: Promise<void>;
  /** closes the connection once idle, which ends the Worker */
  close(): void;
  terminate(): void;
}

/** A Worker holding one connection to the database file (the channel: protocol.ts). */
class DbWorker implements EndableWorker {
  readonly worker: Worker;
  readonly gone: Promise<void>;
  #gone!: () => void;
  readonly signal = new Int32Array(new SharedArrayBuffer(SIGNAL_WORDS * 4));
  readonly data = new Uint8Array(new SharedArrayBuffer(FRAME_BYTES));
  readonly port: MessagePort;
  /** the Worker parks on this bell (module_channel.ts): the module's requests ring it too */
  readonly wake = new Int32Array(new SharedArrayBuffer(WAKE_BYTES));
  readonly info = new SharedArrayBuffer(INFO_BYTES);
  readonly #infoF = new Float64Array(this.info);
  readonly #infoId = new BigUint64Array(this.info);
  readonly #ctl: MessagePort;
  /** module channels it serves, by id: their process and request ring */
  readonly #channels = new Map<
    number,
    { process: Address; ring: SharedArrayBuffer; blame: string }
  >();
  #nextChannel = 1;
  /** resolves once the connection is open; rejects if it could not be */
  readonly opened: Promise<void>;
  #openDone!: (error?: WorkerError) => void;
  /** settles what the host waits for: the open, or the request in flight */
  #settle?: (r: Reply | Interrupt | "open") => void;
  #abandoned?: string;
  #ended = false;
  /** the connection is open (opened resolved) */
  isOpen = false;

  constructor(file: string, private readonly env: HostEnv, name: string) {
    this.worker = new Worker(WORKER_URL, { type: "module", name });
    this.gone = new Promise((resolve) => this.#gone = resolve);
    env.workers.add(this);
    this.opened = new Promise((resolve, reject) => {
      this.#openDone = (error) => error ? reject(toError(error)) : resolve();
    });
    this.opened.catch(() => this.terminate());
    this.worker.onmessage = (e: MessageEvent<WorkerEvent>) => {
      const ev = e.data;
      if ("opened" in ev) {
        this.isOpen = true;
        this.#openDone();
      } else if ("openError" in ev) this.#openDone(ev.openError);
      else if ("failed" in ev) env.print(`sqlite: ${ev.failed}`);
      else this.terminate();
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.#openDone({ message: e.message });
      this.terminate();
    };
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const ctl = new MessageChannel();
    this.#ctl = ctl.port1;
    Atomics.store(this.signal, CH_STATE, IDLE);
    this.#infoF[INFO_LAST] = wallClock();
    const init: WorkerInit = {
      file,
      signal: this.signal.buffer,
      data: this.data.buffer as SharedArrayBuffer,
      port: port2,
      held: env.budget.shared.buffer as SharedArrayBuffer,
      heldLimit: env.budget.limit,
      wake: this.wake.buffer,
      info: this.info,
      ctl: ctl.port2,
      maxParamsBytes: env.maxParamsBytes,
      maxResultBytes: env.maxResultBytes,
    };
    this.worker.postMessage(init, [port2, ctl.port2]);
  }

  /** Whether the Worker is gone (closed, crashed or terminated). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Sends one job; resolves with the reply, "died" if the Worker ended first, or
   * whatever interrupt() was given. One promise per request and no timer of its
   * own (the host keeps one, see DbHost): a select's whole path here used to cost
   * the kernel's thread ~45 us, much of it in per-request promises and timers.
   */
  send(job: Job): Promise<Reply | Interrupt> {
    // the Worker is idle (one request at a time): the frame goes straight into its buffer
    const frame = encodeJob(job, this.data);
    const seen = Atomics.load(this.signal, REP_SEQ);
    Atomics.store(this.signal, STATE, RUNNING);
    if (typeof frame === "number") {
      Atomics.store(this.signal, REQ_LEN, frame);
    } else {
      this.port.postMessage(frame.buffer, [frame.buffer]);
      Atomics.store(this.signal, REQ_LEN, -1);
    }
    Atomics.add(this.signal, REQ_SEQ, 1);
    ringBell(this.wake);
    if (this.#ended) return Promise.resolve("died");
    return new Promise((resolve) => {
      const settle = (r: Reply | Interrupt | "open") => {
        if (this.#settle !== settle) return;
        this.#settle = undefined;
        resolve(r as Reply | Interrupt);
      };
      this.#settle = settle;
      this.#awaitReply(seen, settle);
    });
  }

  /** Resolves "open" once the connection is open, else why not (opened has the error). */
  waitOpen(): Promise<"open" | Interrupt> {
    if (this.isOpen) return Promise.resolve("open");
    if (this.#ended) return Promise.resolve("died");
    return new Promise((resolve) => {
      const settle = (r: Reply | Interrupt | "open") => {
        if (this.#settle !== settle) return;
        this.#settle = undefined;
        resolve(r as "open" | Interrupt);
      };
      this.#settle = settle;
      this.opened.then(() => settle("open"), () => settle("died"));
    });
  }

  #awaitReply(seen: number, settle: (r: Reply | Interrupt | "open") => void) {
    if (this.#settle !== settle) return;
    if (Atomics.load(this.signal, REP_SEQ) !== seen) {
      settle(this.#takeReply());
      return;
    }
    const w = Atomics.waitAsync(this.signal, REP_SEQ, seen);
    if (w.async) w.value.then(() => this.#awaitReply(seen, settle));
    else this.#awaitReply(seen, settle);
  }

  /** Settles the open or request in flight with `why` (a time-out or shutdown). */
  interrupt(why: Interrupt): void {
    this.#settle?.(why);
  }

  #takeReply(): Reply {
    const len = Atomics.load(this.signal, REP_LEN);
    if (len >= 0) return decodeReply(this.data.subarray(0, len));
    const m = receiveMessageOnPort(this.port as unknown as NodePort);
    return decodeReply(new Uint8Array(m!.message as ArrayBuffer));
  }

  /**
   * Gives up on the request in flight, unless its reply is in already (then that is
   * returned). Given up, the Worker stops at its next check, closes its connection and
   * ends; until then it counts as a runaway of `blame`.
   */
  abandon(blame: string): Reply | undefined {
    this.#settle = undefined;
    if (Atomics.compareExchange(this.signal, STATE, RUNNING, ABANDONED) === REPLIED) {
      return this.#takeReply();
    }
    this.#giveUp(blame);
    return undefined;
  }

  #giveUp(blame: string) {
    this.closeChannels();
    if (this.#abandoned !== undefined) return;
    this.#abandoned = blame;
    this.env.runaway(blame, 1);
  }

  /**
   * Serves a module channel of `end.process` with the rights checked; the channel's
   * request ring (closed when this Worker goes), or undefined when it is not open.
   */
  openChannel(g: ChannelGrant): SharedArrayBuffer | undefined {
    const { end, route, read, write, blame } = g;
    if (this.#ended || !this.isOpen || this.#abandoned !== undefined) {
      closeModuleChannel(end.ring, this.wake.buffer);
      return undefined;
    }
    const id = this.#nextChannel++;
    if (this.#channels.size >= MAX_CHANNEL_RECORDS) {
      // closed ones are done with, unless one's request runs now (reopened often: rare)
      const running = Atomics.load(this.signal, CH_WHO);
      for (const [k, ch] of this.#channels) {
        if (k !== running && moduleChannelClosed(ch.ring)) this.#channels.delete(k);
      }
    }
    this.#channels.set(id, { process: end.process, ring: end.ring, blame });
    const open: ChannelOpen = { id, end, route, read, write };
    this.#ctl.postMessage(open, [end.port]);
    Atomics.add(this.signal, CTL_SEQ, 1);
    ringBell(this.wake);
    return end.ring;
  }

  /**
   * Closes every module channel (the Worker runs and answers what is already in them;
   * their records stay, so a request of theirs running past its limit is still answered).
   */
  closeChannels(): void {
    for (const ch of this.#channels.values()) closeModuleChannel(ch.ring, this.wake.buffer);
  }

  get hasChannels(): boolean {
    return this.#channels.size > 0;
  }

  /** When the Worker last finished a request (wallClock()). */
  get lastWork(): number {
    return this.#infoF[INFO_LAST];
  }

  /**
   * Gives up on the channel request running, if it has run over `ms`: the Worker is
   * then given up on as abandon() does, and the request's process and id returned for
   * the module to answer.
   */
  expireChannelRequest(now: number, ms: number): { process: Address; id: bigint } | undefined {
    if (Atomics.load(this.signal, CH_STATE) !== RUNNING) return undefined;
    if (now - this.#infoF[INFO_SINCE] < ms) return undefined;
    if (Atomics.compareExchange(this.signal, CH_STATE, RUNNING, ABANDONED) !== RUNNING) {
      return undefined;
    }
    // read after the exchange: the Worker sets these before each request's RUNNING, and
    // cannot start another now (in the rare case the one read above ended just before,
    // the one given up on is the one that followed it)
    const id = this.#infoId[INFO_ID];
    const ch = this.#channels.get(Atomics.load(this.signal, CH_WHO));
    this.#giveUp(ch?.blame ?? "a closed channel");
    if (!ch) return undefined;
    // the module's request waiting behind it goes to the next Worker
    this.#settle?.("retry");
    return { process: ch.process, id };
  }

  /** Closes the connection once the Worker is idle, which ends it. */
  close(): void {
    if (this.#ended) return;
    this.closeChannels();
    Atomics.store(this.signal, STOP, 1);
    ringBell(this.wake);
  }

  terminate(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.env.workers.delete(this);
    // terminate() does not wake a Worker parked in Atomics.wait: stop it first
    this.closeChannels();
    Atomics.store(this.signal, STOP, 1);
    ringBell(this.wake);
    this.worker.terminate();
    this.port.close();
    this.#ctl.close();
    this.#settle?.("died");
    if (this.#abandoned !== undefined) this.env.runaway(this.#abandoned, -1);
    this.#gone();
  }
}

/** An open database: its request queue and current Worker. */
export class DbHost {
  #worker?: DbWorker;
  #queue: Pending[] = [];
  #busy = false;
  #stopped = false;
  #retired = false;
  #onClosed?: () => void;
  /** wallClock() of the last module request's end */
  #lastUsed = wallClock();
  /**
   * The request in flight: its Worker and when its time is up. One timer per
   * host watches it, re-armed only when it fires early, instead of one timer
   * set and cleared per request.
   */
  #inFlight?: DbWorker;
  #deadline = 0;
  #timer?: ReturnType<typeof setTimeout>;
  /** when #timer fires */
  #timerAt = 0;

  constructor(
    readonly file: string,
    readonly name: string,
    private readonly env: HostEnv,
  ) {}

  get idle(): boolean {
    return !this.#busy && this.#queue.length === 0;
  }

  /** When a request last ended here, through the module or a channel (wallClock()). */
  get lastUsed(): number {
    const w = this.#worker;
    return w && w.lastWork > this.#lastUsed ? w.lastWork : this.#lastUsed;
  }

  /**
   * Has the current Worker serve a module channel (see DbWorker.openChannel); undefined
   * when it has no open connection now.
   */
  openChannel(g: ChannelGrant): SharedArrayBuffer | undefined {
    const w = this.#worker;
    if (!w || w.ended || this.#stopped || this.#retired) {
      closeModuleChannel(g.end.ring, new SharedArrayBuffer(WAKE_BYTES));
      return undefined;
    }
    return w.openChannel(g);
  }

  /** The current Worker's bell, when its connection is open (a channel's reader wakes by it). */
  get wake(): SharedArrayBuffer | undefined {
    const w = this.#worker;
    return w && !w.ended && w.isOpen ? w.wake.buffer : undefined;
  }

  /** Closes every module channel of the current Worker. */
  closeChannels(): void {
    this.#worker?.closeChannels();
  }

  /**
   * The channel request running past the time limit, if any: given up on (its Worker
   * too, as for the module's own requests); the module answers it.
   */
  expireChannelRequest(now: number): { process: Address; id: bigint } | undefined {
    const w = this.#worker;
    if (!w?.hasChannels) return undefined;
    const expired = w.expireChannelRequest(now, this.env.timeoutMs);
    if (expired && this.#worker === w) this.#worker = undefined;
    return expired;
  }

  /** Runs `job` after the requests before it; `blame` is the package a time-out is charged to. */
  run(job: Job, blame: string): Promise<Uint8Array | undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, blame, resolve, reject });
      this.#pump();
    });
  }

  /** No more requests: the Worker closes once the queued ones are done, then `closed()`. */
  retire(closed: () => void): void {
    this.#retired = true;
    this.#onClosed = closed;
    if (this.idle) this.#closeWorker();
  }

  /** At shutdown: the request in flight and queued ones fail; the Worker is closing. */
  stop(): void {
    this.#retired = true;
    this.#stopped = true;
    for (const p of this.#queue.splice(0)) p.reject(new Error("sqlite is shutting down"));
    this.#inFlight?.interrupt("stop");
    this.#clearTimer();
    this.#worker?.close();
    this.#worker = undefined;
  }

  #closeWorker() {
    this.#clearTimer();
    this.#worker?.close();
    this.#worker = undefined;
    this.#onClosed?.();
  }

  #clearTimer() {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** What `worker` is doing ends with "timeout" after `ms`, unless it ends first. */
  #watch(worker: DbWorker, ms: number) {
    this.#inFlight = worker;
    this.#deadline = performance.now() + ms;
    // a timer that fires by then can stay: it re-arms itself for the rest
    if (this.#timer !== undefined && this.#timerAt <= this.#deadline) return;
    this.#arm(ms);
  }

  #arm(ms: number) {
    this.#clearTimer();
    this.#timerAt = this.#deadline;
    this.#timer = setTimeout(this.#check, ms);
  }

  #check = () => {
    this.#timer = undefined;
    const worker = this.#inFlight;
    if (!worker) return;
    const left = this.#deadline - performance.now();
    if (left > 0) this.#arm(left);
    else worker.interrupt("timeout");
  };

  async #pump(): Promise<void> {
    if (this.#busy) return;
    const p = this.#queue.shift();
    if (!p) {
      if (this.#retired) this.#closeWorker();
      return;
    }
    this.#busy = true;
    if (this.#worker?.ended) this.#worker = undefined;
    const worker = this.#worker ??= new DbWorker(this.file, this.env, this.name);
    try {
      if (!worker.isOpen) {
        // starting a Worker and opening the file is not the request's time: its own limit
        this.#watch(worker, DB_OPEN_TIMEOUT_MS);
        const opened = await worker.waitOpen();
        if (opened === "stop") throw new Error("sqlite is shutting down");
        if (opened === "timeout") {
          worker.terminate();
          throw new SqliteFailure({
            RusqliteError: `database is locked: opening it took over ${DB_OPEN_TIMEOUT_MS} ms`,
          });
        }
        if (opened === "died") {
          await worker.opened; // throws the open error
          throw new Error("the database's Worker ended unexpectedly");
        }
      }
      if (this.#stopped) throw new Error("sqlite is shutting down");
      this.#watch(worker, this.env.timeoutMs);
      const sent = await worker.send(p.job);
      if (sent === "retry") {
        this.#queue.unshift(p);
        return;
      }
      if (sent === "stop") throw new Error("sqlite is shutting down");
      if (sent === "died") throw new Error("the database's Worker ended unexpectedly");
      const r = sent === "timeout" ? worker.abandon(p.blame) : sent;
      if (!r) {
        if (this.#worker === worker) this.#worker = undefined;
        throw interrupted(this.env.timeoutMs);
      }
      if (r.ok) {
        if (r.held) this.env.budget.give(r.held);
        p.resolve(r.blob);
      } else {
        p.reject(toError(r.error));
      }
    } catch (e) {
      // a time-out, or the Worker failed to open the database or died
      if (worker.ended && this.#worker === worker) this.#worker = undefined;
      p.reject(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.#inFlight = undefined;
      this.#busy = false;
      this.#lastUsed = wallClock();
      if (this.#queue[0] === p) this.#pump(); // "retry": the return above skips the line below
    }
    this.#pump();
  }
}
