// The module's side of kv's Worker (worker.ts): the StoreOps the module runs on, each a
// job posted to the Worker and answered by id, and the module channels it has the Worker
// serve. The Worker starts on first use. Should it die, what it had in flight fails with
// an error, its channels close (their processes send through the module again) and the
// next job starts a fresh Worker on the same files.

import type { ByteBudget } from "../shared/db.ts";
import type { TxOp } from "./store.ts";
import type { StoreOps } from "./stores.ts";
import {
  type ChannelOpen,
  errorOfJob,
  type Job,
  type Reply,
  type WorkerEvent,
  type WorkerInit,
} from "./protocol.ts";
import { closeModuleChannel, moduleChannelClosed, WAKE_BYTES } from "../../kernel/module.ts";

const WORKER_URL = new URL("./worker.ts", import.meta.url);
/** How long shutdown waits for the Worker to answer what it holds and close its stores. */
const CLOSE_WAIT_MS = 10_000;

type JobBody = Job extends infer J ? J extends Job ? Omit<J, "id"> : never : never;

export interface KvWorkerEnv {
  root: string;
  maxOpen: number;
  budget: ByteBudget;
  maxValueBytes: number;
  timeoutMs: number;
  /** prints at verbosity 1 (a channel request's error) */
  print(text: string): void;
}

interface Running {
  worker: Worker;
  wake: SharedArrayBuffer;
  /** channels it serves: closed should it die */
  rings: SharedArrayBuffer[];
  pending: Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>;
}

export class KvWorkerHost implements StoreOps {
  #run?: Running;
  #next = 1;

  constructor(private readonly env: KvWorkerEnv) {}

  /** The running Worker's bell, if one runs (a channel's reader wakes by it). */
  get wake(): SharedArrayBuffer | undefined {
    return this.#run?.wake;
  }

  async open(dbKey: string, create: boolean): Promise<void> {
    await this.#call({ op: "open", dbKey, create });
  }

  async get(
    dbKey: string,
    key: Uint8Array,
    _hold: (n: number) => void,
    adopt: (n: number) => void,
  ): Promise<Uint8Array | undefined> {
    const r = await this.#call({ op: "get", dbKey, key });
    if (!r.ok) return undefined;
    if (r.held) adopt(r.held);
    return r.value;
  }

  async commit(dbKey: string, ops: TxOp[]): Promise<void> {
    await this.#call({ op: "commit", dbKey, ops });
  }

  async remove(dbKey: string): Promise<void> {
    await this.#call({ op: "remove", dbKey });
  }

  /** Has the Worker serve a module channel; false when none runs (the ring is closed then). */
  openChannel(open: ChannelOpen): boolean {
    const run = this.#run;
    if (!run) {
      closeModuleChannel(open.end.ring, new SharedArrayBuffer(WAKE_BYTES));
      return false;
    }
    if (run.rings.length >= 256) run.rings = run.rings.filter((r) => !moduleChannelClosed(r));
    run.rings.push(open.end.ring);
    void this.#call({ op: "channel", open }, [open.end.port]).catch(() => {});
    return true;
  }

  async close(): Promise<void> {
    const run = this.#run;
    if (!run) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#call({ op: "close" }),
        new Promise((r) => timer = setTimeout(r, CLOSE_WAIT_MS)),
      ]);
    } catch {
      // it died: nothing left to close
    } finally {
      clearTimeout(timer);
      this.#end(run, "kv is shutting down");
    }
  }

  #start(): Running {
    const worker = new Worker(WORKER_URL, { type: "module", name: "kv" });
    const run: Running = {
      worker,
      wake: new SharedArrayBuffer(WAKE_BYTES),
      rings: [],
      pending: new Map(),
    };
    worker.onmessage = (e: MessageEvent<WorkerEvent>) => {
      const ev = e.data;
      if ("failed" in ev) {
        this.env.print(`kv: ${ev.failed}`);
        return;
      }
      const p = run.pending.get(ev.id);
      if (!p) return;
      run.pending.delete(ev.id);
      if (ev.ok) p.resolve(ev);
      else p.reject(errorOfJob(ev.error));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.env.print(`kv: its Worker failed: ${e.message}`);
      this.#end(run, `kv's Worker failed: ${e.message}`);
    };
    const init: WorkerInit = {
      root: this.env.root,
      maxOpen: this.env.maxOpen,
      wake: run.wake,
      held: this.env.budget.shared.buffer as SharedArrayBuffer,
      heldLimit: this.env.budget.limit,
      maxValueBytes: this.env.maxValueBytes,
      timeoutMs: this.env.timeoutMs,
    };
    worker.postMessage(init);
    return this.#run = run;
  }

  /** The Worker is gone (or given up on): its jobs fail, its channels close. */
  #end(run: Running, why: string): void {
    if (this.#run === run) this.#run = undefined;
    for (const ring of run.rings) closeModuleChannel(ring, run.wake);
    run.rings = [];
    for (const p of run.pending.values()) p.reject(new Error(why));
    run.pending.clear();
    run.worker.terminate();
  }

  #call(body: JobBody, transfer: Transferable[] = []): Promise<Reply> {
    const run = this.#run ?? this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      run.pending.set(id, { resolve, reject });
      run.worker.postMessage({ ...body, id } as Job, transfer);
    });
  }
}
