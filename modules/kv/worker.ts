// kv's Worker: holds the node's Deno KV stores (stores.ts) off the kernel's thread. It
// runs the jobs kv:distro:sys posts after its checks, and serves module channels: a
// process's Get, Set and Delete outside a transaction come straight from its Worker's
// ring, are checked here against the rights the module granted the channel, and are
// answered into the process's inbox, so a process's kv traffic after its first request
// never wakes the kernel's thread. Requests of one channel run one after another, in
// order; channels and the module's jobs run concurrently (each store orders its writes).

/// <reference lib="deno.worker" />

import {
  BELL,
  BELL_PARKED,
  closeModuleChannel,
  type OutgoingMessage,
  ServedChannel,
  Writer,
} from "../../kernel/module.ts";
import { KvFailure, type KvRequest, kvRequestParser, noDb } from "../../wire/kv.ts";
import { Watchdog } from "../shared/runtime.ts";
import {
  type ChannelOpen,
  encodeAnswer,
  inflightFull,
  type Job,
  jobErrorOf,
  kvErrorOf,
  type Reply,
  timedOut,
  type WorkerEvent,
  type WorkerInit,
} from "./protocol.ts";
import { KvStores, NoSuchDb } from "./stores.ts";
import { directOp } from "./ops.ts";

/** A request body larger than this is MalformedRequest (as the module's MAX_REQUEST_BODY_BYTES). */
const MAX_BODY_BYTES = 1024 * 1024;

let stores: KvStores;
let wake: Int32Array<SharedArrayBuffer>;
let held: Int32Array<SharedArrayBuffer>;
let init: WorkerInit;
let watchdog: Watchdog;
let stopping = false;

function post(e: WorkerEvent, transfer: Transferable[] = []) {
  self.postMessage(e, transfer);
}

/** Takes `n` bytes from the module's in-flight budget, or refuses as the module does. */
function take(n: number): void {
  if (n <= 0) return;
  if (Atomics.add(held, 0, n) + n > init.heldLimit) {
    Atomics.sub(held, 0, n);
    throw inflightFull(init.heldLimit);
  }
}

function give(n: number): void {
  if (n > 0) Atomics.sub(held, 0, n);
}

async function runJob(job: Job): Promise<Reply> {
  switch (job.op) {
    case "open":
      await stores.open(job.dbKey, job.create);
      return { id: job.id, ok: true };
    case "get": {
      // bytes of a chunked value are held from before it is read until the module answered
      let n = 0;
      try {
        const value = await stores.get(job.dbKey, job.key, (len) => {
          take(len);
          n += len;
        });
        return { id: job.id, ok: true, value, held: n };
      } catch (e) {
        give(n);
        throw e;
      }
    }
    case "commit":
      await stores.commit(job.dbKey, job.ops);
      return { id: job.id, ok: true };
    case "remove":
      for (const ch of channels) {
        if (ch.dbKey === job.dbKey) closeModuleChannel(ch.served.ring, wake.buffer);
      }
      await stores.remove(job.dbKey);
      return { id: job.id, ok: true };
    case "channel":
      openChannel(job.open);
      return { id: job.id, ok: true };
    case "close":
      await stop();
      return { id: job.id, ok: true };
  }
}

async function handle(job: Job): Promise<void> {
  let reply: Reply;
  try {
    reply = await runJob(job);
  } catch (e) {
    reply = { id: job.id, ok: false, error: jobErrorOf(e) };
  }
  // a value that is its buffer's whole goes over without a copy
  const b = reply.ok ? reply.value?.buffer : undefined;
  const whole = b instanceof ArrayBuffer && b.byteLength === (reply.ok && reply.value?.length);
  post(reply, whole ? [b] : []);
  if (job.op === "close") self.close();
}

/** A module channel this Worker serves, for one database. */
interface Channel {
  served: ServedChannel;
  dbKey: string;
  /** a request of it runs: the next waits (a process's requests stay in order) */
  busy: boolean;
}

const channels: Channel[] = [];
const answerWriter = new Writer();
const parser = kvRequestParser();

function openChannel(open: ChannelOpen): void {
  const served = new ServedChannel(open.end, open.route, open.read, open.write);
  channels.push({ served, dbKey: open.dbKey, busy: false });
  takeChannels();
}

/** Starts the next request of every idle channel; drops channels closed and drained. */
function takeChannels(): void {
  for (let i = 0; i < channels.length; i++) {
    const ch = channels[i];
    if (ch.busy) continue;
    const m = ch.served.next(wake.buffer);
    if (m === null) channels.splice(i--, 1);
    if (!m) continue;
    ch.busy = true;
    serveChannelRequest(ch, m).then(() => {
      ch.busy = false;
      takeChannels();
    });
  }
}

/** What a channel request does once it passed the channel's checks; its answer and blob. */
async function channelRequest(
  ch: Channel,
  body: Uint8Array,
  blob: Uint8Array | undefined,
): Promise<[Uint8Array, Uint8Array | undefined]> {
  if (body.length > MAX_BODY_BYTES) throw new KvFailure("MalformedRequest");
  const { target, action } = parser.parse(body);
  const r: KvRequest = { packageId: target.packageId, db: target.db, action };
  const mine = ch.served.names(target.packageId, target.db);
  if (action.tag === "Get") {
    if (!mine || !ch.served.read) throw new KvFailure("NoReadCap");
  } else if ((action.tag === "Set" || action.tag === "Delete") && action.txId === undefined) {
    if (!mine || !ch.served.write) throw new KvFailure("NoWriteCap");
  } else {
    // the process's glue sends nothing else on a channel
    throw new KvFailure("MalformedRequest");
  }
  // bytes a Set holds, or a chunked Get's, are the in-flight budget's until the answer is out
  let held = 0;
  const hold = (n: number) => {
    take(n);
    held += n;
  };
  try {
    const a = await directOp(stores, ch.dbKey, action, blob, init.maxValueBytes, hold, () => {});
    return [encodeAnswer(a.response), a.blob];
  } catch (e) {
    throw e instanceof NoSuchDb ? noDb(r) : e;
  } finally {
    give(held);
  }
}

/** Runs one channel request under kv's time limit and answers it into the process's inbox. */
async function serveChannelRequest(ch: Channel, m: OutgoingMessage): Promise<void> {
  if (m.message.tag !== "request") return;
  const req = m.message.val;
  let body: Uint8Array;
  let blob: Uint8Array | undefined;
  let failed = false;
  try {
    let work: Promise<[Uint8Array, Uint8Array | undefined]>;
    try {
      work = channelRequest(ch, req.body, m.lazyLoadBlob?.bytes);
    } catch (e) {
      work = Promise.reject(e);
    }
    [body, blob] = await watchdog.watch(work, () => timedOut(init.timeoutMs));
  } catch (e) {
    failed = true;
    body = encodeAnswer({ Err: kvErrorOf(e) });
    blob = undefined;
    post({ failed: e instanceof Error ? e.message : String(e) });
  }
  ch.served.answer(answerWriter, m, body, blob, failed);
}

/** Waits on the bell process Workers ring after writing a request. */
async function listen(): Promise<void> {
  while (!stopping) {
    const bell = Atomics.load(wake, BELL);
    takeChannels();
    Atomics.store(wake, BELL_PARKED, 1);
    const w = Atomics.waitAsync(wake, BELL, bell);
    if (w.async) await w.value;
    Atomics.store(wake, BELL_PARKED, 0);
  }
}

/** Closes every channel, answers what is in them, then closes the stores. */
async function stop(): Promise<void> {
  stopping = true;
  for (const ch of channels) closeModuleChannel(ch.served.ring, wake.buffer);
  const until = performance.now() + 5_000;
  while (channels.length > 0 && performance.now() < until) {
    takeChannels();
    await new Promise((r) => setTimeout(r, 1));
  }
  watchdog.stop();
  await stores.close();
}

self.onmessage = (ev: MessageEvent<WorkerInit | Job>) => {
  if (!stores) {
    init = ev.data as WorkerInit;
    stores = new KvStores(init.root, init.maxOpen);
    wake = new Int32Array(init.wake);
    held = new Int32Array(init.held);
    watchdog = new Watchdog(init.timeoutMs);
    void listen();
    return;
  }
  // a channel's requests written before the module's job was sent start first, as they
  // would have through the module
  if (channels.length > 0) takeChannels();
  void handle(ev.data as Job);
};
