// A runtime module's mailbox, owned by the kernel. route() only enqueues; the
// mailbox drains on a microtask, so a module never runs inside routing (and can
// route again from its handler without re-entering it). Order: messages of one
// lane (RuntimeModule.laneOf) are handled in arrival order, a lane waiting while
// its handler's promise is pending; different lanes run concurrently.

import type { KernelMessage, WrappedSendError } from "../wire/core.ts";
import type { RuntimeModule } from "./module.ts";

type Item = { km: KernelMessage; err?: undefined } | { km?: undefined; err: WrappedSendError };

export class Mailbox {
  #queue: Item[] = [];
  #head = 0;
  #scheduled = false;
  /** lanes with a handler in flight -> messages waiting behind it */
  #busy = new Map<string, KernelMessage[]>();
  #waiting = 0;
  #idle: (() => void)[] = [];
  /** messages handled since boot */
  handled = 0;

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
        waiting.push(item.km);
        this.#waiting++;
      } else this.#run(lane, item.km);
    }
    this.#queue = [];
    this.#head = 0;
    this.#scheduled = false;
    this.#checkIdle();
  };

  #run(lane: string, km: KernelMessage) {
    let r: Promise<void> | void = undefined;
    try {
      r = this.module.handleMessage(km);
    } catch (e) {
      this.onError(e);
    }
    this.handled++;
    if (!(r instanceof Promise)) return;
    this.#busy.set(lane, []);
    r.catch(this.onError).finally(() => this.#next(lane));
  }

  #next(lane: string) {
    const waiting = this.#busy.get(lane)!;
    this.#busy.delete(lane);
    // handle the lane's waiting messages until one goes async again
    while (waiting.length > 0) {
      const km = waiting.shift()!;
      this.#waiting--;
      this.#run(lane, km);
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
