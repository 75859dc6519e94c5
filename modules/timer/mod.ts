// timer:distro:sys -- answers {"SetTimer": <ms>} with an empty Response after that many
// milliseconds; "Debug" prints the pending timers. Public: any local process may use it.
// Like Hyperdrive, it answers every SetTimer (to rsvp, else source) and ignores
// requests from other nodes and bodies it cannot parse.

import {
  type Address,
  addressToString,
  type KernelMessage,
  makeResponse,
  TIMER_PROCESS_ID,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { u64, variant } from "../../wire/fields.ts";
import { parseJsonBody } from "../../wire/json.ts";

export type TimerAction = { tag: "Debug" } | { tag: "SetTimer"; millis: bigint };

/** Body bytes -> TimerAction (serde: "Debug" | {"SetTimer": u64}), or undefined. */
export function parseTimerAction(body: Uint8Array): TimerAction | undefined {
  try {
    const [tag, val] = variant(parseJsonBody(body));
    if (tag === "Debug" && val === null) return { tag };
    if (tag === "SetTimer") return { tag, millis: u64(val) };
  } catch {
    // not a TimerAction: ignored like any other unparsable body
  }
  return undefined;
}

// setTimeout holds at most a signed 32-bit delay; longer timers are chained.
const MAX_DELAY = 2 ** 31 - 1;

interface Pending {
  id: bigint;
  target: Address;
  popAt: number;
  handle: ReturnType<typeof setTimeout>;
}

class TimerModule implements RuntimeModule {
  readonly processId = TIMER_PROCESS_ID;
  readonly public = true;
  #ctx!: RuntimeModuleContext;
  #our!: Address;
  #pending = new Set<Pending>();

  start(ctx: RuntimeModuleContext): void {
    this.#ctx = ctx;
    this.#our = { node: ctx.our, process: TIMER_PROCESS_ID };
  }

  handleMessage(km: KernelMessage): void {
    if (km.source.node !== this.#ctx.our) return;
    if (km.message.tag !== "request") return;
    const action = parseTimerAction(km.message.val.body);
    if (!action) {
      this.#ctx.print(1, "timer service received a request with an invalid body");
      return;
    }
    if (action.tag === "Debug") {
      this.#ctx.print(0, `timer service active timers (${this.#pending.size}):`);
      for (const p of this.#pending) {
        this.#ctx.print(0, `${p.popAt}: ${p.id} -> ${addressToString(p.target)}`);
      }
      return;
    }
    if (action.millis === 0n) {
      this.#pop(km);
      return;
    }
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

  #pop(km: KernelMessage): void {
    this.#ctx.sendToLoop(makeResponse(km, this.#our, new Uint8Array()));
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
