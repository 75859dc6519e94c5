// The eth module's waiting: every timer it arms is tracked so shutdown cancels them all,
// deadlines mark abandoned work, and an Inbox waits for the answers to one message id.

import type { KernelMessage, WrappedSendError } from "../../wire/core.ts";

export type Timer = ReturnType<typeof setTimeout>;

/** A deadline: work still running past it is abandoned and must not touch module state. */
export interface Deadline {
  at: number;
  aborted: boolean;
}

export class Timers {
  #timers = new Set<Timer>();
  #deadlines = new Set<Deadline>();

  after(ms: number, f: () => void): Timer {
    const h = setTimeout(() => {
      this.#timers.delete(h);
      f();
    }, Math.max(0, ms));
    this.#timers.add(h);
    return h;
  }

  cancel(h: Timer | undefined): void {
    if (h === undefined) return;
    clearTimeout(h);
    this.#timers.delete(h);
  }

  /** Resolves after `ms`, or never once stopped. */
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.after(ms, r));
  }

  /** Runs `f` against a deadline: undefined if the deadline passed first (`f` is abandoned). */
  async within<T>(ms: number, f: (dl: Deadline) => Promise<T>): Promise<T | undefined> {
    const dl: Deadline = { at: Date.now() + ms, aborted: false };
    this.#deadlines.add(dl);
    let timer: Timer | undefined;
    const expired = new Promise<undefined>((r) => {
      timer = this.after(ms, () => {
        dl.aborted = true;
        r(undefined);
      });
    });
    try {
      return await Promise.race([f(dl), expired]);
    } finally {
      this.cancel(timer);
      this.#deadlines.delete(dl);
    }
  }

  /** Cancels every timer and abandons every deadline. */
  stop(): void {
    for (const h of this.#timers) clearTimeout(h);
    this.#timers.clear();
    for (const dl of this.#deadlines) dl.aborted = true;
    this.#deadlines.clear();
  }
}

/** What comes back for a message the module sent: the answer, or a send error. */
export type ChannelMsg = { km: KernelMessage } | { error: WrappedSendError };

/** One waiter for what comes back to one message id (Hyperdrive's response channel). */
export class Inbox {
  #waiter: ((m: ChannelMsg | undefined) => void) | undefined;
  #timer: Timer | undefined;
  #buffered: ChannelMsg[] = [];

  constructor(private readonly timers: Timers, private readonly onClose: () => void) {}

  readonly push = (m: ChannelMsg): void => {
    const w = this.#waiter;
    if (!w) {
      this.#buffered.push(m);
      return;
    }
    this.#waiter = undefined;
    this.timers.cancel(this.#timer);
    w(m);
  };

  /** Forget what came before a new attempt. */
  drain(): void {
    this.#buffered = [];
  }

  /** The next message, or undefined after `ms`. */
  next(ms: number): Promise<ChannelMsg | undefined> {
    const m = this.#buffered.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#timer = this.timers.after(ms, () => {
        this.#waiter = undefined;
        resolve(undefined);
      });
    });
  }

  close(): void {
    this.onClose();
    this.timers.cancel(this.#timer);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.(undefined);
  }
}
