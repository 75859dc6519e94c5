// timer:distro:sys driven directly, with real timers.

import { assert, assertEquals } from "../assert.ts";
import { parseProcessId, TIMER_PROCESS_ID } from "../../wire/core.ts";
import { createTimerModule } from "../../modules/timer/mod.ts";
import { moduleAddress, OUR, requestKm, TestCtx } from "./ctx.ts";

const TIMER = moduleAddress(TIMER_PROCESS_ID);
const APP = `${OUR}@app:myapp:pub.os`;

Deno.test("timer: SetTimer answers after the duration with an empty body", async () => {
  const ctx = new TestCtx("/nonexistent");
  const timer = createTimerModule();
  await timer.start(ctx);
  assert(timer.public);
  try {
    const t0 = performance.now();
    const slow = requestKm(APP, TIMER, '{"SetTimer":120}');
    const fast = requestKm(APP, TIMER, { SetTimer: 40 });
    await timer.handleMessage(slow);
    await timer.handleMessage(fast);
    assertEquals(ctx.sent.length, 0);
    await ctx.waitFor(() => ctx.sent.length >= 1);
    const first = performance.now() - t0;
    assertEquals(ctx.sent[0].id, fast.id);
    assert(first >= 38, `popped after ${first}ms`);
    await ctx.waitFor(() => ctx.sent.length >= 2);
    const second = performance.now() - t0;
    assert(second >= 118, `popped after ${second}ms`);
    const resp = ctx.sent[1];
    assertEquals(resp.id, slow.id);
    assertEquals(resp.target, slow.source);
    assertEquals(resp.source, TIMER);
    assert(resp.message.tag === "response");
    assertEquals(resp.message.val[0].body.length, 0);
  } finally {
    timer.shutdown?.();
  }
});

Deno.test("timer: zero pops at once, rsvp honoured, bad bodies and foreign nodes ignored", async () => {
  const ctx = new TestCtx("/nonexistent");
  const timer = createTimerModule();
  await timer.start(ctx);
  try {
    const rsvp = { node: OUR, process: parseProcessId("other:myapp:pub.os") };
    await timer.handleMessage(requestKm(APP, TIMER, { SetTimer: 0 }, { rsvp }));
    assertEquals(ctx.sent.length, 1);
    assertEquals(ctx.sent[0].target, rsvp);
    await timer.handleMessage(requestKm(APP, TIMER, "garbage"));
    await timer.handleMessage(requestKm(APP, TIMER, { SetTimer: -5 }));
    await timer.handleMessage(requestKm("evil.os@app:myapp:pub.os", TIMER, { SetTimer: 0 }));
    assertEquals(ctx.sent.length, 1);
    assertEquals(ctx.prints.filter((p) => p.includes("invalid body")).length, 2);
    // Debug lists what is pending; shutdown cancels it
    await timer.handleMessage(requestKm(APP, TIMER, { SetTimer: 60_000 }));
    await timer.handleMessage(requestKm(APP, TIMER, '"Debug"'));
    assert(ctx.prints.some((p) => p === "timer service active timers (1):"));
  } finally {
    timer.shutdown?.();
  }
  assertEquals(ctx.sent.length, 1);
});
