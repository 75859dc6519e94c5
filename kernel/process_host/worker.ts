// Worker entry: runs one process (a component or a TS/JS module) and serves
// it the hyperware:process/standard@1.0.0 imports with Hyperdrive's semantics
// (prompting message, contexts, last blob, inherit, awaited responses).

import { receiveMessageOnPort } from "node:worker_threads";
import { makeWasiImports, ProcessExit, StopSignal, WorkerStopped } from "./wasi.ts";
import type {
  FromWorker,
  Incoming,
  KernelCall,
  OutgoingMessage,
  SharedWorkerNote,
  ToWorker,
  WorkerInit,
} from "./protocol.ts";
import {
  DOORBELL,
  fromWire,
  INTERRUPT_MODULE,
  INTERRUPT_NAME,
  MODULE_CHANNEL_TARGETS,
  type ModuleRoute,
  PARKED,
  pooledRandomU64,
  TAKEN,
  wallClock,
} from "./protocol.ts";
import {
  STAT_EXTERNAL,
  STAT_HEAP_USED,
  STAT_MEMORY_AT,
  STAT_QUEUED,
  STAT_RECEIVED,
  STAT_SENT,
  WorkerStats,
} from "../stats.ts";
import { decodeDelivery, encodeSends, Reader, Writer } from "./codec.ts";
import { Ring, RING_FLAG, RING_PORT_COUNT } from "./ring.ts";
import { PeerInbox, PeerSender } from "./peer.ts";
import { MODULE_RECORD_BYTES, ModuleChannelWriter } from "./module_channel.ts";
import { linkModule } from "./module_graph.ts";
import type {
  Address,
  Capability,
  KernelMessage,
  LazyLoadBlob,
  Message,
  OnExit,
  ProcessId,
  Request,
  Response,
  SendError,
  WrappedSendError,
} from "../../wire/core.ts";

const STANDARD = "hyperware:process/standard";
/** How often the worker samples its heap for `top` (when it asks for a message). */
const MEMORY_SAMPLE_MS = 1000;
const STDERR_TAIL = 5000;

// deno-lint-ignore no-explicit-any
const postRaw = (m: unknown) => (self as any).postMessage(m);

const writer = new Writer();

/**
 * One process's worker -> kernel lanes (protocol.ts): the ring for sends, and for the rest
 * the Worker's own port (a process alone in its Worker) or the process's channel port (one
 * sharing its Worker).
 */
class Lane {
  private seq = 0;
  constructor(private readonly ring: Ring, private readonly postRaw: (m: unknown) => void) {}

  /** Posts an item on the port, in sequence with the ring. */
  post(m: FromWorker) {
    const seq = this.seq;
    this.seq = (seq + 1) >>> 0;
    this.postRaw({ seq, m });
  }

  postSends(msgs: OutgoingMessage[]) {
    const ring = this.ring;
    if (
      encodeSends(writer, msgs) && writer.pos <= ring.maxPayload &&
      ring.write(this.seq, writer.bytes)
    ) {
      this.seq = (this.seq + 1) >>> 0;
      // the kernel is already draining unless its flag is up; take it down and ring once
      if (
        Atomics.load(ring.ctl, RING_FLAG) === 1 &&
        Atomics.compareExchange(ring.ctl, RING_FLAG, 1, 0) === 1
      ) {
        this.postRaw(DOORBELL);
      }
      return;
    }
    this.post({ t: "send", msgs });
  }
}

/** What a blocked call waits for: the wake counter to move on from `seen`, or `ms` to pass. */
interface Wait {
  seen: number;
  ms?: number;
}

/**
 * A call into the process API that may have to wait. Written once as a generator that yields
 * its waits; a process alone in its Worker blocks the thread on them, one sharing a Worker
 * suspends its component on them (ProcessState.run()).
 */
type Blocking<T> = Generator<Wait, T, void>;

/**
 * A request times out this long after its expects_response seconds. An answer that races its
 * deadline (process_lib's set_and_await_timer(999) waits 1 s for a timer that pops at 998 ms)
 * still wins when the machine is loaded; seconds-granular timeouts cannot tell the difference.
 */
const TIMEOUT_GRACE_MS = 50;

class ProcessState {
  private readonly queue: Incoming[] = [];
  private readonly contexts = new Map<
    bigint,
    { prompting?: KernelMessage; context?: Uint8Array }
  >();
  private prompting?: KernelMessage;
  private lastBlob?: LazyLoadBlob;
  private lastMessageBlobbed = false;
  private nextCallId = 1;
  private readonly signal: Int32Array;
  readonly stop: StopSignal;
  private onExit: OnExit;
  /** request id -> when it times out, and the error it then delivers */
  /** requests awaiting an answer: when they time out */
  private readonly deadlines = new Map<bigint, { at: number; err: WrappedSendError }>();
  /** direct channels into other processes' inboxes, by target process id */
  private readonly outbox = new Map<string, PeerSender>();
  /** direct channels from other processes into ours */
  private readonly peers: { inbox: PeerInbox; from: Address; key: string }[] = [];
  /** channels to runtime modules' Workers (module_channel.ts), by routeKey() */
  private readonly modChans = new Map<string, ModuleChannel>();
  /** closed module channels whose answers may still come */
  private readonly modDraining: ModuleChannel[] = [];
  /**
   * Requests to a module that can open channels, sent through the kernel and not yet
   * answered: while any is, its channels are not used, so no request overtakes them.
   */
  private readonly modPending = new Set<bigint>();

  /** kernel -> worker lanes (protocol.ts) */
  private readonly toRing: Ring;
  private readonly toReader: Reader;
  private toSeq = 0;
  private portTaken = 0;
  private portHead?: { seq: number; item: ToWorker };

  /** counters for `top` (../stats.ts), and when the message being handled arrived */
  private readonly stats: WorkerStats;
  private readonly counters: Float64Array;
  private handlingSince?: number;

  constructor(
    readonly our: Address,
    private readonly port: MessagePort,
    init: WorkerInit,
    private readonly lane: Lane,
    /** blocking calls suspend the component (it shares its Worker) rather than the thread */
    readonly suspends: boolean,
  ) {
    this.toRing = new Ring(init.toWorker);
    this.toReader = new Reader(this.toRing.bytes);
    this.signal = new Int32Array(init.signal);
    this.stop = new StopSignal(this.signal, !suspends);
    this.onExit = init.onExit;
    this.stats = new WorkerStats(init.stats);
    this.counters = this.stats.counters;
    this.sampleMemory(wallClock());
  }

  /** The isolate's heap, for `top` (Deno reports it per Worker; rss is the whole process's). */
  private sampleMemory(now: number) {
    const c = this.counters;
    // a shared Worker's heap is its processes' together: each reports it (top says so)
    if (now - c[STAT_MEMORY_AT] < MEMORY_SAMPLE_MS) return;
    const m = Deno.memoryUsage();
    c[STAT_HEAP_USED] = m.heapUsed;
    c[STAT_EXTERNAL] = m.external;
    c[STAT_MEMORY_AT] = now;
  }

  /** An item taken from the inbox but not yet handed out (a timeout went first). */
  private lookahead?: Incoming | Reply;

  /**
   * Next item for this process, blocking the worker until one arrives: from
   * the kernel's port, from a peer's direct channel, or a request timing out
   * (timeouts live here, as Hyperdrive keeps them in the process). Hyperdrive's
   * timer puts the timeout into the inbox when it expires, so a timeout that
   * expired before an item arrived comes out first, even if the process was
   * busy meanwhile; the late response then finds no context and is dropped.
   */
  private *pull(): Blocking<Incoming | Reply> {
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      // the host raises the stop flag before bumping the counter: once `seen`
      // is read, a stop that could make the wait below miss its wake-up shows here
      this.stop.throwIfStopped();
      const item = this.lookahead ?? this.poll();
      this.lookahead = undefined;
      const due = this.deadlines.size > 0 ? this.nextDeadline() : undefined;
      const now = wallClock();
      if (item) {
        if (item.t !== "reply" && due && due.at < (item.at ?? now)) {
          this.lookahead = item;
          this.deadlines.delete(due.id);
          return { t: "err", err: due.err };
        }
        if (item.t === "err") this.deadlines.delete(item.err.id);
        else if (item.t === "msg" && item.km.message.tag === "response") {
          this.deadlines.delete(item.km.id);
        }
        return item;
      }
      if (due && due.at <= now) {
        this.deadlines.delete(due.id);
        return { t: "err", err: due.err };
      }
      this.sampleMemory(now);
      yield { seen, ms: due ? due.at - now : undefined };
      this.stop.throwIfStopped();
    }
  }

  /** Runs a blocking call to its end, the thread waiting where it waits. */
  private block<T>(call: Blocking<T>): T {
    for (let r = call.next();; r = call.next()) {
      if (r.done) return r.value;
      // the kernel notifies only while PARKED is set (see protocol.ts)
      Atomics.store(this.signal, PARKED, 1);
      Atomics.wait(this.signal, 0, r.value.seen, r.value.ms);
      Atomics.store(this.signal, PARKED, 0);
    }
  }

  /**
   * Runs a blocking call, returning a promise if it has to wait (the glue suspends the
   * component on it, and the Worker runs its other processes meanwhile).
   */
  private suspend<T>(call: Blocking<T>): T | Promise<T> {
    const first = call.next();
    if (first.done) return first.value;
    return (async (): Promise<T> => {
      for (let r: IteratorResult<Wait, T> = first;; r = call.next()) {
        if (r.done) return r.value;
        Atomics.store(this.signal, PARKED, 1);
        const w = Atomics.waitAsync(this.signal, 0, r.value.seen, r.value.ms);
        if (w.async) await w.value;
        Atomics.store(this.signal, PARKED, 0);
      }
    })();
  }

  /** Runs a blocking call as this process's Worker runs them. */
  run<T>(call: Blocking<T>): T | Promise<T> {
    return this.suspends ? this.suspend(call) : this.block(call);
  }

  private nextDeadline(): { id: bigint; at: number; err: WrappedSendError } | undefined {
    let next: { id: bigint; at: number; err: WrappedSendError } | undefined;
    for (const [id, d] of this.deadlines) {
      if (!next || d.at < next.at) next = { id, at: d.at, err: d.err };
    }
    return next;
  }

  /** The kernel's next item, from the ring or the port, whichever holds the next seq. */
  private fromKernel(): ToWorker | undefined {
    const ring = this.toRing;
    const rec = ring.peek();
    if (rec !== undefined && rec.seq === this.toSeq) {
      const item = decodeDelivery(this.toReader.at(rec.offset, rec.length));
      ring.consume(rec.next);
      this.toSeq = (this.toSeq + 1) >>> 0;
      return item;
    }
    if (this.portHead === undefined && Atomics.load(ring.ctl, RING_PORT_COUNT) !== this.portTaken) {
      const m = receiveMessageOnPort(asNodePort(this.port));
      if (m) {
        this.portTaken = (this.portTaken + 1) | 0;
        this.portHead = m.message as { seq: number; item: ToWorker };
      }
    }
    const head = this.portHead;
    if (head !== undefined && head.seq === this.toSeq) {
      this.portHead = undefined;
      this.toSeq = (this.toSeq + 1) >>> 0;
      return fromWire(head.item);
    }
    return undefined;
  }

  /** Drains the kernel's lanes (handling channel control) first, then peers' ports. */
  private poll(): Incoming | Reply | undefined {
    for (;;) {
      const item = this.fromKernel();
      if (!item) break;
      switch (item.t) {
        case "channel":
          this.outbox.get(item.target)?.close();
          this.outbox.set(item.target, new PeerSender(item.ring, item.port, item.signal));
          continue;
        case "peer":
          this.peers.push({
            inbox: new PeerInbox(item.ring, item.port),
            from: item.from,
            key: pidKey(item.from.process),
          });
          continue;
        case "unchannel":
          for (const [target, ch] of this.outbox) {
            if (item.target === undefined || item.target === target) {
              ch.close();
              this.outbox.delete(target);
            }
          }
          continue;
        case "unpeer":
          for (let i = this.peers.length - 1; i >= 0; i--) {
            if (this.peers[i].key === item.from) {
              this.peers[i].inbox.close();
              this.peers.splice(i, 1);
            }
          }
          continue;
        case "modchan": {
          const key = routeKey(item.target, item.route);
          const old = this.modChans.get(key);
          if (old) this.retireModuleChannel(key, old);
          this.modChans.set(key, {
            writer: new ModuleChannelWriter(item.ring, item.wake),
            inbox: new PeerInbox(item.reply, item.port),
            from: item.from,
            sent: new Set(),
          });
          continue;
        }
        case "reply":
          return item;
        default:
          Atomics.add(this.signal, TAKEN, 1);
          return item;
      }
    }
    const peers = this.peers;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i];
      let d: OutgoingMessage | undefined;
      try {
        d = peer.inbox.take();
      } catch {
        // only a broken sender writes a malformed record: its channel is closed here
        peer.inbox.close();
        peers.splice(i--, 1);
        continue;
      }
      if (d === undefined) continue;
      return this.fromChannel(d, peer.from);
    }
    if (this.modChans.size > 0 || this.modDraining.length > 0) return this.pollModules();
    return undefined;
  }

  /** An answer on a module channel (open or draining), if any. */
  private pollModules(): Incoming | undefined {
    for (const [key, ch] of this.modChans) {
      const got = this.takeModuleAnswer(ch);
      if (got) return got;
      if (ch.broken) this.retireModuleChannel(key, ch);
    }
    const draining = this.modDraining;
    for (let i = 0; i < draining.length; i++) {
      const ch = draining[i];
      const got = this.takeModuleAnswer(ch);
      if (got) return got;
      for (const id of ch.sent) if (!this.contexts.has(id)) ch.sent.delete(id);
      if (ch.sent.size === 0 || ch.broken) {
        ch.inbox.close();
        draining.splice(i--, 1);
      }
    }
    return undefined;
  }

  private takeModuleAnswer(ch: ModuleChannel): Incoming | undefined {
    if (ch.broken) return undefined;
    let d: OutgoingMessage | undefined;
    try {
      d = ch.inbox.take();
    } catch {
      // only a broken sender writes a malformed record: the channel goes (its requests
      // time out, as ones to a Worker that died)
      ch.broken = true;
      return undefined;
    }
    if (d === undefined) return undefined;
    ch.sent.delete(d.id);
    return this.fromChannel(d, ch.from);
  }

  /** A message taken from a direct channel, its source stamped from the channel (no caps). */
  private fromChannel(d: OutgoingMessage, from: Address): Incoming {
    Atomics.add(this.signal, TAKEN, 1);
    return {
      t: "msg",
      km: {
        id: d.id,
        source: from,
        target: this.our,
        rsvp: d.rsvp,
        message: withoutCaps(d.message),
        lazyLoadBlob: d.lazyLoadBlob,
      },
      at: d.at,
    };
  }

  /** Stops using a module channel; its inbox stays until what was sent on it is answered. */
  private retireModuleChannel(key: string, ch: ModuleChannel) {
    this.modChans.delete(key);
    ch.writer.close();
    this.modDraining.push(ch);
  }

  /**
   * Sends `m` on a module channel when one takes it, keeping the module's order: not
   * while a request sent through the kernel is unanswered, and one that expects no
   * answer (so nothing tells when it was handled) closes the module's channels first.
   */
  private toModule(m: OutgoingMessage, target: string): boolean {
    if (m.message.tag !== "request") return false;
    const req = m.message.val;
    if (req.expectsResponse === undefined || m.rsvp === undefined) {
      const prefix = `${target}\n`;
      for (const [key, ch] of this.modChans) {
        if (key.startsWith(prefix)) this.retireModuleChannel(key, ch);
      }
      return false;
    }
    const pending = this.modPending;
    if (pending.size > 0) {
      for (const id of pending) if (!this.contexts.has(id)) pending.delete(id);
    }
    // a body past what a channel record holds goes by the kernel anyway: not parsed for a route
    const key = pending.size === 0 && this.modChans.size > 0 &&
        req.body.length <= MODULE_RECORD_BYTES
      ? routeKeyOf(target, req.body)
      : undefined;
    const ch = key === undefined ? undefined : this.modChans.get(key);
    if (ch) {
      m.at = wallClock();
      const r = ch.writer.send(writer, m);
      if (r === "sent") {
        ch.sent.add(m.id);
        return true;
      }
      if (r === "closed") this.retireModuleChannel(key!, ch);
    }
    pending.add(m.id);
    return false;
  }

  /** Sends directly where a channel exists (local, cap-less), else through the kernel. */
  private dispatch(msgs: OutgoingMessage[]) {
    this.counters[STAT_SENT] += msgs.length;
    let viaKernel: OutgoingMessage[] | undefined;
    for (const m of msgs) {
      const caps = m.message.tag === "request"
        ? m.message.val.capabilities
        : m.message.val[0].capabilities;
      // direct channels carry no caps and stay on this node ("our" is the kernel's alias)
      const node = m.target.node;
      const target = caps.length === 0 && (node === this.our.node || node === "our")
        ? pidKey(m.target.process)
        : undefined;
      const ch = target !== undefined && node === this.our.node
        ? this.outbox.get(target)
        : undefined;
      if (ch) {
        m.at = wallClock();
        ch.send(writer, m);
      } else if (
        !(target !== undefined && MODULE_CHANNEL_TARGETS.has(target) && this.toModule(m, target))
      ) {
        (viaKernel ??= []).push(m);
      }
    }
    if (viaKernel) this.lane.postSends(viaKernel);
  }

  private *ingest(): Blocking<Incoming> {
    for (;;) {
      const item = yield* this.pull();
      if (item.t === "reply") continue; // a reply nobody waits for any more
      if (item.t === "msg" && item.km.message.tag === "request") return item;
      const id = item.t === "msg" ? item.km.id : item.err.id;
      if (this.contexts.has(id)) return item;
      // a response or error for a request we are not awaiting: dropped, as Hyperdrive does
    }
  }

  private *call(call: KernelCall): Blocking<unknown> {
    const callId = this.nextCallId++;
    this.lane.post({ t: "call", callId, call });
    for (;;) {
      const item = yield* this.pull();
      if (item.t === "reply") {
        if (item.callId !== callId) continue;
        if (!item.ok) throw new Error(String(item.value));
        return item.value;
      }
      this.queueIncoming(item);
    }
  }

  private queueIncoming(item: Incoming) {
    if (item.t === "msg" && item.km.message.tag === "request") {
      this.queue.push(item);
    } else {
      const id = item.t === "msg" ? item.km.id : item.err.id;
      if (this.contexts.has(id)) this.queue.push(item);
    }
    this.counters[STAT_QUEUED] = this.queue.length;
  }

  private takeBlob(km: KernelMessage) {
    if (km.lazyLoadBlob) {
      this.lastBlob = km.lazyLoadBlob;
      this.lastMessageBlobbed = true;
    } else {
      this.lastMessageBlobbed = false;
    }
  }

  /** Turns a received item into receive()'s ok value, or throws its error payload. */
  private toProcess(item: Incoming): [Address, Message] {
    if (item.t === "err") {
      this.lastMessageBlobbed = false;
      const ctx = this.contexts.get(item.err.id);
      this.contexts.delete(item.err.id);
      if (ctx) this.prompting = ctx.prompting;
      throw { payload: [stripSendError(item.err.error), ctx?.context] };
    }
    const km = item.km;
    this.counters[STAT_RECEIVED]++;
    this.takeBlob(km);
    if (km.message.tag === "request") {
      const req = km.message.val;
      if (req.expectsResponse !== undefined || km.rsvp !== undefined) this.prompting = km;
      return [km.source, { tag: "request", val: stripRequest(req) }];
    }
    const [response] = km.message.val;
    const ctx = this.contexts.get(km.id);
    let context: Uint8Array | undefined;
    if (ctx) {
      this.contexts.delete(km.id);
      this.prompting = ctx.prompting;
      context = ctx.context;
    } else {
      this.prompting = km;
    }
    return [km.source, { tag: "response", val: [stripResponse(response), context] }];
  }

  *receive(): Blocking<[Address, Message]> {
    // asking for the next message: the process is done with the last one
    const now = wallClock();
    if (this.handlingSince !== undefined) {
      this.stats.latency.record(now - this.handlingSince, now);
      this.handlingSince = undefined;
    }
    this.sampleMemory(now);
    const queued = this.queue.shift();
    if (queued) this.counters[STAT_QUEUED] = this.queue.length;
    const item = queued ?? (yield* this.ingest());
    // a timeout made here has no arrival time: not a message handled
    if (item.at !== undefined) this.handlingSince = item.at;
    return this.toProcess(item);
  }

  private *awaitSpecific(id: bigint): Blocking<[Address, Message]> {
    const i = this.queue.findIndex((q) =>
      q.t === "msg" ? q.km.id === id && q.km.message.tag === "response" : q.err.id === id
    );
    if (i >= 0) {
      const [item] = this.queue.splice(i, 1);
      this.counters[STAT_QUEUED] = this.queue.length;
      return this.toProcess(item);
    }
    for (;;) {
      const item = yield* this.ingest();
      const itemId = item.t === "msg" ? item.km.id : item.err.id;
      if (itemId === id && !(item.t === "msg" && item.km.message.tag === "request")) {
        return this.toProcess(item);
      }
      this.queue.push(item);
      this.counters[STAT_QUEUED] = this.queue.length;
    }
  }

  private freshId(): bigint {
    for (;;) {
      const id = pooledRandomU64();
      if (!this.contexts.has(id)) return id;
    }
  }

  private buildRequest(
    target: Address,
    request: Request,
    context: Uint8Array | undefined,
    blob: LazyLoadBlob | undefined,
  ): OutgoingMessage {
    const inheritFrom = request.inherit ? this.prompting : undefined;
    const id = inheritFrom ? inheritFrom.id : this.freshId();
    const lazyLoadBlob = blob ?? (request.inherit ? this.lastBlob : undefined);
    const message: Message = { tag: "request", val: normalizeRequest(request) };
    if (request.expectsResponse !== undefined) {
      this.contexts.set(id, { prompting: this.prompting, context });
      const ms = Math.min(Number(request.expectsResponse) * 1000, 2 ** 31 - 1);
      this.deadlines.set(id, {
        at: wallClock() + ms + TIMEOUT_GRACE_MS,
        err: {
          id,
          source: target,
          error: { kind: "timeout", target, message, lazyLoadBlob },
        },
      });
    }
    const rsvp = request.expectsResponse !== undefined ? this.our : inheritFrom?.rsvp;
    return { id, target, rsvp, message, lazyLoadBlob };
  }

  sendRequest(target: Address, request: Request, context?: Uint8Array, blob?: LazyLoadBlob) {
    this.dispatch([this.buildRequest(target, request, context, blob)]);
  }

  sendRequests(reqs: [Address, Request, Uint8Array | undefined, LazyLoadBlob | undefined][]) {
    this.dispatch(reqs.map(([a, r, c, b]) => this.buildRequest(a, r, c, b)));
  }

  sendResponse(response: Response, blob?: LazyLoadBlob) {
    const prompt = this.prompting;
    if (!prompt) {
      this.lane.post({
        t: "print",
        verbosity: 0,
        text: "kernel: need non-None prompting_message to handle Response",
      });
      return;
    }
    this.dispatch([{
      id: prompt.id,
      target: prompt.rsvp ?? prompt.source,
      message: { tag: "response", val: [normalizeResponse(response), undefined] },
      lazyLoadBlob: response.inherit ? this.lastBlob : blob,
    }]);
  }

  *sendAndAwaitResponse(
    target: Address,
    request: Request,
    blob?: LazyLoadBlob,
  ): Blocking<[Address, Message]> {
    if (request.expectsResponse === undefined) {
      throw new Error("kernel: send-and-await-response() Request must expect a response");
    }
    if (sameAddress(target, this.our)) {
      throw new Error(
        "kernel: cannot send-and-await-response() a Request to `our`: it would deadlock",
      );
    }
    const msg = this.buildRequest(target, request, undefined, blob);
    this.dispatch([msg]);
    try {
      return yield* this.awaitSpecific(msg.id);
    } catch (e) {
      // receive() shape is [send-error, context]; send-and-await-response's is send-error
      const p = (e as { payload?: unknown[] }).payload;
      if (p) throw { payload: p[0] };
      throw e;
    }
  }

  hasBlob = () => this.lastMessageBlobbed;
  getBlob = () => (this.lastMessageBlobbed ? this.lastBlob : undefined);
  getLastBlob = () => this.lastBlob;

  printToTerminal(verbosity: number, text: string) {
    this.lane.post({ t: "print", verbosity, text });
  }

  // the process's own metadata, as Hyperdrive's get-on-exit: another
  // process's SetOnExit command changes only the kernel's process map
  getOnExit = () => this.onExit;
  *setOnExit(onExit: OnExit): Blocking<void> {
    this.onExit = normalizeOnExit(onExit);
    yield* this.call({ op: "setOnExit", onExit: this.onExit });
  }
  // Hyperdrive serves state and spawn with send-and-await-response inside the
  // host: last-blob is restored afterwards, but has-blob/get-blob follow the
  // last awaited response (state's blob only for a found get-state).
  *getState(): Blocking<Uint8Array | undefined> {
    const state = (yield* this.call({ op: "getState" })) as Uint8Array | undefined;
    this.lastMessageBlobbed = state !== undefined;
    return state;
  }
  *setState(bytes: Uint8Array): Blocking<void> {
    yield* this.call({ op: "setState", bytes });
    this.lastMessageBlobbed = false;
  }
  *clearState(): Blocking<void> {
    yield* this.call({ op: "clearState" });
    this.lastMessageBlobbed = false;
  }
  *spawn(
    name: string | undefined,
    wasmPath: string,
    onExit: OnExit,
    requestCapabilities: Capability[],
    grantCapabilities: [ProcessId, string][],
    isPublic: boolean,
  ): Blocking<ProcessId> {
    const r = (yield* this.call({
      op: "spawn",
      args: {
        name,
        wasmPath,
        onExit: normalizeOnExit(onExit),
        requestCapabilities: requestCapabilities.map(normalizeCap),
        grantCapabilities,
        public: isPublic,
      },
    })) as { ok: ProcessId } | { err: string };
    this.lastMessageBlobbed = false;
    if ("err" in r) throw { payload: r.err };
    return r.ok;
  }
  *saveCapabilities(caps: Capability[]): Blocking<void> {
    yield* this.call({ op: "saveCapabilities", caps: caps.map(normalizeCap) });
  }
  *dropCapabilities(caps: Capability[]): Blocking<void> {
    yield* this.call({ op: "dropCapabilities", caps: caps.map(normalizeCap) });
  }
  *ourCapabilities(): Blocking<Capability[]> {
    return (yield* this.call({ op: "ourCapabilities" })) as Capability[];
  }
}

// Values lifted by jco may carry extra fields; strip to the WIT shape so
// nothing unexpected (e.g. kernel signatures) crosses into the process.
function normalizeCap(c: Capability): Capability {
  return { issuer: c.issuer, params: c.params };
}
function normalizeRequest(r: Request): Request {
  return {
    inherit: r.inherit,
    expectsResponse: r.expectsResponse,
    body: r.body,
    metadata: r.metadata,
    capabilities: (r.capabilities ?? []).map(normalizeCap),
  };
}
function normalizeResponse(r: Response): Response {
  return {
    inherit: r.inherit,
    body: r.body,
    metadata: r.metadata,
    capabilities: (r.capabilities ?? []).map(normalizeCap),
  };
}
function normalizeOnExit(o: OnExit): OnExit {
  if (o.tag === "requests") {
    return {
      tag: "requests",
      val: o.val.map(([a, r, b]) => [a, normalizeRequest(r), b]),
    };
  }
  return { tag: o.tag };
}
const stripRequest = normalizeRequest;
const stripResponse = normalizeResponse;
function stripSendError(e: SendError): SendError {
  const message: Message = e.message.tag === "request"
    ? { tag: "request", val: stripRequest(e.message.val) }
    : { tag: "response", val: [stripResponse(e.message.val[0]), e.message.val[1]] };
  return { kind: e.kind, target: e.target, message, lazyLoadBlob: e.lazyLoadBlob };
}
type Reply = Extract<ToWorker, { t: "reply" }>;

function asNodePort(p: MessagePort) {
  return p as unknown as Parameters<typeof receiveMessageOnPort>[0];
}

/** A module channel: requests out on its ring, answers in on its inbox. */
interface ModuleChannel {
  writer: ModuleChannelWriter;
  inbox: PeerInbox;
  from: Address;
  /** ids sent on it and not yet answered */
  sent: Set<bigint>;
  /** its answers were malformed: dropped */
  broken?: boolean;
}

function routeKey(
  target: string,
  r: Pick<ModuleRoute, "packageName" | "publisherNode" | "db">,
): string {
  return `${target}\n${r.packageName}:${r.publisherNode}\n${r.db}`;
}

const bodyText = new TextDecoder();

/**
 * The module channel a request body to `target` would go on, for the requests its
 * MODULE_CHANNEL_TARGETS entry names; undefined for any other. The module Worker checks
 * the body again in full: this only picks the ring.
 */
function routeKeyOf(target: string, body: Uint8Array): string | undefined {
  const takes = MODULE_CHANNEL_TARGETS.get(target);
  if (!takes) return undefined;
  let v;
  try {
    v = JSON.parse(bodyText.decode(body));
  } catch {
    return undefined;
  }
  const action = v?.action;
  if (typeof action !== "object" || action === null) return undefined;
  const tag = Object.keys(action)[0];
  if (
    !takes.always.includes(tag) && !(takes.outsideTx.includes(tag) && action[tag]?.tx_id == null)
  ) return undefined;
  const pkg = v.package_id;
  if (typeof pkg?.package_name !== "string" || typeof pkg.publisher_node !== "string") {
    return undefined;
  }
  if (typeof v.db !== "string") return undefined;
  return routeKey(target, {
    packageName: pkg.package_name,
    publisherNode: pkg.publisher_node,
    db: v.db,
  });
}

function pidKey(p: ProcessId): string {
  return `${p.processName}:${p.packageName}:${p.publisherNode}`;
}

/** Direct channels carry no capabilities (those need the kernel's check). */
function withoutCaps(m: Message): Message {
  if (m.tag === "request") {
    return m.val.capabilities.length ? { tag: "request", val: { ...m.val, capabilities: [] } } : m;
  }
  const [r, ctx] = m.val;
  return r.capabilities.length ? { tag: "response", val: [{ ...r, capabilities: [] }, ctx] } : m;
}

function sameAddress(a: Address, b: Address) {
  return a.node === b.node && a.process.processName === b.process.processName &&
    a.process.packageName === b.process.packageName &&
    a.process.publisherNode === b.process.publisherNode;
}

function standardImports(p: ProcessState) {
  return {
    printToTerminal: (v: number, s: string) => p.printToTerminal(v, s),
    our: () => p.our,
    getOnExit: () => p.getOnExit(),
    setOnExit: (o: OnExit) => p.run(p.setOnExit(o)),
    getState: () => p.run(p.getState()),
    setState: (b: Uint8Array) => p.run(p.setState(b)),
    clearState: () => p.run(p.clearState()),
    spawn: (
      name: string | undefined,
      path: string,
      onExit: OnExit,
      req: Capability[],
      grant: [ProcessId, string][],
      pub: boolean,
    ) => p.run(p.spawn(name, path, onExit, req, grant, pub)),
    saveCapabilities: (c: Capability[]) => p.run(p.saveCapabilities(c)),
    dropCapabilities: (c: Capability[]) => p.run(p.dropCapabilities(c)),
    ourCapabilities: () => p.run(p.ourCapabilities()),
    receive: () => p.run(p.receive()),
    hasBlob: () => p.hasBlob(),
    getBlob: () => p.getBlob(),
    lastBlob: () => p.getLastBlob(),
    sendRequest: (t: Address, r: Request, c?: Uint8Array, b?: LazyLoadBlob) =>
      p.sendRequest(t, r, c, b),
    sendRequests: (reqs: [Address, Request, Uint8Array | undefined, LazyLoadBlob | undefined][]) =>
      p.sendRequests(reqs),
    sendResponse: (r: Response, b?: LazyLoadBlob) => p.sendResponse(r, b),
    sendAndAwaitResponse: (t: Address, r: Request, b?: LazyLoadBlob) =>
      p.run(p.sendAndAwaitResponse(t, r, b)),
  };
}

/** The module's file, named in place of its data: URL in stack traces. */
let moduleFile = "process module";

function describe(e: unknown): string {
  if (e instanceof ProcessExit) return e.message;
  if (e instanceof Error) {
    if (!e.stack) return `${e.name}: ${e.message}`;
    // frames in the process's own code, its data: URL (megabytes of base64) named by
    // its file; the worker's own frames say nothing about the process
    const lines = e.stack.split("\n");
    const head = lines.filter((l) => !/^\s+at /.test(l));
    const frames = lines.filter((l) => /^\s+at /.test(l) && l.includes("data:"))
      .map((l) => l.replace(/data:[^\s)]*?(:\d+:\d+)(?=\)?$)/, `${moduleFile}$1`));
    return [...head, ...frames].join("\n");
  }
  try {
    return `thrown value: ${JSON.stringify(e, (_k, v) => typeof v === "bigint" ? `${v}` : v)}`;
  } catch {
    return `thrown value: ${String(e)}`;
  }
}

/** Runs one process to its end: until its init returns, or throws. */
async function run(init: WorkerInit, lane: Lane, report: (tail: string) => void) {
  const shared = init.shared === true;
  const state = new ProcessState(init.our, init.port, init, lane, shared);
  const std = standardImports(state);
  const ourString =
    `${init.our.node}@${init.our.process.processName}:${init.our.process.packageName}:${init.our.process.publisherNode}`;
  let initFn: (our: string) => unknown;
  if (init.program.kind === "component") {
    let stderrTail = "";
    const stop = state.stop;
    const wasi = makeWasiImports({
      tmpDir: init.tmpDir,
      stop,
      suspends: shared,
      print: (stream, line) => {
        if (stream === "stderr") {
          // kept for the crash report, as Hyperdrive shows a process's stderr when it dies
          stderrTail = (stderrTail + line + "\n").slice(-STDERR_TAIL);
          report(stderrTail);
        }
        lane.post({ t: "print", verbosity: stream === "stderr" ? 2 : 0, text: line });
      },
    });
    let mod;
    if (init.program.url) mod = await import(init.program.url);
    else {
      const url = URL.createObjectURL(new Blob([init.program.js!], { type: "text/javascript" }));
      mod = await import(url);
      URL.revokeObjectURL(url);
    }
    const core = init.program.coreModules;
    // a shared Worker's components have interrupt checks on their loops (interrupt.ts): a
    // stopped one throws out of whatever loop it is in, and its neighbours go on
    const interrupt = { [INTERRUPT_NAME]: () => stop.throwIfStopped() };
    const instance = await mod.instantiate(
      (name: string) => core[name],
      { ...wasi, [STANDARD]: std },
      (m: WebAssembly.Module, imports: WebAssembly.Imports) =>
        WebAssembly.instantiate(
          m,
          shared ? { ...imports, [INTERRUPT_MODULE]: interrupt } : imports,
        ),
    );
    initFn = instance.init;
  } else {
    // deno-lint-ignore no-explicit-any
    (globalThis as any).__hyperwareStandard = std;
    const shim = Object.keys(std).map((k) =>
      `export const ${k} = (...a) => globalThis.__hyperwareStandard.${k}(...a);`
    ).join("\n");
    const shimUrl = `data:application/javascript;base64,${btoa(shim)}`;
    moduleFile = init.program.file;
    const mod = await import(linkModule(init.program.files, shimUrl));
    if (typeof mod.init !== "function") throw new Error("process module does not export init()");
    initFn = mod.init;
  }
  lane.post({ t: "started" });
  // a component built for a shared Worker returns a promise: its init suspends
  await initFn(ourString);
}

/** Starts a process in this Worker, and tells the kernel how it ended. */
function start(init: WorkerInit) {
  const shared = init.shared === true;
  const lane = new Lane(
    new Ring(init.fromWorker),
    shared ? (m) => init.port.postMessage(m) : postRaw,
  );
  let stderrTail = "";
  run(init, lane, (tail) => stderrTail = tail).then(
    () => lane.post({ t: "exit" }),
    (err) => {
      if (err instanceof WorkerStopped) return; // the kernel ended us: nobody to tell
      lane.post({ t: "exit", error: stderrTail.trim() ? stderrTail : describe(err) });
    },
  ).finally(() => {
    if (!shared) return;
    // the process is gone from this Worker: the kernel may reuse its place
    init.port.close();
    postRaw({ t: "gone", id: init.id } satisfies SharedWorkerNote);
  });
}

// deno-lint-ignore no-explicit-any
const workerScope = self as any;
workerScope.onmessage = (e: MessageEvent<WorkerInit>) => {
  if (e.data?.t !== "init") return;
  // a Worker of its own runs one process; a shared one takes more as they come
  if (!e.data.shared) workerScope.onmessage = null;
  start(e.data);
};
