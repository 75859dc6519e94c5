// One open sqlite database, as the module sees it: a FIFO of requests served one at a
// time by the database's Worker (worker.ts), each under the module's time limit.
//
// Past the limit the request is answered with an error at once and its Worker is given
// up: its cancel flag is set (a query stops at its next rows, a transaction before its
// next statement and before COMMIT, rolling back) and it is told to close. A step
// SQLite cannot leave (an endless aggregate) keeps that Worker's thread until it
// returns; the connection then closes, rolling back whatever it had not committed. The
// database gets a fresh Worker and connection for the next request, so it stays usable.

import type { Statement, WorkerError, WorkerReply, WorkerRequest } from "./protocol.ts";
import { SqliteFailure } from "../../wire/sqlite.ts";
import type { ByteBudget } from "../shared/db.ts";

const WORKER_URL = new URL("./worker.ts", import.meta.url);
/** Starting a db's Worker and opening its file, apart from the request's own limit. */
export const DB_OPEN_TIMEOUT_MS = 10_000;

/** What a request sends to the Worker (ids are the host's). */
export type Job =
  | { op: "query"; sql: string; params?: Uint8Array; maxBytes: number }
  | { op: "write"; sql: string; params?: Uint8Array }
  | { op: "params"; params?: Uint8Array }
  | { op: "commit"; statements: Statement[] };

/** What the module gives each host. */
export interface HostEnv {
  timeoutMs: number;
  budget: ByteBudget;
  /** a Worker given up on for `blame` (a package) still runs: +1, then -1 when it ends */
  runaway(blame: string, delta: 1 | -1): void;
  /** every Worker not yet ended, for shutdown */
  workers: Set<{ terminate(): void }>;
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

/** A Worker holding one connection to the database file. */
class DbWorker {
  readonly worker: Worker;
  readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  readonly opened: Promise<void>;
  #reply?: { id: number; done: (r: WorkerReply) => void };
  #abandoned?: string;
  #ended = false;

  /** Whether the Worker is gone (closed, crashed or terminated). */
  get ended(): boolean {
    return this.#ended;
  }

  constructor(file: string, private readonly env: HostEnv, name: string) {
    this.worker = new Worker(WORKER_URL, { type: "module", name });
    env.workers.add(this);
    this.opened = new Promise((resolve, reject) => {
      this.#reply = {
        id: 0,
        done: (r) =>
          "ok" in r && r.ok ? resolve() : reject(toError((r as { error: WorkerError }).error)),
      };
    });
    this.opened.catch(() => this.terminate());
    this.worker.onmessage = (e: MessageEvent<WorkerReply>) => this.#onReply(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.#crashed(e.message);
    };
    this.worker.onmessageerror = () => this.#crashed("unreadable message from the db Worker");
    const open: WorkerRequest = {
      op: "open",
      file,
      cancel: this.cancel.buffer as SharedArrayBuffer,
      held: env.budget.shared,
      heldLimit: env.budget.limit,
    };
    this.worker.postMessage(open);
  }

  /** Sends one request; resolves with the Worker's reply to it. */
  send(req: WorkerRequest & { id: number }): Promise<WorkerReply> {
    return new Promise((resolve) => {
      this.#reply = { id: req.id, done: resolve };
      this.worker.postMessage(req);
    });
  }

  #onReply(r: WorkerReply) {
    if ("closed" in r) {
      this.terminate();
      return;
    }
    if ("held" in r && r.held && (this.#abandoned !== undefined || this.#reply?.id !== r.id)) {
      this.env.budget.give(r.held); // nobody will take this answer
    }
    const waiting = this.#reply;
    if (waiting && waiting.id === r.id) {
      this.#reply = undefined;
      waiting.done(r);
    }
  }

  #crashed(message: string) {
    const waiting = this.#reply;
    this.#reply = undefined;
    waiting?.done({ id: waiting.id, ok: false, error: { message } });
    this.terminate();
  }

  /**
   * Gives up on the request in flight: the Worker stops at its next check, closes its
   * connection and ends; until it does it counts as a runaway of `blame`.
   */
  abandon(blame: string): void {
    this.#reply = undefined;
    this.#abandoned = blame;
    this.env.runaway(blame, 1);
    Atomics.store(this.cancel, 0, 1);
    this.worker.postMessage({ op: "close" } satisfies WorkerRequest);
  }

  /** Closes the connection once the Worker is idle (it is, when this is called). */
  close(): void {
    if (this.#ended) return;
    this.worker.postMessage({ op: "close" } satisfies WorkerRequest);
  }

  terminate(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.env.workers.delete(this);
    this.worker.terminate();
    if (this.#abandoned !== undefined) this.env.runaway(this.#abandoned, -1);
  }
}

/** An open database: its request queue and current Worker. */
export class DbHost {
  #worker?: DbWorker;
  #queue: Pending[] = [];
  #busy = false;
  /** settles the request in flight early (shutdown) */
  #stop?: () => void;
  #nextId = 1;
  #retired = false;
  #onClosed?: () => void;
  /** performance.now() of the last request's end */
  lastUsed = performance.now();

  constructor(
    readonly file: string,
    readonly name: string,
    private readonly env: HostEnv,
  ) {}

  get idle(): boolean {
    return !this.#busy && this.#queue.length === 0;
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

  /** At shutdown: the Worker ends now; the request in flight and queued ones fail. */
  terminate(): void {
    this.#retired = true;
    for (const p of this.#queue.splice(0)) p.reject(new Error("sqlite is shutting down"));
    this.#stop?.();
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #closeWorker() {
    this.#worker?.close();
    this.#worker = undefined;
    this.#onClosed?.();
  }

  /** Resolves "timeout" after `ms`, or "stop" at shutdown; clear() drops the timer. */
  #limit(ms: number) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = new Promise<"timeout" | "stop">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), ms);
      this.#stop = () => resolve("stop");
    });
    return { done, clear: () => clearTimeout(timer) };
  }

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
    // starting a Worker and opening the file is not the request's time: its own limit
    let limit = this.#limit(DB_OPEN_TIMEOUT_MS);
    try {
      const opened = await Promise.race([worker.opened.then(() => "open" as const), limit.done]);
      if (opened === "open") {
        limit.clear();
        limit = this.#limit(this.env.timeoutMs);
        const r = await Promise.race([
          worker.send({ ...p.job, id: this.#nextId++ } as WorkerRequest & { id: number }),
          limit.done,
        ]);
        if (r === "stop") {
          p.reject(new Error("sqlite is shutting down"));
        } else if (r === "timeout") {
          this.#giveUp(worker, p.blame);
          p.reject(
            new SqliteFailure({
              RusqliteError: `interrupted: past sqlite's time limit of ${this.env.timeoutMs} ms; ` +
                "the statement was stopped and an open transaction rolled back",
            }),
          );
        } else if ("ok" in r && r.ok) {
          if ("held" in r && r.held) this.env.budget.give(r.held);
          p.resolve("blob" in r ? r.blob : undefined);
        } else {
          p.reject(toError((r as { error: WorkerError }).error));
        }
      } else if (opened === "stop") {
        p.reject(new Error("sqlite is shutting down"));
      } else {
        this.#giveUp(worker, p.blame);
        p.reject(
          new SqliteFailure({
            RusqliteError: `database is locked: opening it took over ${DB_OPEN_TIMEOUT_MS} ms`,
          }),
        );
      }
    } catch (e) {
      // the Worker failed to open the database
      if (this.#worker === worker) this.#worker = undefined;
      p.reject(e instanceof Error ? e : new Error(String(e)));
    } finally {
      limit.clear();
      this.#stop = undefined;
      this.#busy = false;
      this.lastUsed = performance.now();
    }
    this.#pump();
  }

  #giveUp(worker: DbWorker, blame: string) {
    worker.abandon(blame);
    if (this.#worker === worker) this.#worker = undefined;
  }
}
