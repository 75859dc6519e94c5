// A Worker for benches/component_sharing.ts: runs tester components (tests/fixtures/tester.js
// built as kit builds it) against a small stand-in for the process API, not the runtime's host
// (kernel/process_host/worker.ts): enough of it for the tester to boot, answer `our` and run
// `ask-many`. With the glue transpiled for JSPI (`jspi`), `receive` and
// `send-and-await-response` suspend the component instead of blocking the thread, so several
// components can share this Worker; with the sync glue a Worker holds one, as the runtime's do.
//
// Roles:
//   group: `n` components in this Worker, talking through in-Worker queues (JSPI only when n > 1)
//   pair:  one component whose peer lives in another Worker: one-slot mailboxes in shared
//          memory, waited on with Atomics.wait (sync glue) or Atomics.waitAsync (JSPI glue)

import { makeWasiImports } from "../kernel/process_host/wasi.ts";
import { INTERRUPT_MODULE, INTERRUPT_NAME } from "../kernel/process_host/interrupt.ts";
import type { Address, Message, Request, Response } from "../wire/core.ts";

export type SharingInit =
  & {
    glue: string;
    core: Record<string, WebAssembly.Module>;
    jspi: boolean;
    /** Int32 per component of a group: set to 1 to kill it (its core modules check it). */
    kill?: SharedArrayBuffer;
  }
  & (
    | { role: "group"; n: number }
    | {
      role: "pair";
      me: number;
      inbox: SharedArrayBuffer;
      outbox: SharedArrayBuffer;
      /** how a JSPI component's Worker waits (see pair()) */
      wake?: "waitAsync" | "scheduler";
    }
  );

/**
 * Main thread -> Worker: run `ask-many` from component 0 to component 1 (`n` round trips), or
 * give component `to` a command of the tester's (its answer comes back as `answered`).
 */
export type SharingCommand = { t: "ask"; n: number } | { t: "command"; to: number; cmd: unknown };
export type SharingReply =
  | { t: "ready" }
  | { t: "asked"; us: number }
  | { t: "answered"; from: number; body: string }
  | { t: "ended"; index: number; error: string }
  | { t: "failed"; error: string };

const STANDARD = "hyperware:process/standard";
const enc = new TextEncoder();
// deno-lint-ignore no-explicit-any
const scope = self as any;
const post = (m: SharingReply) => scope.postMessage(m);

const addrOf = (i: number): Address => ({
  node: "fake.dev",
  process: { processName: `p${i}`, packageName: "share", publisherNode: "test.os" },
});
/** The bench itself, as the source of the commands it gives component 0. */
const DRIVER = addrOf(999);
const request = (body: Uint8Array): Message => ({
  tag: "request",
  val: { inherit: false, expectsResponse: 5n, body, metadata: undefined, capabilities: [] },
});
const response = (body: Uint8Array): Message => ({
  tag: "response",
  val: [{ inherit: false, body, metadata: undefined, capabilities: [] }, undefined],
});
const askMany = (n: number) =>
  request(enc.encode(JSON.stringify({ op: "ask-many", target: "fake.dev@p1:share:test.os", n })));

interface Item {
  source: Address;
  message: Message;
}

/** The process API's calls the tester makes, around `receive`, `sendResponse` and `ask`. */
function standard(
  me: number,
  receive: () => Item | Promise<Item>,
  respond: (prompt: Item, r: Response) => void,
  ask: (target: Address, r: Request) => Item | Promise<Item>,
) {
  let prompt: Item | undefined;
  const take = (it: Item): [Address, Message] => {
    prompt = it;
    return [it.source, it.message];
  };
  const took = (it: Item | Promise<Item>) => it instanceof Promise ? it.then(take) : take(it);
  return {
    printToTerminal: () => {},
    our: () => addrOf(me),
    getOnExit: () => ({ tag: "none" }),
    setOnExit: () => {},
    getState: () => undefined,
    setState: () => {},
    clearState: () => {},
    spawn: () => {
      throw new Error("spawn: not in this bench");
    },
    saveCapabilities: () => {},
    dropCapabilities: () => {},
    ourCapabilities: () => [],
    hasBlob: () => false,
    getBlob: () => undefined,
    lastBlob: () => undefined,
    sendRequest: () => {},
    sendRequests: () => {},
    sendResponse: (r: Response) => respond(prompt!, r),
    receive: () => took(receive()),
    sendAndAwaitResponse: (t: Address, r: Request) => {
      const got = ask(t, r);
      const pair = (it: Item) => [it.source, it.message];
      return got instanceof Promise ? got.then(pair) : pair(got);
    },
  };
}

type Glue = {
  instantiate(
    core: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore: (
      m: WebAssembly.Module,
      imports: WebAssembly.Imports,
    ) => Promise<WebAssembly.Instance>,
  ): Promise<{ init(our: string): Promise<void> }>;
};

/** Thrown into a component by its interrupt check once it is told to die. */
class Killed extends Error {}

async function instance(
  init: SharingInit,
  mod: Glue,
  std: ReturnType<typeof standard>,
  index = 0,
) {
  const wasi = makeWasiImports({ print: () => {} });
  const flags = init.kill ? new Int32Array(init.kill) : undefined;
  // core modules with interrupt checks (kernel/process_host/interrupt.ts) import this
  const interrupt = () => {
    if (flags && Atomics.load(flags, index) !== 0) throw new Killed(`component ${index} killed`);
  };
  const instantiateCore = (m: WebAssembly.Module, imports: WebAssembly.Imports) =>
    WebAssembly.instantiate(m, {
      ...imports,
      [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: interrupt },
    });
  return await mod.instantiate(
    (name: string) => init.core[name],
    { ...wasi, [STANDARD]: std },
    instantiateCore,
  );
}

/** `n` components in this Worker; component i's inbox is queues[i]. */
async function group(init: Extract<SharingInit, { role: "group" }>, mod: Glue) {
  const queues: Item[][] = [];
  const wakes: ((() => void) | undefined)[] = [];
  const waiting: (((it: Item) => void) | undefined)[] = [];
  let driverAnswered: (() => void) | undefined;
  /** commands from the bench are answered to it as `answered` */
  let commanded = false;
  const deliver = (to: number, it: Item) => {
    const w = waiting[to];
    if (w && it.message.tag === "response") {
      waiting[to] = undefined;
      return w(it);
    }
    queues[to].push(it);
    const wake = wakes[to];
    wakes[to] = undefined;
    wake?.();
  };
  const indexOf = (a: Address) => Number(a.process.processName.slice(1));
  for (let i = 0; i < init.n; i++) {
    queues.push([]);
    const receive = async () => {
      while (queues[i].length === 0) await new Promise<void>((r) => (wakes[i] = r));
      return queues[i].shift()!;
    };
    const respond = (prompt: Item, r: Response) => {
      if (prompt.source !== DRIVER) {
        return deliver(indexOf(prompt.source), { source: addrOf(i), message: response(r.body) });
      }
      if (commanded) post({ t: "answered", from: i, body: new TextDecoder().decode(r.body) });
      driverAnswered?.();
    };
    const ask = (target: Address, r: Request) => {
      const got = new Promise<Item>((res) => (waiting[i] = res));
      deliver(indexOf(target), { source: addrOf(i), message: { tag: "request", val: r } });
      return got;
    };
    // the sync glue blocks in receive: idle for good once the first request is answered
    const block = () => {
      if (queues[i].length > 0) return queues[i].shift()!;
      post({ t: "ready" });
      for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    };
    const std = standard(i, init.jspi ? receive : block, respond, ask);
    const component = await instance(init, mod, std, i);
    // each boots and answers one request (as benches/memory.ts has each process do)
    const answered = new Promise<void>((r) => (driverAnswered = r));
    queues[i].push({ source: DRIVER, message: request(enc.encode('{"op":"our"}')) });
    const ran = component.init(`fake.dev@p${i}:share:test.os`);
    // (with the sync glue, init never returns here: one component per Worker)
    // a component that ends (killed, crashed) leaves the others running
    ran.catch((e: unknown) => post({ t: "ended", index: i, error: String(e) }));
    await answered;
  }
  post({ t: "ready" });
  scope.onmessage = async (e: MessageEvent<SharingCommand>) => {
    const c = e.data;
    if (c.t === "command") {
      commanded = true;
      return deliver(c.to, { source: DRIVER, message: request(enc.encode(JSON.stringify(c.cmd))) });
    }
    const t0 = performance.now();
    const answered = new Promise<void>((r) => (driverAnswered = r));
    deliver(0, { source: DRIVER, message: askMany(c.n) });
    await answered;
    post({ t: "asked", us: ((performance.now() - t0) * 1000) / c.n });
  };
}

// a pair's mailbox: Int32 [0] seq, [1] kind (1 request, 2 response, 3 the bench's command), [2]
// length; the body from byte 64
const BODY_AT = 64;

/** One component; its peer is in another Worker, reached through two one-slot mailboxes. */
async function pair(init: Extract<SharingInit, { role: "pair" }>, mod: Glue) {
  const inCtl = new Int32Array(init.inbox, 0, 4);
  const outCtl = new Int32Array(init.outbox, 0, 4);
  const inBody = new Uint8Array(init.inbox, BODY_AT);
  const outBody = new Uint8Array(init.outbox, BODY_AT);
  const peer = addrOf(1 - init.me);
  let seen = 0;
  let t0 = 0;
  let n = 0;
  const put = (kind: number, body: Uint8Array) => {
    outBody.set(body);
    Atomics.store(outCtl, 1, kind);
    Atomics.store(outCtl, 2, body.length);
    Atomics.add(outCtl, 0, 1);
    Atomics.notify(outCtl, 0);
  };
  const take = (): Item => {
    const kind = Atomics.load(inCtl, 1);
    const body = inBody.slice(0, Atomics.load(inCtl, 2));
    seen = Atomics.load(inCtl, 0);
    if (kind === 3) {
      const cmd = JSON.parse(new TextDecoder().decode(body));
      n = cmd.n;
      t0 = performance.now();
      return { source: DRIVER, message: askMany(cmd.n) };
    }
    return { source: peer, message: kind === 1 ? request(body) : response(body) };
  };
  // JSPI, "waitAsync": each wait settles through the event loop. JSPI, "scheduler": the Worker
  // blocks in Atomics.wait while its component is suspended, and resumes it by resolving the
  // promise it is suspended on, never going back to the event loop (as a shared Worker's own
  // scheduler would, waiting on one bell for all its components)
  let suspended: ((it: Item) => void) | undefined;
  let parked: (() => void) | undefined;
  const next = !init.jspi
    ? () => {
      while (Atomics.load(inCtl, 0) === seen) Atomics.wait(inCtl, 0, seen);
      return take();
    }
    : init.wake === "scheduler"
    ? () => {
      if (Atomics.load(inCtl, 0) !== seen) return take();
      const got = new Promise<Item>((resolve) => (suspended = resolve));
      parked?.();
      return got;
    }
    : async () => {
      while (Atomics.load(inCtl, 0) === seen) await Atomics.waitAsync(inCtl, 0, seen).value;
      return take();
    };
  const respond = (prompt: Item, r: Response) => {
    if (prompt.source === DRIVER) post({ t: "asked", us: ((performance.now() - t0) * 1000) / n });
    else put(2, r.body);
  };
  const ask = (_target: Address, r: Request) => {
    put(1, r.body);
    return next();
  };
  const component = await instance(init, mod, standard(init.me, next, respond, ask), init.me);
  post({ t: "ready" });
  let parkedAgain = new Promise<void>((resolve) => (parked = resolve));
  const ran = component.init(`fake.dev@p${init.me}:share:test.os`);
  if (!init.jspi) return;
  let ended = false;
  ran.catch((e: unknown) => post({ t: "failed", error: String(e) })).finally(() => {
    ended = true;
    parked?.();
  });
  if (init.wake !== "scheduler") return;
  for (;;) {
    await parkedAgain;
    if (ended) return;
    while (Atomics.load(inCtl, 0) === seen) Atomics.wait(inCtl, 0, seen);
    parkedAgain = new Promise<void>((resolve) => (parked = resolve));
    const resume = suspended!;
    suspended = undefined;
    resume(take());
  }
}

scope.onmessage = async (e: MessageEvent<SharingInit>) => {
  scope.onmessage = null;
  try {
    const mod = await import(e.data.glue) as Glue;
    if (e.data.role === "group") await group(e.data, mod);
    else await pair(e.data, mod);
  } catch (err) {
    post({ t: "failed", error: String(err) });
  }
};
