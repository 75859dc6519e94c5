// A runtime module's mailbox, owned by the kernel. route() only enqueues; the
// mailbox drains on a microtask, so a module never runs inside routing (and can
// route again from its handler without re-entering it). Order: messages of one
// lane (RuntimeModule.laneOf) are handled in arrival order, a lane waiting while
// its handler's promise is pending; different lanes run concurrently.
// For `top` it also times each message (./stats.ts): from the drain that took it
// out of the queue to its handler returning or its promise settling.

import type { KernelMessage, WrappedSendError } from "../wire/core.ts";
import type { RuntimeModule } from "./module.ts";
import { wallClock } from "./process_host/protocol.ts";
import { LatencyWindow } from "./stats.ts";

type Item = { km: KernelMessage; err?: undefined } | { km?: undefined; err: WrappedSendError };

export class Mailbox {
  #queue: Item[] = [];
  #head = 0;
  #scheduled = false;
  /** lanes with a handler in flight -> messages waiting behind it (with when they were taken) */
  #busy = new Map<string, { km: KernelMessage; at: number }[]>();
  #waiting = 0;
  #idle: (() => void)[] = [];
  /** messages handled since boot */
  handled = 0;
  /** messages the module sent since boot (counted by the kernel's sendToLoop) */
  sent = 0;
  /** handling times of the last minute */
  readonly latency = new LatencyWindow();

  constructor(
    readonly module: RuntimeModule,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** Messages not yet handled to completion: queued, waiting in a lane, or in flight. */
  get depth(): number {
    return this.#queue.length - this.#head + this.#waiting + this.#busy.size;
  }

  enqueue(km: KernelMessage): void {
    this.#queue.push({ km });
    this.#schedule();
  }

  enqueueSendError(err: WrappedSendError): void {
    this.#queue.push({ err });
    this.#schedule();
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#drain);
  }

  #drain = () => {
    const q = this.#queue;
    // one clock read per drain: every message taken here arrived by now
    const at = wallClock();
    // items enqueued while draining are taken in this same pass
    while (this.#head < q.length) {
      const item = q[this.#head];
      q[this.#head++] = undefined as unknown as Item;
      if (item.err) {
        try {
          this.module.handleSendError?.(item.err);
        } catch (e) {
          this.onError(e);
        }
        continue;
      }
      const lane = this.module.laneOf ? this.module.laneOf(item.km) : "";
      const waiting = this.#busy.get(lane);
      if (waiting) {
        waiting.push({ km: item.km, at });
        this.#waiting++;
      } else this.#run(lane, item.km, at);
    }
    this.#queue = [];
    this.#head = 0;
    this.#scheduled = false;
    this.#checkIdle();
  };

  #run(lane: string, km: KernelMessage, at: number) {
    let r: Promise<void> | void = undefined;
    try {
      r = this.module.handleMessage(km);
    } catch (e) {
      this.onError(e);
    }
    this.handled++;
    if (!(r instanceof Promise)) {
      this.#timed(at);
      return;
    }
    this.#busy.set(lane, []);
    const done = () => {
      this.#timed(at);
      this.#next(lane);
    };
    r.then(done, (e) => {
      try {
        this.onError(e);
      } finally {
        done();
      }
    });
  }

  #timed(at: number) {
    const now = wallClock();
    this.latency.record(now - at, now);
  }

  #next(lane: string) {
    const waiting = this.#busy.get(lane)!;
    this.#busy.delete(lane);
    // handle the lane's waiting messages until one goes async again
    while (waiting.length > 0) {
      const { km, at } = waiting.shift()!;
      this.#waiting--;
      this.#run(lane, km, at);
      const next = this.#busy.get(lane);
      if (next) {
        // the handler went async: the rest wait behind it, in order
        next.push(...waiting);
        break;
      }
    }
    this.#checkIdle();
  }

  #checkIdle() {
    if (this.#idle.length === 0 || this.depth !== 0) return;
    for (const f of this.#idle.splice(0)) f();
  }
}
