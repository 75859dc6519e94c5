// timer:distro:sys -- answers {"SetTimer": <ms>} with an empty Response after that many
// milliseconds; "Debug" prints the pending timers. Public: any local process may use it.
// Like Hyperdrive, it answers every SetTimer (to rsvp, else source) and ignores
// requests from other nodes and bodies it cannot parse.

import {
  type Address,
  addressToString,
  type KernelMessage,
  TIMER_PROCESS_ID,
} from "../../wire/core.ts";
import { parseTimerAction, type TimerAction } from "../../wire/timer.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { answer, type RequestHandler, serve } from "../shared/runtime.ts";

export { parseTimerAction, type TimerAction };

// setTimeout holds at most a signed 32-bit delay; longer timers are chained.
const MAX_DELAY = 2 ** 31 - 1;

const EMPTY = new Uint8Array(0);

interface Pending {
  id: bigint;
  target: Address;
  popAt: number;
  handle: ReturnType<typeof setTimeout>;
}

class TimerModule implements RuntimeModule, RequestHandler<TimerAction, null> {
  readonly processId = TIMER_PROCESS_ID;
  readonly public = true;
  readonly name = "timer";
  readonly remote = false;
  self!: Address;
  #ctx!: RuntimeModuleContext;
  #pending = new Set<Pending>();

  start(ctx: RuntimeModuleContext): void {
    this.#ctx = ctx;
    this.self = { node: ctx.our, process: TIMER_PROCESS_ID };
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  parse(km: KernelMessage): TimerAction {
    return parseTimerAction(km.message.tag === "request" ? km.message.val.body : EMPTY);
  }

  act(km: KernelMessage, action: TimerAction): undefined {
    if (action.tag === "Debug") {
      this.#ctx.print(0, `timer service active timers (${this.#pending.size}):`);
      for (const p of this.#pending) {
        this.#ctx.print(0, `${p.popAt}: ${p.id} -> ${addressToString(p.target)}`);
      }
      return;
    }
    if (action.millis === 0n) return this.#pop(km);
    const ms = Number(action.millis);
    // Hyperdrive sleeps ms - 1 on tokio's 1 ms timer wheel, popping within [ms-1, ms).
    // process_lib's set_timer / set_and_await_timer expect the answer within
    // duration/1000 + 1 s, so a duration just under a whole second (999, 1999 ms...)
    // relies on that early pop. Deno's setTimeout fires 0.5-2 ms late, so it is armed at
    // ms - 2 to pop in about the same window.
    const sleep = Math.max(0, ms - 2);
    const pending: Pending = {
      id: km.id,
      target: km.rsvp ?? km.source,
      popAt: Date.now() + ms,
      handle: 0 as unknown as ReturnType<typeof setTimeout>,
    };
    this.#ctx.print(3, `set timer to pop in ${ms}ms`);
    const arm = (remaining: number) => {
      const step = Math.min(remaining, MAX_DELAY);
      pending.handle = setTimeout(() => {
        if (remaining > step) return arm(remaining - step);
        this.#pending.delete(pending);
        this.#pop(km);
      }, step);
    };
    arm(sleep);
    this.#pending.add(pending);
  }

  /** Unparsable bodies get no answer, only a print (as Hyperdrive). */
  error(): undefined {
    this.#ctx.print(1, "timer service received a request with an invalid body");
    return undefined;
  }

  encode(): Uint8Array {
    return EMPTY;
  }

  /** Every SetTimer is answered, expected or not (Hyperdrive's timer always responds). */
  #pop(km: KernelMessage): undefined {
    answer(this.#ctx, this, km, { response: null }, true);
    return undefined;
  }

  shutdown(): void {
    for (const p of this.#pending) clearTimeout(p.handle);
    this.#pending.clear();
  }
}

/** timer:distro:sys. Register with the kernel as a public runtime module. */
export function createTimerModule(): RuntimeModule {
  return new TimerModule();
}
